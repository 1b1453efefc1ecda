//! The objects `kubectl create <kind> NAME …` builds, field for field as kubectl's
//! generators fill the Go types (so `--dry-run=client -o yaml|json` prints the same).

use base64::Engine;
use serde_json::Value;

use super::ordered::{object_meta, J};
use super::sources::Data;
use crate::error::{Error, Result};

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn app_labels(name: &str) -> J {
    J::obj().with("app", name)
}

pub fn namespace(name: &str) -> J {
    J::obj()
        .with("kind", "Namespace")
        .with("apiVersion", "v1")
        .with("metadata", object_meta(name, None, None))
        .with("spec", J::obj())
        .with("status", J::obj())
}

/// The container name kubectl derives from an image: the last path element without its
/// tag or digest; a name with `_` or `.` gets them turned into `-` plus a random
/// five-character suffix (kubectl's `sanitizeAndUniquify`).
pub fn container_name(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    let last = last.split(':').next().unwrap_or(last);
    let last = last.split('@').next().unwrap_or(last);
    if !last.contains(['_', '.']) {
        return last.to_string();
    }
    format!("{}-{}", last.replace(['_', '.'], "-"), random_suffix())
}

/// Five characters from the alphabet of Kubernetes' random names (no vowels).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9)
        ^ u64::from(std::process::id()).rotate_left(32);
    (0..5)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

pub fn deployment(
    name: &str,
    ns: Option<&str>,
    images: &[String],
    replicas: i64,
    port: Option<i64>,
) -> J {
    let containers: Vec<J> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            J::obj()
                .with("name", container_name(image))
                .with("image", image.as_str())
                .with_if(
                    i == 0 && port.is_some(),
                    "ports",
                    vec![J::obj().with("containerPort", port.unwrap_or_default())],
                )
                .with("resources", J::obj())
        })
        .collect();
    J::obj()
        .with("kind", "Deployment")
        .with("apiVersion", "apps/v1")
        .with("metadata", object_meta(name, ns, Some(app_labels(name))))
        .with(
            "spec",
            J::obj()
                .with("replicas", replicas)
                .with("selector", J::obj().with("matchLabels", app_labels(name)))
                .with(
                    "template",
                    J::obj()
                        .with(
                            "metadata",
                            J::obj()
                                .with("creationTimestamp", Value::Null)
                                .with("labels", app_labels(name)),
                        )
                        .with("spec", J::obj().with("containers", containers)),
                )
                .with("strategy", J::obj()),
        )
        .with("status", J::obj())
}

/// Splits data into UTF-8 `data` and base64 `binaryData`, as a ConfigMap stores them.
pub fn configmap(name: &str, ns: Option<&str>, data: &Data) -> J {
    let mut text = Vec::new();
    let mut binary = Vec::new();
    for (k, v) in data {
        match std::str::from_utf8(v) {
            Ok(s) => text.push((k.clone(), J::from(s))),
            Err(_) => binary.push((k.clone(), J::from(b64(v)))),
        }
    }
    J::obj()
        .with("kind", "ConfigMap")
        .with("apiVersion", "v1")
        .with("metadata", object_meta(name, ns, None))
        .with_if(!text.is_empty(), "data", J::Obj(text))
        .with_if(!binary.is_empty(), "binaryData", J::Obj(binary))
}

pub fn secret(name: &str, ns: Option<&str>, data: &Data, secret_type: &str) -> J {
    let entries: Vec<(String, J)> = data
        .iter()
        .map(|(k, v)| (k.clone(), J::from(b64(v))))
        .collect();
    J::obj()
        .with("kind", "Secret")
        .with("apiVersion", "v1")
        .with("metadata", object_meta(name, ns, None))
        .with_if(!entries.is_empty(), "data", J::Obj(entries))
        .with_if(!secret_type.is_empty(), "type", secret_type)
}

/// `.dockerconfigjson` for one registry, as kubectl marshals it.
pub fn docker_config(server: &str, user: &str, password: &str, email: &str) -> Vec<u8> {
    let auth = b64(format!("{user}:{password}").as_bytes());
    let entry = J::obj()
        .with_if(!user.is_empty(), "username", user)
        .with_if(!password.is_empty(), "password", password)
        .with_if(!email.is_empty(), "email", email)
        .with_if(!auth.is_empty(), "auth", auth);
    let cfg = J::obj().with("auths", J::obj().with(server, entry));
    cfg.to_json_compact().into_bytes()
}

/// One `--tcp=port[:targetPort]` entry as a ServicePort.
fn service_port(spec: &str, node_port: Option<i64>) -> Result<J> {
    let (port, target) = match spec.split_once(':') {
        Some((p, t)) => (p, t),
        None => (spec, spec),
    };
    let port_num: i64 = port
        .parse()
        .map_err(|_| Error::client(format!("invalid port number: {port}")))?;
    let target_value = match target.parse::<i64>() {
        Ok(n) => J::from(n),
        Err(_) => J::from(target),
    };
    let name = if port == target {
        port.to_string()
    } else {
        format!("{port}-{target}")
    };
    Ok(J::obj()
        .with("name", name)
        .with("protocol", "TCP")
        .with("port", port_num)
        .with("targetPort", target_value)
        .with_if(
            node_port.is_some(),
            "nodePort",
            node_port.unwrap_or_default(),
        ))
}

pub fn service(
    name: &str,
    ns: Option<&str>,
    service_type: &str,
    tcp: &[String],
    cluster_ip: Option<&str>,
    node_port: Option<i64>,
) -> Result<J> {
    let ports = tcp
        .iter()
        .map(|t| service_port(t, node_port))
        .collect::<Result<Vec<_>>>()?;
    let mut spec = J::obj()
        .with("ports", ports)
        .with("selector", app_labels(name));
    if let Some(ip) = cluster_ip.filter(|ip| !ip.is_empty()) {
        spec = spec.with("clusterIP", ip);
    }
    spec = spec.with("type", service_type);
    Ok(J::obj()
        .with("kind", "Service")
        .with("apiVersion", "v1")
        .with("metadata", object_meta(name, ns, Some(app_labels(name))))
        .with("spec", spec)
        .with("status", J::obj().with("loadBalancer", J::obj())))
}

/// `create job NAME --image=… [-- COMMAND ARGS…]`.
pub fn job(name: &str, ns: Option<&str>, image: &str, command: &[String]) -> J {
    let cmd: Vec<J> = command.iter().map(|c| J::from(c.as_str())).collect();
    J::obj()
        .with("kind", "Job")
        .with("apiVersion", "batch/v1")
        .with("metadata", object_meta(name, ns, None))
        .with(
            "spec",
            J::obj().with(
                "template",
                J::obj()
                    .with("metadata", J::obj().with("creationTimestamp", Value::Null))
                    .with(
                        "spec",
                        J::obj()
                            .with(
                                "containers",
                                vec![J::obj()
                                    .with("name", name)
                                    .with("image", image)
                                    .with_if(!cmd.is_empty(), "command", cmd)
                                    .with("resources", J::obj())],
                            )
                            .with("restartPolicy", "Never"),
                    ),
            ),
        )
        .with("status", J::obj())
}

/// `create job NAME --from=cronjob/X`: the CronJob's job template, owned by it.
pub fn job_from_cronjob(name: &str, ns: Option<&str>, cronjob: &Value) -> J {
    let tmpl = &cronjob["spec"]["jobTemplate"];
    let mut annotations = vec![(
        "cronjob.kubernetes.io/instantiate".to_string(),
        J::from("manual"),
    )];
    if let Some(a) = tmpl["metadata"]["annotations"].as_object() {
        for (k, v) in a {
            annotations.retain(|(x, _)| x != k);
            annotations.push((k.clone(), J::Val(v.clone())));
        }
    }
    annotations.sort_by(|a, b| a.0.cmp(&b.0));
    let mut meta = J::obj().with("name", name);
    if let Some(ns) = ns {
        meta = meta.with("namespace", ns);
    }
    meta = meta.with("creationTimestamp", Value::Null);
    if let Some(l) = tmpl["metadata"]["labels"]
        .as_object()
        .filter(|l| !l.is_empty())
    {
        meta = meta.with("labels", Value::Object(l.clone()));
    }
    meta = meta.with("annotations", J::Obj(annotations)).with(
        "ownerReferences",
        vec![J::obj()
            .with("apiVersion", "batch/v1")
            .with("kind", "CronJob")
            .with("name", cronjob["metadata"]["name"].clone())
            .with("uid", cronjob["metadata"]["uid"].clone())
            .with("controller", Value::Bool(true))],
    );
    let spec = tmpl
        .get("spec")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    J::obj()
        .with("kind", "Job")
        .with("apiVersion", "batch/v1")
        .with("metadata", meta)
        .with("spec", spec)
        .with("status", J::obj())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_fill_what_kubectl_fills() {
        assert_eq!(container_name("reg.io/a/app:1@sha256:x"), "app");
        let n = container_name("reg.io/a/my_app:1");
        assert!(n.starts_with("my-app-") && n.len() == 12, "{n}");
        let d = deployment("web", None, &["nginx:1".into()], 2, Some(80)).to_value();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["name"],
            "nginx"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
            80
        );
        assert!(d["metadata"]["creationTimestamp"].is_null());
        let s = service(
            "s",
            None,
            "ClusterIP",
            &["80:8080".into(), "443".into()],
            None,
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .to_value();
        assert_eq!(s["spec"]["ports"][0]["name"], "80-8080");
        assert_eq!(s["spec"]["ports"][1]["targetPort"], 443);
        let cfg = docker_config("https://index.docker.io/v1/", "u", "p", "e@x");
        assert_eq!(
            b64(&cfg),
            "eyJhdXRocyI6eyJodHRwczovL2luZGV4LmRvY2tlci5pby92MS8iOnsidXNlcm5hbWUiOiJ1IiwicGFzc3dvcmQiOiJwIiwiZW1haWwiOiJlQHgiLCJhdXRoIjoiZFRwdyJ9fX0="
        );
    }
}

//! Service environment variables, as upstream's kubelet sets them in every container: the
//! `kubernetes` Service of the default namespace always (in-cluster clients find the API
//! server through `KUBERNETES_SERVICE_HOST`), and, unless the pod sets
//! `enableServiceLinks: false`, every Service of the pod's namespace, in both the
//! Kubernetes form (`{NAME}_SERVICE_HOST`) and the Docker-links form (`{NAME}_PORT_…`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;

/// Upstream's `makeEnvVariableName`: upper case, `-` as `_`.
fn var_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// Whether the Service has a cluster IP (headless and ExternalName ones have none).
fn has_cluster_ip(s: &Service) -> Option<&str> {
    let ip = s.spec.as_ref()?.cluster_ip.as_deref()?;
    (!ip.is_empty() && ip != "None").then_some(ip)
}

/// The Services whose variables a pod in `namespace` gets, by name: the master Service, and
/// (with service links) those of the pod's namespace, which win a name clash.
pub fn select(
    namespace: &str,
    in_namespace: Vec<Service>,
    master: Option<Service>,
    links: bool,
) -> Vec<Service> {
    let mut by_name: BTreeMap<String, Service> = BTreeMap::new();
    if links {
        for s in in_namespace {
            if s.metadata.namespace.as_deref().unwrap_or(namespace) == namespace {
                by_name.insert(s.metadata.name.clone().unwrap_or_default(), s);
            }
        }
    }
    if let Some(m) = master {
        by_name
            .entry(m.metadata.name.clone().unwrap_or_default())
            .or_insert(m);
    }
    by_name.into_values().collect()
}

/// Upstream's `envvars.FromServices`, Services in the order given.
pub fn from_services(services: &[Service]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in services {
        let Some(ip) = has_cluster_ip(s) else {
            continue;
        };
        let ports = s
            .spec
            .as_ref()
            .and_then(|sp| sp.ports.as_deref())
            .unwrap_or_default();
        let Some(first) = ports.first() else {
            continue;
        };
        let prefix = var_name(s.metadata.name.as_deref().unwrap_or_default());
        out.push((format!("{prefix}_SERVICE_HOST"), ip.to_string()));
        out.push((format!("{prefix}_SERVICE_PORT"), first.port.to_string()));
        for p in ports {
            if let Some(n) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((
                    format!("{prefix}_SERVICE_PORT_{}", var_name(n)),
                    p.port.to_string(),
                ));
            }
        }
        // Docker links; the first port is special-cased, as Docker does.
        let host = |port: i32| match ip.contains(':') {
            true => format!("[{ip}]:{port}"),
            false => format!("{ip}:{port}"),
        };
        for (i, p) in ports.iter().enumerate() {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            let lower = proto.to_lowercase();
            let url = format!("{lower}://{}", host(p.port));
            if i == 0 {
                out.push((format!("{prefix}_PORT"), url.clone()));
            }
            let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
            out.push((pp.clone(), url));
            out.push((format!("{pp}_PROTO"), lower));
            out.push((format!("{pp}_PORT"), p.port.to_string()));
            out.push((format!("{pp}_ADDR"), ip.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports}
        }))
        .expect("service")
    }

    fn env(s: &[Service]) -> BTreeMap<String, String> {
        from_services(s).into_iter().collect()
    }

    #[test]
    fn kubernetes_and_docker_link_forms() {
        let e = env(&[
            svc(
                "default",
                "kubernetes",
                "10.43.0.1",
                json!([{"name": "https", "port": 443}]),
            ),
            svc(
                "web",
                "my-db",
                "10.43.0.9",
                json!([{"port": 5432}, {"name": "metrics", "port": 9187, "protocol": "UDP"}]),
            ),
        ]);
        let want = [
            ("KUBERNETES_SERVICE_HOST", "10.43.0.1"),
            ("KUBERNETES_SERVICE_PORT", "443"),
            ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
            ("KUBERNETES_PORT", "tcp://10.43.0.1:443"),
            ("KUBERNETES_PORT_443_TCP", "tcp://10.43.0.1:443"),
            ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
            ("KUBERNETES_PORT_443_TCP_PORT", "443"),
            ("KUBERNETES_PORT_443_TCP_ADDR", "10.43.0.1"),
            ("MY_DB_SERVICE_HOST", "10.43.0.9"),
            ("MY_DB_SERVICE_PORT", "5432"),
            ("MY_DB_SERVICE_PORT_METRICS", "9187"),
            ("MY_DB_PORT", "tcp://10.43.0.9:5432"),
            ("MY_DB_PORT_5432_TCP", "tcp://10.43.0.9:5432"),
            ("MY_DB_PORT_5432_TCP_PROTO", "tcp"),
            ("MY_DB_PORT_5432_TCP_PORT", "5432"),
            ("MY_DB_PORT_5432_TCP_ADDR", "10.43.0.9"),
            ("MY_DB_PORT_9187_UDP", "udp://10.43.0.9:9187"),
            ("MY_DB_PORT_9187_UDP_PROTO", "udp"),
            ("MY_DB_PORT_9187_UDP_PORT", "9187"),
            ("MY_DB_PORT_9187_UDP_ADDR", "10.43.0.9"),
        ];
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(e, want);
    }

    #[test]
    fn headless_external_and_ipv6() {
        let headless = svc("a", "h", "None", json!([{"port": 80}]));
        let external: Service = serde_json::from_value(json!({
            "metadata": {"name": "ext", "namespace": "a"},
            "spec": {"type": "ExternalName", "externalName": "example.com"}
        }))
        .expect("service");
        assert!(from_services(&[headless, external]).is_empty());
        let v6 = env(&[svc("a", "v6", "fd00::10", json!([{"port": 80}]))]);
        assert_eq!(v6["V6_PORT"], "tcp://[fd00::10]:80");
        assert_eq!(v6["V6_SERVICE_HOST"], "fd00::10");
    }

    #[test]
    fn links_off_keeps_only_the_master_and_same_namespace_wins() {
        let master = svc("default", "kubernetes", "10.43.0.1", json!([{"port": 443}]));
        let own = svc("a", "kubernetes", "10.43.0.7", json!([{"port": 80}]));
        let other = svc("a", "db", "10.43.0.8", json!([{"port": 5432}]));
        let names = |v: Vec<Service>| -> Vec<(String, String)> {
            v.iter()
                .map(|s| {
                    (
                        s.metadata.name.clone().unwrap_or_default(),
                        has_cluster_ip(s).unwrap_or_default().to_string(),
                    )
                })
                .collect()
        };
        let off = select(
            "a",
            vec![own.clone(), other.clone()],
            Some(master.clone()),
            false,
        );
        assert_eq!(names(off), [("kubernetes".into(), "10.43.0.1".into())]);
        let on = select("a", vec![own, other], Some(master), true);
        assert_eq!(
            names(on),
            [
                ("db".into(), "10.43.0.8".into()),
                ("kubernetes".into(), "10.43.0.7".into())
            ]
        );
    }
}

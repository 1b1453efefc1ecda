//! Containers and pod templates as kubectl describes them: image, ports, command, state,
//! resources, probes, environment (with downward-API values resolved against the pod)
//! and mounts; `DescribePodTemplate` for the workload describers.

use std::collections::BTreeMap;

use serde_json::Value;

use super::util::{arr, i, rfc1123z, s, Qty};
use super::volumes;
use super::writer::{annotations, labels, tolerations, wr, Out};

/// `describeContainers`; `pod` resolves `fieldRef` environment values (absent for
/// templates); `space` is the pod template's extra indent.
pub fn describe_containers(
    label: &str,
    containers: &[Value],
    statuses: &[Value],
    pod: Option<&Value>,
    w: &mut Out,
    space: &str,
) {
    let none = if containers.is_empty() { " <none>" } else { "" };
    wr!(w, 0, "{space}{label}:{none}\n");
    for c in containers {
        let name = s(&c["name"]);
        let status = statuses.iter().find(|st| s(&st["name"]) == name);
        basic_info(c, status, space, w);
        command(c, w);
        if let Some(st) = status {
            container_state(st, w);
        }
        resources(&c["resources"], w, 2);
        probes(c, w);
        if !arr(&c["envFrom"]).is_empty() {
            env_from(c, w);
        }
        env_vars(c, pod, w);
        mounts(c, w);
    }
}

fn basic_info(c: &Value, status: Option<&Value>, space: &str, w: &mut Out) {
    let name_indent = if space.is_empty() { "" } else { " " };
    wr!(w, 1, "{name_indent}{}:\n", s(&c["name"]));
    if let Some(st) = status {
        wr!(w, 2, "Container ID:\t{}\n", s(&st["containerID"]));
    }
    wr!(w, 2, "Image:\t{}\n", s(&c["image"]));
    if let Some(st) = status {
        wr!(w, 2, "Image ID:\t{}\n", s(&st["imageID"]));
    }
    let ports = arr(&c["ports"]);
    let port_string = ports
        .iter()
        .map(|p| format!("{}/{}", i(&p["containerPort"]), s(&p["protocol"])))
        .collect::<Vec<_>>()
        .join(", ");
    if port_string.contains(',') {
        wr!(w, 2, "Ports:\t{port_string}\n");
    } else {
        wr!(w, 2, "Port:\t{}\n", or_none(&port_string));
    }
    let host_ports = ports
        .iter()
        .map(|p| format!("{}/{}", i(&p["hostPort"]), s(&p["protocol"])))
        .collect::<Vec<_>>()
        .join(", ");
    if host_ports.contains(',') {
        wr!(w, 2, "Host Ports:\t{host_ports}\n");
    } else {
        wr!(w, 2, "Host Port:\t{}\n", or_none(&host_ports));
    }
    let seccomp = &c["securityContext"]["seccompProfile"];
    if seccomp.is_object() {
        wr!(w, 2, "SeccompProfile:\t{}\n", s(&seccomp["type"]));
        if s(&seccomp["type"]) == "Localhost" {
            wr!(
                w,
                3,
                "LocalhostProfile:\t{}\n",
                s(&seccomp["localhostProfile"])
            );
        }
    }
}

pub fn or_none(t: &str) -> &str {
    if t.is_empty() {
        "<none>"
    } else {
        t
    }
}

fn command(c: &Value, w: &mut Out) {
    for (field, title) in [("command", "Command"), ("args", "Args")] {
        let items = arr(&c[field]);
        if items.is_empty() {
            continue;
        }
        wr!(w, 2, "{title}:\n");
        for item in items {
            for line in s(item).split('\n') {
                wr!(w, 3, "{line}\n");
            }
        }
    }
}

/// `describeResources`: limits then requests, each sorted by name.
pub fn resources(r: &Value, w: &mut Out, level: usize) {
    for (field, title) in [("limits", "Limits"), ("requests", "Requests")] {
        let Some(m) = r[field].as_object().filter(|m| !m.is_empty()) else {
            continue;
        };
        wr!(w, level, "{title}:\n");
        let sorted: BTreeMap<&String, &Value> = m.iter().collect();
        for (name, q) in sorted {
            wr!(w, level + 1, "{name}:\t{}\n", super::util::quantity(q));
        }
    }
}

fn container_state(st: &Value, w: &mut Out) {
    status("State", &st["state"], w);
    if st["lastState"]["terminated"].is_object() {
        status("Last State", &st["lastState"], w);
    }
    let ready = if st["ready"].as_bool().unwrap_or(false) {
        "True"
    } else {
        "False"
    };
    wr!(w, 2, "Ready:\t{ready}\n");
    wr!(w, 2, "Restart Count:\t{}\n", i(&st["restartCount"]));
}

fn status(name: &str, state: &Value, w: &mut Out) {
    if let Some(r) = state["running"].as_object() {
        wr!(w, 2, "{name}:\tRunning\n");
        wr!(
            w,
            3,
            "Started:\t{}\n",
            rfc1123z(r.get("startedAt").unwrap_or(&Value::Null))
        );
    } else if state["waiting"].is_object() {
        wr!(w, 2, "{name}:\tWaiting\n");
        let reason = s(&state["waiting"]["reason"]);
        if !reason.is_empty() {
            wr!(w, 3, "Reason:\t{reason}\n");
        }
    } else if state["terminated"].is_object() {
        let t = &state["terminated"];
        wr!(w, 2, "{name}:\tTerminated\n");
        if !s(&t["reason"]).is_empty() {
            wr!(w, 3, "Reason:\t{}\n", s(&t["reason"]));
        }
        if !s(&t["message"]).is_empty() {
            wr!(w, 3, "Message:\t{}\n", s(&t["message"]));
        }
        wr!(w, 3, "Exit Code:\t{}\n", i(&t["exitCode"]));
        if i(&t["signal"]) > 0 {
            wr!(w, 3, "Signal:\t{}\n", i(&t["signal"]));
        }
        wr!(w, 3, "Started:\t{}\n", rfc1123z(&t["startedAt"]));
        wr!(w, 3, "Finished:\t{}\n", rfc1123z(&t["finishedAt"]));
    } else {
        wr!(w, 2, "{name}:\tWaiting\n");
    }
}

fn probes(c: &Value, w: &mut Out) {
    for (field, title) in [
        ("livenessProbe", "Liveness"),
        ("readinessProbe", "Readiness"),
        ("startupProbe", "Startup"),
    ] {
        if c[field].is_object() {
            wr!(w, 2, "{title}:\t{}\n", describe_probe(&c[field]));
        }
    }
}

/// An int-or-string as Go's `IntOrString.String()`.
pub fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(t) => t.clone(),
        Value::Number(n) => n.to_string(),
        _ => "0".into(),
    }
}

/// `DescribeProbe`.
pub fn describe_probe(p: &Value) -> String {
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        i(&p["initialDelaySeconds"]),
        i(&p["timeoutSeconds"]),
        i(&p["periodSeconds"]),
        i(&p["successThreshold"]),
        i(&p["failureThreshold"])
    );
    if p["exec"].is_object() {
        let cmd: Vec<&str> = arr(&p["exec"]["command"]).iter().map(s).collect();
        return format!("exec [{}] {attrs}", cmd.join(" "));
    }
    if p["httpGet"].is_object() {
        let h = &p["httpGet"];
        let port = int_or_string(&h["port"]);
        let host = s(&h["host"]);
        let host_port = if port.is_empty() {
            host.to_string()
        } else if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let scheme = s(&h["scheme"]).to_lowercase();
        let mut url = String::new();
        if !scheme.is_empty() {
            url.push_str(&scheme);
            url.push(':');
        }
        if !host_port.is_empty() || !scheme.is_empty() {
            url.push_str("//");
            url.push_str(&host_port);
        }
        let path = s(&h["path"]);
        if !path.is_empty() && !path.starts_with('/') && !host_port.is_empty() {
            url.push('/');
        }
        url.push_str(path);
        return format!("http-get {url} {attrs}");
    }
    if p["tcpSocket"].is_object() {
        return format!(
            "tcp-socket {}:{} {attrs}",
            s(&p["tcpSocket"]["host"]),
            int_or_string(&p["tcpSocket"]["port"])
        );
    }
    if p["grpc"].is_object() {
        return format!(
            "grpc <pod>:{} {} {attrs}",
            i(&p["grpc"]["port"]),
            s(&p["grpc"]["service"])
        );
    }
    format!("unknown {attrs}")
}

fn env_from(c: &Value, w: &mut Out) {
    wr!(w, 2, "Environment Variables from:\n");
    for e in arr(&c["envFrom"]) {
        let (from, r) = if e["configMapRef"].is_object() {
            ("ConfigMap", &e["configMapRef"])
        } else if e["secretRef"].is_object() {
            ("Secret", &e["secretRef"])
        } else {
            ("", &Value::Null)
        };
        let optional = r["optional"].as_bool().unwrap_or(false);
        let prefix = s(&e["prefix"]);
        if prefix.is_empty() {
            wr!(w, 3, "{}\t{from}\tOptional: {optional}\n", s(&r["name"]));
        } else {
            wr!(
                w,
                3,
                "{}\t{from} with prefix '{prefix}'\tOptional: {optional}\n",
                s(&r["name"])
            );
        }
    }
}

fn env_vars(c: &Value, pod: Option<&Value>, w: &mut Out) {
    let env = arr(&c["env"]);
    let none = if env.is_empty() { "\t<none>" } else { "" };
    wr!(w, 2, "Environment:{none}\n");
    for e in env {
        let name = s(&e["name"]);
        let from = &e["valueFrom"];
        if !from.is_object() {
            for (n, line) in s(&e["value"]).split('\n').enumerate() {
                if n == 0 {
                    wr!(w, 3, "{name}:\t{line}\n");
                } else {
                    wr!(w, 3, "\t{line}\n");
                }
            }
            continue;
        }
        if from["fieldRef"].is_object() {
            let f = &from["fieldRef"];
            let value = pod
                .map(|p| field_path_value(p, s(&f["apiVersion"]), s(&f["fieldPath"])))
                .unwrap_or_default();
            wr!(
                w,
                3,
                "{name}:\t{value} ({}:{})\n",
                s(&f["apiVersion"]),
                s(&f["fieldPath"])
            );
        } else if from["resourceFieldRef"].is_object() {
            let r = &from["resourceFieldRef"];
            let resource = s(&r["resource"]);
            let mut value = resource_field_value(c, r);
            if value == "0" && (resource == "limits.cpu" || resource == "limits.memory") {
                value = "node allocatable".into();
            }
            wr!(w, 3, "{name}:\t{value} ({resource})\n");
        } else if from["secretKeyRef"].is_object() {
            let r = &from["secretKeyRef"];
            wr!(
                w,
                3,
                "{name}:\t<set to the key '{}' in secret '{}'>\tOptional: {}\n",
                s(&r["key"]),
                s(&r["name"]),
                r["optional"].as_bool().unwrap_or(false)
            );
        } else if from["configMapKeyRef"].is_object() {
            let r = &from["configMapKeyRef"];
            wr!(
                w,
                3,
                "{name}:\t<set to the key '{}' of config map '{}'>\tOptional: {}\n",
                s(&r["key"]),
                s(&r["name"]),
                r["optional"].as_bool().unwrap_or(false)
            );
        }
    }
}

/// The downward-API value kubectl shows for `path`: its scheme has no field-label
/// conversions for pods, so only the two fields every kind supports (`metadata.name`,
/// `metadata.namespace`) resolve; anything else shows empty.
fn field_path_value(pod: &Value, api_version: &str, path: &str) -> String {
    if api_version.matches('/').count() > 1 {
        return String::new();
    }
    match path {
        "metadata.name" => s(&pod["metadata"]["name"]).into(),
        "metadata.namespace" => s(&pod["metadata"]["namespace"]).into(),
        _ => String::new(),
    }
}

/// `ExtractContainerResourceValue`: the container's own request or limit over the
/// divisor, rounded up.
fn resource_field_value(c: &Value, r: &Value) -> String {
    let divisor = Qty::parse(&r["divisor"]);
    let (field, res) = match s(&r["resource"]).split_once('.') {
        Some(x) => x,
        None => return String::new(),
    };
    let q = Qty::parse(&c["resources"][field][res]);
    if res == "cpu" {
        let d = if divisor.milli == 0 {
            1000
        } else {
            divisor.milli
        };
        return div_ceil(q.milli, d).to_string();
    }
    let d = if divisor.milli == 0 {
        1
    } else {
        divisor.value()
    };
    div_ceil(q.value(), d).to_string()
}

fn div_ceil(a: i128, b: i128) -> i128 {
    if b == 0 {
        return 0;
    }
    let q = a / b;
    if a % b != 0 && (a > 0) == (b > 0) {
        q + 1
    } else {
        q
    }
}

fn mounts(c: &Value, w: &mut Out) {
    let mut list: Vec<&Value> = arr(&c["volumeMounts"]).iter().collect();
    let none = if list.is_empty() { "\t<none>" } else { "" };
    wr!(w, 2, "Mounts:{none}\n");
    list.sort_by(|a, b| s(&a["mountPath"]).cmp(s(&b["mountPath"])));
    for m in list {
        let mut flags = vec![if m["readOnly"].as_bool().unwrap_or(false) {
            "ro".to_string()
        } else {
            "rw".to_string()
        }];
        let sub = s(&m["subPath"]);
        if !sub.is_empty() {
            flags.push(format!("path={sub:?}"));
        }
        wr!(
            w,
            3,
            "{} from {} ({})\n",
            s(&m["mountPath"]),
            s(&m["name"]),
            flags.join(",")
        );
    }
    let mut devices: Vec<&Value> = arr(&c["volumeDevices"]).iter().collect();
    if !devices.is_empty() {
        wr!(w, 2, "Devices:{none}\n");
        devices.sort_by(|a, b| s(&a["devicePath"]).cmp(s(&b["devicePath"])));
        for d in devices {
            wr!(w, 3, "{} from {}\n", s(&d["devicePath"]), s(&d["name"]));
        }
    }
}

/// `DescribePodTemplate`.
pub fn pod_template(t: &Value, w: &mut Out) {
    w.write(0, "Pod Template:\n");
    if !t.is_object() {
        w.write(1, "<unset>");
        return;
    }
    let spec = &t["spec"];
    labels(w, "  Labels", &t["metadata"]["labels"]);
    if t["metadata"]["annotations"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
    {
        annotations(w, "  Annotations", &t["metadata"]["annotations"]);
    }
    if !s(&spec["serviceAccountName"]).is_empty() {
        wr!(
            w,
            1,
            "Service Account:\t{}\n",
            s(&spec["serviceAccountName"])
        );
    }
    if !arr(&spec["initContainers"]).is_empty() {
        describe_containers(
            "Init Containers",
            arr(&spec["initContainers"]),
            &[],
            None,
            w,
            "  ",
        );
    }
    describe_containers("Containers", arr(&spec["containers"]), &[], None, w, "  ");
    volumes::describe(arr(&spec["volumes"]), w, "  ");
    volumes::topology_spread(arr(&spec["topologySpreadConstraints"]), w, "  ");
    if !s(&spec["priorityClassName"]).is_empty() {
        wr!(
            w,
            1,
            "Priority Class Name:\t{}\n",
            s(&spec["priorityClassName"])
        );
    }
    labels(w, "  Node-Selectors", &spec["nodeSelector"]);
    tolerations(w, "", "  Tolerations", &spec["tolerations"]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probes_print_as_kubectl() {
        let p = json!({"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3});
        assert_eq!(
            describe_probe(&p),
            "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3"
        );
        let p = json!({"httpGet": {"path": "/healthz", "port": 8080}});
        assert!(describe_probe(&p).starts_with("http-get //:8080/healthz "));
        let p = json!({"exec": {"command": ["cat", "/tmp/x"]}});
        assert!(describe_probe(&p).starts_with("exec [cat /tmp/x] delay=0s"));
        let p = json!({"tcpSocket": {"port": "http"}});
        assert!(describe_probe(&p).starts_with("tcp-socket :http "));
    }

    #[test]
    fn downward_values() {
        let pod = json!({"metadata": {"name": "p", "namespace": "d", "labels": {"a": "b"}}});
        assert_eq!(field_path_value(&pod, "", "metadata.name"), "p");
        assert_eq!(field_path_value(&pod, "v1", "metadata.namespace"), "d");
        assert_eq!(field_path_value(&pod, "v1", "metadata.labels['a']"), "");
        let c = json!({"resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}});
        assert_eq!(
            resource_field_value(&c, &json!({"resource": "limits.cpu"})),
            "1"
        );
        assert_eq!(
            resource_field_value(&c, &json!({"resource": "limits.memory", "divisor": "1Mi"})),
            "64"
        );
        assert_eq!(
            resource_field_value(&c, &json!({"resource": "requests.cpu"})),
            "0"
        );
    }
}

//! A pod template described as `kubectl rollout history --revision=N` prints it (kubectl's
//! `DescribePodTemplate`): indented `Key:\tvalue` lines, tabs left as they are.

use serde_json::Value;

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `title:\tk=v` then `\tk=v` per further key, sorted; `<none>` when empty.
fn labels_multiline(out: &mut String, title: &str, labels: &Value) {
    out.push_str(&format!("{title}:\t"));
    let Some(m) = labels.as_object().filter(|m| !m.is_empty()) else {
        out.push_str("<none>\n");
        return;
    };
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str(&format!("{k}={}\n", v.as_str().unwrap_or_default()));
    }
}

/// Annotations as `k: v`, long or multi-line values on their own indented lines.
fn annotations_multiline(out: &mut String, title: &str, annotations: &Value) {
    const MAX: usize = 140;
    out.push_str(&format!("{title}:\t"));
    let Some(m) = annotations.as_object().filter(|m| !m.is_empty()) else {
        out.push_str("<none>\n");
        return;
    };
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        let value = v.as_str().unwrap_or_default().trim_end_matches('\n');
        if value.len() + k.len() + 2 > MAX || value.contains('\n') {
            out.push_str(&format!("{k}:\n"));
            for s in value.split('\n') {
                let short = if s.len() > MAX - 2 {
                    format!("{}...", &s[..floor_char_boundary(s, MAX - 2)])
                } else {
                    s.to_string()
                };
                out.push_str(&format!("\t  {short}\n"));
            }
        } else {
            out.push_str(&format!("{k}: {value}\n"));
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ports(c: &Value, field: &str) -> String {
    c["ports"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    format!(
                        "{}/{}",
                        p[field].as_i64().unwrap_or(0),
                        p["protocol"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s
    }
}

/// A probe as kubectl's `DescribeProbe` summarises it.
fn probe(p: &Value) -> String {
    let n = |k: &str, d: i64| p[k].as_i64().unwrap_or(d);
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        n("initialDelaySeconds", 0),
        n("timeoutSeconds", 1),
        n("periodSeconds", 10),
        n("successThreshold", 1),
        n("failureThreshold", 3)
    );
    let port = |v: &Value| match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    if p["exec"].is_object() {
        return format!("exec {:?} {attrs}", strs(&p["exec"]["command"])).replace('"', "");
    }
    if let Some(h) = p["httpGet"].as_object() {
        let scheme = h
            .get("scheme")
            .and_then(Value::as_str)
            .unwrap_or("HTTP")
            .to_lowercase();
        let host = h.get("host").and_then(Value::as_str).unwrap_or_default();
        let path = h.get("path").and_then(Value::as_str).unwrap_or_default();
        let port = port(h.get("port").unwrap_or(&Value::Null));
        return format!("http-get {scheme}://{host}:{port}{path} {attrs}");
    }
    if let Some(t) = p["tcpSocket"].as_object() {
        let port = port(t.get("port").unwrap_or(&Value::Null));
        return format!("tcp-socket :{port} {attrs}");
    }
    if let Some(g) = p["grpc"].as_object() {
        let port = g.get("port").and_then(Value::as_i64).unwrap_or(0);
        let svc = g.get("service").and_then(Value::as_str).unwrap_or_default();
        return format!("grpc <pod>:{port} {svc} {attrs}");
    }
    format!("unknown {attrs}")
}

fn containers(out: &mut String, label: &str, list: &Value) {
    let items = list.as_array().cloned().unwrap_or_default();
    let none = if items.is_empty() { " <none>" } else { "" };
    out.push_str(&format!("  {label}:{none}\n"));
    for c in &items {
        out.push_str(&format!("   {}:\n", c["name"].as_str().unwrap_or_default()));
        out.push_str(&format!(
            "    Image:\t{}\n",
            c["image"].as_str().unwrap_or_default()
        ));
        let p = ports(c, "containerPort");
        if p.contains(',') {
            out.push_str(&format!("    Ports:\t{p}\n"));
        } else {
            out.push_str(&format!("    Port:\t{}\n", or_none(p)));
        }
        let hp = ports(c, "hostPort");
        if hp.contains(',') {
            out.push_str(&format!("    Host Ports:\t{hp}\n"));
        } else {
            out.push_str(&format!("    Host Port:\t{}\n", or_none(hp)));
        }
        for (key, title) in [("command", "Command"), ("args", "Args")] {
            let lines = strs(&c[key]);
            if !lines.is_empty() {
                out.push_str(&format!("    {title}:\n"));
                for l in lines {
                    for s in l.split('\n') {
                        out.push_str(&format!("      {s}\n"));
                    }
                }
            }
        }
        for (key, title) in [("limits", "Limits"), ("requests", "Requests")] {
            if let Some(m) = c["resources"][key].as_object().filter(|m| !m.is_empty()) {
                out.push_str(&format!("    {title}:\n"));
                for (k, v) in m {
                    out.push_str(&format!("      {k}:\t{}\n", v.as_str().unwrap_or_default()));
                }
            }
        }
        for (key, title) in [
            ("livenessProbe", "Liveness"),
            ("readinessProbe", "Readiness"),
            ("startupProbe", "Startup"),
        ] {
            if c[key].is_object() {
                out.push_str(&format!("    {title}:\t{}\n", probe(&c[key])));
            }
        }
        env(out, c);
        mounts(out, c);
    }
}

fn env(out: &mut String, c: &Value) {
    let vars = c["env"].as_array().cloned().unwrap_or_default();
    let none = if vars.is_empty() { "\t<none>" } else { "" };
    out.push_str(&format!("    Environment:{none}\n"));
    for e in &vars {
        let name = e["name"].as_str().unwrap_or_default();
        let from = &e["valueFrom"];
        if !from.is_object() {
            let value = e["value"].as_str().unwrap_or_default();
            for (i, s) in value.split('\n').enumerate() {
                if i == 0 {
                    out.push_str(&format!("      {name}:\t{s}\n"));
                } else {
                    out.push_str(&format!("      \t{s}\n"));
                }
            }
            continue;
        }
        let optional = |r: &Value| r["optional"].as_bool().unwrap_or(false);
        if let Some(f) = from["fieldRef"].as_object() {
            let av = f
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let fp = f
                .get("fieldPath")
                .and_then(Value::as_str)
                .unwrap_or_default();
            out.push_str(&format!("      {name}:\t ({av}:{fp})\n"));
        } else if from["resourceFieldRef"].is_object() {
            let r = from["resourceFieldRef"]["resource"]
                .as_str()
                .unwrap_or_default();
            out.push_str(&format!("      {name}:\t ({r})\n"));
        } else if from["secretKeyRef"].is_object() {
            let r = &from["secretKeyRef"];
            out.push_str(&format!(
                "      {name}:\t<set to the key '{}' in secret '{}'>\tOptional: {}\n",
                r["key"].as_str().unwrap_or_default(),
                r["name"].as_str().unwrap_or_default(),
                optional(r)
            ));
        } else if from["configMapKeyRef"].is_object() {
            let r = &from["configMapKeyRef"];
            out.push_str(&format!(
                "      {name}:\t<set to the key '{}' of config map '{}'>\tOptional: {}\n",
                r["key"].as_str().unwrap_or_default(),
                r["name"].as_str().unwrap_or_default(),
                optional(r)
            ));
        }
    }
}

fn mounts(out: &mut String, c: &Value) {
    let mut ms = c["volumeMounts"].as_array().cloned().unwrap_or_default();
    let none = if ms.is_empty() { "\t<none>" } else { "" };
    out.push_str(&format!("    Mounts:{none}\n"));
    ms.sort_by(|a, b| a["mountPath"].as_str().cmp(&b["mountPath"].as_str()));
    for m in &ms {
        let mut flags = vec![if m["readOnly"].as_bool().unwrap_or(false) {
            "ro".to_string()
        } else {
            "rw".to_string()
        }];
        if let Some(sp) = m["subPath"].as_str().filter(|s| !s.is_empty()) {
            flags.push(format!("path={sp:?}"));
        }
        out.push_str(&format!(
            "      {} from {} ({})\n",
            m["mountPath"].as_str().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default(),
            flags.join(",")
        ));
    }
}

fn volumes(out: &mut String, vols: &Value) {
    let vs = vols.as_array().cloned().unwrap_or_default();
    if vs.is_empty() {
        out.push_str("  Volumes:\t<none>\n");
        return;
    }
    out.push_str("  Volumes:\n");
    for v in &vs {
        out.push_str(&format!("   {}:\n", v["name"].as_str().unwrap_or_default()));
        if let Some(e) = v["emptyDir"].as_object() {
            out.push_str(
                "    Type:       EmptyDir (a temporary directory that shares a pod's lifetime)\n",
            );
            let medium = e.get("medium").and_then(Value::as_str).unwrap_or_default();
            out.push_str(&format!("    Medium:     {medium}\n"));
            let limit = e
                .get("sizeLimit")
                .and_then(Value::as_str)
                .unwrap_or("<unset>");
            out.push_str(&format!("    SizeLimit:  {limit}\n"));
        } else if let Some(c) = v["configMap"].as_object() {
            out.push_str("    Type:      ConfigMap (a volume populated by a ConfigMap)\n");
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            out.push_str(&format!("    Name:      {name}\n"));
            let opt = c.get("optional").and_then(Value::as_bool).unwrap_or(false);
            out.push_str(&format!("    Optional:  {opt}\n"));
        } else if let Some(s) = v["secret"].as_object() {
            out.push_str("    Type:        Secret (a volume populated by a Secret)\n");
            let name = s
                .get("secretName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            out.push_str(&format!("    SecretName:  {name}\n"));
            let opt = s.get("optional").and_then(Value::as_bool).unwrap_or(false);
            out.push_str(&format!("    Optional:    {opt}\n"));
        } else if let Some(h) = v["hostPath"].as_object() {
            out.push_str("    Type:          HostPath (bare host directory volume)\n");
            let path = h.get("path").and_then(Value::as_str).unwrap_or_default();
            out.push_str(&format!("    Path:          {path}\n"));
            let t = h.get("type").and_then(Value::as_str).unwrap_or_default();
            out.push_str(&format!("    HostPathType:  {t}\n"));
        } else {
            out.push_str("    <unknown>\n");
        }
    }
}

fn tolerations(out: &mut String, list: &Value) {
    out.push_str("  Tolerations:\t");
    let mut ts = list.as_array().cloned().unwrap_or_default();
    if ts.is_empty() {
        out.push_str("<none>\n");
        return;
    }
    ts.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    for (i, t) in ts.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        let key = t["key"].as_str().unwrap_or_default();
        let value = t["value"].as_str().unwrap_or_default();
        let effect = t["effect"].as_str().unwrap_or_default();
        out.push_str(key);
        if !value.is_empty() {
            out.push_str(&format!("={value}"));
        }
        if !effect.is_empty() {
            out.push_str(&format!(":{effect}"));
        }
        if t["operator"] == "Exists" && value.is_empty() {
            out.push_str(if key.is_empty() && effect.is_empty() {
                "op=Exists"
            } else {
                " op=Exists"
            });
        }
        if let Some(s) = t["tolerationSeconds"].as_i64() {
            out.push_str(&format!(" for {s}s"));
        }
        out.push('\n');
    }
}

/// The description of `template` (a PodTemplateSpec), starting with `Pod Template:`.
pub fn describe(template: &Value) -> String {
    let mut out = String::from("Pod Template:\n");
    let meta = &template["metadata"];
    let spec = &template["spec"];
    labels_multiline(&mut out, "  Labels", &meta["labels"]);
    if meta["annotations"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
    {
        annotations_multiline(&mut out, "  Annotations", &meta["annotations"]);
    }
    if let Some(sa) = spec["serviceAccountName"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        out.push_str(&format!("  Service Account:\t{sa}\n"));
    }
    if spec["initContainers"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        containers(&mut out, "Init Containers", &spec["initContainers"]);
    }
    containers(&mut out, "Containers", &spec["containers"]);
    volumes(&mut out, &spec["volumes"]);
    if let Some(pc) = spec["priorityClassName"].as_str().filter(|s| !s.is_empty()) {
        out.push_str(&format!("  Priority Class Name:\t{pc}\n"));
    }
    labels_multiline(&mut out, "  Node-Selectors", &spec["nodeSelector"]);
    tolerations(&mut out, &spec["tolerations"]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn template_reads_as_kubectl_prints_it() {
        let t = json!({
            "metadata": {"labels": {"app": "h", "pod-template-hash": "754cb55547"},
                          "annotations": {"kubernetes.io/change-cause": "v3 release"}},
            "spec": {"containers": [{"name": "busybox", "image": "busybox:2"}]}
        });
        assert_eq!(
            describe(&t),
            "Pod Template:\n  Labels:\tapp=h\n\tpod-template-hash=754cb55547\n  Annotations:\tkubernetes.io/change-cause: v3 release\n  Containers:\n   busybox:\n    Image:\tbusybox:2\n    Port:\t<none>\n    Host Port:\t<none>\n    Environment:\t<none>\n    Mounts:\t<none>\n  Volumes:\t<none>\n  Node-Selectors:\t<none>\n  Tolerations:\t<none>\n"
        );
    }
}

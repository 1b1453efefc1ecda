//! Service, Endpoints and Ingress describers; backends and service ports resolve to the
//! ready addresses of the service's EndpointSlices, as kubectl shows them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::events::{self, list_all};
use super::util::{arr, format_labels, i, s};
use super::writer::{annotations, labels, wr, Out};
use super::Settings;
use crate::ctx::{query_escape, Ctx};
use crate::error::Result;

/// The EndpointSlices of a service (kubectl lists them without a limit).
async fn endpoint_slices(ctx: &Ctx, ns: &str, service: &str) -> Result<Vec<Value>> {
    let path = format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices");
    let q = format!(
        "labelSelector={}",
        query_escape(&format!("kubernetes.io/service-name={service}"))
    );
    list_all(ctx, &path, &q, 0).await
}

/// `formatEndpointSlices`: up to three ready `ip:port`s of the named port, then
/// "+ N more...".
pub fn format_endpoint_slices(slices: &[Value], port_name: Option<&str>) -> String {
    if slices.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    let ready = |e: &Value| e["conditions"]["ready"].as_bool().unwrap_or(true);
    for slice in slices {
        // A slice without ports lists bare addresses; otherwise each named port's.
        let ports: Vec<Option<i64>> = match arr(&slice["ports"]) {
            [] => vec![None],
            ports => ports
                .iter()
                .filter(|p| port_name.is_none_or(|n| n == s(&p["name"])))
                .map(|p| Some(i(&p["port"])))
                .collect(),
        };
        for port in ports {
            for e in arr(&slice["endpoints"]) {
                if list.len() == MAX {
                    more = true;
                }
                if !ready(e) {
                    continue;
                }
                if !more {
                    let addr = arr(&e["addresses"]).first().map(s).unwrap_or_default();
                    list.push(match port {
                        None => addr.to_string(),
                        Some(p) if addr.contains(':') => format!("[{addr}]:{p}"),
                        Some(p) => format!("{addr}:{p}"),
                    });
                }
                count += 1;
            }
        }
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - MAX);
    }
    ret
}

pub async fn service(ctx: &Ctx, svc: &Value, st: &Settings) -> Result<String> {
    let meta = &svc["metadata"];
    let spec = &svc["spec"];
    let ns = s(&meta["namespace"]);
    let slices = endpoint_slices(ctx, ns, s(&meta["name"]))
        .await
        .unwrap_or_default();
    let evs = st.events(ctx, svc).await;
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{ns}\n");
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    wr!(w, 0, "Selector:\t{}\n", format_labels(&spec["selector"]));
    wr!(w, 0, "Type:\t{}\n", s(&spec["type"]));
    if spec["ipFamilyPolicy"].is_string() {
        wr!(w, 0, "IP Family Policy:\t{}\n", s(&spec["ipFamilyPolicy"]));
    }
    let families: Vec<&str> = arr(&spec["ipFamilies"]).iter().map(s).collect();
    if families.is_empty() {
        w.write(0, "IP Families:\t<none>\n");
    } else {
        wr!(w, 0, "IP Families:\t{}\n", families.join(","));
    }
    wr!(w, 0, "IP:\t{}\n", s(&spec["clusterIP"]));
    let ips: Vec<&str> = arr(&spec["clusterIPs"]).iter().map(s).collect();
    if ips.is_empty() {
        w.write(0, "IPs:\t<none>\n");
    } else {
        wr!(w, 0, "IPs:\t{}\n", ips.join(","));
    }
    let external: Vec<&str> = arr(&spec["externalIPs"]).iter().map(s).collect();
    if !external.is_empty() {
        wr!(w, 0, "External IPs:\t{}\n", external.join(","));
    }
    if !s(&spec["loadBalancerIP"]).is_empty() {
        wr!(
            w,
            0,
            "Desired LoadBalancer IP:\t{}\n",
            s(&spec["loadBalancerIP"])
        );
    }
    if !s(&spec["externalName"]).is_empty() {
        wr!(w, 0, "External Name:\t{}\n", s(&spec["externalName"]));
    }
    let lb = arr(&svc["status"]["loadBalancer"]["ingress"]);
    if !lb.is_empty() {
        let list: Vec<String> = lb
            .iter()
            .map(|x| {
                if s(&x["ip"]).is_empty() {
                    s(&x["hostname"]).to_string()
                } else if x["ipMode"].is_string() {
                    format!("{} ({})", s(&x["ip"]), s(&x["ipMode"]))
                } else {
                    s(&x["ip"]).to_string()
                }
            })
            .collect();
        wr!(w, 0, "LoadBalancer Ingress:\t{}\n", list.join(", "));
    }
    for p in arr(&spec["ports"]) {
        let name = match s(&p["name"]) {
            "" => "<unset>",
            n => n,
        };
        let proto = s(&p["protocol"]);
        wr!(w, 0, "Port:\t{name}\t{}/{proto}\n", i(&p["port"]));
        match &p["targetPort"] {
            Value::String(t) => wr!(w, 0, "TargetPort:\t{t}/{proto}\n"),
            t => wr!(w, 0, "TargetPort:\t{}/{proto}\n", i(t)),
        }
        if i(&p["nodePort"]) != 0 {
            wr!(w, 0, "NodePort:\t{name}\t{}/{proto}\n", i(&p["nodePort"]));
        }
        wr!(
            w,
            0,
            "Endpoints:\t{}\n",
            format_endpoint_slices(&slices, Some(s(&p["name"])))
        );
    }
    wr!(w, 0, "Session Affinity:\t{}\n", s(&spec["sessionAffinity"]));
    if !s(&spec["externalTrafficPolicy"]).is_empty() {
        wr!(
            w,
            0,
            "External Traffic Policy:\t{}\n",
            s(&spec["externalTrafficPolicy"])
        );
    }
    if spec["internalTrafficPolicy"].is_string() {
        wr!(
            w,
            0,
            "Internal Traffic Policy:\t{}\n",
            s(&spec["internalTrafficPolicy"])
        );
    }
    if i(&spec["healthCheckNodePort"]) != 0 {
        wr!(
            w,
            0,
            "HealthCheck NodePort:\t{}\n",
            i(&spec["healthCheckNodePort"])
        );
    }
    let ranges: Vec<&str> = arr(&spec["loadBalancerSourceRanges"])
        .iter()
        .map(s)
        .collect();
    if !ranges.is_empty() {
        wr!(w, 0, "LoadBalancer Source Ranges:\t{}\n", ranges.join(","));
    }
    Ok(events::finish(w, evs.as_deref()))
}

pub async fn endpoints(ctx: &Ctx, ep: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, ep).await;
    let meta = &ep["metadata"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    w.write(0, "Subsets:\n");
    for subset in arr(&ep["subsets"]) {
        for (field, title) in [
            ("addresses", "Addresses"),
            ("notReadyAddresses", "NotReadyAddresses"),
        ] {
            let list: Vec<&str> = arr(&subset[field]).iter().map(|a| s(&a["ip"])).collect();
            let text = list.join(",");
            wr!(
                w,
                1,
                "{title}:\t{}\n",
                if text.is_empty() { "<none>" } else { &text }
            );
        }
        let ports = arr(&subset["ports"]);
        if !ports.is_empty() {
            w.write(1, "Ports:\n");
            w.write(2, "Name\tPort\tProtocol\n");
            w.write(2, "----\t----\t--------\n");
            for p in ports {
                let name = match s(&p["name"]) {
                    "" => "<unset>",
                    n => n,
                };
                wr!(w, 2, "{name}\t{}\t{}\n", i(&p["port"]), s(&p["protocol"]));
            }
        }
        w.write(0, "\n");
    }
    Ok(events::finish(w, evs.as_deref()))
}

/// `serviceBackendStringer`: `name:port`.
fn service_backend(b: &Value) -> String {
    let port = &b["port"];
    let p = if i(&port["number"]) != 0 {
        i(&port["number"]).to_string()
    } else {
        s(&port["name"]).to_string()
    };
    format!("{}:{p}", s(&b["name"]))
}

/// `describeBackendV1`: `svc:port (ip:port,…)` or the resource backend.
async fn backend(ctx: &Ctx, ns: &str, b: &Value) -> String {
    if b["service"].is_object() {
        let svc_ref = &b["service"];
        let sb = service_backend(svc_ref);
        let name = s(&svc_ref["name"]);
        let slices = match endpoint_slices(ctx, ns, name).await {
            Ok(x) => x,
            Err(e) => return format!("{sb} (<error: {}>)", error_text(&e)),
        };
        let svc = match ctx
            .get_json(&format!("/api/v1/namespaces/{ns}/services/{name}"))
            .await
        {
            Ok(x) => x,
            Err(e) => return format!("{sb} (<error: {}>)", error_text(&e)),
        };
        let number = i(&svc_ref["port"]["number"]);
        let pname = s(&svc_ref["port"]["name"]);
        let mut sp_name = String::new();
        for sp in arr(&svc["spec"]["ports"]) {
            if (number != 0 && number == i(&sp["port"]))
                || (!pname.is_empty() && pname == s(&sp["name"]))
            {
                sp_name = s(&sp["name"]).to_string();
            }
        }
        return format!("{sb} ({})", format_endpoint_slices(&slices, Some(&sp_name)));
    }
    if b["resource"].is_object() {
        let r = &b["resource"];
        let group = r["apiGroup"].as_str().unwrap_or("<none>");
        return format!(
            "APIGroup: {group}, Kind: {}, Name: {}",
            s(&r["kind"]),
            s(&r["name"])
        );
    }
    String::new()
}

/// An error as Go's `%v` prints it (the Status message, without kubectl's prefix).
fn error_text(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Server(st) => st.message.clone(),
        other => other.to_string().trim_start_matches("error: ").to_string(),
    }
}

pub async fn ingress(ctx: &Ctx, ing: &Value, st: &Settings) -> Result<String> {
    let evs = st.events(ctx, ing).await;
    let meta = &ing["metadata"];
    let spec = &ing["spec"];
    let ns = s(&meta["namespace"]);
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    labels(&mut w, "Labels", &meta["labels"]);
    wr!(w, 0, "Namespace:\t{ns}\n");
    let addrs: BTreeSet<&str> = arr(&ing["status"]["loadBalancer"]["ingress"])
        .iter()
        .filter_map(|x| {
            let ip = s(&x["ip"]);
            let host = s(&x["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    wr!(
        w,
        0,
        "Address:\t{}\n",
        addrs.into_iter().collect::<Vec<_>>().join(",")
    );
    let class = spec["ingressClassName"].as_str().unwrap_or("<none>");
    wr!(w, 0, "Ingress Class:\t{class}\n");
    let default_backend = if spec["defaultBackend"].is_object() {
        backend(ctx, ns, &spec["defaultBackend"]).await
    } else {
        "<default>".to_string()
    };
    wr!(w, 0, "Default backend:\t{default_backend}\n");
    let tls = arr(&spec["tls"]);
    if !tls.is_empty() {
        w.write(0, "TLS:\n");
        for t in tls {
            let hosts: Vec<&str> = arr(&t["hosts"]).iter().map(s).collect();
            if s(&t["secretName"]).is_empty() {
                wr!(w, 1, "SNI routes {}\n", hosts.join(","));
            } else {
                wr!(
                    w,
                    1,
                    "{} terminates {}\n",
                    s(&t["secretName"]),
                    hosts.join(",")
                );
            }
        }
    }
    w.write(0, "Rules:\n  Host\tPath\tBackends\n");
    w.write(1, "----\t----\t--------\n");
    let mut count = 0;
    for rule in arr(&spec["rules"]) {
        if !rule["http"].is_object() {
            continue;
        }
        count += 1;
        let host = match s(&rule["host"]) {
            "" => "*",
            h => h,
        };
        wr!(w, 1, "{host}\t\n");
        for p in arr(&rule["http"]["paths"]) {
            let b = backend(ctx, ns, &p["backend"]).await;
            wr!(w, 2, "\t{} \t{b}\n", s(&p["path"]));
        }
    }
    if count == 0 {
        wr!(w, 1, "*\t*\t{default_backend}\n");
    }
    annotations(&mut w, "Annotations", &meta["annotations"]);
    Ok(events::finish(w, evs.as_deref()))
}

/// `describeNetworkPolicy` (no events: kubectl shows none for policies).
pub fn network_policy(np: &Value) -> String {
    let meta = &np["metadata"];
    let spec = &np["spec"];
    let mut w = Out::new();
    wr!(w, 0, "Name:\t{}\n", s(&meta["name"]));
    wr!(w, 0, "Namespace:\t{}\n", s(&meta["namespace"]));
    wr!(
        w,
        0,
        "Created on:\t{}\n",
        go_time_string(&meta["creationTimestamp"])
    );
    labels(&mut w, "Labels", &meta["labels"]);
    annotations(&mut w, "Annotations", &meta["annotations"]);
    w.write(0, "Spec:\n");
    w.write(1, "PodSelector: ");
    let ps = &spec["podSelector"];
    let empty = |v: &Value| v.as_object().is_none_or(|m| m.is_empty());
    if empty(&ps["matchLabels"]) && arr(&ps["matchExpressions"]).is_empty() {
        w.write(
            2,
            "<none> (Allowing the specific traffic to all pods in this namespace)\n",
        );
    } else {
        wr!(w, 2, "{}\n", super::util::format_label_selector(ps));
    }
    let types: Vec<&str> = arr(&spec["policyTypes"]).iter().map(s).collect();
    let indent = "    ";
    if types.contains(&"Ingress") {
        w.write(1, "Allowing ingress traffic:\n");
        peers_rules(
            &mut w,
            arr(&spec["ingress"]),
            "from",
            "From",
            "source",
            "ingress",
            indent,
        );
    } else {
        w.write(1, "Not affecting ingress traffic\n");
    }
    if types.contains(&"Egress") {
        w.write(1, "Allowing egress traffic:\n");
        peers_rules(
            &mut w,
            arr(&spec["egress"]),
            "to",
            "To",
            "destination",
            "egress",
            indent,
        );
    } else {
        w.write(1, "Not affecting egress traffic\n");
    }
    let pts = if types.is_empty() {
        "<none>".to_string()
    } else {
        types.join(", ")
    };
    wr!(w, 1, "Policy Types: {pts}\n");
    w.finish()
}

/// `printNetworkPolicySpecIngressFrom` / `printNetworkPolicySpecEgressTo`.
fn peers_rules(
    w: &mut Out,
    rules: &[Value],
    field: &str,
    title: &str,
    what: &str,
    direction: &str,
    indent: &str,
) {
    if rules.is_empty() {
        wr!(
            w,
            0,
            "{indent}<none> (Selected pods are isolated for {direction} connectivity)\n"
        );
        return;
    }
    for (n, rule) in rules.iter().enumerate() {
        let ports = arr(&rule["ports"]);
        if ports.is_empty() {
            wr!(
                w,
                0,
                "{indent}To Port: <any> (traffic allowed to all ports)\n"
            );
        }
        for p in ports {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            // A nil *IntOrString prints as `<nil>` (its String method handles nil).
            let port = match &p["port"] {
                Value::Null => "<nil>".to_string(),
                v => super::containers::int_or_string(v),
            };
            match p["endPort"].as_i64() {
                None => wr!(w, 0, "{indent}To Port: {port}/{proto}\n"),
                Some(end) => wr!(w, 0, "{indent}To Port Range: {port}-{end}/{proto}\n"),
            }
        }
        let peers = arr(&rule[field]);
        if peers.is_empty() {
            wr!(
                w,
                0,
                "{indent}{title}: <any> (traffic not restricted by {what})\n"
            );
        }
        for peer in peers {
            wr!(w, 0, "{indent}{title}:\n");
            let fmt = super::util::format_label_selector;
            let (pod, ns) = (&peer["podSelector"], &peer["namespaceSelector"]);
            if pod.is_object() && ns.is_object() {
                wr!(w, 1, "{indent}NamespaceSelector: {}\n", fmt(ns));
                wr!(w, 1, "{indent}PodSelector: {}\n", fmt(pod));
            } else if pod.is_object() {
                wr!(w, 1, "{indent}PodSelector: {}\n", fmt(pod));
            } else if ns.is_object() {
                wr!(w, 1, "{indent}NamespaceSelector: {}\n", fmt(ns));
            } else if peer["ipBlock"].is_object() {
                let b = &peer["ipBlock"];
                wr!(w, 1, "{indent}IPBlock:\n");
                wr!(w, 2, "{indent}CIDR: {}\n", s(&b["cidr"]));
                let except: Vec<&str> = arr(&b["except"]).iter().map(s).collect();
                wr!(w, 2, "{indent}Except: {}\n", except.join(", "));
            }
        }
        if n != rules.len() - 1 {
            wr!(w, 0, "{indent}----------\n");
        }
    }
}

/// Go's `time.Time.String()` in the local zone: `2006-01-02 15:04:05 -0700 MST`.
fn go_time_string(ts: &Value) -> String {
    match ts.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) {
        Some(t) => t
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S %z %Z")
            .to_string(),
        None => "0001-01-01 00:00:00 +0000 UTC".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_of_a_port() {
        let slices = vec![json!({
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.3"]},
                {"addresses": ["10.0.0.4"]},
                {"addresses": ["10.0.0.5"]},
            ]
        })];
        assert_eq!(
            format_endpoint_slices(&slices, Some("http")),
            "10.0.0.1:8080,10.0.0.3:8080,10.0.0.4:8080 + 1 more..."
        );
        assert_eq!(format_endpoint_slices(&slices, Some("other")), "");
        assert_eq!(format_endpoint_slices(&[], Some("x")), "<none>");
        assert_eq!(
            service_backend(&json!({"name": "web", "port": {"number": 80}})),
            "web:80"
        );
    }
}

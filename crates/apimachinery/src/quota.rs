//! What an object counts against a ResourceQuota (upstream's quota evaluators), as milli
//! units per resource name, shared by the API server's admission and the quota controller.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::quantity::parse_milli;

/// Usage per quota resource name, in thousandths (a count of 1 is 1000).
pub type Usage = BTreeMap<String, i128>;

const ONE: i128 = 1000;

/// Whether a pod still counts (terminal pods free their quota, as upstream).
pub fn pod_counts(pod: &Value) -> bool {
    !matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded") | Some("Failed")
    )
}

fn add(u: &mut Usage, k: &str, v: i128) {
    *u.entry(k.to_string()).or_insert(0) += v;
}

/// A container list's per-resource sum of `requests` or `limits`.
fn sum(containers: Option<&Value>, field: &str) -> BTreeMap<String, i128> {
    let mut out = BTreeMap::new();
    for c in containers.and_then(Value::as_array).into_iter().flatten() {
        if let Some(m) = c
            .pointer(&format!("/resources/{field}"))
            .and_then(Value::as_object)
        {
            for (k, v) in m {
                if let Some(q) = v.as_str().and_then(parse_milli) {
                    *out.entry(k.clone()).or_insert(0) += q;
                }
            }
        }
    }
    out
}

/// The pod's effective `requests` or `limits`: the larger of the containers' sum and any one
/// init container, plus the pod overhead (upstream's PodRequests/PodLimits).
pub fn pod_resources(pod: &Value, field: &str) -> BTreeMap<String, i128> {
    let spec = pod.get("spec");
    let mut total = sum(spec.and_then(|s| s.get("containers")), field);
    for init in spec
        .and_then(|s| s.get("initContainers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let one = sum(Some(&Value::Array(vec![init.clone()])), field);
        for (k, v) in one {
            let e = total.entry(k).or_insert(0);
            *e = (*e).max(v);
        }
    }
    if let Some(m) = spec
        .and_then(|s| s.get("overhead"))
        .and_then(Value::as_object)
    {
        for (k, v) in m {
            if let Some(q) = v.as_str().and_then(parse_milli) {
                *total.entry(k.clone()).or_insert(0) += q;
            }
        }
    }
    total
}

/// What one object of `plural` in API group `group` uses.
pub fn usage(group: &str, plural: &str, obj: &Value) -> Usage {
    let mut u = Usage::new();
    let count_key = if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    };
    add(&mut u, &count_key, ONE);
    if !group.is_empty() {
        return u;
    }
    match plural {
        "pods" => {
            add(&mut u, "pods", ONE);
            for (field, prefix) in [("requests", "requests."), ("limits", "limits.")] {
                for (k, v) in pod_resources(obj, field) {
                    add(&mut u, &format!("{prefix}{k}"), v);
                    // Bare `cpu`/`memory` mean requests.
                    if field == "requests" {
                        add(&mut u, &k, v);
                    }
                }
            }
        }
        "services" => {
            add(&mut u, "services", ONE);
            let ty = obj
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            if ty == "LoadBalancer" {
                add(&mut u, "services.loadbalancers", ONE);
            }
            if ty == "NodePort" || ty == "LoadBalancer" {
                let ports = obj
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .map_or(0, |p| p.len());
                add(&mut u, "services.nodeports", ONE * ports as i128);
            }
        }
        "persistentvolumeclaims" => {
            add(&mut u, "persistentvolumeclaims", ONE);
            if let Some(q) = obj
                .pointer("/spec/resources/requests/storage")
                .and_then(Value::as_str)
                .and_then(parse_milli)
            {
                add(&mut u, "requests.storage", q);
            }
        }
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => {
            add(&mut u, plural, ONE);
        }
        _ => {}
    }
    u
}

/// The quota resources a pod must state for every container when a quota limits them
/// (upstream: "must specify limits.cpu"): the pod's containers lacking one of them.
pub fn missing_pod_resources(pod: &Value, hard: &[&str]) -> Vec<String> {
    let mut missing = Vec::new();
    for name in hard {
        let (field, res) = match *name {
            "requests.cpu" | "cpu" => ("requests", "cpu"),
            "requests.memory" | "memory" => ("requests", "memory"),
            "limits.cpu" => ("limits", "cpu"),
            "limits.memory" => ("limits", "memory"),
            _ => continue,
        };
        let lacking = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c.pointer(&format!("/resources/{field}/{res}")).is_none());
        if lacking {
            missing.push((*name).to_string());
        }
    }
    missing.sort();
    missing.dedup();
    missing
}

/// A milli amount as a quantity string for `resource` (`600m`, `1`, `1Gi`).
pub fn format(resource: &str, milli: i128) -> String {
    if milli % ONE != 0 {
        return format!("{milli}m");
    }
    let v = milli / ONE;
    let binary = ["memory", "storage", "ephemeral-storage"]
        .iter()
        .any(|r| resource.ends_with(r));
    if binary && v != 0 {
        for (shift, suffix) in [(40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki")] {
            if v % (1i128 << shift) == 0 {
                return format!("{}{suffix}", v >> shift);
            }
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_count_requests_limits_and_init_containers() {
        let pod = json!({"spec": {
        "initContainers": [{"resources": {"requests": {"cpu": "2"}}}],
        "containers": [
            {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m"}}},
            {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
        ]}});
        let u = usage("", "pods", &pod);
        assert_eq!(u["pods"], 1000);
        assert_eq!(u["count/pods"], 1000);
        assert_eq!(u["requests.cpu"], 2000, "the init container is larger");
        assert_eq!(u["cpu"], 2000);
        assert_eq!(u["requests.memory"], 128 * 1024 * 1024 * 1000);
        assert_eq!(u["limits.cpu"], 500);
        assert_eq!(
            missing_pod_resources(&pod, &["limits.cpu", "requests.memory", "services"]),
            vec!["limits.cpu".to_string()]
        );
    }

    #[test]
    fn services_and_generic_counts() {
        let svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        let u = usage("", "services", &svc);
        assert_eq!(u["services.nodeports"], 2000);
        assert!(!u.contains_key("services.loadbalancers"));
        let d = usage("apps", "deployments", &json!({}));
        assert_eq!(d["count/deployments.apps"], 1000);
    }

    #[test]
    fn quantities_print_as_upstream() {
        assert_eq!(format("requests.cpu", 600), "600m");
        assert_eq!(format("requests.cpu", 2000), "2");
        assert_eq!(format("requests.memory", 1024 * 1024 * 1024 * 1000), "1Gi");
        assert_eq!(format("pods", 3000), "3");
    }
}

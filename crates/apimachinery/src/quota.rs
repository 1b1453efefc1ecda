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

/// A quota's scope requirements: `spec.scopes` (each as `Exists`) and
/// `spec.scopeSelector.matchExpressions`, as (scope, operator, values).
fn scope_requirements(quota: &Value) -> Vec<(&str, &str, Vec<&str>)> {
    let spec = quota.get("spec");
    let mut out: Vec<(&str, &str, Vec<&str>)> = spec
        .and_then(|s| s.get("scopes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| (s, "Exists", Vec::new()))
        .collect();
    for e in spec
        .and_then(|s| s.pointer("/scopeSelector/matchExpressions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let values = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.push((
            e.get("scopeName").and_then(Value::as_str).unwrap_or(""),
            e.get("operator").and_then(Value::as_str).unwrap_or(""),
            values,
        ));
    }
    out
}

/// Whether the quota has scopes (`spec.scopes` or `spec.scopeSelector`).
pub fn is_scoped(quota: &Value) -> bool {
    !scope_requirements(quota).is_empty()
}

/// Whether the quota counts `obj` (of `plural` in API group `group`): a quota without
/// scopes counts every object; scopes select pods only, so other kinds never fall under a
/// scoped quota (upstream's `MatchesNoScopeFunc`).
pub fn in_scope(quota: &Value, group: &str, plural: &str, obj: &Value) -> bool {
    let reqs = scope_requirements(quota);
    if reqs.is_empty() {
        return true;
    }
    if !group.is_empty() || plural != "pods" {
        return false;
    }
    reqs.iter()
        .all(|(scope, op, values)| pod_in_scope(obj, scope, op, values))
}

/// Upstream's `podMatchesScopeFunc`.
fn pod_in_scope(pod: &Value, scope: &str, op: &str, values: &[&str]) -> bool {
    let spec = pod.get("spec");
    match scope {
        "Terminating" => spec
            .and_then(|s| s.get("activeDeadlineSeconds"))
            .and_then(Value::as_i64)
            .is_some_and(|d| d >= 0),
        "NotTerminating" => spec
            .and_then(|s| s.get("activeDeadlineSeconds"))
            .and_then(Value::as_i64)
            .is_none_or(|d| d < 0),
        "BestEffort" => best_effort(pod),
        "NotBestEffort" => !best_effort(pod),
        "PriorityClass" => {
            let class = spec
                .and_then(|s| s.get("priorityClassName"))
                .and_then(Value::as_str)
                .unwrap_or("");
            // The class is matched as a label that is always present (maybe empty).
            match op {
                "Exists" => !class.is_empty(),
                "In" => values.contains(&class),
                "NotIn" => !values.contains(&class),
                _ => false,
            }
        }
        "CrossNamespacePodAffinity" => cross_namespace_affinity(pod),
        _ => false,
    }
}

/// QoS class BestEffort: no container or init container requests or limits CPU or memory.
fn best_effort(pod: &Value) -> bool {
    let spec = pod.get("spec");
    ["containers", "initContainers"]
        .iter()
        .flat_map(|k| {
            spec.and_then(|s| s.get(*k))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .all(|c| {
            ["requests", "limits"].iter().all(|f| {
                c.pointer(&format!("/resources/{f}"))
                    .and_then(Value::as_object)
                    .is_none_or(|m| !m.contains_key("cpu") && !m.contains_key("memory"))
            })
        })
}

/// Whether a pod (anti-)affinity term names other namespaces or selects them.
fn cross_namespace_affinity(pod: &Value) -> bool {
    let Some(aff) = pod.pointer("/spec/affinity") else {
        return false;
    };
    let term = |t: &Value| {
        t.get("namespaceSelector").is_some_and(|s| !s.is_null())
            || t.get("namespaces")
                .and_then(Value::as_array)
                .is_some_and(|n| !n.is_empty())
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|k| {
        let Some(a) = aff.get(*k) else { return false };
        let required = a
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(term);
        let preferred = a
            .get("preferredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| w.get("podAffinityTerm"))
            .any(term);
        required || preferred
    })
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
    fn scopes_select_pods() {
        let best_effort = json!({"spec": {"containers": [{"name": "c"}]}});
        let burstable = json!({"spec": {"containers": [
            {"name": "c", "resources": {"requests": {"cpu": "100m"}}}]}});
        let deadline = json!({"spec": {"activeDeadlineSeconds": 30, "priorityClassName": "high",
            "containers": [{"name": "c"}]}});
        let cross = json!({"spec": {"containers": [{"name": "c"}], "affinity": {"podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": {
                "topologyKey": "k", "namespaceSelector": {}}}]}}}});
        let scoped = |scopes: Value| json!({"spec": {"hard": {"pods": "1"}, "scopes": scopes}});
        let q = scoped(json!(["BestEffort"]));
        assert!(in_scope(&q, "", "pods", &best_effort));
        assert!(!in_scope(&q, "", "pods", &burstable));
        assert!(
            !in_scope(&q, "", "configmaps", &json!({})),
            "only pods have scopes"
        );
        let q = scoped(json!(["NotBestEffort", "NotTerminating"]));
        assert!(in_scope(&q, "", "pods", &burstable));
        assert!(!in_scope(&q, "", "pods", &deadline));
        assert!(in_scope(
            &scoped(json!(["Terminating"])),
            "",
            "pods",
            &deadline
        ));
        assert!(in_scope(
            &scoped(json!(["CrossNamespacePodAffinity"])),
            "",
            "pods",
            &cross
        ));
        assert!(!in_scope(
            &scoped(json!(["CrossNamespacePodAffinity"])),
            "",
            "pods",
            &best_effort
        ));
        let by_class = |op: &str, values: Value| {
            json!({"spec": {"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [
                {"scopeName": "PriorityClass", "operator": op, "values": values}]}}})
        };
        assert!(in_scope(
            &by_class("In", json!(["high"])),
            "",
            "pods",
            &deadline
        ));
        assert!(!in_scope(
            &by_class("In", json!(["high"])),
            "",
            "pods",
            &best_effort
        ));
        assert!(in_scope(
            &by_class("NotIn", json!(["high"])),
            "",
            "pods",
            &best_effort
        ));
        assert!(in_scope(
            &by_class("Exists", json!(null)),
            "",
            "pods",
            &deadline
        ));
        assert!(!in_scope(
            &by_class("Exists", json!(null)),
            "",
            "pods",
            &best_effort
        ));
        assert!(!in_scope(
            &by_class("DoesNotExist", json!(null)),
            "",
            "pods",
            &best_effort
        ));
        // No scopes: everything counts.
        assert!(in_scope(
            &json!({"spec": {"hard": {}}}),
            "apps",
            "deployments",
            &json!({})
        ));
    }

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

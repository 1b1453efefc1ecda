//! Priority admission for pods (upstream's Priority plugin): a new pod's
//! `priorityClassName` — or, without one, the globalDefault PriorityClass — decides its
//! `spec.priority` and `spec.preemptionPolicy`; a class that does not exist, or a priority
//! the client set that differs from the class's, is refused with upstream's messages. Also
//! the two system PriorityClasses every cluster has.

use rkube_apimachinery::status::ApiError;
use serde_json::{json, Value};

use crate::ApiServer;

const PREFIX: &str = "/registry/priorityclasses/";

/// The system classes upstream's API server creates at start: name, value, description.
const SYSTEM: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// The system PriorityClasses as stored objects, by storage key (metadata is completed by
/// the caller).
pub fn system_classes() -> Vec<(String, &'static str, Value)> {
    SYSTEM
        .iter()
        .map(|(name, value, description)| {
            let obj = json!({
                "kind": "PriorityClass",
                "apiVersion": "scheduling.k8s.io/v1",
                "value": value,
                "globalDefault": false,
                "description": description,
                "preemptionPolicy": "PreemptLowerPriority",
            });
            (format!("{PREFIX}{name}"), *name, obj)
        })
        .collect()
}

/// Resolves the priority of a pod being created; `Err` is the 403 to return.
pub async fn admit(srv: &ApiServer, name: &str, pod: &mut Value) -> Result<(), ApiError> {
    let list = || srv.cache.list(PREFIX, &|_| true).items;
    let mut classes = list();
    let wanted = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    // A class created just before the pod may not have reached the cache yet.
    if let Some(wanted) = wanted {
        if !classes.iter().any(|c| c["metadata"]["name"] == wanted) {
            let _ = srv.cache.wait_fresh().await;
            classes = list();
        }
    }
    let classes: Vec<&Value> = classes.iter().map(|c| c.as_ref()).collect();
    resolve(&classes, pod)
        .map_err(|e| ApiError::forbidden(format!("pods {name:?} is forbidden: {e}")))
}

/// The default class: the globalDefault one with the lowest value (as upstream picks
/// when a race left two).
fn global_default<'a>(classes: &[&'a Value]) -> Option<&'a Value> {
    classes
        .iter()
        .copied()
        .filter(|c| c["globalDefault"] == true)
        .min_by_key(|c| c["value"].as_i64().unwrap_or(0))
}

/// Sets `spec.priority`, `spec.preemptionPolicy` (and for the global default,
/// `spec.priorityClassName`) from `classes`.
fn resolve(classes: &[&Value], pod: &mut Value) -> Result<(), String> {
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    let wanted = spec["priorityClassName"].as_str().filter(|n| !n.is_empty());
    let (class_name, priority, policy) = match wanted {
        Some(wanted) => {
            let pc = classes
                .iter()
                .find(|c| c["metadata"]["name"] == wanted)
                .ok_or_else(|| format!("no PriorityClass with name {wanted} was found"))?;
            (
                Some(wanted.to_string()),
                pc["value"].as_i64().unwrap_or(0),
                pc["preemptionPolicy"].as_str().map(String::from),
            )
        }
        None => match global_default(classes) {
            Some(pc) => (
                pc["metadata"]["name"].as_str().map(String::from),
                pc["value"].as_i64().unwrap_or(0),
                pc["preemptionPolicy"].as_str().map(String::from),
            ),
            None => (None, 0, Some("PreemptLowerPriority".to_string())),
        },
    };
    if let Some(given) = spec.get("priority").filter(|p| !p.is_null()) {
        if given.as_i64() != Some(priority) {
            return Err(format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
            ));
        }
    }
    if let (Some(policy), Some(given)) = (&policy, spec["preemptionPolicy"].as_str()) {
        if given != policy {
            return Err(format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
            ));
        }
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    spec.insert("priority".into(), json!(priority));
    if let Some(policy) = policy {
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    if let Some(class_name) = class_name {
        spec.insert("priorityClassName".into(), json!(class_name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i64, default: bool, policy: &str) -> Value {
        json!({"metadata": {"name": name}, "value": value, "globalDefault": default, "preemptionPolicy": policy})
    }

    fn pod(spec: Value) -> Value {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c", "image": "busybox"}]);
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    #[test]
    fn a_named_class_sets_priority_and_policy() {
        let high = class("high", 1000, false, "Never");
        let mut p = pod(json!({"priorityClassName": "high"}));
        resolve(&[&high], &mut p).unwrap();
        assert_eq!(p["spec"]["priority"], 1000);
        assert_eq!(p["spec"]["preemptionPolicy"], "Never");
    }

    #[test]
    fn without_a_class_the_global_default_or_zero() {
        let mut p = pod(json!({}));
        resolve(&[], &mut p).unwrap();
        assert_eq!(p["spec"]["priority"], 0);
        assert_eq!(p["spec"]["preemptionPolicy"], "PreemptLowerPriority");
        assert!(p["spec"].get("priorityClassName").is_none());

        let low = class("low", -5, true, "PreemptLowerPriority");
        let other = class("other", 10, false, "PreemptLowerPriority");
        let mut p = pod(json!({}));
        resolve(&[&other, &low], &mut p).unwrap();
        assert_eq!(p["spec"]["priority"], -5);
        assert_eq!(p["spec"]["priorityClassName"], "low");
    }

    #[test]
    fn unknown_class_and_mismatched_values_are_refused() {
        let high = class("high", 1000, false, "PreemptLowerPriority");
        let mut p = pod(json!({"priorityClassName": "foo"}));
        assert_eq!(
            resolve(&[&high], &mut p).unwrap_err(),
            "no PriorityClass with name foo was found"
        );
        let mut p = pod(json!({"priorityClassName": "high", "priority": 5}));
        assert_eq!(
            resolve(&[&high], &mut p).unwrap_err(),
            "the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"
        );
        // The same value is accepted (a pod's YAML exported and applied again).
        let mut p = pod(json!({"priorityClassName": "high", "priority": 1000}));
        resolve(&[&high], &mut p).unwrap();
        let mut p = pod(json!({"priority": 7}));
        assert!(resolve(&[], &mut p)
            .unwrap_err()
            .contains("(7) must not be provided"));
        let mut p = pod(json!({"priorityClassName": "high", "preemptionPolicy": "Never"}));
        assert_eq!(
            resolve(&[&high], &mut p).unwrap_err(),
            "the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name"
        );
    }

    #[test]
    fn system_classes_have_upstreams_values() {
        let c = system_classes();
        assert_eq!(c[0].0, "/registry/priorityclasses/system-node-critical");
        assert_eq!(c[0].2["value"], 2_000_001_000);
        assert_eq!(c[1].1, "system-cluster-critical");
        assert_eq!(c[1].2["value"], 2_000_000_000);
    }
}

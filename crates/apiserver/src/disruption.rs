//! PodDisruptionBudget checks for evictions (upstream's eviction REST handler): an eviction
//! is refused with 429 while a matching budget allows no disruption.

use rkube_apimachinery::selector::LabelSelector;
use rkube_apimachinery::status::ApiError;
use serde_json::Value;

use crate::ApiServer;

pub async fn check(srv: &ApiServer, pod: &Value) -> Result<(), ApiError> {
    let ns = crate::object::namespace(pod).unwrap_or("");
    // Pods that are not running cannot be disrupted further.
    if matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded") | Some("Failed") | Some("Pending")
    ) {
        return Ok(());
    }
    let labels = crate::object::labels(pod);
    let pdbs = srv
        .cache
        .list(&format!("/registry/poddisruptionbudgets/{ns}/"), &|_| true);
    let mut matching = Vec::new();
    for pdb in pdbs.items {
        let Some(sel) = pdb.pointer("/spec/selector") else {
            continue;
        };
        let Ok(sel) = LabelSelector::from_label_selector(sel) else {
            continue;
        };
        // policy/v1: an empty selector ({}) selects every pod in the namespace.
        if sel.matches(&labels) {
            matching.push(pdb);
        }
    }
    match matching.len() {
        0 => Ok(()),
        1 => {
            let pdb = &matching[0];
            let name = crate::object::name(pdb).unwrap_or("");
            let generation = pdb.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            let observed = pdb.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(0);
            if observed < generation {
                return Err(too_many(format!(
                    "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget {name} is still being processed by the server."
                )));
            }
            let allowed = pdb.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0);
            if allowed <= 0 {
                return Err(too_many(format!(
                    "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget {name} needs {} healthy pods and has {} currently",
                    pdb.pointer("/status/desiredHealthy").and_then(Value::as_i64).unwrap_or(0),
                    pdb.pointer("/status/currentHealthy").and_then(Value::as_i64).unwrap_or(0),
                )));
            }
            Ok(())
        }
        _ => Err(ApiError::internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        )),
    }
}

fn too_many(message: String) -> ApiError {
    let mut e = ApiError::new(429, "TooManyRequests", message);
    e = e.retry_after(10);
    e
}

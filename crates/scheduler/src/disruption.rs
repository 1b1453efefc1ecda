//! PodDisruptionBudgets as preemption sees them (upstream's `filterPodsWithPDBViolation`):
//! preemption prefers victims whose deletion leaves every budget intact, and nodes whose
//! victims break the fewest budgets.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use crate::pod::PodInfo;
use crate::selector::Selector;

/// What preemption needs of one PodDisruptionBudget.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub namespace: String,
    /// `None` for a missing or empty selector: such a budget matches no pod.
    selector: Option<Selector>,
    /// `status.disruptionsAllowed`.
    allowed: i32,
    /// `status.disruptedPods`: evictions the API server has already counted.
    disrupted: HashSet<String>,
}

impl Budget {
    pub fn from_pdb(pdb: &PodDisruptionBudget) -> Self {
        let selector = pdb
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .filter(|s| {
                s.match_labels.as_ref().is_some_and(|m| !m.is_empty())
                    || s.match_expressions.as_ref().is_some_and(|e| !e.is_empty())
            })
            .map(Selector::compile);
        let status = pdb.status.as_ref();
        Budget {
            namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
            selector,
            allowed: status.map_or(0, |s| s.disruptions_allowed),
            disrupted: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    fn covers(&self, pod: &PodInfo) -> bool {
        self.namespace == pod.namespace
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.labels))
    }
}

/// Budgets by `namespace/name`.
pub type Budgets = HashMap<String, Budget>;

/// For each pod (in order), whether deleting it together with the pods before it breaks a
/// budget: each pod a budget covers uses one of its allowed disruptions, unless the API
/// server already counted it.
pub fn violations<'a>(budgets: &Budgets, pods: impl IntoIterator<Item = &'a PodInfo>) -> Vec<bool> {
    let mut left: HashMap<&str, i32> = budgets
        .iter()
        .map(|(k, b)| (k.as_str(), b.allowed))
        .collect();
    pods.into_iter()
        .map(|pod| {
            let mut violated = false;
            for (key, b) in budgets {
                if !b.covers(pod) || b.disrupted.contains(&pod.name) {
                    continue;
                }
                if let Some(n) = left.get_mut(key.as_str()) {
                    *n -= 1;
                    violated |= *n < 0;
                }
            }
            violated
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn budget(ns: &str, app: &str, allowed: i32, disrupted: &[&str]) -> Budget {
        let disrupted: serde_json::Map<String, serde_json::Value> = disrupted
            .iter()
            .map(|p| (p.to_string(), json!("2026-01-01T00:00:00Z")))
            .collect();
        Budget::from_pdb(
            &serde_json::from_value(json!({
                "metadata": {"name": "b", "namespace": ns},
                "spec": {"selector": {"matchLabels": {"app": app}}},
                "status": {"disruptionsAllowed": allowed, "disruptedPods": disrupted,
                    "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
            }))
            .unwrap(),
        )
    }

    fn pod(ns: &str, name: &str, app: &str) -> PodInfo {
        PodInfo {
            namespace: ns.into(),
            name: name.into(),
            labels: [("app".to_string(), app.to_string())].into_iter().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn budgets_run_out_per_covered_pod() {
        let budgets: Budgets = [(
            "default/b".to_string(),
            budget("default", "web", 1, &["w0"]),
        )]
        .into_iter()
        .collect();
        let pods = [
            pod("default", "w0", "web"), // already counted by the API server
            pod("default", "w1", "web"),
            pod("default", "w2", "web"),
            pod("other", "w3", "web"),
            pod("default", "d1", "db"),
        ];
        assert_eq!(
            violations(&budgets, &pods),
            vec![false, false, true, false, false]
        );
    }

    #[test]
    fn an_empty_selector_covers_nothing() {
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": "default"},
            "spec": {"selector": {}},
            "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                "expectedPods": 0},
        }))
        .unwrap();
        let budgets: Budgets = [("default/b".to_string(), Budget::from_pdb(&pdb))]
            .into_iter()
            .collect();
        assert_eq!(
            violations(&budgets, &[pod("default", "a", "web")]),
            vec![false]
        );
    }
}

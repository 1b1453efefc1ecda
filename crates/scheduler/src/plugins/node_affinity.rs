//! NodeAffinity: `nodeSelector` and required node affinity filter; preferred node affinity
//! scores (the sum of the weights of the matching terms).

use crate::node::NodeData;
use crate::pod::PodInfo;

pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// Whether the node satisfies the pod's nodeSelector and required node affinity (also used
/// by topology spread's nodeAffinityPolicy).
pub fn matches(pod: &PodInfo, node: &NodeData) -> bool {
    for (k, v) in &pod.node_selector {
        if node.labels.get(k) != Some(v) {
            return false;
        }
    }
    match &pod.required_node_terms {
        None => true,
        Some(terms) => terms.iter().any(|t| t.matches(&node.name, &node.labels)),
    }
}

pub fn filter(pod: &PodInfo, node: &NodeData) -> Result<(), super::Status> {
    if matches(pod, node) {
        Ok(())
    } else {
        Err(super::Status::unresolvable(REASON))
    }
}

/// Sum of the weights of the preferred terms the node matches (normalised by the maximum).
pub fn score(pod: &PodInfo, node: &NodeData) -> i64 {
    pod.preferred_node_terms
        .iter()
        .filter(|(w, t)| *w != 0 && t.matches(&node.name, &node.labels))
        .map(|(w, _)| i64::from(*w))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::*;
    use crate::plugins::{default_normalize, Code};
    use serde_json::json;

    #[test]
    fn node_selector_and_required_affinity() {
        let p = pod_json(json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "containers": [{"name": "c"}],
                "nodeSelector": {"disk": "ssd"},
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]}
                    ]}}}
            }
        }));
        assert!(filter(&p, &node("n", &[("disk", "ssd"), ("zone", "a")])).is_ok());
        assert!(filter(&p, &node("special", &[("disk", "ssd")])).is_ok());
        let err = filter(&p, &node("n", &[("disk", "ssd"), ("zone", "b")])).err();
        assert_eq!(
            err.as_ref().map(|e| e.code),
            Some(Code::UnschedulableAndUnresolvable)
        );
        assert_eq!(
            err.map(|e| e.reasons[0].to_string()).as_deref(),
            Some(REASON)
        );
        assert!(
            filter(&p, &node("n", &[("zone", "a")])).is_err(),
            "nodeSelector too"
        );
    }

    #[test]
    fn preferred_terms_score() {
        let p = pod_json(json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "containers": [{"name": "c"}],
                "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
                    {"weight": 30, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}
                ]}}
            }
        }));
        let mut s = vec![
            score(&p, &node("a", &[("zone", "a")])),
            score(&p, &node("b", &[("zone", "a"), ("disk", "x")])),
            score(&p, &node("c", &[])),
        ];
        assert_eq!(s, vec![10, 40, 0]);
        default_normalize(&mut s, false);
        assert_eq!(s, vec![25, 100, 0]);
    }
}

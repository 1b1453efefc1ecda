//! Which nodes a DaemonSet runs on (upstream's `NodeShouldRunDaemonPod`): the pod's
//! nodeSelector and required node affinity must match the node, and every NoSchedule /
//! NoExecute taint must be tolerated — counting the tolerations the controller adds to
//! every daemon pod, so daemons keep running on not-ready, unreachable, pressured and
//! cordoned nodes. A node whose NoExecute taints are tolerated but a NoSchedule one is not
//! keeps an existing pod (`should_continue`) but gets no new one.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
    Taint, Toleration,
};

/// Whether a new daemon pod should be placed on the node, and whether an existing one may stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub should_run: bool,
    pub should_continue: bool,
}

fn tol(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    }
}

/// Adds the tolerations upstream's `AddOrUpdateDaemonPodTolerations` gives every daemon pod.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut extra = vec![
        tol("node.kubernetes.io/not-ready", "NoExecute"),
        tol("node.kubernetes.io/unreachable", "NoExecute"),
        tol("node.kubernetes.io/disk-pressure", "NoSchedule"),
        tol("node.kubernetes.io/memory-pressure", "NoSchedule"),
        tol("node.kubernetes.io/pid-pressure", "NoSchedule"),
        tol("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        extra.push(tol("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    for t in extra {
        if !list
            .iter()
            .any(|x| x.key == t.key && x.effect == t.effect && x.operator == t.operator)
        {
            list.push(t);
        }
    }
}

/// Pins the pod to `node` with a required `matchFields metadata.name In [node]` term, which
/// replaces any required node affinity (upstream's `ReplaceDaemonSetPodNodeNameNodeAffinity`;
/// the node was already chosen by these rules, the scheduler then binds the pod there).
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.to_string()]),
        }]),
    };
    let aff = spec.affinity.get_or_insert_with(Affinity::default);
    let na = aff.node_affinity.get_or_insert_with(NodeAffinity::default);
    na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
}

/// The node a daemon pod is for: its nodeName, else its pinned `metadata.name` term.
pub fn pod_node(spec: &PodSpec) -> Option<String> {
    if let Some(n) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|r| {
            (r.key == "metadata.name" && r.operator == "In")
                .then(|| {
                    r.values
                        .as_ref()
                        .and_then(|v| (v.len() == 1).then(|| v[0].clone()))
                })
                .flatten()
        })
    })
}

pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    let op = t.operator.as_deref().unwrap_or("Equal");
    match t.key.as_deref() {
        None | Some("") => op == "Exists",
        Some(k) if k != taint.key => false,
        Some(_) => {
            op == "Exists"
                || t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn term_matches(t: &NodeSelectorTerm, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let exprs = t.match_expressions.as_deref().unwrap_or_default();
    let fields = t.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let name = name.to_string();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key)))
        && fields
            .iter()
            .all(|r| r.key == "metadata.name" && requirement_matches(r, Some(&name)))
}

/// Where a pod with `spec` (tolerations already added) may run.
pub fn placement(spec: &PodSpec, node: &Node) -> Placement {
    let name = node.metadata.name.clone().unwrap_or_default();
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let no = Placement {
        should_run: false,
        should_continue: false,
    };
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return no;
    }
    if !spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
    {
        return no;
    }
    if let Some(sel) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
    {
        if !sel
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, &labels, &name))
        {
            return no;
        }
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    let untolerated = |effect: &str| {
        taints
            .iter()
            .filter(|t| t.effect == effect)
            .any(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
    };
    let no_execute = untolerated("NoExecute");
    Placement {
        should_run: !no_execute && !untolerated("NoSchedule"),
        should_continue: !no_execute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value) -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}}),
        )
        .unwrap_or_default()
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        let mut s: PodSpec = serde_json::from_value(v).unwrap_or_default();
        add_daemon_tolerations(&mut s);
        s
    }

    #[test]
    fn taints_selectors_and_automatic_tolerations() {
        let s = spec(json!({"containers": []}));
        let plain = node("a", json!({}), json!([]));
        assert_eq!(
            placement(&s, &plain),
            Placement {
                should_run: true,
                should_continue: true
            }
        );
        // The controller's own tolerations cover cordoned and not-ready nodes.
        let cordoned = node(
            "b",
            json!({}),
            json!([
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]),
        );
        assert!(placement(&s, &cordoned).should_run);
        let dedicated = node(
            "c",
            json!({}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        );
        assert_eq!(
            placement(&s, &dedicated),
            Placement {
                should_run: false,
                should_continue: true
            }
        );
        let evicting = node(
            "d",
            json!({}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]),
        );
        assert_eq!(
            placement(&s, &evicting),
            Placement {
                should_run: false,
                should_continue: false
            }
        );
        let tolerant = spec(
            json!({"containers": [], "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu"}]}),
        );
        assert!(
            placement(&tolerant, &dedicated).should_run
                && placement(&tolerant, &evicting).should_run
        );
        // network-unavailable only for hostNetwork pods.
        let no_net = node(
            "e",
            json!({}),
            json!([{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]),
        );
        assert!(!placement(&s, &no_net).should_run);
        assert!(
            placement(
                &spec(json!({"containers": [], "hostNetwork": true})),
                &no_net
            )
            .should_run
        );
    }

    #[test]
    fn node_selector_and_affinity() {
        let s = spec(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
        assert!(placement(&s, &node("a", json!({"disk": "ssd"}), json!([]))).should_run);
        assert!(!placement(&s, &node("b", json!({"disk": "hdd"}), json!([]))).should_run);
        let aff = spec(
            json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "cpus", "operator": "Gt", "values": ["4"]}]}]}}}}),
        );
        assert!(placement(&aff, &node("a", json!({"cpus": "8"}), json!([]))).should_run);
        assert!(!placement(&aff, &node("a", json!({"cpus": "2"}), json!([]))).should_run);
        let mut pinned = aff.clone();
        pin_to_node(&mut pinned, "n1");
        assert_eq!(pod_node(&pinned).as_deref(), Some("n1"));
        assert!(placement(&pinned, &node("n1", json!({}), json!([]))).should_run);
        assert!(!placement(&pinned, &node("n2", json!({}), json!([]))).should_run);
    }
}

//! Which taints the node lifecycle controller keeps on a node, as upstream's
//! `doNoScheduleTaintingPass` and `doNoExecuteTaintingPass` decide: NoSchedule taints mirror
//! the node's conditions (and `spec.unschedulable`); NoExecute `not-ready`/`unreachable`
//! taints follow Ready — unless the node's zone is disrupted, when upstream stops adding
//! them so that a network partition does not evict every pod of the cluster.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::health::{condition, ready_status};

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// (condition, status) → NoSchedule taint key (upstream's `nodeConditionToTaintKeyStatusMap`).
const CONDITION_TAINTS: [(&str, &str, &str); 6] = [
    ("Ready", "False", NOT_READY),
    ("Ready", "Unknown", UNREACHABLE),
    (
        "MemoryPressure",
        "True",
        "node.kubernetes.io/memory-pressure",
    ),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    (
        "NetworkUnavailable",
        "True",
        "node.kubernetes.io/network-unavailable",
    ),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
];

/// Zones with more unhealthy nodes than this share are partially disrupted.
const UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;
/// Zones up to this size stop NoExecute tainting entirely when partially disrupted.
const LARGE_CLUSTER_THRESHOLD: usize = 50;

fn managed_no_schedule(key: &str) -> bool {
    key == UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == key)
}

/// The NoSchedule taint keys the node's conditions call for.
pub fn desired_no_schedule(node: &Node) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = CONDITION_TAINTS
        .iter()
        .filter(|(t, s, _)| condition(node, t).is_some_and(|c| c.status == *s))
        .map(|(_, _, k)| *k)
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        keys.push(UNSCHEDULABLE);
    }
    keys
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    Normal,
    PartialDisruption,
    FullDisruption,
}

/// Upstream's `GetZoneKey`: region and zone labels (nodes without them share one zone).
pub fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |a: &str, b: &str| {
        labels
            .and_then(|l| l.get(a).or_else(|| l.get(b)))
            .cloned()
            .unwrap_or_default()
    };
    let region = get(
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    );
    let zone = get(
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    );
    format!("{region}:\u{0}:{zone}")
}

/// Upstream's `ComputeZoneState`: nodes without a Ready=True condition count as not ready.
pub fn zone_state(ready: usize, not_ready: usize) -> ZoneState {
    let total = ready + not_ready;
    if ready == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f64 / total as f64 >= UNHEALTHY_ZONE_THRESHOLD {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// Every zone's state and size.
pub fn zone_states<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
) -> BTreeMap<String, (ZoneState, usize)> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for n in nodes {
        let e = counts.entry(zone_key(n)).or_default();
        if ready_status(n) == Some("True") {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    counts
        .into_iter()
        .map(|(z, (r, nr))| (z, (zone_state(r, nr), r + nr)))
        .collect()
}

/// Whether NoExecute taints may be added in a zone. With every zone fully disrupted the
/// controller assumes its own network is cut off ("master disruption") and removes them.
pub fn no_execute_policy(
    zones: &BTreeMap<String, (ZoneState, usize)>,
    zone: &str,
) -> NoExecutePolicy {
    if !zones.is_empty() && zones.values().all(|(s, _)| *s == ZoneState::FullDisruption) {
        return NoExecutePolicy::RemoveAll;
    }
    match zones.get(zone) {
        Some((ZoneState::PartialDisruption, size)) if *size <= LARGE_CLUSTER_THRESHOLD => {
            NoExecutePolicy::KeepOnly
        }
        _ => NoExecutePolicy::Apply,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoExecutePolicy {
    /// Add and remove taints as Ready says.
    Apply,
    /// Keep or swap existing taints, add none (upstream's zero eviction rate).
    KeepOnly,
    /// Remove every not-ready/unreachable NoExecute taint.
    RemoveAll,
}

fn taint(key: &str, effect: &str, added: Option<Timestamp>) -> Taint {
    Taint {
        key: key.to_string(),
        effect: effect.to_string(),
        time_added: added.map(Time),
        value: None,
    }
}

/// Whether the zones' states can change what [`reconcile`] does to this node: only for a
/// node that is not ready or still carries a not-ready/unreachable NoExecute taint. Healthy
/// nodes (nearly all, and each reports every few seconds) skip counting every node's zone.
pub fn depends_on_zones(node: &Node) -> bool {
    matches!(ready_status(node), Some("False") | Some("Unknown"))
        || node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|ts| ts.iter().any(is_controller_no_execute))
}

fn is_controller_no_execute(t: &Taint) -> bool {
    t.effect == "NoExecute" && (t.key == NOT_READY || t.key == UNREACHABLE)
}

/// The node's taints with the controller's ones brought up to date, or `None` when they
/// already are. Taints of others are kept as they are; a NoExecute taint that stays keeps
/// its `timeAdded` (eviction deadlines count from it).
pub fn reconcile(node: &Node, policy: NoExecutePolicy, now: Timestamp) -> Option<Vec<Taint>> {
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let want_ns = desired_no_schedule(node);
    let want_ne = match (policy, ready_status(node)) {
        (NoExecutePolicy::RemoveAll, _) => None,
        (_, Some("False")) => Some(NOT_READY),
        (_, Some("Unknown")) => Some(UNREACHABLE),
        _ => None,
    };
    let is_ne = is_controller_no_execute;
    let had_ne = current.iter().any(is_ne);
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| {
            if t.effect == "NoSchedule" && managed_no_schedule(&t.key) {
                return want_ns.contains(&t.key.as_str());
            }
            if is_ne(t) {
                return want_ne == Some(t.key.as_str());
            }
            true
        })
        .cloned()
        .collect();
    for k in want_ns {
        if !out.iter().any(|t| t.key == k && t.effect == "NoSchedule") {
            out.push(taint(k, "NoSchedule", None));
        }
    }
    if let Some(k) = want_ne {
        let present = out.iter().any(|t| t.key == k && t.effect == "NoExecute");
        // A swap between not-ready and unreachable is never held back.
        if !present && (policy == NoExecutePolicy::Apply || had_ne) {
            out.push(taint(k, "NoExecute", Some(now)));
        }
    }
    (out != current).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus};

    fn node(ready: &str, taints: Vec<Taint>) -> Node {
        Node {
            spec: Some(NodeSpec {
                taints: Some(taints),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn keys(t: &[Taint]) -> Vec<String> {
        let mut k: Vec<String> = t
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        k.sort();
        k
    }

    #[test]
    fn unknown_gets_unreachable_taints_and_ready_clears_them() {
        let now = Timestamp::now();
        let n = node("Unknown", vec![taint("dedicated", "NoSchedule", None)]);
        let t = reconcile(&n, NoExecutePolicy::Apply, now).unwrap();
        assert_eq!(
            keys(&t),
            vec![
                "dedicated:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute",
                "node.kubernetes.io/unreachable:NoSchedule"
            ]
        );
        let ne = t.iter().find(|t| t.effect == "NoExecute").unwrap();
        assert_eq!(ne.time_added, Some(Time(now)));
        // Idempotent: nothing more to do.
        assert_eq!(
            reconcile(&node("Unknown", t.clone()), NoExecutePolicy::Apply, now),
            None
        );
        // Ready again: only the foreign taint remains.
        let back = reconcile(&node("True", t), NoExecutePolicy::Apply, now).unwrap();
        assert_eq!(keys(&back), vec!["dedicated:NoSchedule"]);
    }

    #[test]
    fn not_ready_swaps_and_keeps_nothing_stale() {
        let then = Timestamp::from_second(1_700_000_000).unwrap();
        let n = node("False", vec![taint(UNREACHABLE, "NoExecute", Some(then))]);
        // Even when adding is held back, the swap happens.
        let t = reconcile(&n, NoExecutePolicy::KeepOnly, Timestamp::now()).unwrap();
        assert_eq!(
            keys(&t),
            vec![
                "node.kubernetes.io/not-ready:NoExecute",
                "node.kubernetes.io/not-ready:NoSchedule"
            ]
        );
        // A taint that stays keeps its timeAdded.
        let kept = node("False", vec![taint(NOT_READY, "NoExecute", Some(then))]);
        let t = reconcile(&kept, NoExecutePolicy::Apply, Timestamp::now()).unwrap();
        let ne = t.iter().find(|t| t.effect == "NoExecute").unwrap();
        assert_eq!(ne.time_added, Some(Time(then)));
    }

    #[test]
    fn zones_matter_only_for_unhealthy_or_tainted_nodes() {
        let now = Timestamp::now();
        let policies = [
            NoExecutePolicy::Apply,
            NoExecutePolicy::KeepOnly,
            NoExecutePolicy::RemoveAll,
        ];
        let ne = |k| taint(k, "NoExecute", Some(now));
        let cases = [
            node("True", vec![]),
            node("True", vec![taint("dedicated", "NoSchedule", None)]),
            node("True", vec![taint(UNREACHABLE, "NoSchedule", None)]),
            node("True", vec![ne(UNREACHABLE)]),
            node("False", vec![]),
            node("Unknown", vec![ne(NOT_READY)]),
            Node::default(),
        ];
        for n in &cases {
            let results: Vec<_> = policies.iter().map(|p| reconcile(n, *p, now)).collect();
            let same = results.iter().all(|r| *r == results[0]);
            if !depends_on_zones(n) {
                assert!(same, "policy changed the outcome for {n:?}");
            }
        }
        assert!(!depends_on_zones(&cases[0]));
        assert!(depends_on_zones(&cases[3]));
        assert!(depends_on_zones(&cases[4]));
    }

    #[test]
    fn disruption_holds_back_no_execute() {
        let n = node("Unknown", vec![]);
        let t = reconcile(&n, NoExecutePolicy::KeepOnly, Timestamp::now()).unwrap();
        assert_eq!(keys(&t), vec!["node.kubernetes.io/unreachable:NoSchedule"]);
        let tainted = node("Unknown", vec![taint(UNREACHABLE, "NoExecute", None)]);
        let t = reconcile(&tainted, NoExecutePolicy::RemoveAll, Timestamp::now()).unwrap();
        assert_eq!(keys(&t), vec!["node.kubernetes.io/unreachable:NoSchedule"]);
    }

    #[test]
    fn zone_states_follow_upstream_thresholds() {
        assert_eq!(zone_state(0, 1), ZoneState::FullDisruption);
        assert_eq!(zone_state(1, 1), ZoneState::Normal);
        assert_eq!(zone_state(1, 2), ZoneState::Normal);
        assert_eq!(zone_state(2, 3), ZoneState::PartialDisruption);
        assert_eq!(zone_state(3, 3), ZoneState::Normal);
        let mut zones = BTreeMap::new();
        zones.insert("a".to_string(), (ZoneState::FullDisruption, 1));
        assert_eq!(no_execute_policy(&zones, "a"), NoExecutePolicy::RemoveAll);
        zones.insert("b".to_string(), (ZoneState::PartialDisruption, 5));
        assert_eq!(no_execute_policy(&zones, "a"), NoExecutePolicy::Apply);
        assert_eq!(no_execute_policy(&zones, "b"), NoExecutePolicy::KeepOnly);
        zones.insert("c".to_string(), (ZoneState::PartialDisruption, 80));
        assert_eq!(no_execute_policy(&zones, "c"), NoExecutePolicy::Apply);
    }

    #[test]
    fn conditions_and_cordon_map_to_no_schedule() {
        let mut n = node("True", vec![]);
        if let Some(s) = n.status.as_mut() {
            s.conditions
                .get_or_insert_with(Vec::new)
                .push(NodeCondition {
                    type_: "DiskPressure".into(),
                    status: "True".into(),
                    ..Default::default()
                });
        }
        if let Some(s) = n.spec.as_mut() {
            s.unschedulable = Some(true);
        }
        let mut got = desired_no_schedule(&n);
        got.sort();
        assert_eq!(
            got,
            vec![
                "node.kubernetes.io/disk-pressure",
                "node.kubernetes.io/unschedulable"
            ]
        );
    }
}

//! Which pods a ReplicaSet deletes first when it scales down — upstream's
//! `ActivePodsWithRanks` order, so that a scale-down removes the pods whose loss hurts least:
//!
//! 1. unassigned before assigned (no nodeName),
//! 2. Pending before Unknown before Running,
//! 3. not ready before ready,
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` first,
//! 5. more related pods on the same node first (spreads what remains),
//! 6. ready for a shorter time first (compared on a log₂ scale of the age, as upstream's
//!    LogarithmicScaleDown, so pods of similar age are picked at random by uid),
//! 7. more container restarts first,
//! 8. newer before older (same log scale).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::util::{is_pod_active, is_pod_ready, pod_phase, ready_condition};

const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The `n` pods of `pods` to delete first. `related` are the active pods of every ReplicaSet
/// with the same owner (they count for rule 5).
pub fn pods_to_delete(
    pods: &[Arc<Pod>],
    related: &[Arc<Pod>],
    n: usize,
    now: jiff::Timestamp,
) -> Vec<Arc<Pod>> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter(|p| is_pod_active(p)) {
        *on_node.entry(node_of(p)).or_default() += 1;
    }
    let mut ranked: Vec<(Arc<Pod>, usize)> = pods
        .iter()
        .map(|p| (p.clone(), on_node.get(node_of(p)).copied().unwrap_or(0)))
        .collect();
    if n < ranked.len() {
        ranked.sort_by(|a, b| compare(&a.0, a.1, &b.0, b.1, now));
    }
    ranked.into_iter().take(n).map(|(p, _)| p).collect()
}

fn node_of(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn phase_ordinal(p: &Pod) -> u8 {
    match pod_phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        // Upstream's map has no entry for other phases: they rank as Pending.
        _ => 0,
    }
}

fn deletion_cost(p: &Pod) -> i32 {
    p.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ready_time(p: &Pod) -> Option<jiff::Timestamp> {
    ready_condition(p)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

fn max_restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

/// ⌊log₂(now − t in nanoseconds)⌋, or −1 for a time not in the past.
fn log_rank(t: jiff::Timestamp, now: jiff::Timestamp) -> i64 {
    let d = now.as_nanosecond() - t.as_nanosecond();
    if d > 0 {
        (d as f64).log2() as i64
    } else {
        -1
    }
}

/// Orders two timestamps so that the more recent comes first: missing (zero) times first,
/// then by log-scaled age, ties broken by uid.
fn newer_first(
    a: Option<jiff::Timestamp>,
    b: Option<jiff::Timestamp>,
    pa: &Pod,
    pb: &Pod,
    now: jiff::Timestamp,
) -> Option<Ordering> {
    if a == b {
        return None;
    }
    match (a, b) {
        (None, _) => Some(Ordering::Less),
        (_, None) => Some(Ordering::Greater),
        (Some(a), Some(b)) => {
            let diff = log_rank(a, now) - log_rank(b, now);
            if diff == 0 {
                Some(pa.metadata.uid.cmp(&pb.metadata.uid))
            } else {
                Some(diff.cmp(&0))
            }
        }
    }
}

/// `Less` means "delete `a` before `b`".
fn compare(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize, now: jiff::Timestamp) -> Ordering {
    let (na, nb) = (node_of(a), node_of(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by_phase = phase_ordinal(a).cmp(&phase_ordinal(b));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    let (ra, rb) = (is_pod_ready(a), is_pod_ready(b));
    if ra != rb {
        return if ra {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    let by_cost = deletion_cost(a).cmp(&deletion_cost(b));
    if by_cost != Ordering::Equal {
        return by_cost;
    }
    if rank_a != rank_b {
        return rank_b.cmp(&rank_a);
    }
    if ra && rb {
        if let Some(o) = newer_first(ready_time(a), ready_time(b), a, b, now) {
            return o;
        }
    }
    let by_restarts = max_restarts(b).cmp(&max_restarts(a));
    if by_restarts != Ordering::Equal {
        return by_restarts;
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    newer_first(created(a), created(b), a, b, now).unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    struct P {
        name: &'static str,
        node: &'static str,
        phase: &'static str,
        ready_secs_ago: Option<i64>,
        restarts: i32,
        created_secs_ago: i64,
    }

    fn pod(p: P, now: jiff::Timestamp) -> Arc<Pod> {
        let ago = |s: i64| Time(now - jiff::SignedDuration::from_secs(s));
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(p.name.into()),
                uid: Some(p.name.into()),
                creation_timestamp: Some(ago(p.created_secs_ago)),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!p.node.is_empty()).then(|| p.node.to_string()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(p.phase.into()),
                conditions: p.ready_secs_ago.map(|s| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(ago(s)),
                        ..Default::default()
                    }]
                }),
                container_statuses: Some(vec![ContainerStatus {
                    restart_count: p.restarts,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        })
    }

    fn names(v: &[Arc<Pod>]) -> Vec<&str> {
        v.iter()
            .map(|p| p.metadata.name.as_deref().unwrap_or(""))
            .collect()
    }

    #[test]
    fn upstream_deletion_order() {
        let now = jiff::Timestamp::now();
        let base = |name, node, phase, ready, restarts, created| P {
            name,
            node,
            phase,
            ready_secs_ago: ready,
            restarts,
            created_secs_ago: created,
        };
        let pods = vec![
            pod(
                base(
                    "running-ready-old",
                    "n1",
                    "Running",
                    Some(10_000),
                    0,
                    10_000,
                ),
                now,
            ),
            pod(base("unassigned", "", "Pending", None, 0, 10_000), now),
            pod(base("pending", "n2", "Pending", None, 0, 10_000), now),
            pod(
                base("running-notready", "n3", "Running", None, 0, 10_000),
                now,
            ),
            pod(
                base("running-ready-new", "n4", "Running", Some(10), 0, 10_000),
                now,
            ),
            pod(base("unknown", "n5", "Unknown", None, 0, 10_000), now),
            pod(base("restarts", "n6", "Running", None, 7, 10_000), now),
            pod(base("newer-notready", "n7", "Running", None, 0, 100), now),
        ];
        // Every pod on its own node: rank 1 each, so ranks do not decide.
        let order = pods_to_delete(&pods, &pods, pods.len() - 1, now);
        assert_eq!(
            names(&order),
            vec![
                "unassigned",
                "pending",
                "unknown",
                "restarts",
                "newer-notready",
                "running-notready",
                "running-ready-new",
            ]
        );
    }

    #[test]
    fn doubled_up_pods_go_first_and_cost_beats_rank() {
        let now = jiff::Timestamp::now();
        let mk = |name, node| P {
            name,
            node,
            phase: "Running",
            ready_secs_ago: Some(1000),
            restarts: 0,
            created_secs_ago: 1000,
        };
        let pods = vec![pod(mk("alone", "a"), now), pod(mk("crowded", "b"), now)];
        let others = [pod(mk("x", "b"), now), pod(mk("y", "b"), now)];
        let related: Vec<_> = pods.iter().chain(others.iter()).cloned().collect();
        assert_eq!(
            names(&pods_to_delete(&pods, &related, 1, now)),
            vec!["crowded"]
        );

        let mut costly = (*pods[1]).clone();
        costly.metadata.annotations = Some([(DELETION_COST.to_string(), "100".to_string())].into());
        let pods = vec![pods[0].clone(), Arc::new(costly)];
        assert_eq!(
            names(&pods_to_delete(&pods, &related, 1, now)),
            vec!["alone"]
        );
    }
}

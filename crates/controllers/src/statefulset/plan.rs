//! What one StatefulSet sync does (upstream's `updateStatefulSet`), as a pure function of
//! the set's pods so the ordering rules can be tested alone. With OrderedReady
//! (`ordered`), at most one pod changes per sync and only when every lower ordinal is
//! Running and Ready: create `n` after `n-1` is ready, delete condemned pods highest ordinal
//! first, and roll updates from the highest ordinal down to the partition one pod at a time.
//! Parallel creates and deletes without waiting; updates still go one at a time.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::history::REVISION_LABEL;
use crate::util::pod_phase;

#[derive(Clone, Debug)]
pub enum Action {
    /// Create the pod (after its claims) at this ordinal.
    Create(i32),
    /// Delete this pod (failed, condemned by a scale-down, or outdated).
    Delete(Arc<Pod>),
    /// Restore the identity labels of the pod at this ordinal.
    FixIdentity(Arc<Pod>, i32),
}

pub struct Input<'a> {
    pub ordered: bool,
    pub start: i32,
    pub replicas: i32,
    /// Member pods by ordinal (any ordinal, in range or not).
    pub pods: &'a BTreeMap<i32, Arc<Pod>>,
    pub update_hash: &'a str,
    /// RollingUpdate's partition; `None` for OnDelete.
    pub partition: Option<i32>,
    pub healthy: &'a dyn Fn(&Pod) -> bool,
    pub identity_ok: &'a dyn Fn(&Pod, i32) -> bool,
}

fn terminating(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_some()
}

fn finished(p: &Pod) -> bool {
    matches!(pod_phase(p), "Failed" | "Succeeded")
}

pub fn plan(i: &Input<'_>) -> Vec<Action> {
    let mut out = Vec::new();
    let end = i.start + i.replicas.max(0);
    let healthy = |p: &Pod| !terminating(p) && (i.healthy)(p);
    for ord in i.start..end {
        match i.pods.get(&ord) {
            None => {
                out.push(Action::Create(ord));
                if i.ordered {
                    return out;
                }
            }
            Some(p) if finished(p) && !terminating(p) => {
                out.push(Action::Delete(p.clone()));
                if i.ordered {
                    return out;
                }
            }
            Some(p) if !healthy(p) => {
                if i.ordered {
                    return out;
                }
            }
            Some(p) => {
                if !(i.identity_ok)(p, ord) {
                    out.push(Action::FixIdentity(p.clone(), ord));
                }
            }
        }
    }
    let condemned: Vec<&Arc<Pod>> = i
        .pods
        .iter()
        .rev()
        .filter(|(o, _)| **o < i.start || **o >= end)
        .map(|(_, p)| p)
        .collect();
    let first_unhealthy = condemned
        .iter()
        .find(|p| !healthy(p))
        .map(|p| p.metadata.name.clone());
    for p in condemned {
        if terminating(p) {
            if i.ordered {
                return out;
            }
            continue;
        }
        if i.ordered && !healthy(p) && Some(p.metadata.name.clone()) != first_unhealthy {
            return out;
        }
        out.push(Action::Delete(p.clone()));
        if i.ordered {
            return out;
        }
    }
    let Some(partition) = i.partition else {
        return out;
    };
    if out
        .iter()
        .any(|a| matches!(a, Action::Create(_) | Action::Delete(_)))
    {
        return out;
    }
    let low = i.start + partition.max(0);
    for ord in (low..end).rev() {
        let Some(p) = i.pods.get(&ord) else {
            return out;
        };
        let hash = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REVISION_LABEL));
        if hash.map(String::as_str) != Some(i.update_hash) && !terminating(p) {
            out.push(Action::Delete(p.clone()));
            return out;
        }
        if !healthy(p) {
            return out;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ord: i32, hash: &str, ready: bool) -> (i32, Arc<Pod>) {
        let conds = if ready {
            json!([{"type": "Ready", "status": "True"}])
        } else {
            json!([])
        };
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("web-{ord}"), "labels": {REVISION_LABEL: hash}},
            "status": {"phase": "Running", "conditions": conds}
        }))
        .unwrap_or_default();
        (ord, Arc::new(p))
    }

    fn run(
        ordered: bool,
        replicas: i32,
        pods: Vec<(i32, Arc<Pod>)>,
        partition: Option<i32>,
    ) -> Vec<String> {
        let pods: BTreeMap<i32, Arc<Pod>> = pods.into_iter().collect();
        let healthy = |p: &Pod| crate::util::is_pod_ready(p);
        let ok = |_: &Pod, _: i32| true;
        let input = Input {
            ordered,
            start: 0,
            replicas,
            pods: &pods,
            update_hash: "new",
            partition,
            healthy: &healthy,
            identity_ok: &ok,
        };
        plan(&input)
            .into_iter()
            .map(|a| match a {
                Action::Create(o) => format!("create {o}"),
                Action::Delete(p) => {
                    format!("delete {}", p.metadata.name.clone().unwrap_or_default())
                }
                Action::FixIdentity(_, o) => format!("fix {o}"),
            })
            .collect()
    }

    #[test]
    fn ordered_ready_creates_one_at_a_time_after_readiness() {
        assert_eq!(run(true, 3, vec![], None), ["create 0"]);
        assert!(run(true, 3, vec![pod(0, "new", false)], None).is_empty());
        assert_eq!(run(true, 3, vec![pod(0, "new", true)], None), ["create 1"]);
        assert_eq!(
            run(false, 3, vec![pod(0, "new", false)], None),
            ["create 1", "create 2"]
        );
    }

    #[test]
    fn scale_down_removes_highest_ordinal_first() {
        let pods = vec![
            pod(0, "new", true),
            pod(1, "new", true),
            pod(2, "new", true),
            pod(3, "new", true),
        ];
        assert_eq!(run(true, 2, pods.clone(), None), ["delete web-3"]);
        assert_eq!(run(false, 2, pods, None), ["delete web-3", "delete web-2"]);
        // An unready lower ordinal blocks an ordered scale-down.
        assert!(run(
            true,
            1,
            vec![pod(0, "new", false), pod(1, "new", true)],
            None
        )
        .is_empty());
    }

    #[test]
    fn rolling_update_goes_down_to_the_partition() {
        let old = vec![
            pod(0, "old", true),
            pod(1, "old", true),
            pod(2, "old", true),
        ];
        assert_eq!(run(true, 3, old.clone(), Some(0)), ["delete web-2"]);
        let mid = vec![
            pod(0, "old", true),
            pod(1, "old", true),
            pod(2, "new", true),
        ];
        assert_eq!(run(true, 3, mid.clone(), Some(0)), ["delete web-1"]);
        // Partition 2: ordinals below 2 keep the old revision.
        assert!(run(true, 3, mid, Some(2)).is_empty());
        // Waits for the updated pod to become ready.
        assert!(run(
            false,
            3,
            vec![
                pod(0, "old", true),
                pod(1, "old", true),
                pod(2, "new", false)
            ],
            Some(0)
        )
        .is_empty());
        // OnDelete never deletes.
        assert!(run(true, 3, old, None).is_empty());
    }
}

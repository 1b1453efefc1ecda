//! DaemonSet rolling updates (upstream's `daemon/update.go`). With maxSurge 0, old pods are
//! deleted while at most maxUnavailable nodes lack an available daemon (old unavailable pods
//! go first, they cost nothing), and the normal sync then creates the new ones. With
//! maxSurge > 0, a new pod is started next to the old one on up to maxSurge nodes at a time,
//! and the old pod is deleted once the new one is available.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::NodeView;
use crate::deployment::util::scaled_value;
use crate::history::REVISION_LABEL;
use crate::util::is_pod_available;

pub fn is_rolling(ds: &DaemonSet) -> bool {
    ds.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

pub fn pod_hash(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()?
        .get(REVISION_LABEL)
        .map(String::as_str)
}

/// The newest of a node's pods (they are sorted oldest first; never called with none).
pub fn newest(pods: &[Arc<Pod>]) -> &Arc<Pod> {
    &pods[pods.len() - 1]
}

fn min_ready(ds: &DaemonSet) -> i32 {
    ds.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// maxSurge and maxUnavailable resolved against the desired node count (percentages rounded
/// up); both zero means maxUnavailable 1, as upstream.
pub fn budgets(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let ru = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref());
    let resolve = |v: Option<&IntOrString>, default: i32| {
        v.map_or(Ok(default), |v| scaled_value(v, desired, true))
            .unwrap_or(default)
    };
    let surge = resolve(ru.and_then(|r| r.max_surge.as_ref()), 0);
    let mut unavailable = resolve(ru.and_then(|r| r.max_unavailable.as_ref()), 1);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// Which of a node's several running pods to delete: with a surge in progress the oldest old
/// pod and the newest updated pod may coexist (the old one goes once the new is available);
/// otherwise only the oldest pod stays.
pub fn surplus_on_node(
    running: &[&Arc<Pod>],
    hash: &str,
    ds: &DaemonSet,
    now: jiff::Timestamp,
) -> Vec<Arc<Pod>> {
    let (surge, _) = budgets(ds, 1);
    if is_rolling(ds) && surge > 0 {
        let new: Vec<&&Arc<Pod>> = running
            .iter()
            .filter(|p| pod_hash(p) == Some(hash))
            .collect();
        let old: Vec<&&Arc<Pod>> = running
            .iter()
            .filter(|p| pod_hash(p) != Some(hash))
            .collect();
        if let Some(keep_new) = new.last() {
            let mut out: Vec<Arc<Pod>> =
                new[..new.len() - 1].iter().map(|p| Arc::clone(p)).collect();
            let new_available = is_pod_available(keep_new, min_ready(ds), now);
            for (i, p) in old.iter().enumerate() {
                if new_available || i > 0 {
                    out.push(Arc::clone(p));
                }
            }
            return out;
        }
    }
    running.iter().skip(1).map(|p| Arc::clone(p)).collect()
}

/// The nodes to create updated pods on and the old pods to delete in this step.
pub fn rolling(
    ds: &DaemonSet,
    views: &[NodeView],
    hash: &str,
    now: jiff::Timestamp,
) -> (Vec<String>, Vec<Arc<Pod>>) {
    let desired = views.iter().filter(|v| v.place.should_run).count() as i32;
    let (max_surge, max_unavailable) = budgets(ds, desired);
    let min_ready = min_ready(ds);
    let mut create = Vec::new();
    let mut delete = Vec::new();
    let live = |v: &NodeView| -> Vec<Arc<Pod>> {
        v.pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect()
    };
    if max_surge == 0 {
        let mut unavailable = views
            .iter()
            .filter(|v| v.place.should_run)
            .filter(|v| !live(v).iter().any(|p| is_pod_available(p, min_ready, now)))
            .count() as i32;
        let mut old_available = Vec::new();
        for v in views.iter().filter(|v| v.place.should_run) {
            for p in live(v).into_iter().filter(|p| pod_hash(p) != Some(hash)) {
                if is_pod_available(&p, min_ready, now) {
                    old_available.push(p);
                } else {
                    delete.push(p);
                }
            }
        }
        for p in old_available {
            if unavailable >= max_unavailable {
                break;
            }
            unavailable += 1;
            delete.push(p);
        }
        return (create, delete);
    }
    let mut surging = views
        .iter()
        .filter(|v| {
            let pods = live(v);
            let new_unavailable = pods.iter().any(|p| pod_hash(p) == Some(hash))
                && !pods
                    .iter()
                    .any(|p| pod_hash(p) == Some(hash) && is_pod_available(p, min_ready, now));
            new_unavailable && pods.iter().any(|p| pod_hash(p) != Some(hash))
        })
        .count() as i32;
    for v in views.iter().filter(|v| v.place.should_run) {
        let pods = live(v);
        let old: Vec<&Arc<Pod>> = pods.iter().filter(|p| pod_hash(p) != Some(hash)).collect();
        if old.is_empty() {
            continue;
        }
        let new: Vec<&Arc<Pod>> = pods.iter().filter(|p| pod_hash(p) == Some(hash)).collect();
        if new.is_empty() {
            if !old.iter().any(|p| is_pod_available(p, min_ready, now)) {
                delete.extend(old.into_iter().cloned());
            } else if surging < max_surge {
                surging += 1;
                create.push(v.name.clone());
            }
        } else if new.iter().any(|p| is_pod_available(p, min_ready, now)) {
            delete.extend(old.into_iter().cloned());
        }
    }
    (create, delete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::eligibility::Placement;
    use serde_json::json;

    fn pod(name: &str, hash: &str, ready: bool) -> Arc<Pod> {
        let conds = if ready {
            json!([{"type": "Ready", "status": "True"}])
        } else {
            json!([])
        };
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {REVISION_LABEL: hash}},
                "status": {"phase": "Running", "conditions": conds}
            }))
            .unwrap_or_default(),
        )
    }

    fn view(node: &str, pods: Vec<Arc<Pod>>) -> NodeView {
        NodeView {
            name: node.into(),
            place: Placement {
                should_run: true,
                should_continue: true,
            },
            pods,
        }
    }

    fn ds(strategy: serde_json::Value) -> DaemonSet {
        serde_json::from_value(
            json!({"spec": {"selector": {}, "template": {}, "updateStrategy": strategy}}),
        )
        .unwrap_or_default()
    }

    #[test]
    fn max_unavailable_limits_deletions() {
        let now = jiff::Timestamp::now();
        let views = vec![
            view("a", vec![pod("a1", "old", true)]),
            view("b", vec![pod("b1", "old", true)]),
            view("c", vec![pod("c1", "old", false)]),
        ];
        // Default maxUnavailable 1: c's unready pod already uses the budget; only it goes.
        let (create, delete) = rolling(&ds(json!({"type": "RollingUpdate"})), &views, "new", now);
        assert!(create.is_empty());
        assert_eq!(
            delete
                .iter()
                .map(|p| p.metadata.name.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
            ["c1"]
        );
        let views = vec![
            view("a", vec![pod("a1", "old", true)]),
            view("b", vec![pod("b1", "old", true)]),
        ];
        let (_, delete) = rolling(
            &ds(json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}})),
            &views,
            "new",
            now,
        );
        assert_eq!(delete.len(), 2);
    }

    #[test]
    fn max_surge_creates_first_and_deletes_after_availability() {
        let now = jiff::Timestamp::now();
        let d = ds(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
        );
        let views = vec![
            view("a", vec![pod("a1", "old", true)]),
            view("b", vec![pod("b1", "old", true)]),
        ];
        let (create, delete) = rolling(&d, &views, "new", now);
        assert_eq!((create, delete.len()), (vec!["a".to_string()], 0));
        let views = vec![
            view("a", vec![pod("a1", "old", true), pod("a2", "new", true)]),
            view("b", vec![pod("b1", "old", true)]),
        ];
        let (create, delete) = rolling(&d, &views, "new", now);
        assert_eq!(create, vec!["b".to_string()]);
        assert_eq!(delete.len(), 1);
        assert_eq!(budgets(&d, 10), (1, 0));
        assert_eq!(
            budgets(
                &ds(
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})
                ),
                10
            ),
            (0, 1)
        );
    }
}

//! ReplicaSet status: counts of the owned active pods (fully labelled, ready, available
//! after minReadySeconds) and the `ReplicaFailure` condition, written through `/status`
//! only when it changed.

use std::sync::Arc;

use anyhow::anyhow;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::ResourceExt;

use crate::util::{error_message, is_not_found, is_pod_available, is_pod_ready, now};

/// The status a ReplicaSet should report for its active owned pods.
pub fn calculate_status(
    rs: &ReplicaSet,
    owned: &[Arc<Pod>],
    manage_err: Option<&anyhow::Error>,
    at: jiff::Timestamp,
) -> ReplicaSetStatus {
    let spec = rs.spec.clone().unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let template_labels = spec
        .template
        .and_then(|t| t.metadata)
        .and_then(|m| m.labels);
    let mut st = rs.status.clone().unwrap_or_default();
    let fully = owned
        .iter()
        .filter(|p| {
            template_labels
                .iter()
                .flatten()
                .all(|(k, v)| p.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v))
        })
        .count();
    let ready = owned.iter().filter(|p| is_pod_ready(p)).count();
    let available = owned
        .iter()
        .filter(|p| is_pod_available(p, min_ready, at))
        .count();
    let mut conditions = st.conditions.take().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_err {
        Some(e) if !has_failure => {
            let want = spec.replicas.unwrap_or(1).max(0) as usize;
            let reason = if owned.len() < want {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(root_message(e)),
                last_transition_time: Some(now()),
            });
        }
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    let opt = |n: usize| (n > 0).then_some(n as i32);
    ReplicaSetStatus {
        replicas: owned.len() as i32,
        fully_labeled_replicas: opt(fully),
        ready_replicas: opt(ready),
        available_replicas: opt(available),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: st.terminating_replicas,
    }
}

/// The API's own message, without our context prefixes (what upstream's condition shows).
fn root_message(e: &anyhow::Error) -> String {
    match e.root_cause().downcast_ref::<kube::Error>() {
        Some(k) => error_message(k),
        None => e.root_cause().to_string(),
    }
}

/// Writes `status` unless it is what the ReplicaSet already reports; on a conflict (our
/// copy was stale) retries once on a fresh read, as upstream.
pub(super) async fn update_status(
    api: &Api<ReplicaSet>,
    rs: &ReplicaSet,
    status: ReplicaSetStatus,
) -> anyhow::Result<ReplicaSet> {
    let current = rs.status.clone().unwrap_or_default();
    if normalized(&current) == normalized(&status) {
        return Ok(rs.clone());
    }
    let mut target = rs.clone();
    for attempt in 0..2 {
        target.status = Some(status.clone());
        match api
            .replace_status(&target.name_any(), &PostParams::default(), &target)
            .await
        {
            Ok(rs) => return Ok(rs),
            Err(e) if attempt == 0 && !is_not_found(&e) => {
                match api.get_opt(&target.name_any()).await? {
                    Some(fresh) => target = fresh,
                    None => return Ok(rs.clone()),
                }
            }
            Err(e) if is_not_found(&e) => return Ok(rs.clone()),
            Err(e) => return Err(anyhow!(e).context("updating replicaset status")),
        }
    }
    Ok(rs.clone())
}

/// Compares statuses the way the API stores them (zero counts are omitted there).
fn normalized(s: &ReplicaSetStatus) -> ReplicaSetStatus {
    let z = |v: Option<i32>| v.filter(|n| *n != 0);
    ReplicaSetStatus {
        replicas: s.replicas,
        fully_labeled_replicas: z(s.fully_labeled_replicas),
        ready_replicas: z(s.ready_replicas),
        available_replicas: z(s.available_replicas),
        terminating_replicas: s.terminating_replicas,
        observed_generation: s.observed_generation,
        conditions: s.conditions.clone().filter(|c| !c.is_empty()),
    }
}

//! Deployment status and conditions, as upstream's `progress.go` and the condition helpers
//! in `deployment/util`: `Available` (MinimumReplicasAvailable / MinimumReplicasUnavailable)
//! and `Progressing` (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
//! NewReplicaSetAvailable, ProgressDeadlineExceeded, DeploymentPaused, DeploymentResumed),
//! with upstream's messages — `kubectl rollout status` prints them and decides on them.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::util::{
    actual_replica_count, available_replica_count, max_unavailable, ready_replica_count,
    replica_count, replicas, Rs,
};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";

/// A condition stamped now (both times).
pub fn condition(type_: &str, status: &str, reason: &str, message: String) -> DeploymentCondition {
    let now = crate::util::now();
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Sets a condition as upstream's `SetDeploymentCondition`: the same status and reason
/// leaves the existing condition untouched; the same status keeps lastTransitionTime.
pub fn set(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(cur) = get(status, &c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    let conds = status.conditions.get_or_insert_with(Vec::new);
    conds.retain(|x| x.type_ != c.type_);
    conds.push(c);
}

pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|x| x.type_ != type_);
    }
}

pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|s| *s != i32::MAX)
}

/// The status the Deployment should report for its ReplicaSets.
pub fn calculate(all: &[Rs], new: Option<&Rs>, d: &Deployment) -> DeploymentStatus {
    let available = available_replica_count(all);
    let total = replica_count(all);
    let old = d.status.clone().unwrap_or_default();
    let mut st = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(actual_replica_count(all)),
        updated_replicas: Some(
            new.map(|n| actual_replica_count(std::slice::from_ref(n)))
                .unwrap_or(0),
        ),
        ready_replicas: Some(ready_replica_count(all)),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: None,
        terminating_replicas: None,
    };
    for c in old.conditions.into_iter().flatten() {
        set(&mut st, c);
    }
    if available >= replicas(d) - max_unavailable(d) {
        set(
            &mut st,
            condition(
                AVAILABLE,
                "True",
                MIN_AVAILABLE,
                "Deployment has minimum availability.".into(),
            ),
        );
    } else {
        set(
            &mut st,
            condition(
                AVAILABLE,
                "False",
                MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
            ),
        );
    }
    st
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// Every replica updated, present and available, and the spec observed.
pub fn complete(d: &Deployment, st: &DeploymentStatus) -> bool {
    let want = replicas(d);
    n(st.updated_replicas) == want
        && n(st.replicas) == want
        && n(st.available_replicas) == want
        && st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Whether `st` shows progress over the Deployment's current status: more updated, ready
/// or available replicas, or fewer old ones.
pub fn progressing(d: &Deployment, st: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(st.replicas) - n(st.updated_replicas);
    n(st.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(st.ready_replicas) > n(old.ready_replicas)
        || n(st.available_replicas) > n(old.available_replicas)
}

/// Whether the last progress (the Progressing condition's lastUpdateTime) is older than
/// progressDeadlineSeconds.
pub fn timed_out(d: &Deployment, st: &DeploymentStatus, now: jiff::Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(c) = get(st, PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => return false,
        Some(TIMED_OUT) => return true,
        _ => {}
    }
    let Some(from) = c.last_update_time.as_ref() else {
        return false;
    };
    from.0
        .checked_add(jiff::SignedDuration::from_secs(i64::from(deadline)))
        .is_ok_and(|t| t < now)
}

/// Applies the Progressing transitions of a rollout step (upstream's `syncRolloutStatus`
/// minus the write): complete → NewReplicaSetAvailable, progress → ReplicaSetUpdated
/// (lastUpdateTime refreshed, lastTransitionTime kept), no progress past the deadline →
/// ProgressDeadlineExceeded.
pub fn rollout_conditions(d: &Deployment, new: Option<&Rs>, st: &mut DeploymentStatus) {
    if progress_deadline(d).is_none() {
        remove(st, PROGRESSING);
    }
    let current = d.status.as_ref().and_then(|s| get(s, PROGRESSING)).cloned();
    let is_complete = n(st.replicas) == n(st.updated_replicas)
        && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    if progress_deadline(d).is_none() || is_complete {
        return;
    }
    let name = |rs_msg: &str, d_msg: &str| match new {
        Some(rs) => format!(
            "ReplicaSet {:?} {rs_msg}",
            rs.metadata.name.as_deref().unwrap_or_default()
        ),
        None => format!(
            "Deployment {:?} {d_msg}",
            d.metadata.name.as_deref().unwrap_or_default()
        ),
    };
    if complete(d, st) {
        let msg = name(
            "has successfully progressed.",
            "has successfully progressed.",
        );
        set(st, condition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg));
    } else if progressing(d, st) {
        let msg = name("is progressing.", "is progressing.");
        let mut c = condition(PROGRESSING, "True", RS_UPDATED, msg);
        if let Some(cur) = current.filter(|c| c.status == "True") {
            c.last_transition_time = cur.last_transition_time;
        }
        remove(st, PROGRESSING);
        set(st, c);
    } else if timed_out(d, st, jiff::Timestamp::now()) {
        let msg = name("has timed out progressing.", "has timed out progressing.");
        set(st, condition(PROGRESSING, "False", TIMED_OUT, msg));
    }
}

/// When to look at a stuck Deployment again so that a deadline passing without any event is
/// noticed (upstream's `requeueStuckDeployment`); `None` if no look is needed.
pub fn requeue_after(
    d: &Deployment,
    st: &DeploymentStatus,
    now: jiff::Timestamp,
) -> Option<Duration> {
    let deadline = progress_deadline(d)?;
    let c = get(st, PROGRESSING)?;
    if complete(d, st) || c.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let from = c.last_update_time.as_ref().map(|t: &Time| t.0)?;
    let at = from
        .checked_add(jiff::SignedDuration::from_secs(i64::from(deadline)))
        .ok()?;
    let left = at.duration_since(now);
    if left < jiff::SignedDuration::from_secs(1) {
        return Some(Duration::ZERO);
    }
    Duration::try_from(left).ok()
}

/// Whether two statuses differ in what the API stores (condition times included).
pub fn same(a: &DeploymentStatus, b: &DeploymentStatus) -> bool {
    let norm = |s: &DeploymentStatus| {
        let z = |v: Option<i32>| v.filter(|x| *x != 0);
        DeploymentStatus {
            observed_generation: s.observed_generation,
            replicas: z(s.replicas),
            updated_replicas: z(s.updated_replicas),
            ready_replicas: z(s.ready_replicas),
            available_replicas: z(s.available_replicas),
            unavailable_replicas: z(s.unavailable_replicas),
            collision_count: s.collision_count,
            terminating_replicas: s.terminating_replicas,
            conditions: s.conditions.clone().filter(|c| !c.is_empty()),
        }
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentSpec;

    fn deploy(replicas: i32, status: DeploymentStatus) -> Deployment {
        Deployment {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("web".into()),
                generation: Some(2),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                progress_deadline_seconds: Some(600),
                ..Default::default()
            }),
            status: Some(status),
        }
    }

    fn status(replicas: i32, updated: i32, available: i32) -> DeploymentStatus {
        DeploymentStatus {
            observed_generation: Some(2),
            replicas: Some(replicas),
            updated_replicas: Some(updated),
            ready_replicas: Some(available),
            available_replicas: Some(available),
            ..Default::default()
        }
    }

    #[test]
    fn set_keeps_transition_time_for_same_status() {
        let mut st = DeploymentStatus::default();
        let mut first = condition(PROGRESSING, "True", RS_UPDATED, "a".into());
        first.last_transition_time = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        set(&mut st, first);
        set(
            &mut st,
            condition(PROGRESSING, "True", NEW_RS_AVAILABLE, "b".into()),
        );
        let c = get(&st, PROGRESSING).cloned().unwrap_or_default();
        assert_eq!(c.reason.as_deref(), Some(NEW_RS_AVAILABLE));
        assert_eq!(
            c.last_transition_time,
            Some(Time(jiff::Timestamp::UNIX_EPOCH))
        );
        // Same status and reason: untouched (message too).
        set(
            &mut st,
            condition(PROGRESSING, "True", NEW_RS_AVAILABLE, "c".into()),
        );
        assert_eq!(
            get(&st, PROGRESSING).and_then(|c| c.message.as_deref()),
            Some("b")
        );
    }

    #[test]
    fn progress_then_complete_then_stays_complete() {
        let d = deploy(3, status(3, 1, 2));
        let mut st = status(3, 2, 2);
        rollout_conditions(&d, None, &mut st);
        let c = get(&st, PROGRESSING).cloned().unwrap_or_default();
        assert_eq!(c.reason.as_deref(), Some(RS_UPDATED));
        assert_eq!(
            c.message.as_deref(),
            Some("Deployment \"web\" is progressing.")
        );

        let mut st = status(3, 3, 3);
        rollout_conditions(&d, None, &mut st);
        let c = get(&st, PROGRESSING).cloned().unwrap_or_default();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("True", Some(NEW_RS_AVAILABLE))
        );
    }

    #[test]
    fn no_progress_past_the_deadline_times_out() {
        let mut old = status(3, 1, 1);
        let mut c = condition(PROGRESSING, "True", RS_UPDATED, "x".into());
        c.last_update_time = Some(Time(
            jiff::Timestamp::now() - jiff::SignedDuration::from_secs(601),
        ));
        old.conditions = Some(vec![c]);
        let d = deploy(3, old.clone());
        let mut st = old.clone();
        rollout_conditions(&d, None, &mut st);
        let c = get(&st, PROGRESSING).cloned().unwrap_or_default();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some(TIMED_OUT))
        );
        assert_eq!(requeue_after(&d, &st, jiff::Timestamp::now()), None);
        // Within the deadline: look again when it will have passed.
        let mut fresh = old;
        if let Some(c) = fresh.conditions.as_mut().and_then(|c| c.first_mut()) {
            c.last_update_time = Some(crate::util::now());
        }
        let after = requeue_after(&d, &fresh, jiff::Timestamp::now()).unwrap_or_default();
        assert!(after > Duration::from_secs(590) && after <= Duration::from_secs(600));
    }

    #[test]
    fn availability_condition_uses_max_unavailable() {
        let d = deploy(4, DeploymentStatus::default());
        // 25% of 4 = 1 may be unavailable.
        let st = calculate(&[], None, &d);
        assert_eq!(
            get(&st, AVAILABLE).map(|c| c.status.as_str()),
            Some("False")
        );
    }
}

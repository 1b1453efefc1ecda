//! The arithmetic of a PodDisruptionBudget's status, as upstream's disruption controller
//! does it: expected pods and desired healthy from minAvailable / maxUnavailable (a percent,
//! or maxUnavailable at all, needs the controllers' scale), healthy pods, pods the eviction
//! API is deleting, and the `DisruptionAllowed` condition.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::deployment::util::scaled_value;
use crate::util::is_pod_ready;

/// How long a pod the eviction API deleted may take to disappear before it counts again.
pub const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

/// Whether the budget is computed from the controllers' scale rather than the pod count.
pub fn needs_scale(pdb: &PodDisruptionBudget) -> bool {
    let spec = pdb.spec.as_ref();
    spec.and_then(|s| s.max_unavailable.as_ref()).is_some()
        || matches!(
            spec.and_then(|s| s.min_available.as_ref()),
            Some(IntOrString::String(_))
        )
}

/// (expectedPods, desiredHealthy). `scale` is the sum of the pods' controllers' replicas,
/// required when [`needs_scale`]; `pods` is how many pods the selector matches.
pub fn expected_and_desired(
    pdb: &PodDisruptionBudget,
    pods: i32,
    scale: Option<i32>,
) -> Result<(i32, i32), String> {
    let spec = pdb.spec.clone().unwrap_or_default();
    let scale = || scale.ok_or_else(|| "controller scale is unknown".to_string());
    if let Some(mu) = &spec.max_unavailable {
        let expected = scale()?;
        let max_unavailable = scaled_value(mu, expected, true)?;
        return Ok((expected, (expected - max_unavailable).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pods, *n)),
        Some(v @ IntOrString::String(_)) => {
            let expected = scale()?;
            Ok((expected, scaled_value(v, expected, true)?))
        }
        None => Ok((0, 0)),
    }
}

/// Pods the eviction API reported as being deleted, still within the deletion timeout,
/// and the earliest time one of them expires (when the budget must be looked at again).
pub fn live_disrupted_pods(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Timestamp>) {
    let recorded = pdb
        .status
        .as_ref()
        .and_then(|s| s.disrupted_pods.clone())
        .unwrap_or_default();
    let mut live = BTreeMap::new();
    let mut recheck: Option<Timestamp> = None;
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(at) = recorded.get(&name) else {
            continue;
        };
        let Ok(expires) = at.0.checked_add(DELETION_TIMEOUT) else {
            continue;
        };
        if expires > now {
            recheck = Some(recheck.map_or(expires, |r| r.min(expires)));
            live.insert(name, at.clone());
        }
    }
    (live, recheck)
}

/// Ready pods that are neither terminating nor being evicted.
pub fn count_healthy(pods: &[&Pod], disrupted: &BTreeMap<String, Time>) -> i32 {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| !disrupted.contains_key(p.metadata.name.as_deref().unwrap_or_default()))
        .filter(|p| is_pod_ready(p))
        .count() as i32
}

/// The status to write. `DisruptionAllowed` keeps its transition time while unchanged.
pub fn status(
    pdb: &PodDisruptionBudget,
    current_healthy: i32,
    desired_healthy: i32,
    expected: i32,
    disrupted: BTreeMap<String, Time>,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut allowed = current_healthy - desired_healthy;
    // No expected pods: stay safe until the first pods have been counted.
    if expected <= 0 || allowed <= 0 {
        allowed = 0;
    }
    let generation = pdb.metadata.generation;
    let (status, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    PodDisruptionBudgetStatus {
        current_healthy,
        desired_healthy,
        expected_pods: expected,
        disruptions_allowed: allowed,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        observed_generation: generation,
        conditions: Some(set_condition(pdb, status, reason, "", now)),
    }
}

/// The status after a failed sync: no disruption allowed (upstream's `failSafe`).
pub fn fail_safe(
    pdb: &PodDisruptionBudget,
    message: &str,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut s = pdb.status.clone().unwrap_or_default();
    s.disruptions_allowed = 0;
    s.conditions = Some(set_condition(pdb, "False", "SyncFailed", message, now));
    s
}

fn set_condition(
    pdb: &PodDisruptionBudget,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Vec<Condition> {
    let mut conditions = pdb
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let observed_generation = pdb.metadata.generation;
    match conditions
        .iter_mut()
        .find(|c| c.type_ == "DisruptionAllowed")
    {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Time(now);
            }
            c.status = status.into();
            c.reason = reason.into();
            c.message = message.into();
            c.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: "DisruptionAllowed".into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Time(now),
            observed_generation,
        }),
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;

    fn pdb(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudget {
        let mut p = PodDisruptionBudget {
            spec: Some(PodDisruptionBudgetSpec {
                min_available: min,
                max_unavailable: max,
                ..Default::default()
            }),
            ..Default::default()
        };
        p.metadata.generation = Some(3);
        p
    }

    fn pod(name: &str, ready: bool) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.status = Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    #[test]
    fn min_available_int_uses_pod_count() {
        let p = pdb(Some(IntOrString::Int(2)), None);
        assert!(!needs_scale(&p));
        assert_eq!(expected_and_desired(&p, 5, None), Ok((5, 2)));
    }

    #[test]
    fn percentages_and_max_unavailable_use_scale() {
        let p = pdb(Some(IntOrString::String("50%".into())), None);
        assert!(needs_scale(&p));
        // 50% of 5 rounds up to 3.
        assert_eq!(expected_and_desired(&p, 4, Some(5)), Ok((5, 3)));
        assert!(expected_and_desired(&p, 4, None).is_err());
        let p = pdb(None, Some(IntOrString::Int(1)));
        assert_eq!(expected_and_desired(&p, 3, Some(3)), Ok((3, 2)));
        let p = pdb(None, Some(IntOrString::String("30%".into())));
        // 30% of 10 = 3 unavailable (rounded up from 3.0); of 4 = 1.2 → 2.
        assert_eq!(expected_and_desired(&p, 10, Some(10)), Ok((10, 7)));
        assert_eq!(expected_and_desired(&p, 4, Some(4)), Ok((4, 2)));
        let p = pdb(None, Some(IntOrString::Int(9)));
        assert_eq!(expected_and_desired(&p, 3, Some(3)), Ok((3, 0)));
        let bad = pdb(None, Some(IntOrString::String("lots".into())));
        assert!(expected_and_desired(&bad, 3, Some(3)).is_err());
    }

    #[test]
    fn status_counts_ready_pods_and_sets_condition() {
        let p = pdb(Some(IntOrString::Int(2)), None);
        let pods = [
            pod("a", true),
            pod("b", true),
            pod("c", true),
            pod("d", false),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let now = Timestamp::now();
        let healthy = count_healthy(&refs, &BTreeMap::new());
        assert_eq!(healthy, 3);
        let s = status(&p, healthy, 2, 4, BTreeMap::new(), now);
        assert_eq!(
            (s.current_healthy, s.desired_healthy, s.expected_pods),
            (3, 2, 4)
        );
        assert_eq!(s.disruptions_allowed, 1);
        assert_eq!(s.observed_generation, Some(3));
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "SufficientPods")
        );
        // Fewer healthy than desired: none allowed.
        let s = status(&p, 1, 2, 4, BTreeMap::new(), now);
        assert_eq!(s.disruptions_allowed, 0);
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "InsufficientPods")
        );
        // No expected pods: none allowed even with healthy ones.
        assert_eq!(
            status(&p, 3, 0, 0, BTreeMap::new(), now).disruptions_allowed,
            0
        );
    }

    #[test]
    fn pods_being_evicted_do_not_count_until_the_timeout() {
        let now = Timestamp::now();
        let mut p = pdb(Some(IntOrString::Int(1)), None);
        let mut recorded = BTreeMap::new();
        recorded.insert("a".to_string(), Time(now - SignedDuration::from_secs(10)));
        recorded.insert("b".to_string(), Time(now - SignedDuration::from_secs(500)));
        p.status = Some(PodDisruptionBudgetStatus {
            disrupted_pods: Some(recorded),
            ..Default::default()
        });
        let pods = [pod("a", true), pod("b", true)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let (live, recheck) = live_disrupted_pods(&p, &refs, now);
        assert_eq!(live.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(
            recheck,
            Some(now - SignedDuration::from_secs(10) + DELETION_TIMEOUT)
        );
        assert_eq!(count_healthy(&refs, &live), 1);
    }

    #[test]
    fn condition_keeps_transition_time_while_unchanged() {
        let then = Timestamp::from_second(1_700_000_000).unwrap();
        let mut p = pdb(Some(IntOrString::Int(1)), None);
        p.status = Some(status(&p, 3, 1, 3, BTreeMap::new(), then));
        let again = status(&p, 2, 1, 3, BTreeMap::new(), Timestamp::now());
        assert_eq!(
            again.conditions.as_ref().unwrap()[0].last_transition_time,
            Time(then)
        );
        let failed = fail_safe(&p, "boom", Timestamp::now());
        let c = &failed.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.reason.as_str(), c.message.as_str()),
            ("SyncFailed", "boom")
        );
        assert_eq!(failed.disruptions_allowed, 0);
    }
}

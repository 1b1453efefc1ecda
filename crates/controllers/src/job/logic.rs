//! The Job controller's arithmetic, kept free of I/O so it can be tested on its own: pod
//! failure back-off, finish times, completion indexes and their `completedIndexes` text.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use crate::util::pod_phase;

/// First delay before a failed pod is replaced (upstream's `DefaultJobPodFailureBackOff`).
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// Longest delay between replacements (six minutes, as the Job documentation states).
pub const BACKOFF_MAX: Duration = Duration::from_secs(360);

/// The back-off after `failures` consecutive pod failures (no success since): 10 s doubling,
/// capped at six minutes; zero with no failures.
pub fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let mut d = BACKOFF_BASE;
    for _ in 1..failures {
        d = d.saturating_mul(2);
        if d >= BACKOFF_MAX {
            return BACKOFF_MAX;
        }
    }
    d.min(BACKOFF_MAX)
}

/// How long to wait before creating replacement pods: the back-off minus the time since the
/// last failure.
pub fn remaining_backoff(
    failures: u32,
    last_failure: Option<Timestamp>,
    now: Timestamp,
) -> Duration {
    let b = backoff(failures);
    let Some(last) = last_failure else {
        return Duration::ZERO;
    };
    let elapsed = now.duration_since(last);
    if elapsed.is_negative() {
        return b;
    }
    b.saturating_sub(elapsed.unsigned_abs())
}

/// When a finished pod finished: the latest container `finishedAt`, else the latest
/// condition transition, else its creation.
pub fn finish_time(p: &Pod) -> Option<Timestamp> {
    let st = p.status.as_ref();
    let terminated = st
        .into_iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    terminated
        .or_else(|| {
            st.and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0))
                .max()
        })
        .or_else(|| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Failures since the last success and when the last one happened (upstream's back-off
/// record), from the finished pods.
pub fn failures_after_last_success(finished: &[&Pod]) -> (u32, Option<Timestamp>) {
    let last_success = finished
        .iter()
        .filter(|p| pod_phase(p) == "Succeeded")
        .filter_map(|p| finish_time(p))
        .max();
    let mut n = 0;
    let mut last = None;
    for p in finished.iter().filter(|p| pod_phase(p) == "Failed") {
        let t = finish_time(p);
        if last_success.is_some_and(|s| t.is_none_or(|t| t <= s)) {
            continue;
        }
        n += 1;
        last = last.max(t);
    }
    (n, last)
}

/// The annotation and label carrying a pod's completion index.
pub const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// A pod's completion index, if it has a valid one below `completions`.
pub fn pod_index(p: &Pod, completions: i32) -> Option<i32> {
    let v = p
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INDEX_KEY))
        .or_else(|| p.metadata.labels.as_ref().and_then(|l| l.get(INDEX_KEY)))?;
    v.parse::<i32>()
        .ok()
        .filter(|i| *i >= 0 && *i < completions)
}

/// Upstream's `completedIndexes` text: ascending intervals, `a-b` for runs of three or more,
/// `a,b` for two.
pub fn format_indexes(set: &BTreeSet<i32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut it = set.iter().copied().peekable();
    while let Some(first) = it.next() {
        let mut last = first;
        while it.peek() == Some(&(last + 1)) {
            last += 1;
            it.next();
        }
        out.push(match last - first {
            0 => first.to_string(),
            1 => format!("{first},{last}"),
            _ => format!("{first}-{last}"),
        });
    }
    out.join(",")
}

/// Parses `completedIndexes` back (indexes at or above `completions` are dropped).
pub fn parse_indexes(s: &str, completions: i32) -> BTreeSet<i32> {
    let mut set = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
            set.extend((a..=b.min(completions - 1)).filter(|i| *i >= 0));
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    #[test]
    fn backoff_doubles_from_ten_seconds_and_caps_at_six_minutes() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(4), Duration::from_secs(80));
        assert_eq!(backoff(6), Duration::from_secs(320));
        assert_eq!(backoff(7), BACKOFF_MAX);
        assert_eq!(backoff(1000), BACKOFF_MAX);
        let now: Timestamp = "2024-01-01T00:01:00Z".parse().unwrap_or_default();
        let t = |s: &str| s.parse::<Timestamp>().ok();
        assert_eq!(
            remaining_backoff(2, t("2024-01-01T00:00:55Z"), now),
            Duration::from_secs(15)
        );
        assert_eq!(
            remaining_backoff(1, t("2024-01-01T00:00:00Z"), now),
            Duration::ZERO
        );
        assert_eq!(
            remaining_backoff(0, t("2024-01-01T00:00:59Z"), now),
            Duration::ZERO
        );
    }

    fn finished(phase: &str, at: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                creation_timestamp: at.parse().ok().map(Time),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_failures_after_the_last_success_count() {
        let a = finished("Failed", "2024-01-01T00:00:00Z");
        let b = finished("Succeeded", "2024-01-01T00:01:00Z");
        let c = finished("Failed", "2024-01-01T00:02:00Z");
        let d = finished("Failed", "2024-01-01T00:03:00Z");
        let (n, last) = failures_after_last_success(&[&a, &b, &c, &d]);
        assert_eq!(n, 2);
        assert_eq!(last, "2024-01-01T00:03:00Z".parse().ok());
        assert_eq!(failures_after_last_success(&[&a, &b]).0, 0);
    }

    #[test]
    fn completed_indexes_round_trip() {
        let set: BTreeSet<i32> = [0, 1, 3, 5, 6, 7, 9].into();
        assert_eq!(format_indexes(&set), "0,1,3,5-7,9");
        assert_eq!(parse_indexes("0,1,3,5-7,9", 10), set);
        assert_eq!(parse_indexes("0-4", 3), [0, 1, 2].into());
        assert_eq!(format_indexes(&BTreeSet::new()), "");
    }
}

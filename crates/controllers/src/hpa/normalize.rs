//! Turning a metric proposal into the replica count to set, as upstream's HPA controller
//! does: without `behavior`, a scale-down stabilization window (the highest recommendation
//! of the last 5 minutes wins) and a scale-up limit of max(2 × current, 4); with
//! `behavior`, per-direction stabilization windows and rate policies (Pods / Percent per
//! period, selectPolicy Max / Min / Disabled) over the scale events of each period.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscalerBehavior,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    pub replicas: i32,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScaleEvent {
    pub change: i32,
    pub at: Timestamp,
}

/// The normalized count and the conditions it implies: AbleToScale's (reason, message) and
/// ScalingLimited's (status, reason, message).
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub replicas: i32,
    pub able: (&'static str, &'static str),
    pub limited: (bool, &'static str, &'static str),
}

const WITHIN: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);
const UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const SCALE_UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const SCALE_DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);
const TOO_MANY: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const TOO_FEW: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);

fn secs(s: i64) -> SignedDuration {
    SignedDuration::from_secs(s)
}

fn outcome(
    replicas: i32,
    stabilized: i32,
    prenormalized: i32,
    stabilized_reason: (&'static str, &'static str),
    limit: (&'static str, &'static str),
) -> Outcome {
    Outcome {
        replicas,
        able: if stabilized != prenormalized {
            stabilized_reason
        } else {
            READY
        },
        limited: (replicas != stabilized, limit.0, limit.1),
    }
}

/// Without `behavior` (upstream's `normalizeDesiredReplicas`).
pub fn normalize_default(
    recs: &mut Vec<Recommendation>,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    window: Duration,
    now: Timestamp,
) -> Outcome {
    let cutoff = now - SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX);
    let mut stabilized = desired;
    let mut old = None;
    for (i, r) in recs.iter().enumerate() {
        if r.at < cutoff {
            old = Some(i);
        } else if r.replicas > stabilized {
            stabilized = r.replicas;
        }
    }
    let rec = Recommendation {
        replicas: desired,
        at: now,
    };
    match old {
        Some(i) => recs[i] = rec,
        None => recs.push(rec),
    }
    let scale_up_limit = (2 * current).max(4);
    let (max_allowed, limit) = if max > scale_up_limit {
        (scale_up_limit, SCALE_UP_LIMIT)
    } else {
        (max, TOO_MANY)
    };
    let (replicas, limit) = if stabilized < min {
        (min, TOO_FEW)
    } else if stabilized > max_allowed {
        (max_allowed, limit)
    } else {
        (stabilized, WITHIN)
    };
    outcome(replicas, stabilized, desired, DOWN_STABILIZED, limit)
}

fn policy(type_: &str, value: i32, period: i32) -> HPAScalingPolicy {
    HPAScalingPolicy {
        type_: type_.into(),
        value,
        period_seconds: period,
    }
}

/// `behavior` with upstream's defaults filled in; scale-down's window defaults to the
/// controller's downscale stabilization (5 minutes).
pub fn fill_behavior(
    b: &HorizontalPodAutoscalerBehavior,
    down_window: Duration,
) -> (HPAScalingRules, HPAScalingRules) {
    let fill = |r: Option<&HPAScalingRules>, window: i32, policies: Vec<HPAScalingPolicy>| {
        let r = r.cloned().unwrap_or_default();
        HPAScalingRules {
            stabilization_window_seconds: Some(r.stabilization_window_seconds.unwrap_or(window)),
            select_policy: Some(r.select_policy.unwrap_or_else(|| "Max".into())),
            policies: Some(r.policies.unwrap_or(policies)),
            ..r
        }
    };
    let up = fill(
        b.scale_up.as_ref(),
        0,
        vec![policy("Pods", 4, 15), policy("Percent", 100, 15)],
    );
    let down = fill(
        b.scale_down.as_ref(),
        i32::try_from(down_window.as_secs()).unwrap_or(i32::MAX),
        vec![policy("Percent", 100, 15)],
    );
    (up, down)
}

fn change_in_period(events: &[ScaleEvent], period: i32, now: Timestamp) -> i32 {
    let cutoff = now - secs(i64::from(period));
    events
        .iter()
        .filter(|e| e.at > cutoff)
        .map(|e| e.change)
        .sum()
}

/// The most the rules allow to scale up to now (upstream's `calculateScaleUpLimitWithScalingRules`).
pub fn scale_up_limit(
    current: i32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &HPAScalingRules,
    now: Timestamp,
) -> i32 {
    scaling_limit(current, up, down, rules, now, true)
}

/// The least the rules allow to scale down to now (upstream's `calculateScaleDownLimitWithBehaviors`).
pub fn scale_down_limit(
    current: i32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &HPAScalingRules,
    now: Timestamp,
) -> i32 {
    scaling_limit(current, up, down, rules, now, false)
}

/// Both limits: each policy proposes a bound from the replicas at the start of its period;
/// selectPolicy `Max` (the default) takes the one allowing the most change, `Min` the least.
fn scaling_limit(
    current: i32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &HPAScalingRules,
    now: Timestamp,
    scale_up: bool,
) -> i32 {
    let select = rules.select_policy.as_deref().unwrap_or("Max");
    if select == "Disabled" {
        return current;
    }
    let most_change = select != "Min";
    let mut result: Option<i32> = None;
    for p in rules.policies.iter().flatten() {
        let start = current - change_in_period(up, p.period_seconds, now)
            + change_in_period(down, p.period_seconds, now);
        let proposed = match (scale_up, p.type_.as_str()) {
            (true, "Pods") => start.saturating_add(p.value),
            // Rounded up, or a small target could never grow.
            (true, _) => (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32,
            (false, "Pods") => start.saturating_sub(p.value),
            (false, _) => (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32,
        };
        result = Some(match result {
            None => proposed,
            Some(r) if scale_up == most_change => r.max(proposed),
            Some(r) => r.min(proposed),
        });
    }
    result.unwrap_or(current)
}

/// With `behavior` (upstream's `normalizeDesiredReplicasWithBehaviors`); `up`/`down` are
/// filled rules ([`fill_behavior`]).
#[allow(clippy::too_many_arguments)]
pub fn normalize_behavior(
    recs: &mut Vec<Recommendation>,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    up: &HPAScalingRules,
    down: &HPAScalingRules,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    now: Timestamp,
) -> Outcome {
    let up_cutoff = now - secs(i64::from(up.stabilization_window_seconds.unwrap_or(0)));
    let down_cutoff = now - secs(i64::from(down.stabilization_window_seconds.unwrap_or(0)));
    let (mut up_rec, mut down_rec) = (desired, desired);
    let mut old = None;
    for (i, r) in recs.iter().enumerate() {
        if r.at > up_cutoff {
            up_rec = up_rec.min(r.replicas);
        }
        if r.at > down_cutoff {
            down_rec = down_rec.max(r.replicas);
        }
        if r.at < up_cutoff && r.at < down_cutoff {
            old = Some(i);
        }
    }
    let stabilized = current.max(up_rec).min(down_rec);
    let rec = Recommendation {
        replicas: desired,
        at: now,
    };
    match old {
        Some(i) => recs[i] = rec,
        None => recs.push(rec),
    }
    let stabilized_reason = if desired >= current {
        UP_STABILIZED
    } else {
        DOWN_STABILIZED
    };
    let (replicas, limit) = if stabilized > current {
        let limit = scale_up_limit(current, up_events, down_events, up, now).max(current);
        let (max_allowed, reason) = if max > limit {
            (limit, SCALE_UP_LIMIT)
        } else {
            (max, TOO_MANY)
        };
        if stabilized > max_allowed {
            (max_allowed, reason)
        } else {
            (stabilized, WITHIN)
        }
    } else if stabilized < current {
        let limit = scale_down_limit(current, up_events, down_events, down, now).min(current);
        let (min_allowed, reason) = if min < limit {
            (limit, SCALE_DOWN_LIMIT)
        } else {
            (min, TOO_FEW)
        };
        if stabilized < min_allowed {
            (min_allowed, reason)
        } else {
            (stabilized, WITHIN)
        }
    } else {
        (stabilized, WITHIN)
    };
    outcome(replicas, stabilized, desired, stabilized_reason, limit)
}

/// Records a rescale for the rate policies, forgetting events older than the longest period.
pub fn record_event(
    events: &mut Vec<ScaleEvent>,
    change: i32,
    rules: &HPAScalingRules,
    now: Timestamp,
) {
    let longest = rules
        .policies
        .iter()
        .flatten()
        .map(|p| p.period_seconds)
        .max()
        .unwrap_or(0);
    let cutoff = now - secs(i64::from(longest));
    events.retain(|e| e.at > cutoff);
    events.push(ScaleEvent { change, at: now });
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;

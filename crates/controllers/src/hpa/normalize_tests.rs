use super::*;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

const FIVE_MIN: Duration = Duration::from_secs(300);

#[test]
fn default_scale_down_is_stabilized_for_the_window() {
    let mut recs = vec![Recommendation {
        replicas: 8,
        at: t(0),
    }];
    // A lower recommendation 100 s later is held at 8.
    let o = normalize_default(&mut recs, 8, 2, 1, 10, FIVE_MIN, t(100));
    assert_eq!(o.replicas, 8);
    assert_eq!(o.able.0, "ScaleDownStabilized");
    assert!(!o.limited.0);
    // After the window the old recommendation no longer counts (the later 2 does).
    let o = normalize_default(&mut recs, 8, 2, 1, 10, FIVE_MIN, t(401));
    assert_eq!(o.replicas, 2);
    assert_eq!(o.able.0, "ReadyForNewScale");
}

#[test]
fn default_scale_up_limit_and_bounds() {
    let mut recs = vec![];
    // max(2 × 3, 4) = 6 caps a jump to 20.
    let o = normalize_default(&mut recs, 3, 20, 1, 50, FIVE_MIN, t(0));
    assert_eq!(o.replicas, 6);
    assert_eq!(
        o.limited,
        (
            true,
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate"
        )
    );
    let mut recs = vec![];
    let o = normalize_default(&mut recs, 3, 20, 1, 5, FIVE_MIN, t(0));
    assert_eq!((o.replicas, o.limited.1), (5, "TooManyReplicas"));
    let mut recs = vec![];
    let o = normalize_default(&mut recs, 3, 0, 2, 5, FIVE_MIN, t(0));
    assert_eq!(
        (o.replicas, o.limited.0, o.limited.1),
        (2, true, "TooFewReplicas")
    );
    let mut recs = vec![];
    let o = normalize_default(&mut recs, 3, 4, 1, 5, FIVE_MIN, t(0));
    assert_eq!(
        (o.replicas, o.limited.0, o.limited.1),
        (4, false, "DesiredWithinRange")
    );
}

fn rules(select: &str, window: i32, policies: Vec<HPAScalingPolicy>) -> HPAScalingRules {
    HPAScalingRules {
        select_policy: Some(select.into()),
        stabilization_window_seconds: Some(window),
        policies: Some(policies),
        ..Default::default()
    }
}

#[test]
fn behavior_defaults() {
    let (up, down) = fill_behavior(&HorizontalPodAutoscalerBehavior::default(), FIVE_MIN);
    assert_eq!(up.stabilization_window_seconds, Some(0));
    assert_eq!(up.policies.as_ref().map(Vec::len), Some(2));
    assert_eq!(down.stabilization_window_seconds, Some(300));
    assert_eq!(down.select_policy.as_deref(), Some("Max"));
    // Given values are kept.
    let b = HorizontalPodAutoscalerBehavior {
        scale_down: Some(HPAScalingRules {
            stabilization_window_seconds: Some(0),
            ..Default::default()
        }),
        scale_up: None,
    };
    let (_, down) = fill_behavior(&b, FIVE_MIN);
    assert_eq!(down.stabilization_window_seconds, Some(0));
    assert_eq!(down.policies, Some(vec![policy("Percent", 100, 15)]));
}

#[test]
fn scale_up_policies_select_max_or_min() {
    let up = rules(
        "Max",
        0,
        vec![policy("Pods", 4, 60), policy("Percent", 100, 60)],
    );
    // From 10: +4 → 14 or ×2 → 20; Max picks 20.
    assert_eq!(scale_up_limit(10, &[], &[], &up, t(0)), 20);
    let up = rules(
        "Min",
        0,
        vec![policy("Pods", 4, 60), policy("Percent", 100, 60)],
    );
    assert_eq!(scale_up_limit(10, &[], &[], &up, t(0)), 14);
    // Replicas added within the period count against it.
    let events = [
        ScaleEvent {
            change: 3,
            at: t(-30),
        },
        ScaleEvent {
            change: 5,
            at: t(-100),
        },
    ];
    assert_eq!(scale_up_limit(10, &events, &[], &up, t(0)), 11);
    let off = rules("Disabled", 0, vec![policy("Pods", 4, 60)]);
    assert_eq!(scale_up_limit(10, &[], &[], &off, t(0)), 10);
}

#[test]
fn scale_down_policies() {
    let down = rules(
        "Max",
        0,
        vec![policy("Pods", 2, 60), policy("Percent", 50, 60)],
    );
    // From 10: −2 → 8 or −50 % → 5; Max (the biggest change) picks 5.
    assert_eq!(scale_down_limit(10, &[], &[], &down, t(0)), 5);
    let down = rules(
        "Min",
        0,
        vec![policy("Pods", 2, 60), policy("Percent", 50, 60)],
    );
    assert_eq!(scale_down_limit(10, &[], &[], &down, t(0)), 8);
}

#[test]
fn behavior_limits_rate_and_stabilizes() {
    let up = rules("Max", 0, vec![policy("Pods", 1, 60)]);
    let down = rules("Max", 60, vec![policy("Percent", 100, 15)]);
    let mut recs = vec![];
    let o = normalize_behavior(&mut recs, &[], &[], &up, &down, 2, 10, 1, 20, t(0));
    assert_eq!(o.replicas, 3);
    assert_eq!(
        o.limited,
        (
            true,
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate"
        )
    );
    assert_eq!(o.able.0, "ReadyForNewScale");
    // A scale-down within 60 s of the 10 recommendation is held.
    let o = normalize_behavior(&mut recs, &[], &[], &up, &down, 3, 1, 1, 20, t(30));
    assert_eq!(o.replicas, 3);
    assert_eq!(o.able.0, "ScaleDownStabilized");
    // After the window it goes through.
    let o = normalize_behavior(&mut recs, &[], &[], &up, &down, 3, 1, 1, 20, t(200));
    assert_eq!(o.replicas, 1);
    assert!(!o.limited.0);
    // Down policy: at most 1 pod per 60 s.
    let slow = rules("Max", 0, vec![policy("Pods", 1, 60)]);
    let mut recs = vec![];
    let o = normalize_behavior(&mut recs, &[], &[], &up, &slow, 5, 1, 1, 20, t(0));
    assert_eq!((o.replicas, o.limited.1), (4, "ScaleDownLimit"));
}

#[test]
fn events_expire_after_the_longest_period() {
    let up = rules("Max", 0, vec![policy("Pods", 1, 60), policy("Pods", 1, 30)]);
    let mut ev = vec![ScaleEvent {
        change: 1,
        at: t(0),
    }];
    record_event(&mut ev, 2, &up, t(50));
    assert_eq!(ev.len(), 2);
    record_event(&mut ev, 3, &up, t(100));
    assert_eq!(ev.iter().map(|e| e.change).collect::<Vec<_>>(), vec![2, 3]);
}

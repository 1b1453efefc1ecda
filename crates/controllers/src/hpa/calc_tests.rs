use super::*;
use k8s_openapi::api::core::v1::{
    Container, PodCondition, PodSpec, PodStatus, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn now() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

fn ago(secs: i64) -> Timestamp {
    now() - SignedDuration::from_secs(secs)
}

/// A running pod requesting `req` milli-CPU, started `started` seconds ago, Ready as given
/// since `ready_since` seconds ago.
fn pod(name: &str, req: i64, phase: &str, ready: bool, started: i64, ready_since: i64) -> Pod {
    Pod {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                resources: Some(ResourceRequirements {
                    requests: Some([("cpu".to_string(), milli_quantity(req))].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(phase.into()),
            start_time: Some(Time(ago(started))),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                last_transition_time: Some(Time(ago(ready_since))),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

fn running(name: &str) -> Pod {
    pod(name, 1000, "Running", true, 3600, 3500)
}

fn metrics(values: &[(&str, i64)]) -> PodMetrics {
    values
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                PodMetric {
                    value: *v,
                    timestamp: ago(5),
                    window: Duration::from_secs(30),
                },
            )
        })
        .collect()
}

fn calc(current: i32, target: i32, pods: &[Pod], m: PodMetrics) -> Result<Proposal, String> {
    let refs: Vec<&Pod> = pods.iter().collect();
    resource_replicas(
        current,
        &Target::Utilization(target),
        "cpu",
        None,
        &refs,
        m,
        &CalcConfig::default(),
        now(),
    )
}

#[test]
fn quantities_in_milli_units() {
    let m = |s: &str| milli_value(&Quantity(s.into()));
    assert_eq!(m("250m"), Some(250));
    assert_eq!(m("2"), Some(2000));
    assert_eq!(m("0.5"), Some(500));
    assert_eq!(m("1500000n"), Some(2)); // rounded up
    assert_eq!(m("1Ki"), Some(1_024_000));
    assert_eq!(m("1k"), Some(1_000_000));
    assert_eq!(m("1e3"), Some(1_000_000));
    assert_eq!(m("12345Ki"), Some(12_641_280_000));
    assert_eq!(m("bogus"), None);
    assert_eq!(milli_quantity(250).0, "250m");
    assert_eq!(milli_quantity(3000).0, "3");
}

#[test]
fn scales_up_proportionally() {
    let pods = [running("a"), running("b"), running("c")];
    let p = calc(3, 50, &pods, metrics(&[("a", 900), ("b", 900), ("c", 900)])).unwrap();
    // 90 % of request against a 50 % target: ratio 1.8, ceil(1.8 × 3) = 6.
    assert_eq!(
        p,
        Proposal {
            replicas: 6,
            utilization: Some(90),
            raw: 900
        }
    );
}

#[test]
fn within_tolerance_keeps_current() {
    let pods = [running("a"), running("b"), running("c")];
    let p = calc(3, 50, &pods, metrics(&[("a", 530), ("b", 530), ("c", 530)])).unwrap();
    assert_eq!(p.replicas, 3);
    assert_eq!(p.utilization, Some(53));
    // Just outside the tolerance it moves.
    let p = calc(3, 50, &pods, metrics(&[("a", 560), ("b", 560), ("c", 560)])).unwrap();
    assert_eq!(p.replicas, 4);
}

#[test]
fn scales_down() {
    let pods = [running("a"), running("b"), running("c")];
    let p = calc(3, 50, &pods, metrics(&[("a", 100), ("b", 100), ("c", 100)])).unwrap();
    assert_eq!(p.replicas, 1);
}

#[test]
fn missing_metrics_count_as_full_on_scale_down_and_zero_on_scale_up() {
    let pods = [running("a"), running("b"), running("c"), running("d")];
    // Down: (3 × 100 + 1000) / 4000 = 32 % → 0.64 × 4 → 3 (not 1, as the 3 alone would say).
    let p = calc(4, 50, &pods, metrics(&[("a", 100), ("b", 100), ("c", 100)])).unwrap();
    assert_eq!(p.replicas, 3);
    assert_eq!(p.utilization, Some(10));
    // Up: 3000 / 4000 = 75 % → 1.5 × 4 = 6 (not 8).
    let p = calc(
        4,
        50,
        &pods,
        metrics(&[("a", 1000), ("b", 1000), ("c", 1000)]),
    )
    .unwrap();
    assert_eq!(p.replicas, 6);
}

#[test]
fn missing_metrics_never_reverse_the_direction() {
    let pods = [running("a"), running("b"), running("c"), running("d")];
    // Alone, "a" says scale down (42 % vs 50 %); with the missing pods at 100 % it would be
    // a scale-up: keep the current count.
    let p = calc(4, 50, &pods, metrics(&[("a", 425)])).unwrap();
    assert_eq!(p.replicas, 4);
}

#[test]
fn unready_pods_count_as_zero_on_scale_up_and_are_ignored_on_scale_down() {
    // "d" started 60 s ago and is not ready yet: its CPU is not trusted.
    let pods = [
        running("a"),
        running("b"),
        running("c"),
        pod("d", 1000, "Running", false, 60, 60),
    ];
    let up = metrics(&[("a", 1000), ("b", 1000), ("c", 1000), ("d", 5000)]);
    // Ratio from ready pods 2.0; with d at 0: 3000 / 4000 = 75 % → 6.
    assert_eq!(calc(4, 50, &pods, up).unwrap().replicas, 6);
    let down = metrics(&[("a", 100), ("b", 100), ("c", 100), ("d", 5000)]);
    // d ignored: 10 % → 0.2 × 3 ready → 1.
    assert_eq!(calc(4, 50, &pods, down).unwrap().replicas, 1);
}

#[test]
fn cpu_of_a_just_ready_pod_waits_one_metric_window() {
    // Ready 10 s ago, within the initialisation period; the sample (5 s old, 30 s window)
    // predates readiness + window, so the pod is treated as unready.
    let pods = [running("a"), pod("b", 1000, "Running", true, 60, 10)];
    let m = metrics(&[("a", 1000), ("b", 1000)]);
    let refs: Vec<&Pod> = pods.iter().collect();
    let g = group_pods(&refs, &m, "cpu", &CalcConfig::default(), now());
    assert_eq!(g.ready, 1);
    assert!(g.unready.contains("b"));
    // Memory is not subject to the CPU readiness rules.
    let g = group_pods(&refs, &m, "memory", &CalcConfig::default(), now());
    assert_eq!(g.ready, 2);
    // Long past initialisation, a pod that was ready once counts even if not ready now...
    let flapped = [pod("c", 1000, "Running", false, 3600, 100)];
    let refs: Vec<&Pod> = flapped.iter().collect();
    let g = group_pods(
        &refs,
        &metrics(&[("c", 10)]),
        "cpu",
        &CalcConfig::default(),
        now(),
    );
    assert_eq!(g.ready, 1);
    // ...but one unready since (about) its start never does.
    let never = [pod("e", 1000, "Running", false, 3600, 3590)];
    let refs: Vec<&Pod> = never.iter().collect();
    let g = group_pods(
        &refs,
        &metrics(&[("e", 10)]),
        "cpu",
        &CalcConfig::default(),
        now(),
    );
    assert!(g.unready.contains("e"));
}

#[test]
fn pending_failed_and_terminating_pods() {
    let mut gone = running("t");
    gone.metadata.deletion_timestamp = Some(Time(now()));
    let pods = [
        running("a"),
        pod("p", 1000, "Pending", false, 1, 1),
        pod("f", 1000, "Failed", false, 100, 100),
        gone,
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let g = group_pods(
        &refs,
        &metrics(&[("a", 1), ("t", 1), ("f", 1)]),
        "cpu",
        &CalcConfig::default(),
        now(),
    );
    assert_eq!(g.ready, 1);
    assert!(g.unready.contains("p"));
    assert!(g.ignored.contains("f") && g.ignored.contains("t"));
    assert!(g.missing.is_empty());
}

#[test]
fn errors() {
    assert!(calc(1, 50, &[], metrics(&[])).is_err());
    let pods = [running("a")];
    let e = calc(1, 50, &pods, metrics(&[])).unwrap_err();
    assert!(e.contains("did not receive metrics"), "{e}");
    let mut no_request = running("a");
    if let Some(s) = no_request.spec.as_mut() {
        s.containers[0].resources = None;
    }
    let e = calc(1, 50, &[no_request], metrics(&[("a", 10)])).unwrap_err();
    assert_eq!(e, "missing request for cpu in container c of Pod a");
}

#[test]
fn average_value_target() {
    let pods = [running("a"), running("b")];
    let refs: Vec<&Pod> = pods.iter().collect();
    // Average 600m against a 200m target: ratio 3 → 6.
    let p = resource_replicas(
        2,
        &Target::AverageValue(200),
        "cpu",
        None,
        &refs,
        metrics(&[("a", 600), ("b", 600)]),
        &CalcConfig::default(),
        now(),
    )
    .unwrap();
    assert_eq!(
        p,
        Proposal {
            replicas: 6,
            utilization: None,
            raw: 600
        }
    );
}

/// `p` asking for `memory` instead of CPU.
fn with_memory_request(mut p: Pod, memory: &str) -> Pod {
    if let Some(s) = p.spec.as_mut() {
        s.containers[0].resources = Some(ResourceRequirements {
            requests: Some([("memory".to_string(), Quantity(memory.into()))].into()),
            ..Default::default()
        });
    }
    p
}

#[test]
fn memory_utilization_target() {
    let mi = |n: i64| milli_value(&Quantity(format!("{n}Mi"))).unwrap();
    // b became Ready 10 s ago: CPU would leave it out for a metric window, memory counts it.
    let pods = [
        with_memory_request(running("a"), "256Mi"),
        with_memory_request(pod("b", 0, "Running", true, 60, 10), "256Mi"),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let memory = |target: i32, used: i64| {
        resource_replicas(
            2,
            &Target::Utilization(target),
            "memory",
            None,
            &refs,
            metrics(&[("a", mi(used)), ("b", mi(used))]),
            &CalcConfig::default(),
            now(),
        )
    };
    // 192Mi of 256Mi is 75 %; against 50 %: ratio 1.5 × 2 ready → 3.
    assert_eq!(
        memory(50, 192).unwrap(),
        Proposal {
            replicas: 3,
            utilization: Some(75),
            raw: mi(192)
        }
    );
    // 64Mi is 25 %: → 1.
    assert_eq!(memory(50, 64).unwrap().replicas, 1);
    // Within the 10 % tolerance: unchanged.
    assert_eq!(memory(70, 192).unwrap().replicas, 2);
    // A pod without a memory request cannot be measured against one.
    let cpu_only = [running("a")];
    let refs: Vec<&Pod> = cpu_only.iter().collect();
    let e = resource_replicas(
        1,
        &Target::Utilization(50),
        "memory",
        None,
        &refs,
        metrics(&[("a", mi(10))]),
        &CalcConfig::default(),
        now(),
    )
    .unwrap_err();
    assert_eq!(e, "missing request for memory in container c of Pod a");
}

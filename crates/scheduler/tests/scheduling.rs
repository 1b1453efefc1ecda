//! The scheduler against a real API server: binding, conditions, events, filters, retries.

mod common;

use common::{wait, Cluster, Result};
use serde_json::json;

fn condition(p: &k8s_openapi::api::core::v1::Pod, type_: &str) -> Option<(String, Option<String>)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find_map(|c| (c.type_ == type_).then(|| (c.status.clone(), c.reason.clone())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_fit_unschedulable_message_and_retry_on_new_node() -> Result<()> {
    let c = Cluster::start().await?;
    c.node("n1", "1", "4Gi", json!({})).await?;
    c.node("n2", "1", "4Gi", json!({})).await?;
    let _s = c.scheduler();
    for p in ["p1", "p2", "p3"] {
        c.pod(p, "600m", json!({})).await?;
    }
    let a = c.bound("p1").await?;
    let b = c.bound("p2").await?;
    assert_ne!(a, b, "each 600m pod needs its own 1-cpu node");
    let pod = c.get_pod("p1").await?;
    assert_eq!(condition(&pod, "PodScheduled"), Some(("True".into(), None)));

    let msg = c.unschedulable_message("p3").await?;
    assert_eq!(
        msg,
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
    let ev = wait("FailedScheduling event", || async {
        c.events_for("p3")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
    })
    .await?;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(ev.message.as_deref(), Some(msg.as_str()));
    assert_eq!(ev.reporting_component.as_deref(), Some("default-scheduler"));

    let scheduled = wait("Scheduled event", || async {
        c.events_for("p1")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Scheduled"))
    })
    .await?;
    assert_eq!(scheduled.type_.as_deref(), Some("Normal"));
    assert_eq!(
        scheduled.message.as_deref(),
        Some(format!("Successfully assigned default/p1 to {a}").as_str())
    );
    assert_eq!(
        scheduled.source.and_then(|s| s.component).as_deref(),
        Some("default-scheduler")
    );

    // A new node makes room: the parked pod is retried at once (not after 5 minutes).
    c.node("n3", "2", "4Gi", json!({})).await?;
    assert_eq!(c.bound("p3").await?, "n3");
    let failed = c
        .events_for("p3")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .count();
    assert_eq!(failed, 1, "the same message is reported once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_taints_cordons_and_other_schedulers() -> Result<()> {
    let c = Cluster::start().await?;
    c.node(
        "ssd",
        "4",
        "8Gi",
        json!({"metadata": {"labels": {"disk": "ssd"}}}),
    )
    .await?;
    c.node(
        "gpu",
        "4",
        "8Gi",
        json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
    )
    .await?;
    c.node(
        "cordoned",
        "4",
        "8Gi",
        json!({"spec": {"unschedulable": true}}),
    )
    .await?;
    let _s = c.scheduler();

    c.pod(
        "wants-ssd",
        "100m",
        json!({"spec": {"nodeSelector": {"disk": "ssd"}}}),
    )
    .await?;
    c.pod(
        "tolerates-gpu",
        "100m",
        json!({"spec": {
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]}]}}}
        }}),
    )
    .await?;
    c.pod(
        "nowhere",
        "100m",
        json!({"spec": {"nodeSelector": {"zone": "mars"}}}),
    )
    .await?;
    c.pod(
        "not-ours",
        "100m",
        json!({"spec": {"schedulerName": "other-scheduler"}}),
    )
    .await?;

    assert_eq!(c.bound("wants-ssd").await?, "ssd");
    assert_eq!(c.bound("tolerates-gpu").await?, "gpu");
    assert_eq!(
        c.unschedulable_message("nowhere").await?,
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    // By now the scheduler has seen "not-ours" long ago; it must stay untouched.
    let p = c.get_pod("not-ours").await?;
    assert_eq!(p.spec.as_ref().and_then(|s| s.node_name.clone()), None);
    assert_eq!(condition(&p, "PodScheduled"), None);
    assert!(c.events_for("not-ours").await.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_spreads_replicas() -> Result<()> {
    let c = Cluster::start().await?;
    for n in ["a", "b", "c"] {
        c.node(n, "4", "8Gi", json!({})).await?;
    }
    let _s = c.scheduler();
    let anti = json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}}
    });
    for i in 0..4 {
        c.pod(&format!("web-{i}"), "100m", anti.clone()).await?;
    }
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(c.bound(&format!("web-{i}")).await?);
    }
    nodes.sort();
    assert_eq!(nodes, vec!["a", "b", "c"]);
    assert_eq!(
        c.unschedulable_message("web-3").await?,
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_spread_across_zones() -> Result<()> {
    let c = Cluster::start().await?;
    for (n, z) in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b")] {
        c.node(n, "4", "8Gi", json!({"metadata": {"labels": {"zone": z}}}))
            .await?;
    }
    let _s = c.scheduler();
    let spread = json!({
        "metadata": {"labels": {"app": "db"}},
        "spec": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "db"}}}]}
    });
    let mut zones = std::collections::BTreeMap::new();
    for i in 0..6 {
        let name = format!("db-{i}");
        c.pod(&name, "100m", spread.clone()).await?;
        // One at a time, so the spread is checked against every earlier placement.
        let node = c.bound(&name).await?;
        *zones.entry(node[..1].to_string()).or_insert(0) += 1;
    }
    assert_eq!(zones.get("a"), Some(&3));
    assert_eq!(
        zones.get("b"),
        Some(&3),
        "zone b's single node takes half: {zones:?}"
    );
    // A node without the zone label fails with the "missing required label" reason.
    c.pod("db-x", "100m", json!({
        "metadata": {"labels": {"app": "db"}},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": "a1"},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "db"}}}]}
    })).await?;
    // a has 3 and b has 3: a1 is fine.
    assert_eq!(c.bound("db-x").await?, "a1");
    c.pod("db-y", "100m", json!({
        "metadata": {"labels": {"app": "db"}},
        "spec": {"nodeSelector": {"zone": "a"},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "nodeAffinityPolicy": "Ignore",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "db"}}}]}
    })).await?;
    assert_eq!(
        c.unschedulable_message("db-y").await?,
        "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 3 node(s) didn't match pod topology spread constraints. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_evicts_lower_priority_pods() -> Result<()> {
    let c = Cluster::start().await?;
    c.node("only", "1", "4Gi", json!({})).await?;
    // Priorities come from PriorityClasses through priority admission, as users set them.
    let admin = Cluster::client_for_groups(&c.started, "test-admin", &["system:masters"]).await?;
    let classes: kube::Api<k8s_openapi::api::scheduling::v1::PriorityClass> = kube::Api::all(admin);
    for (name, value, policy) in [
        ("low", 10, "PreemptLowerPriority"),
        ("no-preempt", 50, "Never"),
        ("high", 100, "PreemptLowerPriority"),
    ] {
        let pc = serde_json::from_value(json!({
            "metadata": {"name": format!("preempt-{name}")}, "value": value, "preemptionPolicy": policy,
        }))?;
        classes.create(&Default::default(), &pc).await?;
    }
    let _s = c.scheduler();
    c.pod(
        "low",
        "800m",
        json!({"spec": {"priorityClassName": "preempt-low", "terminationGracePeriodSeconds": 0}}),
    )
    .await?;
    c.bound("low").await?;
    c.pod(
        "never",
        "800m",
        json!({"spec": {"priorityClassName": "preempt-no-preempt"}}),
    )
    .await?;
    let never = c.get_pod("never").await?.spec.unwrap_or_default();
    assert_eq!(never.priority, Some(50));
    assert_eq!(never.preemption_policy.as_deref(), Some("Never"));
    assert_eq!(
        c.unschedulable_message("never").await?,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
    c.pod(
        "high",
        "800m",
        json!({"spec": {"priorityClassName": "preempt-high"}}),
    )
    .await?;
    // "low" is deleted for "high" (grace 0: gone at once), "high" is nominated, then bound.
    wait("victim deleted", || async {
        c.get_pod("low").await.err().map(|_| ())
    })
    .await?;
    assert_eq!(c.bound("high").await?, "only");
    let p = c.get_pod("high").await?;
    assert_eq!(
        p.status.and_then(|s| s.nominated_node_name).as_deref(),
        Some("only"),
        "nominatedNodeName was set by preemption"
    );
    // "never" (priority 50, above the victim's) must not have taken the room freed for
    // "high": a nominated pod's room is held against pods of lower priority.
    assert_eq!(c.node_of("never").await, None);
    Ok(())
}

/// Upstream's system default topology spreading: pods that a Service selects spread over
/// nodes even where resource scores alone would pack them onto the roomier node; pods
/// nothing selects are not spread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_spreading_follows_services() -> Result<()> {
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{Api, PostParams};
    let c = Cluster::start().await?;
    c.node("big", "64", "256Gi", json!({})).await?;
    c.node("small", "4", "8Gi", json!({})).await?;
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    }))?;
    Api::<Service>::namespaced(c.client.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await?;
    // Started after the Service exists, so its first list already holds it.
    let _s = c.scheduler();
    let mut plain = Vec::new();
    for i in 0..4 {
        let name = format!("plain-{i}");
        c.pod(
            &name,
            "100m",
            json!({"metadata": {"labels": {"app": "plain"}}}),
        )
        .await?;
        plain.push(c.bound(&name).await?);
    }
    assert_eq!(plain, ["big"; 4], "unselected pods go to the roomier node");
    let mut web = std::collections::BTreeMap::new();
    for i in 0..4 {
        let name = format!("web-{i}");
        c.pod(
            &name,
            "100m",
            json!({"metadata": {"labels": {"app": "web"}}}),
        )
        .await?;
        // One at a time, so each placement sees the earlier ones.
        *web.entry(c.bound(&name).await?).or_insert(0) += 1;
    }
    assert_eq!(
        web,
        [("big".to_string(), 2), ("small".to_string(), 2)].into(),
        "the Service's pods spread over both nodes"
    );
    Ok(())
}

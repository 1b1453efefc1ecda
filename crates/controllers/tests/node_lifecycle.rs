//! Node lifecycle and taint-based eviction against a real API server: a node whose kubelet
//! stops posting goes Unknown and gets the unreachable taints, its pods are marked NotReady
//! and evicted according to their tolerations, a node reporting Ready=False gets the
//! not-ready taints, and the taints go when the node is Ready again.

mod common;

use std::time::{Duration, Instant};

use common::wait_for;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use rkube_controllers::{NodeLifecycleConfig, Options};
use serde_json::json;

const NS: &str = "lifecycle";

fn options() -> Options {
    Options {
        node_lifecycle: NodeLifecycleConfig {
            grace_period: Duration::from_secs(3),
            startup_grace_period: Duration::from_secs(3),
            monitor_period: Duration::from_millis(300),
        },
        ..Options::default()
    }
}

/// Plays a kubelet's heartbeat once: Ready=`ready` with a fresh heartbeat, and the Lease.
async fn heartbeat(client: &Client, node: &str, ready: &str) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().to_string();
    let nodes: Api<Node> = Api::all(client.clone());
    let reason = if ready == "True" {
        "KubeletReady"
    } else {
        "KubeletNotReady"
    };
    nodes
        .patch_status(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [
                {"type": "Ready", "status": ready, "reason": reason, "message": "kubelet says so",
                 "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "lastHeartbeatTime": now, "lastTransitionTime": now},
            ]}})),
        )
        .await?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let micro = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": node, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": micro},
    }))?;
    match leases.get_opt(node).await? {
        Some(_) => {
            leases
                .patch(
                    node,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"renewTime": micro}})),
                )
                .await?;
        }
        None => {
            leases.create(&PostParams::default(), &lease).await?;
        }
    }
    Ok(())
}

async fn pod_on(
    client: &Client,
    name: &str,
    node: &str,
    tolerations: serde_json::Value,
) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"nodeName": node, "tolerations": tolerations,
                 "containers": [{"name": "c", "image": "busybox"}]},
    }))?;
    pods.create(&PostParams::default(), &p).await?;
    common::mark_ready(client, NS, name).await
}

fn taints(n: &Node) -> Vec<String> {
    let mut t: Vec<String> = n
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .iter()
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect();
    t.sort();
    t
}

/// Deleted, or terminating (no kubelet confirms the deletion).
async fn evicted(client: &Client, name: &str) -> anyhow::Result<bool> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    Ok(pods
        .get_opt(name)
        .await?
        .is_none_or(|p| p.metadata.deletion_timestamp.is_some()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_node_is_tainted_and_pods_are_evicted() -> anyhow::Result<()> {
    let cluster = common::start_opts(Some(options())).await?;
    let client = cluster.client.clone();
    common::namespace(&client, NS).await?;
    for n in ["alive", "dead", "sick"] {
        common::node(&client, n, json!([])).await?;
        heartbeat(&client, n, "True").await?;
    }
    // "alive" keeps posting (so the zone is not fully disrupted); "sick" posts Ready=False.
    let hb = client.clone();
    let beats = tokio::spawn(async move {
        loop {
            let _ = heartbeat(&hb, "alive", "True").await;
            let _ = heartbeat(&hb, "sick", "False").await;
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    });
    let unreachable = "node.kubernetes.io/unreachable";
    // The API server gives every pod 300 s for unreachable (DefaultTolerationSeconds); 0 s
    // is how a pod says it will not wait at all.
    pod_on(&client, "intolerant", "dead", json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}])).await?;
    pod_on(&client, "patient", "dead", json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 4}])).await?;
    pod_on(
        &client,
        "stubborn",
        "dead",
        json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute"}]),
    )
    .await?;
    pod_on(&client, "bystander", "alive", json!([])).await?;

    let nodes: Api<Node> = Api::all(client.clone());
    let dead = wait_for(20, "dead node tainted unreachable", || async {
        let n = nodes.get("dead").await?;
        Ok(taints(&n).len() == 2).map(|done| done.then_some(n))
    })
    .await?;
    let tainted_at = Instant::now();
    assert_eq!(
        taints(&dead),
        vec![
            format!("{unreachable}:NoExecute"),
            format!("{unreachable}:NoSchedule")
        ]
    );
    let conds = dead.status.and_then(|s| s.conditions).unwrap_or_default();
    let ready = conds
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready condition");
    assert_eq!(ready.status, "Unknown");
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        ready.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    let mem = conds
        .iter()
        .find(|c| c.type_ == "MemoryPressure")
        .expect("MemoryPressure");
    assert_eq!(mem.status, "Unknown");
    let ne = dead
        .spec
        .and_then(|s| s.taints)
        .unwrap_or_default()
        .into_iter()
        .find(|t| t.effect == "NoExecute");
    assert!(
        ne.and_then(|t| t.time_added).is_some(),
        "NoExecute taint has timeAdded"
    );

    // The untolerating pod goes at once.
    wait_for(10, "intolerant pod evicted", || async {
        Ok(evicted(&client, "intolerant").await?.then_some(()))
    })
    .await?;
    // Pods on the dead node are marked NotReady.
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    wait_for(10, "stubborn pod NotReady", || async {
        let p = pods.get("stubborn").await?;
        Ok((!common::is_ready(&p)).then_some(()))
    })
    .await?;
    // The patient one waits its tolerationSeconds (4 s from timeAdded).
    assert!(
        !evicted(&client, "patient").await?,
        "patient pod evicted before its toleration ran out"
    );
    wait_for(15, "patient pod evicted", || async {
        Ok(evicted(&client, "patient").await?.then_some(()))
    })
    .await?;
    assert!(
        tainted_at.elapsed() >= Duration::from_secs(2),
        "evicted after {:?}",
        tainted_at.elapsed()
    );
    // Tolerated for ever, and the pod on the healthy node untouched.
    assert!(!evicted(&client, "stubborn").await?);
    let bystander = pods.get("bystander").await?;
    assert!(bystander.metadata.deletion_timestamp.is_none() && common::is_ready(&bystander));

    // The kubelet reporting Ready=False gets the not-ready taints.
    let not_ready = "node.kubernetes.io/not-ready";
    wait_for(10, "sick node tainted not-ready", || async {
        let t = taints(&nodes.get("sick").await?);
        Ok((t
            == vec![
                format!("{not_ready}:NoExecute"),
                format!("{not_ready}:NoSchedule"),
            ])
        .then_some(()))
    })
    .await?;

    let events: Api<Event> = Api::all(client.clone());
    let evs = events.list(&ListParams::default()).await?.items;
    assert!(
        evs.iter()
            .any(|e| e.reason.as_deref() == Some("TaintManagerEviction")
                && e.message.as_deref() == Some("Marking for deletion Pod lifecycle/intolerant")),
        "TaintManagerEviction event"
    );
    wait_for(10, "NodeNotReady event", || async {
        let evs = events.list(&ListParams::default()).await?.items;
        Ok(evs
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("NodeNotReady")
                    && e.message.as_deref() == Some("Node dead status is now: NodeNotReady")
            })
            .then_some(()))
    })
    .await?;

    // The dead node comes back: its taints go.
    heartbeat(&client, "dead", "True").await?;
    wait_for(10, "dead node untainted", || async {
        Ok(taints(&nodes.get("dead").await?).is_empty().then_some(()))
    })
    .await?;
    beats.abort();
    Ok(())
}

//! Leader election of the controller manager: controllers run only while it holds the
//! `kube-system/kube-controller-manager` Lease, stop when another holder takes it, come
//! back once it is free again, and the Lease is released on shutdown.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use rkube_controllers::{LeaderElectionConfig, Options, LEASE_NAME, LEASE_NAMESPACE};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const NS: &str = "leader";

fn micro_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Keeps the Lease held by "other" while `on`.
fn other_holder(client: Client, on: Arc<AtomicBool>, cancel: CancellationToken) {
    tokio::spawn(async move {
        let api: Api<Lease> = Api::namespaced(client, LEASE_NAMESPACE);
        while !cancel.is_cancelled() {
            if on.load(Ordering::SeqCst) {
                let patch = json!({"spec": {"holderIdentity": "other", "leaseDurationSeconds": 2, "renewTime": micro_now()}});
                let _ = api
                    .patch(LEASE_NAME, &PatchParams::default(), &Patch::Merge(patch))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
}

async fn holder(client: &Client) -> anyhow::Result<Option<String>> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    Ok(api
        .get(LEASE_NAME)
        .await?
        .spec
        .and_then(|s| s.holder_identity))
}

async fn pods_stay(client: &Client, n: usize, for_: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + for_;
    while tokio::time::Instant::now() < deadline {
        let have = active_pods(client, NS).await?.len();
        anyhow::ensure!(have == n, "{have} pods while not leading (want {n})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_run_only_while_leading() -> anyhow::Result<()> {
    let cl = common::start_opts(None).await?;
    let c = cl.client.clone();
    namespace(&c, NS).await?;
    let leases: Api<Lease> = Api::namespaced(c.clone(), LEASE_NAMESPACE);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": LEASE_NAME, "namespace": LEASE_NAMESPACE},
        "spec": {"holderIdentity": "other", "leaseDurationSeconds": 2, "renewTime": micro_now()},
    }))?;
    leases.create(&PostParams::default(), &lease).await?;
    let other = Arc::new(AtomicBool::new(true));
    other_holder(c.clone(), other.clone(), cl.cancel.clone());

    let cfg = LeaderElectionConfig {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(300),
        ..LeaderElectionConfig::new(LEASE_NAMESPACE, LEASE_NAME)
    };
    let me = cfg.identity.clone();
    let cm_cancel = cl.cancel.child_token();
    let cm = cl.client_as("system:kube-controller-manager").await?;
    let opts = Options {
        leader_election: Some(cfg),
        ..Options::default()
    };
    let manager = tokio::spawn(rkube_controllers::run_with(cm, opts, cm_cancel.clone()));

    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }))?;
    let sets: Api<ReplicaSet> = Api::namespaced(c.clone(), NS);
    sets.create(&PostParams::default(), &rs).await?;
    // Someone else leads: nothing happens.
    pods_stay(&c, 0, Duration::from_secs(3)).await?;

    // The other holder stops renewing: we take over once the Lease expires, and reconcile.
    other.store(false, Ordering::SeqCst);
    wait_for(20, "our manager leading and creating the pod", || async {
        let leading = holder(&c).await?.as_deref() == Some(me.as_str());
        Ok((leading && active_pods(&c, NS).await?.len() == 1).then_some(()))
    })
    .await?;

    // Another holder grabs the Lease: our controllers stop.
    other.store(true, Ordering::SeqCst);
    wait_for(20, "the other holder", || async {
        Ok((holder(&c).await?.as_deref() == Some("other")).then_some(()))
    })
    .await?;
    // Our next renewal (every 300 ms) finds it and stops the controllers.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sets.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await?;
    pods_stay(&c, 1, Duration::from_secs(3)).await?;

    // Free again: we campaign, win and converge.
    other.store(false, Ordering::SeqCst);
    wait_for(20, "second pod after re-election", || async {
        Ok((active_pods(&c, NS).await?.len() == 2).then_some(()))
    })
    .await?;
    assert_eq!(holder(&c).await?.as_deref(), Some(me.as_str()));

    // Shutting down releases the Lease for the next manager.
    cm_cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), manager).await??;
    assert_eq!(holder(&c).await?, None);
    Ok(())
}

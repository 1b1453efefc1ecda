//! Leader election: of two schedulers only the Lease holder binds; the other takes over
//! when the first stops.

mod common;

use common::{wait, Cluster, Result};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;

async fn holder(c: &Cluster) -> Option<String> {
    Api::<Lease>::namespaced(c.client.clone(), "kube-system")
        .get("kube-scheduler")
        .await
        .ok()?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_schedules() -> Result<()> {
    let c = Cluster::start().await?;
    c.node("n1", "8", "16Gi", json!({})).await?;
    let first = c.scheduler();
    let leader = wait("a leader", || holder(&c)).await?;
    let second = c.scheduler();
    for i in 0..10 {
        c.pod(&format!("p{i}"), "100m", json!({})).await?;
    }
    for i in 0..10 {
        c.bound(&format!("p{i}")).await?;
    }
    let lease = Api::<Lease>::namespaced(c.client.clone(), "kube-system")
        .get("kube-scheduler")
        .await?;
    let spec = lease.spec.unwrap_or_default();
    assert_eq!(spec.lease_duration_seconds, Some(10));
    assert_eq!(spec.holder_identity.as_deref(), Some(leader.as_str()));
    // Every Scheduled event names the leader as the reporting instance.
    for i in 0..10 {
        let ev = wait("Scheduled event", || async {
            c.events_for(&format!("p{i}"))
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("Scheduled"))
        })
        .await?;
        assert_eq!(ev.reporting_instance.as_deref(), Some(leader.as_str()));
    }
    // The leader stops and releases the Lease; the other one takes over.
    first.cancel();
    let next = wait("a new leader", || async {
        holder(&c).await.filter(|h| *h != leader)
    })
    .await?;
    c.pod("after", "100m", json!({})).await?;
    c.bound("after").await?;
    let ev = wait("Scheduled event", || async {
        c.events_for("after")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Scheduled"))
    })
    .await?;
    assert_eq!(ev.reporting_instance.as_deref(), Some(next.as_str()));
    second.cancel();
    Ok(())
}

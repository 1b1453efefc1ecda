//! The disruption controller against a real API server: PodDisruptionBudget status follows
//! the pods and their controllers' scale, and the API server's eviction handler honours it.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;

const NS: &str = "pdb";

fn deployment(replicas: i32) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    }))?)
}

fn pdb(name: &str, budget: serde_json::Value) -> anyhow::Result<PodDisruptionBudget> {
    let mut spec = budget;
    spec["selector"] = json!({"matchLabels": {"app": "web"}});
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": spec}),
    )?)
}

/// Waits for the budget's (expectedPods, currentHealthy, desiredHealthy, disruptionsAllowed).
async fn wait_status(
    api: &Api<PodDisruptionBudget>,
    name: &str,
    want: (i32, i32, i32, i32),
) -> anyhow::Result<PodDisruptionBudget> {
    let r = wait_for(30, &format!("{name} status {want:?}"), || async {
        let p = api.get(name).await?;
        let s = p.status.clone().unwrap_or_default();
        let got = (
            s.expected_pods,
            s.current_healthy,
            s.desired_healthy,
            s.disruptions_allowed,
        );
        Ok((got == want && s.observed_generation == p.metadata.generation).then_some(p))
    })
    .await;
    if r.is_err() {
        let s = api.get(name).await?.status;
        return r.map_err(|e| e.context(format!("last status {s:?}")));
    }
    r
}

fn condition(p: &PodDisruptionBudget) -> (String, String) {
    let c = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"))
        .map(|c| (c.status.clone(), c.reason.clone()));
    c.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_status_follows_pods_and_scale() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, NS).await?;
    let kubelet = FakeKubelet::spawn(c, NS, Duration::from_millis(50), cl.cancel.clone());
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), NS);
    deploys
        .create(&PostParams::default(), &deployment(3)?)
        .await?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.clone(), NS);
    pdbs.create(
        &PostParams::default(),
        &pdb("min", json!({"minAvailable": 2}))?,
    )
    .await?;
    pdbs.create(
        &PostParams::default(),
        &pdb("max", json!({"maxUnavailable": "50%"}))?,
    )
    .await?;

    // minAvailable 2 of 3 ready pods: one disruption allowed.
    let min = wait_status(&pdbs, "min", (3, 3, 2, 1)).await?;
    assert_eq!(condition(&min), ("True".into(), "SufficientPods".into()));
    // maxUnavailable 50 % of the Deployment's 3 (rounded up to 2): 1 desired healthy.
    wait_status(&pdbs, "max", (3, 3, 1, 2)).await?;

    // Scale to 5: the percentage follows the Deployment's scale (50 % of 5 → 3 unavailable).
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await?;
    wait_status(&pdbs, "max", (5, 5, 2, 3)).await?;
    wait_status(&pdbs, "min", (5, 5, 2, 3)).await?;

    // Raising minAvailable to 5 leaves no room: eviction is refused.
    pdbs.patch(
        "min",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 5}})),
    )
    .await?;
    let min = wait_status(&pdbs, "min", (5, 5, 5, 0)).await?;
    assert_eq!(condition(&min), ("False".into(), "InsufficientPods".into()));
    // Only one budget may cover a pod being evicted.
    pdbs.delete("max", &Default::default()).await?;
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    let victim = active_pods(c, NS)
        .await?
        .first()
        .map(|p| p.name_any())
        .ok_or_else(|| anyhow::anyhow!("no pods"))?;
    let no_retry: Api<Pod> = Api::namespaced(cl.client_without_retry().await?, NS);
    let err = no_retry
        .evict(&victim, &EvictParams::default())
        .await
        .expect_err("eviction refused");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 429),
        "{err}"
    );

    // A pod going unready lowers currentHealthy.
    pdbs.patch(
        "min",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 3}})),
    )
    .await?;
    wait_status(&pdbs, "min", (5, 5, 3, 2)).await?;
    // The fake kubelet would make the pod Ready again at once.
    kubelet.pause();
    pods.patch_status(
        &victim,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})),
    )
    .await?;
    wait_status(&pdbs, "min", (5, 4, 3, 1)).await?;
    // Now the eviction is allowed.
    pods.evict(&victim, &EvictParams::default()).await?;
    Ok(())
}

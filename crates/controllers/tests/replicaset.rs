//! The ReplicaSet controller against a real API server.

mod common;

use std::collections::BTreeSet;

use common::*;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;

fn rs(name: &str, app: &str, replicas: i32) -> anyhow::Result<ReplicaSet> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app, "tier": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    }))?)
}

fn owned_by(p: &Pod, rs: &ReplicaSet) -> bool {
    p.owner_references()
        .iter()
        .any(|o| Some(&o.uid) == rs.metadata.uid.as_ref() && o.controller == Some(true))
}

async fn wait_count(c: &kube::Client, ns: &str, n: usize) -> anyhow::Result<Vec<Pod>> {
    wait_for(30, &format!("{n} active pods"), || async {
        let pods = active_pods(c, ns).await?;
        Ok((pods.len() == n).then_some(pods))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_replaces_and_scales_with_upstream_victims() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "rs1").await?;
    let api: Api<ReplicaSet> = Api::namespaced(c.clone(), "rs1");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "rs1");
    let created = api
        .create(&PostParams::default(), &rs("web", "web", 3)?)
        .await?;

    let list = wait_count(c, "rs1", 3).await?;
    for p in &list {
        assert!(p.name_any().starts_with("web-"), "{}", p.name_any());
        assert!(owned_by(p, &created));
        let r = &p.owner_references()[0];
        assert_eq!(
            (r.kind.as_str(), r.block_owner_deletion),
            ("ReplicaSet", Some(true))
        );
        assert_eq!(p.labels().get("tier").map(String::as_str), Some("web"));
    }
    let st = wait_for(30, "status.replicas 3", || async {
        let r = api.get("web").await?;
        let st = r.status.clone().unwrap_or_default();
        Ok((st.replicas == 3 && st.fully_labeled_replicas == Some(3)).then_some(st))
    })
    .await?;
    assert_eq!(st.observed_generation, created.metadata.generation);

    // A deleted pod is replaced.
    let gone = list[0].name_any();
    pods.delete(&gone, &DeleteParams::default()).await?;
    let after = wait_for(30, "replacement", || async {
        let ps = active_pods(c, "rs1").await?;
        Ok((ps.len() == 3 && ps.iter().all(|p| p.name_any() != gone)).then_some(ps))
    })
    .await?;

    // A failed pod is replaced too (and stays, finished).
    let failed = after[0].name_any();
    pods.patch_status(
        &failed,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"phase": "Failed"}})),
    )
    .await?;
    wait_for(30, "replacement of failed pod", || async {
        let ps = active_pods(c, "rs1").await?;
        Ok((ps.len() == 3 && ps.iter().all(|p| p.name_any() != failed)).then_some(()))
    })
    .await?;

    // Readiness counts.
    let ps = active_pods(c, "rs1").await?;
    mark_ready(c, "rs1", &ps[0].name_any()).await?;
    wait_for(30, "readyReplicas 1", || async {
        let st = api.get("web").await?.status.unwrap_or_default();
        Ok((st.ready_replicas == Some(1) && st.available_replicas == Some(1)).then_some(()))
    })
    .await?;

    // Scale up to 6, make two ready, scale down to 2: the two ready ones must stay.
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 6}})),
    )
    .await?;
    let ps = wait_count(c, "rs1", 6).await?;
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for p in ps.iter().filter(|p| !is_ready(p)).take(1) {
        mark_ready(c, "rs1", &p.name_any()).await?;
    }
    for p in active_pods(c, "rs1").await?.iter().filter(|p| is_ready(p)) {
        keep.insert(p.name_any());
    }
    assert_eq!(keep.len(), 2);
    wait_for(30, "readyReplicas 2", || async {
        let st = api.get("web").await?.status.unwrap_or_default();
        Ok((st.ready_replicas == Some(2)).then_some(()))
    })
    .await?;
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 2}})),
    )
    .await?;
    let left = wait_count(c, "rs1", 2).await?;
    let left: BTreeSet<String> = left.iter().map(|p| p.name_any()).collect();
    assert_eq!(
        left, keep,
        "scale-down must delete the not-ready pods first"
    );

    // Events, as upstream words them.
    let events: Api<Event> = Api::namespaced(c.clone(), "rs1");
    let evs = wait_for(30, "events", || async {
        let evs = events.list(&Default::default()).await?.items;
        let del = evs
            .iter()
            .any(|e| e.reason.as_deref() == Some("SuccessfulDelete"));
        Ok(del.then_some(evs))
    })
    .await?;
    let create = evs
        .iter()
        .find(|e| e.reason.as_deref() == Some("SuccessfulCreate"))
        .ok_or_else(|| anyhow::anyhow!("no SuccessfulCreate event"))?;
    assert!(create
        .message
        .as_deref()
        .unwrap_or("")
        .starts_with("Created pod: web-"));
    assert_eq!(
        create.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("replicaset-controller")
    );
    assert_eq!(create.involved_object.kind.as_deref(), Some("ReplicaSet"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopts_orphans_and_releases_pods_it_no_longer_selects() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "rs2").await?;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "rs2");
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"app": "db"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))?;
    pods.create(&PostParams::default(), &orphan).await?;

    let api: Api<ReplicaSet> = Api::namespaced(c.clone(), "rs2");
    let created = api
        .create(&PostParams::default(), &rs("db", "db", 2)?)
        .await?;
    let ps = wait_count(c, "rs2", 2).await?;
    assert!(
        ps.iter().any(|p| p.name_any() == "orphan"),
        "the orphan is one of the two"
    );
    let adopted = pods.get("orphan").await?;
    assert!(owned_by(&adopted, &created), "orphan adopted");

    // Relabel the adopted pod: released, and replaced.
    pods.patch(
        "orphan",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {"app": "other"}}})),
    )
    .await?;
    wait_for(30, "release", || async {
        let p = pods.get("orphan").await?;
        Ok((!owned_by(&p, &created)).then_some(()))
    })
    .await?;
    wait_for(30, "replacement", || async {
        let owned = active_pods(c, "rs2")
            .await?
            .into_iter()
            .filter(|p| owned_by(p, &created))
            .count();
        Ok((owned == 2).then_some(()))
    })
    .await?;
    assert_eq!(active_pods(c, "rs2").await?.len(), 3);
    Ok(())
}

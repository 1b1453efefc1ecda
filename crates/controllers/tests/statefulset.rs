//! The StatefulSet controller against a real API server; the test marks pods ready.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher::{self, watcher};

use common::*;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

async fn names(c: &Client, ns: &str) -> anyhow::Result<Vec<String>> {
    let mut n: Vec<String> = active_pods(c, ns)
        .await?
        .iter()
        .map(|p| p.name_any())
        .collect();
    n.sort();
    Ok(n)
}

async fn wait_pod(c: &Client, ns: &str, name: &str) -> anyhow::Result<Pod> {
    let api: Api<Pod> = Api::namespaced(c.clone(), ns);
    wait_for(30, name, || async {
        Ok(api
            .get_opt(name)
            .await?
            .filter(|p| p.metadata.deletion_timestamp.is_none()))
    })
    .await
}

/// Names of pods deleted in `ns`, in the order the watch reports them.
/// Records the names of deleted pods, from a watch that has finished its initial list when
/// this returns (so no deletion is missed).
async fn record_deletions(c: &Client, ns: &str) -> anyhow::Result<Arc<Mutex<Vec<String>>>> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let (api, o): (Api<Pod>, _) = (Api::namespaced(c.clone(), ns), out.clone());
    let (listed, ready) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut listed = Some(listed);
        let mut stream = watcher(api, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = listed.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Delete(p)) => {
                    if let Ok(mut v) = o.lock() {
                        v.push(p.name_any());
                    }
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(20), ready).await??;
    Ok(out)
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers[0].image.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_creation_storage_scale_down_and_partitioned_update() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "sts1").await?;
    let api: Api<StatefulSet> = Api::namespaced(c.clone(), "sts1");
    let set: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "serviceName": "nginx",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    }))?;
    api.create(&PostParams::default(), &set).await?;

    // web-0 first; web-1 only once web-0 is Running and Ready.
    let p0 = wait_pod(c, "sts1", "web-0").await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), "sts1");
    assert!(pvcs.get_opt("www-web-0").await?.is_some());
    let spec = p0.spec.clone().unwrap_or_default();
    assert_eq!(
        (spec.hostname.as_deref(), spec.subdomain.as_deref()),
        (Some("web-0"), Some("nginx"))
    );
    let claim = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "www")
        .and_then(|v| v.persistent_volume_claim.clone());
    assert_eq!(claim.map(|c| c.claim_name).as_deref(), Some("www-web-0"));
    assert_eq!(
        p0.labels()
            .get("statefulset.kubernetes.io/pod-name")
            .map(String::as_str),
        Some("web-0")
    );
    assert_eq!(
        p0.labels()
            .get("apps.kubernetes.io/pod-index")
            .map(String::as_str),
        Some("0")
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        names(c, "sts1").await?,
        ["web-0"],
        "web-1 created before web-0 was ready"
    );
    mark_ready(c, "sts1", "web-0").await?;
    wait_pod(c, "sts1", "web-1").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(names(c, "sts1").await?, ["web-0", "web-1"]);
    mark_ready(c, "sts1", "web-1").await?;
    wait_pod(c, "sts1", "web-2").await?;
    mark_ready(c, "sts1", "web-2").await?;
    let st = wait_for(30, "3 ready", || async {
        let st = api.get("web").await?.status.unwrap_or_default();
        Ok((st.ready_replicas == Some(3) && st.replicas == 3).then_some(st))
    })
    .await?;
    assert_eq!(st.current_revision, st.update_revision);
    assert_eq!(st.current_replicas, Some(3));

    // Scale down to 1: web-2 goes before web-1; the claims stay.
    let deleted = record_deletions(c, "sts1").await?;
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 1}})),
    )
    .await?;
    wait_for(30, "scaled to 1", || async {
        Ok((names(c, "sts1").await? == ["web-0"]).then_some(()))
    })
    .await?;
    let order = wait_for(10, "both deletions watched", || async {
        let d = deleted.lock().map(|d| d.clone()).unwrap_or_default();
        Ok((d.len() >= 2).then_some(d))
    })
    .await?;
    assert_eq!(order, ["web-2", "web-1"], "highest ordinal first");
    for n in ["www-web-0", "www-web-1", "www-web-2"] {
        assert!(pvcs.get_opt(n).await?.is_some(), "{n} deleted");
    }

    // Back to 3, then a partitioned update: ordinals ≥ 1 move to nginx:2, web-0 stays.
    let _kubelet = FakeKubelet::spawn(c, "sts1", Duration::from_millis(50), cl.cancel.clone());
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 3}})),
    )
    .await?;
    wait_for(30, "3 ready again", || async {
        let st = api.get("web").await?.status.unwrap_or_default();
        Ok((st.ready_replicas == Some(3)).then_some(()))
    })
    .await?;
    let patch = json!({"spec": {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
        "template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}
    }});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let st = wait_for(60, "partitioned rollout", || async {
        let st = api.get("web").await?.status.unwrap_or_default();
        Ok((st.updated_replicas == Some(2) && st.ready_replicas == Some(3)).then_some(st))
    })
    .await?;
    assert_ne!(st.current_revision, st.update_revision);
    assert_eq!(st.current_replicas, Some(1));
    let pods: Api<Pod> = Api::namespaced(c.clone(), "sts1");
    assert_eq!(image(&pods.get("web-0").await?), "nginx:1");
    for n in ["web-1", "web-2"] {
        assert_eq!(image(&pods.get(n).await?), "nginx:2", "{n}");
    }
    // Partition 0 completes the rollout and the current revision follows.
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})),
    )
    .await?;
    wait_for(60, "complete rollout", || async {
        let st = api.get("web").await?.status.unwrap_or_default();
        Ok((st.updated_replicas == Some(3)
            && st.ready_replicas == Some(3)
            && st.current_revision == st.update_revision)
            .then_some(()))
    })
    .await?;
    assert_eq!(image(&pods.get("web-0").await?), "nginx:2");
    Ok(())
}

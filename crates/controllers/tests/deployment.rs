//! The Deployment controller against a real API server, with the test playing the kubelet.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use serde_json::{json, Value};

const REVISION: &str = "deployment.kubernetes.io/revision";

fn deployment(name: &str, replicas: i32, image: &str, extra: Value) -> anyhow::Result<Deployment> {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    });
    merge(&mut v, extra);
    Ok(serde_json::from_value(v)?)
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn condition(d: &Deployment, t: &str) -> Option<(String, String, String)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

async fn replicasets(c: &Client, ns: &str) -> anyhow::Result<Vec<ReplicaSet>> {
    let api: Api<ReplicaSet> = Api::namespaced(c.clone(), ns);
    Ok(api.list(&ListParams::default()).await?.items)
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn image_of(rs: &ReplicaSet) -> String {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Waits until the rollout is complete as `kubectl rollout status` decides it.
async fn rolled_out(c: &Client, ns: &str, name: &str, secs: u64) -> anyhow::Result<Deployment> {
    let api: Api<Deployment> = Api::namespaced(c.clone(), ns);
    wait_for(secs, &format!("rollout of {name}"), || async {
        let d = api.get(name).await?;
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let st = d.status.clone().unwrap_or_default();
        let done = st.observed_generation >= d.metadata.generation
            && st.updated_replicas == Some(want)
            && st.replicas == Some(want)
            && st.available_replicas == Some(want)
            && condition(&d, "Progressing").is_some_and(|c| c.1 == "NewReplicaSetAvailable");
        Ok(done.then_some(d))
    })
    .await
}

async fn set_image(c: &Client, ns: &str, name: &str, image: &str) -> anyhow::Result<()> {
    let api: Api<Deployment> = Api::namespaced(c.clone(), ns);
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_makes_a_hashed_replicaset_and_becomes_available() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "d1").await?;
    let _kubelet = FakeKubelet::spawn(c, "d1", Duration::from_millis(10), cl.cancel.clone());
    let api: Api<Deployment> = Api::namespaced(c.clone(), "d1");
    let extra = json!({"metadata": {"annotations": {"kubernetes.io/change-cause": "first"}}});
    api.create(
        &PostParams::default(),
        &deployment("web", 3, "nginx:1", extra)?,
    )
    .await?;
    let d = rolled_out(c, "d1", "web", 30).await?;

    let rss = replicasets(c, "d1").await?;
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = rs
        .labels()
        .get("pod-template-hash")
        .cloned()
        .unwrap_or_default();
    assert!(!hash.is_empty());
    assert_eq!(rs.name_any(), format!("web-{hash}"));
    let spec = rs.spec.clone().unwrap_or_default();
    assert_eq!(
        spec.selector
            .match_labels
            .unwrap_or_default()
            .get("pod-template-hash"),
        Some(&hash)
    );
    let tl = spec
        .template
        .and_then(|t| t.metadata)
        .and_then(|m| m.labels)
        .unwrap_or_default();
    assert_eq!(tl.get("pod-template-hash"), Some(&hash));
    let a = rs.annotations();
    assert_eq!(a.get(REVISION).map(String::as_str), Some("1"));
    assert_eq!(
        a.get("deployment.kubernetes.io/desired-replicas")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        a.get("deployment.kubernetes.io/max-replicas")
            .map(String::as_str),
        Some("4")
    );
    assert_eq!(
        a.get("kubernetes.io/change-cause").map(String::as_str),
        Some("first")
    );
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("1"));

    assert_eq!(
        condition(&d, "Available").map(|c| (c.0, c.1)),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    let progressing = condition(&d, "Progressing").unwrap_or_default();
    assert_eq!(
        progressing.2,
        format!("ReplicaSet \"web-{hash}\" has successfully progressed.")
    );
    let st = d.status.clone().unwrap_or_default();
    assert_eq!(
        (st.ready_replicas, st.unavailable_replicas.unwrap_or(0)),
        (Some(3), 0)
    );

    // The pods carry the hash and are owned by the ReplicaSet.
    let pods = active_pods(c, "d1").await?;
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|p| p.labels().get("pod-template-hash") == Some(&hash)));

    let events: Api<Event> = Api::namespaced(c.clone(), "d1");
    let msg = format!("Scaled up replica set web-{hash} from 0 to 3");
    wait_for(10, "ScalingReplicaSet event", || async {
        let evs = events.list(&Default::default()).await?.items;
        Ok(evs
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("ScalingReplicaSet")
                    && e.message.as_deref() == Some(msg.as_str())
            })
            .then_some(()))
    })
    .await?;
    Ok(())
}

/// Watches pods and asserts the rolling-update bounds at every change.
fn watch_bounds(
    c: &Client,
    ns: &str,
    max_total: usize,
    min_ready: usize,
    violations: Arc<Mutex<Vec<String>>>,
) {
    let api: Api<Pod> = Api::namespaced(c.clone(), ns);
    tokio::spawn(async move {
        let mut pods: HashMap<String, Pod> = HashMap::new();
        let mut listed = false;
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p)) => {
                    pods.insert(p.name_any(), p);
                }
                Ok(watcher::Event::Delete(p)) => {
                    pods.remove(&p.name_any());
                }
                Ok(watcher::Event::InitDone) => listed = true,
                _ => continue,
            }
            // Judge complete states only, not a half-received initial list.
            if !listed {
                continue;
            }
            let live: Vec<&Pod> = pods
                .values()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let ready = live.iter().filter(|p| is_ready(p)).count();
            if live.len() > max_total {
                if let Ok(mut v) = violations.lock() {
                    v.push(format!("{} pods > {max_total}", live.len()));
                }
            }
            if ready < min_ready {
                if let Ok(mut v) = violations.lock() {
                    v.push(format!("{ready} ready < {min_ready}"));
                }
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_respects_surge_and_unavailability() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "d2").await?;
    let _kubelet = FakeKubelet::spawn(c, "d2", Duration::from_millis(100), cl.cancel.clone());
    let api: Api<Deployment> = Api::namespaced(c.clone(), "d2");
    let extra = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": "25%"}}}});
    api.create(
        &PostParams::default(),
        &deployment("web", 8, "nginx:1", extra)?,
    )
    .await?;
    rolled_out(c, "d2", "web", 30).await?;

    // 8 replicas: surge 2 → at most 10 pods; 25% unavailable → at least 6 ready.
    let violations = Arc::new(Mutex::new(Vec::new()));
    watch_bounds(c, "d2", 10, 6, violations.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_image(c, "d2", "web", "nginx:2").await?;
    let d = rolled_out(c, "d2", "web", 60).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let v = violations.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(v.is_empty(), "bounds violated: {v:?}");

    let rss = replicasets(c, "d2").await?;
    assert_eq!(rss.len(), 2);
    let new = rss
        .iter()
        .find(|r| image_of(r) == "nginx:2")
        .cloned()
        .unwrap_or_default();
    let old = rss
        .iter()
        .find(|r| image_of(r) == "nginx:1")
        .cloned()
        .unwrap_or_default();
    assert_eq!((spec_replicas(&new), spec_replicas(&old)), (8, 0));
    assert_eq!(
        new.annotations().get(REVISION).map(String::as_str),
        Some("2")
    );
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("2"));
    let pods = active_pods(c, "d2").await?;
    assert!(pods
        .iter()
        .all(|p| p.labels().get("pod-template-hash") == new.labels().get("pod-template-hash")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_stops_old_pods_before_starting_new() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "d3").await?;
    let _kubelet = FakeKubelet::spawn(c, "d3", Duration::from_millis(20), cl.cancel.clone());
    let api: Api<Deployment> = Api::namespaced(c.clone(), "d3");
    let extra = json!({"spec": {"strategy": {"type": "Recreate"}}});
    api.create(
        &PostParams::default(),
        &deployment("web", 3, "nginx:1", extra)?,
    )
    .await?;
    let d = rolled_out(c, "d3", "web", 30).await?;
    let old_hash = replicasets(c, "d3").await?[0]
        .labels()
        .get("pod-template-hash")
        .cloned();
    let _ = d;

    let mixed = Arc::new(Mutex::new(false));
    {
        let (pods, mixed) = (Api::<Pod>::namespaced(c.clone(), "d3"), mixed.clone());
        let old_hash = old_hash.clone();
        tokio::spawn(async move {
            let mut live: HashMap<String, Option<String>> = HashMap::new();
            let mut s = watcher(pods, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = s.next().await {
                match ev {
                    Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p)) => {
                        live.insert(p.name_any(), p.labels().get("pod-template-hash").cloned());
                    }
                    Ok(watcher::Event::Delete(p)) => {
                        live.remove(&p.name_any());
                    }
                    _ => continue,
                }
                let has_old = live.values().any(|h| *h == old_hash);
                let has_new = live.values().any(|h| *h != old_hash);
                if has_old && has_new {
                    if let Ok(mut m) = mixed.lock() {
                        *m = true;
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_image(c, "d3", "web", "nginx:2").await?;
    rolled_out(c, "d3", "web", 60).await?;
    assert!(
        !*mixed.lock().map_err(|_| anyhow::anyhow!("poisoned"))?,
        "old and new pods ran together"
    );
    let pods = active_pods(c, "d3").await?;
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|p| p.labels().get("pod-template-hash") != old_hash.as_ref()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_reuses_the_old_replicaset_with_a_new_revision() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "d4").await?;
    let _kubelet = FakeKubelet::spawn(c, "d4", Duration::from_millis(10), cl.cancel.clone());
    let api: Api<Deployment> = Api::namespaced(c.clone(), "d4");
    api.create(
        &PostParams::default(),
        &deployment("web", 2, "nginx:1", json!({}))?,
    )
    .await?;
    rolled_out(c, "d4", "web", 30).await?;
    set_image(c, "d4", "web", "nginx:2").await?;
    rolled_out(c, "d4", "web", 30).await?;
    let rss = replicasets(c, "d4").await?;
    let first = rss
        .iter()
        .find(|r| image_of(r) == "nginx:1")
        .cloned()
        .unwrap_or_default();

    // What `kubectl rollout undo` does: the old ReplicaSet's template, minus the hash label.
    let mut template = serde_json::to_value(first.spec.as_ref().and_then(|s| s.template.clone()))?;
    if let Some(l) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove("pod-template-hash");
    }
    let patch = json!([{"op": "replace", "path": "/spec/template", "value": template}]);
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Json::<()>(serde_json::from_value(patch)?),
    )
    .await?;
    let d = rolled_out(c, "d4", "web", 30).await?;
    // Give the controller a moment: a wrongly created third ReplicaSet would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = replicasets(c, "d4").await?;
    assert_eq!(rss.len(), 2, "no new ReplicaSet for a rollback");
    let back = rss
        .iter()
        .find(|r| r.name_any() == first.name_any())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        back.annotations().get(REVISION).map(String::as_str),
        Some("3")
    );
    assert_eq!(
        back.annotations()
            .get("deployment.kubernetes.io/revision-history")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(spec_replicas(&back), 2);
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("3"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_history_limit_deletes_the_oldest() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "d5").await?;
    let _kubelet = FakeKubelet::spawn(c, "d5", Duration::from_millis(10), cl.cancel.clone());
    let api: Api<Deployment> = Api::namespaced(c.clone(), "d5");
    let extra = json!({"spec": {"revisionHistoryLimit": 1}});
    api.create(
        &PostParams::default(),
        &deployment("web", 1, "img:1", extra)?,
    )
    .await?;
    rolled_out(c, "d5", "web", 30).await?;
    for i in 2..=4 {
        set_image(c, "d5", "web", &format!("img:{i}")).await?;
        rolled_out(c, "d5", "web", 30).await?;
    }
    let rss = wait_for(30, "cleanup", || async {
        let rss = replicasets(c, "d5").await?;
        Ok((rss.len() == 2).then_some(rss))
    })
    .await?;
    let mut images: Vec<String> = rss.iter().map(image_of).collect();
    images.sort();
    assert_eq!(images, vec!["img:3".to_string(), "img:4".to_string()]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_the_rollout_and_resume_continues_it() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "d6").await?;
    let _kubelet = FakeKubelet::spawn(c, "d6", Duration::from_millis(10), cl.cancel.clone());
    let api: Api<Deployment> = Api::namespaced(c.clone(), "d6");
    api.create(
        &PostParams::default(),
        &deployment("web", 2, "nginx:1", json!({}))?,
    )
    .await?;
    rolled_out(c, "d6", "web", 30).await?;
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"paused": true}})),
    )
    .await?;
    wait_for(30, "DeploymentPaused", || async {
        let d = api.get("web").await?;
        Ok(condition(&d, "Progressing")
            .filter(|c| {
                c.0 == "Unknown" && c.1 == "DeploymentPaused" && c.2 == "Deployment is paused"
            })
            .map(|_| ()))
    })
    .await?;
    set_image(c, "d6", "web", "nginx:2").await?;
    // kubectl rollout restart while paused: also only a template change.
    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}}}}});
    api.patch("web", &PatchParams::default(), &Patch::Strategic(&restart))
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        replicasets(c, "d6").await?.len(),
        1,
        "paused: no new ReplicaSet"
    );

    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"paused": false}})),
    )
    .await?;
    rolled_out(c, "d6", "web", 30).await?;
    let rss = replicasets(c, "d6").await?;
    assert_eq!(rss.len(), 2);
    let new = rss
        .iter()
        .find(|r| spec_replicas(r) == 2)
        .cloned()
        .unwrap_or_default();
    assert_eq!(image_of(&new), "nginx:2");
    let ann = new
        .spec
        .and_then(|s| s.template)
        .and_then(|t| t.metadata)
        .and_then(|m| m.annotations);
    assert!(ann
        .unwrap_or_default()
        .contains_key("kubectl.kubernetes.io/restartedAt"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_deadline_exceeded_when_pods_never_become_ready() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "d7").await?;
    let api: Api<Deployment> = Api::namespaced(c.clone(), "d7");
    let extra = json!({"spec": {"progressDeadlineSeconds": 2}});
    api.create(
        &PostParams::default(),
        &deployment("web", 2, "nginx:1", extra)?,
    )
    .await?;
    let d = wait_for(30, "ProgressDeadlineExceeded", || async {
        let d = api.get("web").await?;
        Ok(condition(&d, "Progressing")
            .filter(|c| c.0 == "False")
            .map(|_| d))
    })
    .await?;
    let (_, reason, message) = condition(&d, "Progressing").unwrap_or_default();
    assert_eq!(reason, "ProgressDeadlineExceeded");
    let rs = replicasets(c, "d7").await?.pop().unwrap_or_default();
    assert_eq!(
        message,
        format!(
            "ReplicaSet \"{}\" has timed out progressing.",
            rs.name_any()
        )
    );
    assert_eq!(
        condition(&d, "Available").map(|c| (c.0, c.1)),
        Some(("False".into(), "MinimumReplicasUnavailable".into()))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_mid_rollout_is_proportional() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "d8").await?;
    let kubelet = FakeKubelet::spawn(c, "d8", Duration::from_millis(10), cl.cancel.clone());
    let api: Api<Deployment> = Api::namespaced(c.clone(), "d8");
    let extra =
        json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}}});
    api.create(
        &PostParams::default(),
        &deployment("web", 10, "nginx:1", extra)?,
    )
    .await?;
    rolled_out(c, "d8", "web", 30).await?;
    // New pods never become ready: the rollout stalls with old 8, new 5.
    kubelet.pause();
    set_image(c, "d8", "web", "nginx:2").await?;
    wait_for(30, "stalled rollout", || async {
        let rss = replicasets(c, "d8").await?;
        let sizes: Vec<(String, i32)> = rss
            .iter()
            .map(|r| (image_of(r), spec_replicas(r)))
            .collect();
        Ok(
            (sizes.contains(&("nginx:1".into(), 8)) && sizes.contains(&("nginx:2".into(), 5)))
                .then_some(()),
        )
    })
    .await?;
    // Scale 10 → 20: 13 replicas become 23, shared in proportion (8 → 14, 5 → 9).
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 20}})),
    )
    .await?;
    wait_for(30, "proportional scaling", || async {
        let rss = replicasets(c, "d8").await?;
        let sizes: Vec<(String, i32)> = rss
            .iter()
            .map(|r| (image_of(r), spec_replicas(r)))
            .collect();
        Ok(
            (sizes.contains(&("nginx:1".into(), 14)) && sizes.contains(&("nginx:2".into(), 9)))
                .then_some(()),
        )
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_ready_seconds_delays_availability() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "dmin").await?;
    let _kubelet = FakeKubelet::spawn(c, "dmin", Duration::from_millis(10), cl.cancel.clone());
    let api: Api<Deployment> = Api::namespaced(c.clone(), "dmin");
    api.create(
        &PostParams::default(),
        &deployment(
            "slow",
            2,
            "nginx:1",
            json!({"spec": {"minReadySeconds": 5}}),
        )?,
    )
    .await?;
    // The ReplicaSet carries the Deployment's minReadySeconds.
    let rs = wait_for(10, "the ReplicaSet", || async {
        Ok(replicasets(c, "dmin").await?.into_iter().next())
    })
    .await?;
    assert_eq!(rs.spec.as_ref().and_then(|s| s.min_ready_seconds), Some(5));

    // Both pods Ready: counted as ready at once, but not yet available.
    let d = wait_for(10, "2 ready replicas", || async {
        let d = api.get("slow").await?;
        let ready = d.status.as_ref().and_then(|s| s.ready_replicas);
        Ok((ready == Some(2)).then_some(d))
    })
    .await?;
    let st = d.status.clone().unwrap_or_default();
    assert_eq!(st.available_replicas.unwrap_or(0), 0, "{st:?}");
    assert_eq!(st.unavailable_replicas, Some(2));
    assert_eq!(
        condition(&d, "Available").map(|c| (c.0, c.1)),
        Some(("False".into(), "MinimumReplicasUnavailable".into()))
    );
    let rs: ReplicaSet = Api::namespaced(c.clone(), "dmin")
        .get(&rs.name_any())
        .await?;
    let rs_status = rs.status.unwrap_or_default();
    assert_eq!(rs_status.ready_replicas, Some(2));
    assert_eq!(rs_status.available_replicas.unwrap_or(0), 0);

    // Available minReadySeconds after becoming Ready, without any other change. Measured
    // on the objects' own timestamps (whole seconds), not on when the test saw them.
    let d = rolled_out(c, "dmin", "slow", 20).await?;
    assert_eq!(condition(&d, "Available").map(|c| c.0), Some("True".into()));
    let available_at = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Available"))
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0.as_second())
        .unwrap_or(0);
    let pods: Api<Pod> = Api::namespaced(c.clone(), "dmin");
    let ready_at = pods
        .list(&Default::default())
        .await?
        .items
        .iter()
        .filter_map(|p| {
            let conds = p.status.as_ref()?.conditions.as_ref()?;
            let ready = conds.iter().find(|c| c.type_ == "Ready")?;
            Some(ready.last_transition_time.as_ref()?.0.as_second())
        })
        .max()
        .unwrap_or(i64::MAX);
    assert!(
        available_at - ready_at >= 4,
        "available at {available_at}, ready at {ready_at}"
    );
    Ok(())
}

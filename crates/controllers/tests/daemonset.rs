//! The DaemonSet controller against a real API server with three Node objects (one tainted).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;

fn pinned_node(p: &Pod) -> Option<String> {
    let terms = &p
        .spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let f = terms.first()?.match_fields.as_ref()?.first()?;
    (f.key == "metadata.name")
        .then(|| f.values.as_ref()?.first().cloned())
        .flatten()
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .map(|s| s.containers[0].image.clone().unwrap_or_default())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pod_per_eligible_node_and_rolling_update() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    namespace(c, "ds1").await?;
    node(c, "n1", json!([])).await?;
    // Cordoned: tolerated by the DaemonSet's automatic tolerations.
    node(
        c,
        "n2",
        json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
    )
    .await?;
    node(
        c,
        "n3",
        json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    )
    .await?;
    let _kubelet = FakeKubelet::spawn(c, "ds1", Duration::from_millis(100), cl.cancel.clone());
    let api: Api<DaemonSet> = Api::namespaced(c.clone(), "ds1");
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "agent:1"}]}}
        }
    }))?;
    api.create(&PostParams::default(), &ds).await?;
    let pods = wait_for(30, "2 daemon pods", || async {
        let ps = active_pods(c, "ds1").await?;
        Ok((ps.len() == 2).then_some(ps))
    })
    .await?;
    let nodes: BTreeSet<String> = pods.iter().filter_map(pinned_node).collect();
    assert_eq!(nodes, ["n1".to_string(), "n2".to_string()].into());
    let p = &pods[0];
    assert!(p.name_any().starts_with("agent-"));
    assert!(p.labels().contains_key("controller-revision-hash"));
    let tolerations = p
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/unschedulable",
    ] {
        assert!(
            tolerations.iter().any(|t| t.key.as_deref() == Some(key)),
            "missing toleration {key}"
        );
    }
    let st = wait_for(30, "status", || async {
        let st = api.get("agent").await?.status.unwrap_or_default();
        Ok((st.number_ready == 2 && st.number_available == Some(2)).then_some(st))
    })
    .await?;
    assert_eq!(
        (
            st.desired_number_scheduled,
            st.current_number_scheduled,
            st.number_misscheduled
        ),
        (2, 2, 0)
    );
    assert_eq!(st.updated_number_scheduled, Some(2));
    let revs: Api<ControllerRevision> = Api::namespaced(c.clone(), "ds1");
    assert_eq!(revs.list(&ListParams::default()).await?.items.len(), 1);

    // Roll to a new image: one node at a time (maxUnavailable 1), ending with both updated.
    api.patch("agent", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "agent:2"}]}}}})))
        .await?;
    let seen = &std::sync::atomic::AtomicUsize::new(0);
    wait_for(60, "rolled out", || async {
        let ps = active_pods(c, "ds1").await?;
        let ready_old = ps
            .iter()
            .filter(|p| is_ready(p) && image(p) == "agent:1")
            .count();
        let ready_new = ps
            .iter()
            .filter(|p| is_ready(p) && image(p) == "agent:2")
            .count();
        seen.fetch_max(
            2 - (ready_old + ready_new).min(2),
            std::sync::atomic::Ordering::SeqCst,
        );
        let st = api.get("agent").await?.status.unwrap_or_default();
        Ok((ready_new == 2
            && ps.len() == 2
            && st.updated_number_scheduled == Some(2)
            && st.number_available == Some(2))
        .then_some(()))
    })
    .await?;
    assert!(
        seen.load(std::sync::atomic::Ordering::SeqCst) <= 1,
        "more than one node unavailable during the update"
    );
    assert_eq!(revs.list(&ListParams::default()).await?.items.len(), 2);

    // Untainting n3 adds a pod there.
    let nodes_api: Api<k8s_openapi::api::core::v1::Node> = Api::all(c.clone());
    nodes_api
        .patch(
            "n3",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"taints": null}})),
        )
        .await?;
    wait_for(30, "pod on n3", || async {
        let ps = active_pods(c, "ds1").await?;
        Ok(ps
            .iter()
            .any(|p| pinned_node(p).as_deref() == Some("n3"))
            .then_some(()))
    })
    .await?;
    Ok(())
}

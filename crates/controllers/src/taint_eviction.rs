//! Taint-based eviction (upstream's `pkg/controller/tainteviction`): a pod on a node with a
//! NoExecute taint it does not tolerate is deleted at once; one that tolerates every such
//! taint for a limited `tolerationSeconds` is deleted when that time has passed, counted from
//! the taint's `timeAdded` (so a restarted or newly elected manager keeps the deadline).
//! Before deleting, the pod gets a `DisruptionTarget` condition, as upstream does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::daemonset::eligibility::tolerates;
use crate::events::{object_ref, Recorder};
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{meta_key, split_key};

const COMPONENT: &str = "taint-eviction-controller";
const WORKERS: usize = 4;

/// What to do with a pod given its node's NoExecute taints.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Tolerated for ever (or no NoExecute taints).
    Keep,
    /// Delete now.
    Evict,
    /// Delete at this time unless the taints go away first.
    EvictAt(Timestamp),
}

fn no_execute(node: &Node) -> Vec<&Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|t| t.iter().filter(|t| t.effect == "NoExecute").collect())
        .unwrap_or_default()
}

/// Decides for one pod. A taint tolerated by several tolerations counts the shortest
/// `tolerationSeconds` (none = for ever, negative = zero), as upstream's
/// `getMinTolerationTime`; `first_seen` stands in for a taint without `timeAdded`.
pub fn verdict(
    tolerations: &[Toleration],
    taints: &[&Taint],
    first_seen: impl Fn(&Taint) -> Timestamp,
    now: Timestamp,
) -> Verdict {
    let mut deadline: Option<Timestamp> = None;
    for taint in taints {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Verdict::Evict;
        }
        let Some(secs) = matching
            .iter()
            .map(|t| t.toleration_seconds)
            .try_fold(i64::MAX, |min, s| s.map(|s| min.min(s.max(0))))
        else {
            // Some toleration has no limit: this taint is tolerated for ever.
            continue;
        };
        let start = taint
            .time_added
            .as_ref()
            .map_or_else(|| first_seen(taint), |t| t.0);
        let at = start
            .checked_add(SignedDuration::from_secs(secs))
            .unwrap_or(Timestamp::MAX);
        deadline = Some(deadline.map_or(at, |d| d.min(at)));
    }
    match deadline {
        None => Verdict::Keep,
        Some(at) if at <= now => Verdict::Evict,
        Some(at) => Verdict::EvictAt(at),
    }
}

pub struct TaintEvictionController {
    client: Client,
    nodes: Arc<Cache<Node>>,
    pods: Arc<Cache<Pod>>,
    queue: Arc<WorkQueue>,
    /// When a taint without `timeAdded` was first seen, by node/key.
    first_seen: Mutex<HashMap<String, Timestamp>>,
    recorder: Recorder,
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

impl TaintEvictionController {
    pub fn new(
        client: Client,
        nodes: &mut Informer<Node>,
        pods: &mut Informer<Pod>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(TaintEvictionController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            nodes: nodes.cache(),
            pods: pods.cache(),
            queue: WorkQueue::new(cancel),
            first_seen: Mutex::new(HashMap::new()),
        });
        let q = this.queue.clone();
        pods.on(Box::new(move |_old, new| {
            if let Some(p) = new.filter(|p| node_of(p).is_some()) {
                q.add(meta_key(&p.metadata));
            }
        }));
        let (q, pod_cache) = (this.queue.clone(), this.pods.clone());
        nodes.on(Box::new(move |old, new| {
            let Some(n) = new else { return };
            let before = old.map(no_execute).unwrap_or_default();
            let after = no_execute(n);
            if before == after {
                return;
            }
            let name = n.name_any();
            for p in pod_cache.list_all() {
                if node_of(&p) == Some(name.as_str()) {
                    q.add(meta_key(&p.metadata));
                }
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async { self.nodes.wait_synced().await; self.pods.wait_synced().await } => {}
            _ = cancel.cancelled() => return,
        }
        info!("taint eviction controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "taint-eviction", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    fn first_seen(&self, node: &str, taint: &Taint, now: Timestamp) -> Timestamp {
        let key = format!("{node}/{}", taint.key);
        *self
            .first_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(now)
    }

    async fn sync(&self, key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(key);
        let Some(pod) = self.pods.get(ns, name) else {
            return Ok(());
        };
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let Some(node) = node_of(&pod).and_then(|n| self.nodes.get("", n)) else {
            return Ok(());
        };
        let taints = no_execute(&node);
        if taints.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.clone())
            .unwrap_or_default();
        let node_name = node.name_any();
        match verdict(
            &tolerations,
            &taints,
            |t| self.first_seen(&node_name, t, now),
            now,
        ) {
            Verdict::Keep => Ok(()),
            Verdict::EvictAt(at) => {
                let wait = at.duration_since(now).unsigned_abs();
                debug!(pod = %key, node = %node_name, ?wait, "eviction scheduled");
                self.queue
                    .add_after(key.to_string(), wait + Duration::from_millis(100));
                Ok(())
            }
            Verdict::Evict => self.evict(&pod).await,
        }
    }

    async fn evict(&self, pod: &Pod) -> anyhow::Result<()> {
        let (ns, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
        self.recorder.normal(
            object_ref("v1", "Pod", &pod.metadata),
            "TaintManagerEviction",
            format!("Marking for deletion Pod {ns}/{name}"),
        );
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": crate::util::now(),
        }]}});
        if let Err(e) = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Strategic(&condition),
            )
            .await
        {
            if crate::util::is_not_found(&e) {
                return Ok(());
            }
            // The condition only informs; the eviction itself must still happen.
            warn!(pod = %format!("{ns}/{name}"), error = %e, "could not add DisruptionTarget condition");
        }
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                info!(pod = %format!("{ns}/{name}"), "evicted pod from tainted node");
                Ok(())
            }
            Err(e) if crate::util::is_not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting pod {ns}/{name}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn taint(key: &str, added: Option<i64>) -> Taint {
        Taint {
            key: key.into(),
            effect: "NoExecute".into(),
            time_added: added.map(|s| Time(at(s))),
            value: None,
        }
    }

    fn tol(key: &str, secs: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: secs,
            value: None,
        }
    }

    const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

    #[test]
    fn untolerated_taint_evicts_now() {
        let t = taint(UNREACHABLE, Some(0));
        assert_eq!(verdict(&[], &[&t], |_| at(0), at(1)), Verdict::Evict);
        // A toleration for another key does not help.
        let other = tol("dedicated", None);
        assert_eq!(verdict(&[other], &[&t], |_| at(0), at(1)), Verdict::Evict);
    }

    #[test]
    fn toleration_seconds_count_from_time_added() {
        let t = taint(UNREACHABLE, Some(10));
        let tols = [tol(UNREACHABLE, Some(300))];
        assert_eq!(
            verdict(&tols, &[&t], |_| at(999), at(20)),
            Verdict::EvictAt(at(310))
        );
        assert_eq!(verdict(&tols, &[&t], |_| at(999), at(310)), Verdict::Evict);
        // Several matching tolerations: the shortest wins; negative means zero.
        let tols = [tol(UNREACHABLE, Some(300)), tol(UNREACHABLE, Some(-5))];
        assert_eq!(verdict(&tols, &[&t], |_| at(0), at(11)), Verdict::Evict);
        // Without timeAdded the first sighting counts.
        let bare = taint(UNREACHABLE, None);
        let tols = [tol(UNREACHABLE, Some(60))];
        assert_eq!(
            verdict(&tols, &[&bare], |_| at(100), at(100)),
            Verdict::EvictAt(at(160))
        );
    }

    #[test]
    fn unlimited_toleration_keeps_pod() {
        let t = taint(UNREACHABLE, Some(0));
        let tols = [tol(UNREACHABLE, None), tol(UNREACHABLE, Some(5))];
        assert_eq!(verdict(&tols, &[&t], |_| at(0), at(1000)), Verdict::Keep);
        // An empty key with Exists tolerates everything.
        let all = Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert_eq!(verdict(&[all], &[&t], |_| at(0), at(1000)), Verdict::Keep);
        assert_eq!(verdict(&[], &[], |_| at(0), at(0)), Verdict::Keep);
    }

    #[test]
    fn earliest_deadline_over_several_taints() {
        let a = taint(UNREACHABLE, Some(0));
        let b = taint("node.kubernetes.io/not-ready", Some(50));
        let tols = [
            tol(UNREACHABLE, Some(100)),
            tol("node.kubernetes.io/not-ready", Some(10)),
        ];
        assert_eq!(
            verdict(&tols, &[&a, &b], |_| at(0), at(1)),
            Verdict::EvictAt(at(60))
        );
    }
}

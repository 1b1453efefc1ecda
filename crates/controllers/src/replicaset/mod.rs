//! The ReplicaSet controller (upstream's `pkg/controller/replicaset`): keeps
//! `spec.replicas` active pods made from `spec.template`, replacing deleted and finished
//! ones, deleting the least valuable pods first on scale-down ([`crate::pod_order`]),
//! adopting matching orphans and releasing pods its selector no longer matches, and
//! reporting replicas / fullyLabeledReplicas / readyReplicas / availableReplicas /
//! observedGeneration and a `ReplicaFailure` condition when creates or deletes fail.
//!
//! Creates are issued in slow-start batches (1, 2, 4, …) of at most [`BURST_REPLICAS`] per
//! sync, so a failing create (quota, admission) costs one request rather than hundreds; and
//! expectations keep a sync from running again before the cache has seen its own writes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

mod status;

pub use status::calculate_status;
use status::update_status;

use crate::claim::{claim, owner_valid, Owner};
use crate::events::{object_ref, Recorder};
use crate::expectations::Expectations;
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{
    controller_of, controller_ref, error_message, is_not_found, is_pod_active, is_pod_ready,
    meta_key, split_key, Selector,
};

/// Most pods created or deleted in one sync (upstream's `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;
const WORKERS: usize = 5;
const COMPONENT: &str = "replicaset-controller";

pub struct ReplicaSetController {
    client: Client,
    replicasets: Arc<Cache<ReplicaSet>>,
    pods: Arc<Cache<Pod>>,
    queue: Arc<WorkQueue>,
    expectations: Arc<Expectations>,
    recorder: Recorder,
}

/// Resolves a pod's controller reference to a cached ReplicaSet (same name and uid).
fn owning_rs(replicasets: &Cache<ReplicaSet>, pod: &Pod) -> Option<Arc<ReplicaSet>> {
    let r = controller_of(&pod.metadata)?;
    if r.kind != "ReplicaSet" {
        return None;
    }
    let rs = replicasets.get(
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        &r.name,
    )?;
    (rs.metadata.uid.as_deref() == Some(r.uid.as_str())).then_some(rs)
}

/// Keys of the ReplicaSets whose selector matches an orphan pod (they may adopt it).
fn matching_rs_keys(replicasets: &Cache<ReplicaSet>, pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    replicasets
        .list(ns)
        .iter()
        .filter(|rs| {
            crate::util::selects(
                rs.spec.as_ref().map(|s| &s.selector),
                pod.metadata.labels.as_ref(),
            )
        })
        .map(|rs| meta_key(&rs.metadata))
        .collect()
}

fn pod_key(p: &Pod) -> String {
    meta_key(&p.metadata)
}

impl ReplicaSetController {
    /// Registers the controller's handlers on the shared informers.
    pub fn new(
        client: Client,
        rs_informer: &mut Informer<ReplicaSet>,
        pod_informer: &mut Informer<Pod>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(ReplicaSetController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            replicasets: rs_informer.cache(),
            pods: pod_informer.cache(),
            queue: WorkQueue::new(cancel),
            expectations: Arc::new(Expectations::default()),
        });
        let (q, exp) = (this.queue.clone(), this.expectations.clone());
        rs_informer.on(Box::new(move |_old, new| match new {
            Some(rs) => q.add(meta_key(&rs.metadata)),
            None => {
                // Deleted: drop its expectations; the sync finds it gone.
                if let Some(rs) = _old {
                    exp.delete(&meta_key(&rs.metadata));
                    q.add(meta_key(&rs.metadata));
                }
            }
        }));
        let weak = Arc::downgrade(&this);
        pod_informer.on(Box::new(move |old, new| {
            if let Some(c) = weak.upgrade() {
                c.on_pod(old, new);
            }
        }));
        this
    }

    fn on_pod(self: &Arc<Self>, old: Option<&Pod>, new: Option<&Pod>) {
        match (old, new) {
            (None, Some(pod)) => {
                if pod.metadata.deletion_timestamp.is_some() {
                    return self.pod_gone(pod);
                }
                if let Some(rs) = owning_rs(&self.replicasets, pod) {
                    let k = meta_key(&rs.metadata);
                    self.expectations.creation_observed(&k);
                    self.queue.add(k);
                } else if controller_of(&pod.metadata).is_none() {
                    for k in matching_rs_keys(&self.replicasets, pod) {
                        self.queue.add(k);
                    }
                }
            }
            (Some(old), Some(cur)) => self.pod_updated(old, cur),
            (Some(pod), None) => self.pod_gone(pod),
            (None, None) => {}
        }
    }

    fn pod_updated(self: &Arc<Self>, old: &Pod, cur: &Pod) {
        if old.metadata.resource_version == cur.metadata.resource_version {
            return;
        }
        let labels_changed = old.metadata.labels != cur.metadata.labels;
        if cur.metadata.deletion_timestamp.is_some() {
            // A terminating pod no longer counts: treat it as deleted now.
            self.pod_gone(cur);
            if labels_changed {
                self.pod_gone(old);
            }
            return;
        }
        let old_ref = controller_of(&old.metadata);
        let cur_ref = controller_of(&cur.metadata);
        let ref_changed = old_ref.map(|r| &r.uid) != cur_ref.map(|r| &r.uid);
        if ref_changed && old_ref.is_some() {
            if let Some(rs) = owning_rs(&self.replicasets, old) {
                self.queue.add(meta_key(&rs.metadata));
            }
        }
        if cur_ref.is_some() {
            if let Some(rs) = owning_rs(&self.replicasets, cur) {
                let k = meta_key(&rs.metadata);
                let min_ready = rs
                    .spec
                    .as_ref()
                    .and_then(|s| s.min_ready_seconds)
                    .unwrap_or(0);
                if !is_pod_ready(old) && is_pod_ready(cur) && min_ready > 0 {
                    // Becomes available minReadySeconds from now: look again then.
                    self.queue.add_after(
                        k.clone(),
                        Duration::from_secs(min_ready as u64) + Duration::from_secs(1),
                    );
                }
                self.queue.add(k);
            }
            return;
        }
        if labels_changed || ref_changed {
            for k in matching_rs_keys(&self.replicasets, cur) {
                self.queue.add(k);
            }
        }
    }

    fn pod_gone(self: &Arc<Self>, pod: &Pod) {
        if let Some(rs) = owning_rs(&self.replicasets, pod) {
            let k = meta_key(&rs.metadata);
            self.expectations.deletion_observed(&k, &pod_key(pod));
            self.queue.add(k);
        }
    }

    /// Runs the workers until `cancel` fires (after the caches have synced).
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async { self.replicasets.wait_synced().await; self.pods.wait_synced().await } => {}
            _ = cancel.cancelled() => return,
        }
        info!("replicaset controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "replicaset", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    /// Converges one ReplicaSet (idempotent; everything is read from the caches).
    pub async fn sync(self: &Arc<Self>, rs_key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(rs_key);
        let Some(rs) = self.replicasets.get(ns, name) else {
            self.expectations.delete(rs_key);
            return Ok(());
        };
        let spec = rs.spec.clone().unwrap_or_default();
        let selector = match Selector::parse(&spec.selector) {
            Ok(s) => s,
            Err(e) => {
                // Validation forbids this; retrying cannot help.
                warn!(replicaset = %rs_key, error = %e, "invalid selector");
                return Ok(());
            }
        };
        let needs_sync = self.expectations.satisfied(rs_key);
        let active: Vec<Arc<Pod>> = self
            .pods
            .list(ns)
            .into_iter()
            .filter(|p| is_pod_active(p))
            .collect();
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let rs_api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let owner = Owner {
            api_version: "apps/v1",
            kind: "ReplicaSet",
            meta: &rs.metadata,
            selector: &selector,
        };
        let (owned, claim_err) = claim(&pods_api, &owner, active, || {
            owner_valid(&rs_api, &rs.metadata)
        })
        .await;
        let mut manage_err = None;
        if needs_sync && rs.metadata.deletion_timestamp.is_none() {
            manage_err = self
                .manage_replicas(&owned, &rs, rs_key, &pods_api)
                .await
                .err();
        }
        let status = calculate_status(&rs, &owned, manage_err.as_ref(), jiff::Timestamp::now());
        let updated = update_status(&rs_api, &rs, status).await?;
        let replicas = spec.replicas.unwrap_or(1);
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        if manage_err.is_none() && min_ready > 0 {
            let st = updated.status.unwrap_or_default();
            if st.ready_replicas.unwrap_or(0) == replicas
                && st.available_replicas.unwrap_or(0) != replicas
            {
                self.queue
                    .add_after(rs_key.to_string(), Duration::from_secs(min_ready as u64));
            }
        }
        if let Some(e) = manage_err {
            return Err(e);
        }
        if let Some(e) = claim_err {
            return Err(anyhow!(e).context("claiming pods"));
        }
        Ok(())
    }

    async fn manage_replicas(
        self: &Arc<Self>,
        owned: &[Arc<Pod>],
        rs: &ReplicaSet,
        rs_key: &str,
        pods_api: &Api<Pod>,
    ) -> anyhow::Result<()> {
        let want = rs
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0) as usize;
        let have = owned.len();
        if have < want {
            let n = (want - have).min(BURST_REPLICAS);
            self.expectations.expect_creations(rs_key, n);
            debug!(replicaset = %rs_key, want, have, creating = n, "too few replicas");
            let template = pod_from_template(rs);
            let (created, err) = slow_start_batch(n, 1, |_| {
                let (c, pod, api) = (self.clone(), template.clone(), pods_api.clone());
                async move { c.create_pod(&api, rs, pod).await }
            })
            .await;
            for _ in created..n {
                // These creations will never be observed.
                self.expectations.creation_observed(rs_key);
            }
            return match err {
                Some(e) => Err(anyhow!(e).context("creating pods")),
                None => Ok(()),
            };
        }
        if have > want {
            let n = (have - want).min(BURST_REPLICAS);
            let related = self.related_pods(rs);
            let victims =
                crate::pod_order::pods_to_delete(owned, &related, n, jiff::Timestamp::now());
            self.expectations
                .expect_deletions(rs_key, victims.iter().map(|p| pod_key(p)));
            debug!(replicaset = %rs_key, want, have, deleting = n, "too many replicas");
            let results = join_all(victims.iter().map(|p| self.delete_pod(pods_api, rs, p))).await;
            let mut first = None;
            for (p, r) in victims.iter().zip(results) {
                if let Err(e) = r {
                    self.expectations.deletion_observed(rs_key, &pod_key(p));
                    if !is_not_found(&e) {
                        first.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first {
                return Err(anyhow!(e).context("deleting pods"));
            }
        }
        Ok(())
    }

    /// Active pods of every ReplicaSet controlled by the same owner as `rs` (for the
    /// "doubled up on a node" rank), or just `rs`'s own.
    fn related_pods(&self, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
        let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
        let mut uids: Vec<String> = rs.metadata.uid.iter().cloned().collect();
        if let Some(owner) = controller_of(&rs.metadata) {
            uids = self
                .replicasets
                .list(ns)
                .iter()
                .filter(|o| controller_of(&o.metadata).is_some_and(|r| r.uid == owner.uid))
                .filter_map(|o| o.metadata.uid.clone())
                .collect();
        }
        self.pods
            .list(ns)
            .into_iter()
            .filter(|p| controller_of(&p.metadata).is_some_and(|r| uids.contains(&r.uid)))
            .collect()
    }

    async fn create_pod(
        &self,
        api: &Api<Pod>,
        rs: &ReplicaSet,
        pod: Pod,
    ) -> Result<(), kube::Error> {
        let rs_ref = object_ref("apps/v1", "ReplicaSet", &rs.metadata);
        match api.create(&PostParams::default(), &pod).await {
            Ok(p) => {
                self.recorder.normal(
                    rs_ref,
                    "SuccessfulCreate",
                    format!("Created pod: {}", p.name_any()),
                );
                Ok(())
            }
            Err(e) => {
                let msg = error_message(&e);
                // Creating in a terminating namespace fails until it is gone: not an error.
                if msg.contains("because it is being terminated") {
                    return Ok(());
                }
                self.recorder
                    .warning(rs_ref, "FailedCreate", format!("Error creating: {msg}"));
                Err(e)
            }
        }
    }

    async fn delete_pod(
        &self,
        api: &Api<Pod>,
        rs: &ReplicaSet,
        pod: &Pod,
    ) -> Result<(), kube::Error> {
        let rs_ref = object_ref("apps/v1", "ReplicaSet", &rs.metadata);
        let name = pod.name_any();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                self.recorder
                    .normal(rs_ref, "SuccessfulDelete", format!("Deleted pod: {name}"));
                Ok(())
            }
            Err(e) if is_not_found(&e) => Err(e),
            Err(e) => {
                self.recorder.warning(
                    rs_ref,
                    "FailedDelete",
                    format!("Error deleting: {}", error_message(&e)),
                );
                Err(e)
            }
        }
    }
}

/// The pod a ReplicaSet creates: its template's labels, annotations, finalizers and spec,
/// `generateName: <rs>-`, and a controller reference to it.
pub fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let tm = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.name_any())),
            namespace: rs.metadata.namespace.clone(),
            labels: tm.labels,
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: Some(vec![controller_ref("apps/v1", "ReplicaSet", &rs.metadata)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Runs `count` calls of `f` in batches of 1, 2, 4, … (capped by what remains), stopping
/// after the first batch with an error. Returns how many succeeded and the first error.
pub async fn slow_start_batch<F, Fut, E>(count: usize, initial: usize, f: F) -> (usize, Option<E>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let mut remaining = count;
    let mut successes = 0;
    let mut size = initial.min(remaining);
    let mut index = 0;
    while size > 0 {
        let results = join_all((index..index + size).map(&f)).await;
        index += size;
        let mut first = None;
        for r in results {
            match r {
                Ok(()) => successes += 1,
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        if first.is_some() {
            return (successes, first);
        }
        remaining -= size;
        size = (2 * size).min(remaining);
    }
    (successes, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn slow_start_doubles_and_stops_on_error() {
        let calls = AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(10, 1, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), ()>(()) }
        })
        .await;
        assert_eq!((ok, err), (10, None));
        assert_eq!(calls.load(Ordering::SeqCst), 10);

        // Batches 1, 2, 4: the error in the third batch (index 5) stops after it.
        let calls = AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(20, 1, |i| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if i == 5 {
                    Err("quota")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(ok, 6);
        assert_eq!(err, Some("quota"));
        assert_eq!(calls.load(Ordering::SeqCst), 7);
    }
}

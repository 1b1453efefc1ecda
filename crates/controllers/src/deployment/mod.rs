//! The Deployment controller (upstream's `pkg/controller/deployment`): a Deployment owns
//! one ReplicaSet per pod template it has had, named `<deployment>-<pod-template-hash>`;
//! the ReplicaSet of the current template is the "new" one, the rest are "old". Each sync:
//!
//! * claims ReplicaSets (adopts matching orphans, releases ones no longer matching),
//! * if the Deployment is being deleted, only reports status;
//! * if paused or merely rescaled, scales the ReplicaSets proportionally ([`sync`]);
//! * otherwise rolls out: RollingUpdate within maxSurge/maxUnavailable, or Recreate
//!   ([`rolling`]), cleans up old ReplicaSets beyond revisionHistoryLimit once complete, and
//!   reports status and conditions ([`progress`]).
//!
//! A rollback (`kubectl rollout undo`) is just the Deployment's template set back to an old
//! ReplicaSet's: that ReplicaSet is then found as the new one and its revision raised.

mod progress;
mod rolling;
mod sync;
pub mod util;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::Client;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::claim::{claim, owner_valid, Owner};
use crate::events::{object_ref, Recorder};
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{controller_of, meta_key, selects, split_key, Selector};
use util::Rs;

const WORKERS: usize = 5;
const COMPONENT: &str = "deployment-controller";

pub struct DeploymentController {
    client: Client,
    deployments: Arc<Cache<Deployment>>,
    replicasets: Arc<Cache<ReplicaSet>>,
    pods: Arc<Cache<Pod>>,
    queue: Arc<WorkQueue>,
    recorder: Recorder,
}

/// The Deployment a ReplicaSet's controller reference points at (same name and uid).
fn owning_deployment(deployments: &Cache<Deployment>, rs: &ReplicaSet) -> Option<Arc<Deployment>> {
    let r = controller_of(&rs.metadata)?;
    if r.kind != "Deployment" {
        return None;
    }
    let d = deployments.get(
        rs.metadata.namespace.as_deref().unwrap_or_default(),
        &r.name,
    )?;
    (d.metadata.uid.as_deref() == Some(r.uid.as_str())).then_some(d)
}

impl DeploymentController {
    pub fn new(
        client: Client,
        d_informer: &mut Informer<Deployment>,
        rs_informer: &mut Informer<ReplicaSet>,
        pod_informer: &mut Informer<Pod>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(DeploymentController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            deployments: d_informer.cache(),
            replicasets: rs_informer.cache(),
            pods: pod_informer.cache(),
            queue: WorkQueue::new(cancel),
        });
        let q = this.queue.clone();
        d_informer.on(Box::new(move |old, new| {
            if let Some(d) = new.or(old) {
                q.add(meta_key(&d.metadata));
            }
        }));
        let weak = Arc::downgrade(&this);
        rs_informer.on(Box::new(move |old, new| {
            if let Some(c) = weak.upgrade() {
                c.on_replicaset(old, new);
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

    fn enqueue_owner(&self, rs: &ReplicaSet) -> bool {
        match owning_deployment(&self.deployments, rs) {
            Some(d) => {
                self.queue.add(meta_key(&d.metadata));
                true
            }
            None => false,
        }
    }

    /// Orphan ReplicaSets wake every Deployment that may adopt them.
    fn enqueue_matching(&self, rs: &ReplicaSet) {
        let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
        for d in self.deployments.list(ns) {
            let sel = d.spec.as_ref().map(|s| &s.selector);
            if selects(sel, rs.metadata.labels.as_ref()) {
                self.queue.add(meta_key(&d.metadata));
            }
        }
    }

    fn on_replicaset(&self, old: Option<&ReplicaSet>, new: Option<&ReplicaSet>) {
        match (old, new) {
            (Some(old), Some(cur)) => {
                if old.metadata.resource_version == cur.metadata.resource_version {
                    return;
                }
                let old_ref = controller_of(&old.metadata).map(|r| r.uid.clone());
                let cur_ref = controller_of(&cur.metadata).map(|r| r.uid.clone());
                if old_ref != cur_ref && old_ref.is_some() {
                    self.enqueue_owner(old);
                }
                if cur_ref.is_some() {
                    self.enqueue_owner(cur);
                } else if old.metadata.labels != cur.metadata.labels || old_ref != cur_ref {
                    self.enqueue_matching(cur);
                }
            }
            (None, Some(rs)) => {
                if controller_of(&rs.metadata).is_some() {
                    self.enqueue_owner(rs);
                } else if rs.metadata.deletion_timestamp.is_none() {
                    self.enqueue_matching(rs);
                }
            }
            (Some(rs), None) => {
                self.enqueue_owner(rs);
            }
            (None, None) => {}
        }
    }

    /// A Recreate rollout waits for the old pods to be gone: their deletion wakes it.
    fn on_pod(&self, old: Option<&Pod>, new: Option<&Pod>) {
        let pod = match (old, new) {
            (Some(p), None) => p,
            (Some(o), Some(n)) if crate::util::pod_phase(o) != crate::util::pod_phase(n) => n,
            _ => return,
        };
        let Some(r) = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet") else {
            return;
        };
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let Some(rs) = self.replicasets.get(ns, &r.name) else {
            return;
        };
        if let Some(d) = owning_deployment(&self.deployments, &rs) {
            if !util::is_rolling(&d) {
                self.queue.add(meta_key(&d.metadata));
            }
        }
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async {
                self.deployments.wait_synced().await;
                self.replicasets.wait_synced().await;
                self.pods.wait_synced().await;
            } => {}
            _ = cancel.cancelled() => return,
        }
        info!("deployment controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "deployment", move |key| {
                let c = this.clone();
                async move { c.sync_deployment(&key).await }
            })
            .await;
    }

    fn d_api(&self, ns: &str) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), ns)
    }

    fn rs_api(&self, ns: &str) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Converges one Deployment (upstream's `syncDeployment`).
    pub async fn sync_deployment(&self, key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(key);
        let Some(cached) = self.deployments.get(ns, name) else {
            debug!(deployment = %key, "deployment gone");
            return Ok(());
        };
        let mut d = (*cached).clone();
        let spec = d.spec.clone().unwrap_or_default();
        let selector = match Selector::parse(&spec.selector) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) | Err(_) => {
                self.recorder.warning(
                    object_ref("apps/v1", "Deployment", &d.metadata),
                    "SelectingAll",
                    "This deployment is selecting all pods. A non-empty selector is required."
                        .into(),
                );
                let st = d.status.clone().unwrap_or_default();
                if st.observed_generation < d.metadata.generation {
                    let mut st = st;
                    st.observed_generation = d.metadata.generation;
                    d.status = Some(st);
                    self.write_status(&mut d).await?;
                }
                return Ok(());
            }
        };
        let rs_list = self.claim_replicasets(&d, &selector).await?;
        if d.metadata.deletion_timestamp.is_some() {
            return self.sync_status_only(&mut d, &rs_list).await;
        }
        self.check_paused_conditions(&mut d).await?;
        if spec.paused == Some(true) {
            return self.sync(&mut d, &rs_list).await;
        }
        if self.is_scaling_event(&mut d, &rs_list).await? {
            return self.sync(&mut d, &rs_list).await;
        }
        if util::is_rolling(&d) {
            self.rollout_rolling(&mut d, &rs_list).await
        } else {
            let pods = self.pods_by_rs(&d, &rs_list);
            self.rollout_recreate(&mut d, &rs_list, &pods).await
        }
    }

    /// The ReplicaSets this Deployment controls after adoption and release.
    async fn claim_replicasets(
        &self,
        d: &Deployment,
        selector: &Selector,
    ) -> anyhow::Result<Vec<Rs>> {
        let ns = d.metadata.namespace.as_deref().unwrap_or_default();
        let candidates = self.replicasets.list(ns);
        let owner = Owner {
            api_version: "apps/v1",
            kind: "Deployment",
            meta: &d.metadata,
            selector,
        };
        let d_api = self.d_api(ns);
        let (owned, err) = claim(&self.rs_api(ns), &owner, candidates, || {
            owner_valid(&d_api, &d.metadata)
        })
        .await;
        if let Some(e) = err {
            warn!(deployment = %meta_key(&d.metadata), error = %e, "claiming replicasets failed");
            return Err(anyhow::anyhow!(e).context("claiming replicasets"));
        }
        Ok(owned)
    }

    /// Active pods of the Deployment's ReplicaSets, by ReplicaSet uid (Recreate waits for the
    /// old ones to be gone).
    fn pods_by_rs(&self, d: &Deployment, rs_list: &[Rs]) -> HashMap<String, Vec<Arc<Pod>>> {
        let ns = d.metadata.namespace.as_deref().unwrap_or_default();
        let uids: Vec<&str> = rs_list
            .iter()
            .filter_map(|r| r.metadata.uid.as_deref())
            .collect();
        let mut out: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
        for p in self.pods.list(ns) {
            if let Some(r) = controller_of(&p.metadata).filter(|r| uids.contains(&r.uid.as_str())) {
                out.entry(r.uid.clone()).or_default().push(p.clone());
            }
        }
        out
    }
}

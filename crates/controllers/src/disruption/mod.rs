//! The disruption controller (upstream's `pkg/controller/disruption`): keeps every
//! PodDisruptionBudget's status current — expected and healthy pods, desired healthy, how
//! many disruptions are allowed, and the `DisruptionAllowed` condition — which the API
//! server's eviction handler reads to refuse evictions that would break the budget.

pub mod budget;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject, GroupVersionKind, PostParams};
use kube::{Client, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::events::{object_ref, Recorder};
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{controller_of, error_message, is_not_found, meta_key, split_key, Selector};

const COMPONENT: &str = "controllermanager";
const WORKERS: usize = 2;

pub struct DisruptionController {
    client: Client,
    pdbs: Arc<Cache<PodDisruptionBudget>>,
    pods: Arc<Cache<Pod>>,
    replicasets: Arc<Cache<ReplicaSet>>,
    deployments: Arc<Cache<Deployment>>,
    statefulsets: Arc<Cache<StatefulSet>>,
    queue: Arc<WorkQueue>,
    recorder: Recorder,
}

/// A budget's pods: policy/v1 selects every pod of the namespace with an empty selector and
/// none without one.
fn selects(pdb: &PodDisruptionBudget, pod: &Pod) -> Result<bool, String> {
    match pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        None => Ok(false),
        Some(sel) => Ok(Selector::parse(sel)?.matches(pod.metadata.labels.as_ref())),
    }
}

fn replicas_changed<K: Resource>(
    old: Option<&K>,
    new: Option<&K>,
    replicas: fn(&K) -> Option<i32>,
) -> bool {
    old.and_then(replicas) != new.and_then(replicas)
}

/// Requeues every budget of the namespace (a controller's scale changed).
fn requeue_namespace(pdbs: &Cache<PodDisruptionBudget>, q: &WorkQueue, ns: &str) {
    for p in pdbs.list(ns) {
        q.add(meta_key(&p.metadata));
    }
}

impl DisruptionController {
    pub fn new(
        client: Client,
        pdbs: &mut Informer<PodDisruptionBudget>,
        pods: &mut Informer<Pod>,
        replicasets: &mut Informer<ReplicaSet>,
        deployments: &mut Informer<Deployment>,
        statefulsets: &mut Informer<StatefulSet>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(DisruptionController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            pdbs: pdbs.cache(),
            pods: pods.cache(),
            replicasets: replicasets.cache(),
            deployments: deployments.cache(),
            statefulsets: statefulsets.cache(),
            queue: WorkQueue::new(cancel),
        });
        let q = this.queue.clone();
        pdbs.on(Box::new(move |old, new| {
            if let Some(p) = new.or(old) {
                q.add(meta_key(&p.metadata));
            }
        }));
        let (q, cache) = (this.queue.clone(), this.pdbs.clone());
        pods.on(Box::new(move |old, new| {
            for pod in [old, new].into_iter().flatten() {
                let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
                for p in cache.list(ns) {
                    if selects(&p, pod).unwrap_or(false) {
                        q.add(meta_key(&p.metadata));
                    }
                }
            }
        }));
        macro_rules! on_scale {
            ($informer:expr, $kind:ty) => {{
                let (q, cache) = (this.queue.clone(), this.pdbs.clone());
                $informer.on(Box::new(move |old: Option<&$kind>, new: Option<&$kind>| {
                    if replicas_changed(old, new, |o: &$kind| {
                        o.spec.as_ref().and_then(|s| s.replicas)
                    }) {
                        if let Some(o) = new.or(old) {
                            requeue_namespace(
                                &cache,
                                &q,
                                o.metadata.namespace.as_deref().unwrap_or_default(),
                            );
                        }
                    }
                }));
            }};
        }
        on_scale!(replicasets, ReplicaSet);
        on_scale!(deployments, Deployment);
        on_scale!(statefulsets, StatefulSet);
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async {
                self.pdbs.wait_synced().await;
                self.pods.wait_synced().await;
                self.replicasets.wait_synced().await;
                self.deployments.wait_synced().await;
                self.statefulsets.wait_synced().await;
            } => {}
            _ = cancel.cancelled() => return,
        }
        info!("disruption controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "disruption", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    async fn sync(&self, key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(key);
        let Some(pdb) = self.pdbs.get(ns, name) else {
            return Ok(());
        };
        match self.try_sync(&pdb).await {
            Ok(()) => Ok(()),
            // A conflict is just a stale cache: retry without declaring failure.
            Err(e) if is_conflict(&e) => Err(e),
            Err(e) => {
                debug!(pdb = %key, error = %format!("{e:#}"), "sync failed; no disruptions allowed");
                let status = budget::fail_safe(&pdb, &format!("{e:#}"), jiff::Timestamp::now());
                self.write_status(&pdb, status).await?;
                Err(e)
            }
        }
    }

    async fn try_sync(&self, pdb: &PodDisruptionBudget) -> anyhow::Result<()> {
        let ns = pdb.namespace().unwrap_or_default();
        let pdb_ref = object_ref("policy/v1", "PodDisruptionBudget", &pdb.metadata);
        let mut pods = Vec::new();
        for p in self.pods.list(&ns) {
            if selects(pdb, &p).map_err(|e| anyhow!(e))? {
                pods.push(p);
            }
        }
        if pods.is_empty() {
            self.recorder
                .normal(pdb_ref.clone(), "NoPods", "No matching pods found".into());
        }
        let refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let scale = if budget::needs_scale(pdb) {
            let (scale, unmanaged) = match self.expected_scale(&ns, &refs).await {
                Ok(s) => s,
                Err(e) => {
                    self.recorder.warning(
                        pdb_ref,
                        "CalculateExpectedPodCountFailed",
                        format!("Failed to calculate the number of expected pods: {e:#}"),
                    );
                    return Err(e);
                }
            };
            if !unmanaged.is_empty() {
                let sel = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
                self.recorder.warning(
                    pdb_ref.clone(),
                    "UnmanagedPods",
                    format!("Pods selected by this PodDisruptionBudget (selector: {sel:?}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value."),
                );
            }
            Some(scale)
        } else {
            None
        };
        let (expected, desired) =
            budget::expected_and_desired(pdb, refs.len() as i32, scale).map_err(|e| anyhow!(e))?;
        let now = jiff::Timestamp::now();
        let (disrupted, recheck) = budget::live_disrupted_pods(pdb, &refs, now);
        let healthy = budget::count_healthy(&refs, &disrupted);
        let status = budget::status(pdb, healthy, desired, expected, disrupted, now);
        self.write_status(pdb, status).await?;
        if let Some(at) = recheck {
            let wait = at.duration_since(now).unsigned_abs();
            self.queue
                .add_after(meta_key(&pdb.metadata), wait + Duration::from_millis(100));
        }
        Ok(())
    }

    async fn write_status(
        &self,
        pdb: &PodDisruptionBudget,
        status: k8s_openapi::api::policy::v1::PodDisruptionBudgetStatus,
    ) -> anyhow::Result<()> {
        if pdb.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut updated = pdb.clone();
        updated.status = Some(status);
        let api: Api<PodDisruptionBudget> =
            Api::namespaced(self.client.clone(), &pdb.namespace().unwrap_or_default());
        api.replace_status(&pdb.name_any(), &PostParams::default(), &updated)
            .await
            .context("updating PodDisruptionBudget status")?;
        Ok(())
    }

    /// The summed scale of the pods' controllers (each counted once) and the pods that have
    /// none (upstream's `getExpectedScale`).
    async fn expected_scale(&self, ns: &str, pods: &[&Pod]) -> anyhow::Result<(i32, Vec<String>)> {
        let mut scales: HashMap<String, i32> = HashMap::new();
        let mut seen: Vec<String> = Vec::new();
        let mut unmanaged = Vec::new();
        for pod in pods {
            let Some(r) = controller_of(&pod.metadata) else {
                unmanaged.push(pod.name_any());
                continue;
            };
            if seen.contains(&r.uid) {
                continue;
            }
            seen.push(r.uid.clone());
            match self.controller_scale(ns, r).await? {
                Some((uid, n)) => {
                    scales.insert(uid, n);
                }
                None => return Err(anyhow!("found no controllers for pod {:?}", pod.name_any())),
            }
        }
        Ok((scales.values().sum(), unmanaged))
    }

    /// (uid, replicas) of the workload that owns pods through `r`: a Deployment for its
    /// ReplicaSets' pods, else the owner itself through its `scale` subresource.
    async fn controller_scale(
        &self,
        ns: &str,
        r: &OwnerReference,
    ) -> anyhow::Result<Option<(String, i32)>> {
        let group = r.api_version.split_once('/').map_or("", |(g, _)| g);
        match (group, r.kind.as_str()) {
            ("apps", "ReplicaSet") => {
                let Some(rs) = self
                    .replicasets
                    .get(ns, &r.name)
                    .filter(|rs| rs.metadata.uid.as_deref() == Some(&r.uid))
                else {
                    return self.scale_subresource(ns, r).await;
                };
                if let Some(d) = controller_of(&rs.metadata).filter(|d| d.kind == "Deployment") {
                    if let Some(dep) = self
                        .deployments
                        .get(ns, &d.name)
                        .filter(|x| x.metadata.uid.as_deref() == Some(&d.uid))
                    {
                        let n = dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                        return Ok(Some((d.uid.clone(), n)));
                    }
                }
                let n = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                Ok(Some((r.uid.clone(), n)))
            }
            ("apps", "StatefulSet") => match self
                .statefulsets
                .get(ns, &r.name)
                .filter(|s| s.metadata.uid.as_deref() == Some(&r.uid))
            {
                Some(sts) => Ok(Some((
                    r.uid.clone(),
                    sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                ))),
                None => Ok(None),
            },
            ("apps", "Deployment") => match self
                .deployments
                .get(ns, &r.name)
                .filter(|d| d.metadata.uid.as_deref() == Some(&r.uid))
            {
                Some(d) => Ok(Some((
                    r.uid.clone(),
                    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                ))),
                None => Ok(None),
            },
            _ => self.scale_subresource(ns, r).await,
        }
    }

    /// Any other owner (ReplicationController, custom resources): its `scale` subresource.
    async fn scale_subresource(
        &self,
        ns: &str,
        r: &OwnerReference,
    ) -> anyhow::Result<Option<(String, i32)>> {
        let (group, version) = r
            .api_version
            .split_once('/')
            .unwrap_or(("", r.api_version.as_str()));
        let gvk = GroupVersionKind::gvk(group, version, &r.kind);
        let ar = match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((ar, _)) => ar,
            // Not served (any more): the owner cannot be found.
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
            Err(kube::Error::Discovery(_)) => return Ok(None),
            Err(e) => return Err(e).context("discovering the owner's resource"),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &ar);
        match api.get_scale(&r.name).await {
            Ok(s) if s.metadata.uid.as_deref() == Some(r.uid.as_str()) => Ok(Some((
                r.uid.clone(),
                s.spec.and_then(|s| s.replicas).unwrap_or(0),
            ))),
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(anyhow!(error_message(&e))).context("reading the owner's scale"),
        }
    }
}

fn is_conflict(e: &anyhow::Error) -> bool {
    e.chain().any(
        |c| matches!(c.downcast_ref::<kube::Error>(), Some(kube::Error::Api(s)) if s.code == 409),
    )
}

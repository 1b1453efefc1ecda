//! The DaemonSet controller (upstream's `pkg/controller/daemon`): one pod per eligible node
//! ([`eligibility`]), each created pinned to its node by a required `metadata.name` node
//! affinity term so the scheduler binds it there; extra, failed and misplaced pods deleted;
//! RollingUpdate (maxUnavailable, or maxSurge: new pod first, old one deleted once the new
//! one is available) and OnDelete; ControllerRevisions for history; and the status counts.

pub mod eligibility;
mod update;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use eligibility::{add_daemon_tolerations, pin_to_node, placement, pod_node, Placement};

use crate::claim::{claim, owner_valid, Owner};
use crate::events::{object_ref, Recorder};
use crate::expectations::Expectations;
use crate::history::{self, REVISION_LABEL};
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::replicaset::slow_start_batch;
use crate::util::{
    controller_of, controller_ref, error_message, is_not_found, is_pod_available, is_pod_ready,
    meta_key, pod_phase, split_key, Selector,
};

const WORKERS: usize = 2;
const COMPONENT: &str = "daemonset-controller";
/// The deprecated generation label upstream still puts on daemon pods.
pub const TEMPLATE_GENERATION: &str = "pod-template-generation";

pub struct DaemonSetController {
    client: Client,
    dsets: Arc<Cache<DaemonSet>>,
    pods: Arc<Cache<Pod>>,
    nodes: Arc<Cache<Node>>,
    revisions: Arc<Cache<ControllerRevision>>,
    queue: Arc<WorkQueue>,
    expectations: Arc<Expectations>,
    recorder: Recorder,
}

fn owner_key(meta: &ObjectMeta, dsets: &Cache<DaemonSet>) -> Option<String> {
    let r = controller_of(meta).filter(|r| r.kind == "DaemonSet")?;
    let ds = dsets.get(meta.namespace.as_deref().unwrap_or_default(), &r.name)?;
    (ds.metadata.uid.as_deref() == Some(r.uid.as_str())).then(|| meta_key(&ds.metadata))
}

/// One node's view: where the DaemonSet may run and its pods there (oldest first).
pub(crate) struct NodeView {
    pub name: String,
    pub place: Placement,
    pub pods: Vec<Arc<Pod>>,
}

impl DaemonSetController {
    pub fn new(
        client: Client,
        dsets: &mut Informer<DaemonSet>,
        pods: &mut Informer<Pod>,
        nodes: &mut Informer<Node>,
        revisions: &mut Informer<ControllerRevision>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(DaemonSetController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            dsets: dsets.cache(),
            pods: pods.cache(),
            nodes: nodes.cache(),
            revisions: revisions.cache(),
            queue: WorkQueue::new(cancel),
            expectations: Arc::new(Expectations::default()),
        });
        let (q, exp) = (this.queue.clone(), this.expectations.clone());
        dsets.on(Box::new(move |old, new| {
            if new.is_none() {
                if let Some(d) = old {
                    exp.delete(&meta_key(&d.metadata));
                }
            }
            if let Some(d) = new.or(old) {
                q.add(meta_key(&d.metadata));
            }
        }));
        let weak = Arc::downgrade(&this);
        pods.on(Box::new(move |old, new| {
            let Some(c) = weak.upgrade() else { return };
            match (old, new) {
                (None, Some(p)) => {
                    if let Some(k) = owner_key(&p.metadata, &c.dsets) {
                        c.expectations.creation_observed(&k);
                        c.queue.add(k);
                    }
                }
                (Some(o), Some(p)) => {
                    if p.metadata.deletion_timestamp.is_some()
                        && o.metadata.deletion_timestamp.is_none()
                    {
                        if let Some(k) = owner_key(&p.metadata, &c.dsets) {
                            c.expectations.deletion_observed(&k, &meta_key(&p.metadata));
                        }
                    }
                    for k in [
                        owner_key(&o.metadata, &c.dsets),
                        owner_key(&p.metadata, &c.dsets),
                    ]
                    .into_iter()
                    .flatten()
                    {
                        c.queue.add(k);
                    }
                }
                (Some(p), None) => {
                    if let Some(k) = owner_key(&p.metadata, &c.dsets) {
                        c.expectations.deletion_observed(&k, &meta_key(&p.metadata));
                        c.queue.add(k);
                    }
                }
                (None, None) => {}
            }
        }));
        let weak = Arc::downgrade(&this);
        nodes.on(Box::new(move |old, new| {
            let Some(c) = weak.upgrade() else { return };
            let changed = match (old, new) {
                (Some(o), Some(n)) => o.metadata.labels != n.metadata.labels || o.spec != n.spec,
                _ => true,
            };
            if changed {
                for d in c.dsets.list_all() {
                    c.queue.add(meta_key(&d.metadata));
                }
            }
        }));
        let weak = Arc::downgrade(&this);
        revisions.on(Box::new(move |old, new| {
            let Some(c) = weak.upgrade() else { return };
            if let Some(k) = new.or(old).and_then(|r| owner_key(&r.metadata, &c.dsets)) {
                c.queue.add(k);
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async {
                self.dsets.wait_synced().await;
                self.pods.wait_synced().await;
                self.nodes.wait_synced().await;
                self.revisions.wait_synced().await;
            } => {}
            _ = cancel.cancelled() => return,
        }
        info!("daemonset controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "daemonset", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    /// Converges one DaemonSet.
    pub async fn sync(self: &Arc<Self>, key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(key);
        let Some(ds) = self.dsets.get(ns, name) else {
            self.expectations.delete(key);
            return Ok(());
        };
        let spec = ds.spec.clone().unwrap_or_default();
        let sel = match Selector::parse(&spec.selector) {
            Ok(s) => s,
            Err(e) => {
                warn!(daemonset = %key, error = %e, "invalid selector");
                return Ok(());
            }
        };
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let ds_api: Api<DaemonSet> = Api::namespaced(self.client.clone(), ns);
        let rev_api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        let revisions = history::owned(&self.revisions, &ds.metadata);
        let collisions = ds
            .status
            .as_ref()
            .and_then(|s| s.collision_count)
            .unwrap_or(0);
        let (update_rev, collisions) = if ds.metadata.deletion_timestamp.is_none() {
            history::ensure(
                &rev_api,
                "apps/v1",
                "DaemonSet",
                &ds.metadata,
                &spec.template,
                &revisions,
                collisions,
            )
            .await?
        } else {
            (
                revisions.last().map(|r| (**r).clone()).unwrap_or_default(),
                collisions,
            )
        };
        let hash = history::hash_of(&update_rev);
        let owner = Owner {
            api_version: "apps/v1",
            kind: "DaemonSet",
            meta: &ds.metadata,
            selector: &sel,
        };
        let (owned, claim_err) = claim(&pods_api, &owner, self.pods.list(ns), || {
            owner_valid(&ds_api, &ds.metadata)
        })
        .await;
        let views = self.node_views(&ds, &owned);
        let now = jiff::Timestamp::now();
        let mut manage_err = None;
        if self.expectations.satisfied(key) && ds.metadata.deletion_timestamp.is_none() {
            manage_err = self
                .manage(&ds, key, &pods_api, &views, &hash, now)
                .await
                .err();
        }
        self.update_status(&ds_api, &ds, &views, &hash, collisions, now)
            .await?;
        let mut in_use: HashSet<String> = owned
            .iter()
            .filter_map(|p| p.metadata.labels.as_ref()?.get(REVISION_LABEL).cloned())
            .collect();
        in_use.insert(hash);
        history::truncate(
            &rev_api,
            &history::owned(&self.revisions, &ds.metadata),
            &in_use,
            spec.revision_history_limit.unwrap_or(10),
        )
        .await?;
        if let Some(e) = manage_err {
            return Err(e);
        }
        if let Some(e) = claim_err {
            return Err(anyhow!(e).context("claiming pods"));
        }
        Ok(())
    }

    /// Every node with the DaemonSet's placement there and its pods on it, plus pods whose
    /// node no longer exists (placement "no").
    fn node_views(&self, ds: &DaemonSet, owned: &[Arc<Pod>]) -> Vec<NodeView> {
        let mut spec = ds
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.clone())
            .unwrap_or_default();
        add_daemon_tolerations(&mut spec);
        let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
        for p in owned {
            if let Some(n) = p.spec.as_ref().and_then(pod_node) {
                by_node.entry(n).or_default().push(p.clone());
            }
        }
        let mut views: Vec<NodeView> = self
            .nodes
            .list_all()
            .iter()
            .map(|n| {
                let name = n.name_any();
                NodeView {
                    place: placement(&spec, n),
                    pods: by_node.remove(&name).unwrap_or_default(),
                    name,
                }
            })
            .collect();
        views.extend(by_node.into_iter().map(|(name, pods)| NodeView {
            name,
            place: Placement {
                should_run: false,
                should_continue: false,
            },
            pods,
        }));
        for v in &mut views {
            v.pods
                .sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
        }
        views.sort_by(|a, b| a.name.cmp(&b.name));
        views
    }

    #[allow(clippy::too_many_arguments)]
    async fn manage(
        self: &Arc<Self>,
        ds: &DaemonSet,
        key: &str,
        api: &Api<Pod>,
        views: &[NodeView],
        hash: &str,
        now: jiff::Timestamp,
    ) -> anyhow::Result<()> {
        let mut create: Vec<String> = Vec::new();
        let mut delete: Vec<Arc<Pod>> = Vec::new();
        for v in views {
            let live: Vec<&Arc<Pod>> = v
                .pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            if v.place.should_run || (v.place.should_continue && !live.is_empty()) {
                let (failed, running): (Vec<_>, Vec<_>) =
                    live.into_iter().partition(|p| pod_phase(p) == "Failed");
                if !failed.is_empty() {
                    let rec = object_ref("apps/v1", "DaemonSet", &ds.metadata);
                    self.recorder.warning(
                        rec,
                        "FailedDaemonPod",
                        format!(
                            "Found failed daemon pod {}/{} on node {}, will try to kill it",
                            failed[0].metadata.namespace.as_deref().unwrap_or_default(),
                            failed[0].name_any(),
                            v.name
                        ),
                    );
                    delete.extend(failed.into_iter().cloned());
                }
                if running.is_empty()
                    && v.place.should_run
                    && v.pods
                        .iter()
                        .all(|p| p.metadata.deletion_timestamp.is_none())
                {
                    create.push(v.name.clone());
                } else if running.len() > 1 {
                    delete.extend(update::surplus_on_node(&running, hash, ds, now));
                }
            } else {
                delete.extend(live.into_iter().cloned());
            }
        }
        if create.is_empty() && delete.is_empty() && update::is_rolling(ds) {
            let (c, d) = update::rolling(ds, views, hash, now);
            create = c;
            delete = d;
        }
        self.apply(ds, key, api, &create, &delete, hash).await
    }

    async fn apply(
        self: &Arc<Self>,
        ds: &DaemonSet,
        key: &str,
        api: &Api<Pod>,
        create: &[String],
        delete: &[Arc<Pod>],
        hash: &str,
    ) -> anyhow::Result<()> {
        let ds_ref = object_ref("apps/v1", "DaemonSet", &ds.metadata);
        let mut first: Option<anyhow::Error> = None;
        if !delete.is_empty() {
            self.expectations
                .expect_deletions(key, delete.iter().map(|p| meta_key(&p.metadata)));
            let dp = DeleteParams::default();
            let results = join_all(
                delete
                    .iter()
                    .map(|p| api.delete(p.metadata.name.as_deref().unwrap_or_default(), &dp)),
            )
            .await;
            for (p, r) in delete.iter().zip(results) {
                match r {
                    Ok(_) => self.recorder.normal(
                        ds_ref.clone(),
                        "SuccessfulDelete",
                        format!("Deleted pod: {}", p.name_any()),
                    ),
                    Err(e) => {
                        self.expectations
                            .deletion_observed(key, &meta_key(&p.metadata));
                        if !is_not_found(&e) {
                            self.recorder.warning(
                                ds_ref.clone(),
                                "FailedDelete",
                                format!("Error deleting: {}", error_message(&e)),
                            );
                            first.get_or_insert(anyhow!(e).context("deleting daemon pods"));
                        }
                    }
                }
            }
            // Creations wait for the deletions to be observed (a fresh expectation record).
            return first.map_or(Ok(()), Err);
        }
        if create.is_empty() {
            return Ok(());
        }
        self.expectations.expect_creations(key, create.len());
        let (created, err) = slow_start_batch(create.len(), 1, |i| {
            let pod = daemon_pod(ds, &create[i], hash);
            let (api, rec, r) = (api.clone(), self.recorder.clone(), ds_ref.clone());
            async move { rec.create_pod(&api, r, &pod).await }
        })
        .await;
        for _ in created..create.len() {
            self.expectations.creation_observed(key);
        }
        err.map_or(Ok(()), |e| Err(anyhow!(e).context("creating daemon pods")))
    }

    async fn update_status(
        &self,
        api: &Api<DaemonSet>,
        ds: &DaemonSet,
        views: &[NodeView],
        hash: &str,
        collisions: i32,
        now: jiff::Timestamp,
    ) -> anyhow::Result<()> {
        let min_ready = ds
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        let mut st = DaemonSetStatus {
            observed_generation: ds.metadata.generation,
            collision_count: (collisions > 0).then_some(collisions),
            conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
            ..Default::default()
        };
        let (mut available, mut updated) = (0, 0);
        let mut pending_availability = false;
        for v in views {
            let has_pods = !v.pods.is_empty();
            if v.place.should_run {
                st.desired_number_scheduled += 1;
                if has_pods {
                    st.current_number_scheduled += 1;
                    // The newest pod is the one that counts during a surge.
                    let p = update::newest(&v.pods);
                    if is_pod_ready(p) {
                        st.number_ready += 1;
                        if is_pod_available(p, min_ready, now) {
                            available += 1;
                        } else {
                            pending_availability = true;
                        }
                    }
                    if update::pod_hash(p) == Some(hash) {
                        updated += 1;
                    }
                }
            } else if has_pods {
                st.number_misscheduled += 1;
            }
        }
        st.number_available = (available > 0).then_some(available);
        st.updated_number_scheduled = (updated > 0).then_some(updated);
        let unavailable = st.desired_number_scheduled - available;
        st.number_unavailable = (unavailable > 0).then_some(unavailable);
        if pending_availability && min_ready > 0 {
            self.queue.add_after(
                meta_key(&ds.metadata),
                Duration::from_secs(min_ready as u64),
            );
        }
        if ds.status.as_ref() == Some(&st) {
            return Ok(());
        }
        let mut target = ds.clone();
        target.status = Some(st);
        match api
            .replace_status(&ds.name_any(), &PostParams::default(), &target)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow!(e).context("updating daemonset status")),
        }
    }
}

/// The pod for one node: the template with the revision hash and generation labels, the
/// automatic tolerations, the node pin and a controller reference.
pub fn daemon_pod(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let tm = template.metadata.unwrap_or_default();
    let mut labels = tm.labels.unwrap_or_default();
    labels.insert(REVISION_LABEL.into(), hash.to_string());
    if let Some(g) = ds.metadata.generation {
        labels.insert(TEMPLATE_GENERATION.into(), g.to_string());
    }
    let mut spec = template.spec.unwrap_or_default();
    add_daemon_tolerations(&mut spec);
    pin_to_node(&mut spec, node);
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", ds.name_any())),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: Some(vec![controller_ref("apps/v1", "DaemonSet", &ds.metadata)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

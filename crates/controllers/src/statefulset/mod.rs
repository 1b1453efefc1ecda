//! The StatefulSet controller (upstream's `pkg/controller/statefulset`): pods `<set>-<n>` with
//! stable identity and storage ([`pods`]), created, deleted and updated in the order
//! [`plan`] decides; ControllerRevisions for the current and update revisions; and status
//! replicas / readyReplicas / availableReplicas / currentReplicas / updatedReplicas /
//! currentRevision / updateRevision. Member pods have fixed names, so a sync that runs before
//! the cache caught up at worst gets AlreadyExists: no expectations are needed (as upstream).

mod plan;
pub mod pods;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use plan::{plan, Action, Input};
use pods::{
    claims, identity_matches, new_pod, ordinal, start_ordinal, POD_INDEX_LABEL, POD_NAME_LABEL,
};

use crate::claim::{claim, owner_valid, Owner};
use crate::events::{object_ref, Recorder};
use crate::history::{self, REVISION_LABEL};
use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{
    controller_of, error_message, is_already_exists, is_not_found, is_pod_available, is_pod_ready,
    meta_key, pod_phase, split_key, Selector,
};

const WORKERS: usize = 2;
const COMPONENT: &str = "statefulset-controller";

pub struct StatefulSetController {
    client: Client,
    sets: Arc<Cache<StatefulSet>>,
    pods: Arc<Cache<Pod>>,
    claims: Arc<Cache<PersistentVolumeClaim>>,
    revisions: Arc<Cache<ControllerRevision>>,
    queue: Arc<WorkQueue>,
    recorder: Recorder,
}

fn owner_key(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    sets: &Cache<StatefulSet>,
) -> Option<String> {
    let r = controller_of(meta).filter(|r| r.kind == "StatefulSet")?;
    let s = sets.get(meta.namespace.as_deref().unwrap_or_default(), &r.name)?;
    (s.metadata.uid.as_deref() == Some(r.uid.as_str())).then(|| meta_key(&s.metadata))
}

impl StatefulSetController {
    pub fn new(
        client: Client,
        sets: &mut Informer<StatefulSet>,
        pods: &mut Informer<Pod>,
        claims: &mut Informer<PersistentVolumeClaim>,
        revisions: &mut Informer<ControllerRevision>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(StatefulSetController {
            recorder: Recorder::new(client.clone(), COMPONENT, cancel.clone()),
            client,
            sets: sets.cache(),
            pods: pods.cache(),
            claims: claims.cache(),
            revisions: revisions.cache(),
            queue: WorkQueue::new(cancel),
        });
        let q = this.queue.clone();
        sets.on(Box::new(move |old, new| {
            if let Some(s) = new.or(old) {
                q.add(meta_key(&s.metadata));
            }
        }));
        let weak = Arc::downgrade(&this);
        pods.on(Box::new(move |old, new| {
            let Some(c) = weak.upgrade() else { return };
            for p in [old, new].into_iter().flatten() {
                if let Some(k) = owner_key(&p.metadata, &c.sets) {
                    c.queue.add(k);
                }
            }
        }));
        let weak = Arc::downgrade(&this);
        revisions.on(Box::new(move |old, new| {
            let Some(c) = weak.upgrade() else { return };
            if let Some(k) = new.or(old).and_then(|r| owner_key(&r.metadata, &c.sets)) {
                c.queue.add(k);
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async {
                self.sets.wait_synced().await;
                self.pods.wait_synced().await;
                self.claims.wait_synced().await;
                self.revisions.wait_synced().await;
            } => {}
            _ = cancel.cancelled() => return,
        }
        info!("statefulset controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "statefulset", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    /// Converges one StatefulSet.
    pub async fn sync(&self, key: &str) -> anyhow::Result<()> {
        let (ns, name) = split_key(key);
        let Some(set) = self.sets.get(ns, name) else {
            return Ok(());
        };
        let spec = set.spec.clone().unwrap_or_default();
        let sel = match Selector::parse(&spec.selector) {
            Ok(s) => s,
            Err(e) => {
                warn!(statefulset = %key, error = %e, "invalid selector");
                return Ok(());
            }
        };
        let pods_api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let set_api: Api<StatefulSet> = Api::namespaced(self.client.clone(), ns);
        let rev_api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), ns);
        let revisions = history::owned(&self.revisions, &set.metadata);
        let status = set.status.clone().unwrap_or_default();
        let (update_rev, collisions) = history::ensure(
            &rev_api,
            "apps/v1",
            "StatefulSet",
            &set.metadata,
            &spec.template,
            &revisions,
            status.collision_count.unwrap_or(0),
        )
        .await?;
        let current_rev = status
            .current_revision
            .as_ref()
            .and_then(|n| {
                revisions
                    .iter()
                    .find(|r| r.metadata.name.as_ref() == Some(n))
                    .map(|r| (**r).clone())
            })
            .unwrap_or_else(|| update_rev.clone());
        let update_hash = history::hash_of(&update_rev);
        let current_hash = history::hash_of(&current_rev);
        let owner = Owner {
            api_version: "apps/v1",
            kind: "StatefulSet",
            meta: &set.metadata,
            selector: &sel,
        };
        let (owned, claim_err) = claim(&pods_api, &owner, self.pods.list(ns), || {
            owner_valid(&set_api, &set.metadata)
        })
        .await;
        let members: BTreeMap<i32, Arc<Pod>> = owned
            .iter()
            .filter_map(|p| {
                Some((
                    ordinal(&set.name_any(), p.metadata.name.as_deref()?)?,
                    p.clone(),
                ))
            })
            .collect();
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let now = jiff::Timestamp::now();
        let strategy = spec.update_strategy.clone().unwrap_or_default();
        let on_delete = strategy.type_.as_deref() == Some("OnDelete");
        let partition = strategy
            .rolling_update
            .as_ref()
            .and_then(|r| r.partition)
            .unwrap_or(0);
        let start = start_ordinal(&set);
        let actions = if set.metadata.deletion_timestamp.is_none() {
            let healthy =
                |p: &Pod| pod_phase(p) == "Running" && is_pod_available(p, min_ready, now);
            let identity_ok = |p: &Pod, ord: i32| identity_matches(&set, p, ord);
            plan(&Input {
                ordered: spec.pod_management_policy.as_deref() != Some("Parallel"),
                start,
                replicas: spec.replicas.unwrap_or(1),
                pods: &members,
                update_hash: &update_hash,
                partition: (!on_delete).then_some(partition),
                healthy: &healthy,
                identity_ok: &identity_ok,
            })
        } else {
            Vec::new()
        };
        let mut first_err = None;
        for a in actions {
            let r = match a {
                Action::Create(ord) => {
                    let use_current =
                        current_hash != update_hash && (on_delete || ord < start + partition);
                    let (tmpl, hash) = match use_current
                        .then(|| history::template_of(&current_rev))
                        .flatten()
                    {
                        Some(t) => (t, current_hash.as_str()),
                        None => (spec.template.clone(), update_hash.as_str()),
                    };
                    self.create(&set, &pods_api, &tmpl, ord, hash).await
                }
                Action::Delete(p) => self.delete(&set, &pods_api, &p).await,
                Action::FixIdentity(p, ord) => {
                    let patch = json!({"metadata": {"labels": {POD_NAME_LABEL: p.name_any(), POD_INDEX_LABEL: ord.to_string()}}});
                    pods_api
                        .patch(
                            &p.name_any(),
                            &PatchParams::default(),
                            &Patch::Merge(&patch),
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| anyhow!(e).context("restoring pod identity"))
                }
            };
            if let Err(e) = r {
                first_err = Some(e);
                break;
            }
        }
        let st = compute_status(
            &set,
            &owned,
            &current_rev,
            &update_rev,
            collisions,
            on_delete,
            now,
        );
        if st.ready_replicas.unwrap_or(0) > st.available_replicas.unwrap_or(0) && min_ready > 0 {
            self.queue
                .add_after(key.to_string(), Duration::from_secs(min_ready as u64));
        }
        let mut in_use: HashSet<String> = owned
            .iter()
            .filter_map(|p| p.metadata.labels.as_ref()?.get(REVISION_LABEL).cloned())
            .collect();
        in_use.insert(update_hash);
        in_use.insert(history::hash_of(&current_rev));
        if set.status.as_ref() != Some(&st) {
            let mut target = (*set).clone();
            target.status = Some(st);
            match set_api
                .replace_status(&set.name_any(), &PostParams::default(), &target)
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(anyhow!(e).context("updating statefulset status")),
            }
        }
        history::truncate(
            &rev_api,
            &history::owned(&self.revisions, &set.metadata),
            &in_use,
            spec.revision_history_limit.unwrap_or(10),
        )
        .await?;
        if let Some(e) = first_err {
            return Err(e);
        }
        if let Some(e) = claim_err {
            return Err(anyhow!(e).context("claiming pods"));
        }
        Ok(())
    }

    async fn create(
        &self,
        set: &StatefulSet,
        api: &Api<Pod>,
        tmpl: &k8s_openapi::api::core::v1::PodTemplateSpec,
        ord: i32,
        hash: &str,
    ) -> anyhow::Result<()> {
        let set_ref = object_ref("apps/v1", "StatefulSet", &set.metadata);
        let pod = new_pod(set, tmpl, ord, hash);
        let pod_name = pod.name_any();
        let ns = set.metadata.namespace.as_deref().unwrap_or_default();
        let pvc_api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
        for c in claims(set, ord) {
            let cname = c.name_any();
            if self.claims.get(ns, &cname).is_some() {
                continue;
            }
            match pvc_api.create(&PostParams::default(), &c).await {
                Ok(_) => self.recorder.normal(
                    set_ref.clone(),
                    "SuccessfulCreate",
                    format!(
                        "create Claim {cname} Pod {pod_name} in StatefulSet {} success",
                        set.name_any()
                    ),
                ),
                Err(e) if is_already_exists(&e) => {}
                Err(e) => {
                    self.recorder.warning(set_ref.clone(), "FailedCreate", format!("create Claim {cname} for Pod {pod_name} in StatefulSet {} failed error: {}", set.name_any(), error_message(&e)));
                    return Err(anyhow!(e).context("creating claim"));
                }
            }
        }
        match api.create(&PostParams::default(), &pod).await {
            Ok(_) => {
                info!(pod = %pod_name, "created stateful pod");
                self.recorder.normal(
                    set_ref,
                    "SuccessfulCreate",
                    format!(
                        "create Pod {pod_name} in StatefulSet {} successful",
                        set.name_any()
                    ),
                );
                Ok(())
            }
            Err(e) if is_already_exists(&e) => Ok(()),
            Err(e) => {
                self.recorder.warning(
                    set_ref,
                    "FailedCreate",
                    format!(
                        "create Pod {pod_name} in StatefulSet {} failed error: {}",
                        set.name_any(),
                        error_message(&e)
                    ),
                );
                Err(anyhow!(e).context("creating pod"))
            }
        }
    }

    async fn delete(&self, set: &StatefulSet, api: &Api<Pod>, pod: &Pod) -> anyhow::Result<()> {
        let set_ref = object_ref("apps/v1", "StatefulSet", &set.metadata);
        let name = pod.name_any();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                self.recorder.normal(
                    set_ref,
                    "SuccessfulDelete",
                    format!(
                        "delete Pod {name} in StatefulSet {} successful",
                        set.name_any()
                    ),
                );
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => {
                self.recorder.warning(
                    set_ref,
                    "FailedDelete",
                    format!(
                        "delete Pod {name} in StatefulSet {} failed error: {}",
                        set.name_any(),
                        error_message(&e)
                    ),
                );
                Err(anyhow!(e).context("deleting pod"))
            }
        }
    }
}

/// Upstream's status computation: counts over the set's pods, and the current revision
/// advanced to the update revision once a RollingUpdate has updated every replica and all
/// are ready.
fn compute_status(
    set: &StatefulSet,
    owned: &[Arc<Pod>],
    current: &ControllerRevision,
    update: &ControllerRevision,
    collisions: i32,
    on_delete: bool,
    now: jiff::Timestamp,
) -> StatefulSetStatus {
    let min_ready = set
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let (current_hash, update_hash) = (history::hash_of(current), history::hash_of(update));
    let mut st = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        collision_count: Some(collisions),
        current_revision: current.metadata.name.clone(),
        update_revision: update.metadata.name.clone(),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    let (mut ready, mut available, mut cur, mut upd) = (0, 0, 0, 0);
    for p in owned {
        st.replicas += 1;
        if pod_phase(p) == "Running" && is_pod_ready(p) {
            ready += 1;
            if is_pod_available(p, min_ready, now) {
                available += 1;
            }
        }
        if p.metadata.deletion_timestamp.is_none() {
            let h = p
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REVISION_LABEL));
            if h == Some(&current_hash) {
                cur += 1;
            }
            if h == Some(&update_hash) {
                upd += 1;
            }
        }
    }
    st.ready_replicas = Some(ready);
    st.available_replicas = Some(available);
    st.current_replicas = Some(cur);
    st.updated_replicas = Some(upd);
    if !on_delete && upd == st.replicas && ready == st.replicas {
        st.current_replicas = Some(upd);
        st.current_revision = st.update_revision.clone();
    }
    st
}

//! Finding or creating the new ReplicaSet and keeping revisions in order, proportional
//! scaling, old-ReplicaSet cleanup and status writes (upstream's `sync.go`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use tracing::{debug, info};

use super::progress::{self, condition, PROGRESSING};
use super::util::{self as du, Rs};
use super::{DeploymentController, COMPONENT};
use crate::events::object_ref;
use crate::util::{controller_of, controller_ref, error_message, is_already_exists, is_not_found};

pub(super) fn all_of(old: &[Rs], new: Option<&Rs>) -> Vec<Rs> {
    old.iter().cloned().chain(new.cloned()).collect()
}

impl DeploymentController {
    /// The new ReplicaSet (created if `create` and missing) with its revision brought up to
    /// date, and the old ones.
    pub(super) async fn get_all_rs_and_sync_revision(
        &self,
        d: &mut Deployment,
        rs_list: &[Rs],
        create: bool,
    ) -> anyhow::Result<(Option<Rs>, Vec<Rs>)> {
        let existing = du::find_new(d, rs_list);
        let old = du::find_old(rs_list, existing.as_ref());
        let new = self.get_new_rs(d, rs_list, &old, existing, create).await?;
        Ok((new, old))
    }

    async fn get_new_rs(
        &self,
        d: &mut Deployment,
        _rs_list: &[Rs],
        old: &[Rs],
        existing: Option<Rs>,
        create: bool,
    ) -> anyhow::Result<Option<Rs>> {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let new_revision = du::max_revision(old) + 1;
        let spec = d.spec.clone().unwrap_or_default();
        if let Some(ex) = existing {
            let mut copy = (*ex).clone();
            let annotations_changed = du::set_new_rs_annotations(d, &mut copy, new_revision, true);
            let rs_spec = copy.spec.get_or_insert_with(ReplicaSetSpec::default);
            let mrs_changed =
                rs_spec.min_ready_seconds.unwrap_or(0) != spec.min_ready_seconds.unwrap_or(0);
            if annotations_changed || mrs_changed {
                rs_spec.min_ready_seconds = spec.min_ready_seconds;
                let updated = self
                    .rs_api(&ns)
                    .replace(&copy.name_any(), &PostParams::default(), &copy)
                    .await
                    .context("updating the new replicaset's annotations")?;
                return Ok(Some(Arc::new(updated)));
            }
            let rev = du::annotation(&copy, du::REVISION)
                .unwrap_or_default()
                .to_string();
            let mut needs_update = self.set_deployment_revision(d, &rev).await?;
            let has_deadline = progress::progress_deadline(d).is_some();
            let st = d.status.get_or_insert_with(Default::default);
            if has_deadline && progress::get(st, PROGRESSING).is_none() {
                let msg = format!("Found new replica set {:?}", copy.name_any());
                progress::set(
                    st,
                    condition(PROGRESSING, "True", progress::FOUND_NEW_RS, msg),
                );
                needs_update = true;
            }
            if needs_update {
                self.write_status(d).await?;
            }
            return Ok(Some(Arc::new(copy)));
        }
        if !create {
            return Ok(None);
        }

        let collision = d.status.as_ref().and_then(|s| s.collision_count);
        let hash = du::compute_hash(&spec.template, collision);
        let mut template = spec.template.clone();
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(du::HASH_LABEL.into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(du::HASH_LABEL.into(), hash.clone());
        let name = format!("{}-{}", d.name_any(), hash);
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                owner_references: Some(vec![controller_ref("apps/v1", "Deployment", &d.metadata)]),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all = all_of(old, Some(&Arc::new(rs.clone())));
        let replicas = super::rolling::new_rs_new_replicas(d, &all, &rs);
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(replicas);
        }
        du::set_new_rs_annotations(d, &mut rs, new_revision, false);
        let d_ref = object_ref("apps/v1", "Deployment", &d.metadata);
        let mut already_exists = false;
        let created = match self.rs_api(&ns).create(&PostParams::default(), &rs).await {
            Ok(c) => c,
            Err(e) if is_already_exists(&e) => {
                already_exists = true;
                let found = self.rs_api(&ns).get_opt(&name).await?;
                let ours = found.as_ref().is_some_and(|f| {
                    controller_of(&f.metadata).map(|r| &r.uid) == d.metadata.uid.as_ref()
                        && f.spec
                            .as_ref()
                            .and_then(|s| s.template.as_ref())
                            .is_some_and(|t| du::equal_ignore_hash(t, &spec.template))
                });
                match found {
                    Some(f) if ours => f,
                    _ => {
                        // A different ReplicaSet has our name: a hash collision. Count it so
                        // the next hash differs, and retry.
                        let st = d.status.get_or_insert_with(Default::default);
                        let before = st.collision_count.unwrap_or(0);
                        st.collision_count = Some(before + 1);
                        self.write_status(d).await?;
                        info!(deployment = %d.name_any(), collision_count = before + 1, "hash collision; bumped collisionCount");
                        return Err(anyhow!(e).context("replicaset name collision"));
                    }
                }
            }
            Err(e) => {
                let msg = format!(
                    "Failed to create new replica set {name:?}: {}",
                    error_message(&e)
                );
                if progress::progress_deadline(d).is_some() {
                    let st = d.status.get_or_insert_with(Default::default);
                    progress::set(
                        st,
                        condition(
                            PROGRESSING,
                            "False",
                            progress::FAILED_RS_CREATE,
                            msg.clone(),
                        ),
                    );
                    let _ = self.write_status(d).await;
                }
                self.recorder
                    .warning(d_ref, progress::FAILED_RS_CREATE, msg);
                return Err(anyhow!(e).context("creating the new replicaset"));
            }
        };
        if !already_exists && replicas > 0 {
            self.recorder.normal(
                d_ref,
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} from 0 to {replicas}"),
            );
        }
        let mut needs_update = self
            .set_deployment_revision(d, &new_revision.to_string())
            .await?;
        if !already_exists && progress::progress_deadline(d).is_some() {
            let st = d.status.get_or_insert_with(Default::default);
            let msg = format!("Created new replica set {name:?}");
            progress::set(
                st,
                condition(PROGRESSING, "True", progress::NEW_RS_CREATED, msg),
            );
            needs_update = true;
        }
        if needs_update {
            self.write_status(d).await?;
        }
        Ok(Some(Arc::new(created)))
    }

    /// Sets the Deployment's revision annotation. Upstream writes it along with the status;
    /// our API server's `/status` keeps metadata as stored, so it is patched onto the
    /// Deployment itself (a metadata change: no new generation). Local status edits survive.
    async fn set_deployment_revision(
        &self,
        d: &mut Deployment,
        revision: &str,
    ) -> anyhow::Result<bool> {
        let current = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(du::REVISION));
        if current.map(String::as_str) == Some(revision) {
            return Ok(false);
        }
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let patch = json!({"metadata": {"annotations": {du::REVISION: revision}}});
        let patched = self
            .d_api(&ns)
            .patch(
                &d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .context("setting the deployment's revision")?;
        let status = d.status.take();
        *d = patched;
        d.status = status;
        Ok(true)
    }

    /// Writes `d.status` (guarded by d's resourceVersion) and takes the stored object back.
    pub(super) async fn write_status(&self, d: &mut Deployment) -> anyhow::Result<()> {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let updated = self
            .d_api(&ns)
            .replace_status(&d.name_any(), &PostParams::default(), &*d)
            .await
            .context("updating deployment status")?;
        *d = updated;
        Ok(())
    }

    /// Scales a ReplicaSet and refreshes its replica annotations; returns the stored
    /// ReplicaSet. Records `ScalingReplicaSet` when the size changed.
    pub(super) async fn scale_rs(
        &self,
        rs: &Rs,
        new_scale: i32,
        d: &Deployment,
    ) -> anyhow::Result<(bool, Rs)> {
        let old_scale = du::rs_replicas(rs);
        let size_changes = old_scale != new_scale;
        let (desired, max) = (du::replicas(d), du::replicas(d) + du::max_surge(d));
        if !size_changes && !du::replicas_annotations_need_update(rs, desired, max) {
            return Ok((false, rs.clone()));
        }
        let mut copy = (**rs).clone();
        copy.spec.get_or_insert_with(Default::default).replicas = Some(new_scale);
        du::set_replicas_annotations(&mut copy, desired, max);
        let ns = copy.metadata.namespace.clone().unwrap_or_default();
        let updated = self
            .rs_api(&ns)
            .replace(&copy.name_any(), &PostParams::default(), &copy)
            .await
            .with_context(|| format!("scaling replicaset {}", copy.name_any()))?;
        if size_changes {
            let op = if old_scale < new_scale { "up" } else { "down" };
            let msg = format!(
                "Scaled {op} replica set {} from {old_scale} to {new_scale}",
                copy.name_any()
            );
            debug!(component = COMPONENT, deployment = %d.name_any(), "{msg}");
            self.recorder.normal(
                object_ref("apps/v1", "Deployment", &d.metadata),
                "ScalingReplicaSet",
                msg,
            );
        }
        Ok((size_changes, Arc::new(updated)))
    }

    /// Scales only if the size differs (upstream's `scaleReplicaSetAndRecordEvent`).
    pub(super) async fn scale_rs_if_needed(
        &self,
        rs: &Rs,
        new_scale: i32,
        d: &Deployment,
    ) -> anyhow::Result<(bool, Rs)> {
        if du::rs_replicas(rs) == new_scale {
            return Ok((false, rs.clone()));
        }
        self.scale_rs(rs, new_scale, d).await
    }

    /// Reacts to a change of spec.replicas (or a paused Deployment): the one active
    /// ReplicaSet takes the new size; several share it in proportion to their size
    /// (largest first), so an in-flight rollout keeps its shape.
    async fn scale(&self, d: &Deployment, new: Option<&Rs>, old: &[Rs]) -> anyhow::Result<()> {
        let want = du::replicas(d);
        if let Some(rs) = active_or_latest(new, old) {
            if du::rs_replicas(&rs) != want {
                self.scale_rs_if_needed(&rs, want, d).await?;
            }
            return Ok(());
        }
        if is_saturated(d, new) {
            for rs in du::active(old) {
                self.scale_rs_if_needed(&rs, 0, d).await?;
            }
            return Ok(());
        }
        if !du::is_rolling(d) {
            return Ok(());
        }
        let mut all = du::active(&all_of(old, new));
        let sizes = proportional_sizes(d, &mut all);
        for rs in &all {
            let size = sizes
                .get(&rs.name_any())
                .copied()
                .unwrap_or(du::rs_replicas(rs));
            self.scale_rs(rs, size, d).await?;
        }
        Ok(())
    }

    /// Deletes the oldest unused ReplicaSets beyond revisionHistoryLimit.
    pub(super) async fn cleanup(&self, old: &[Rs], d: &Deployment) -> anyhow::Result<()> {
        let Some(limit) = d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .filter(|l| *l != i32::MAX)
        else {
            return Ok(());
        };
        let mut cleanable: Vec<Rs> = old
            .iter()
            .filter(|r| r.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| du::by_revision(a, b));
        for rs in cleanable.iter().take(diff as usize) {
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if du::rs_status_replicas(rs) != 0
                || du::rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let ns = rs.metadata.namespace.clone().unwrap_or_default();
            info!(deployment = %d.name_any(), replicaset = %rs.name_any(), "deleting old replicaset beyond revisionHistoryLimit");
            match self
                .rs_api(&ns)
                .delete(&rs.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(anyhow!(e).context("deleting an old replicaset")),
            }
        }
        Ok(())
    }

    pub(super) async fn sync_status_only(
        &self,
        d: &mut Deployment,
        rs_list: &[Rs],
    ) -> anyhow::Result<()> {
        let (new, old) = self.get_all_rs_and_sync_revision(d, rs_list, false).await?;
        self.sync_deployment_status(&all_of(&old, new.as_ref()), new.as_ref(), d)
            .await
    }

    /// Scaling and paused Deployments: resize, clean up (when paused), report.
    pub(super) async fn sync(&self, d: &mut Deployment, rs_list: &[Rs]) -> anyhow::Result<()> {
        let (new, old) = self.get_all_rs_and_sync_revision(d, rs_list, false).await?;
        self.scale(d, new.as_ref(), &old).await?;
        if d.spec.as_ref().and_then(|s| s.paused) == Some(true) {
            self.cleanup(&old, d).await?;
        }
        self.sync_deployment_status(&all_of(&old, new.as_ref()), new.as_ref(), d)
            .await
    }

    async fn sync_deployment_status(
        &self,
        all: &[Rs],
        new: Option<&Rs>,
        d: &mut Deployment,
    ) -> anyhow::Result<()> {
        let st = progress::calculate(all, new, d);
        if progress::same(&st, &d.status.clone().unwrap_or_default()) {
            return Ok(());
        }
        d.status = Some(st);
        self.write_status(d).await
    }

    /// Reports a rollout step's status and conditions, and schedules a look at the
    /// progress deadline (upstream's `syncRolloutStatus`).
    pub(super) async fn sync_rollout_status(
        &self,
        all: &[Rs],
        new: Option<&Rs>,
        d: &mut Deployment,
    ) -> anyhow::Result<()> {
        let mut st = progress::calculate(all, new, d);
        progress::rollout_conditions(d, new, &mut st);
        // The new ReplicaSet's failure wins over old ones' (upstream's getReplicaFailures).
        let failure = new.into_iter().chain(all.iter()).find_map(|rs| {
            rs.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "ReplicaFailure"))
                .cloned()
        });
        match failure {
            Some(c) => progress::set(
                &mut st,
                k8s_openapi::api::apps::v1::DeploymentCondition {
                    type_: progress::REPLICA_FAILURE.into(),
                    status: c.status,
                    reason: c.reason,
                    message: c.message,
                    last_update_time: c.last_transition_time.clone(),
                    last_transition_time: c.last_transition_time,
                },
            ),
            None => progress::remove(&mut st, progress::REPLICA_FAILURE),
        }
        if progress::same(&st, &d.status.clone().unwrap_or_default()) {
            if let Some(after) = progress::requeue_after(d, &st, jiff::Timestamp::now()) {
                self.queue
                    .add_after(crate::util::meta_key(&d.metadata), after);
            }
            return Ok(());
        }
        d.status = Some(st);
        self.write_status(d).await
    }

    /// Progressing Unknown/DeploymentPaused while paused, DeploymentResumed on resume (so a
    /// long pause is not taken for a stalled rollout).
    pub(super) async fn check_paused_conditions(&self, d: &mut Deployment) -> anyhow::Result<()> {
        if progress::progress_deadline(d).is_none() {
            return Ok(());
        }
        let st = d.status.clone().unwrap_or_default();
        let reason = progress::get(&st, PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(progress::TIMED_OUT) {
            return Ok(());
        }
        let paused_cond = reason.as_deref() == Some(progress::PAUSED);
        let paused = d.spec.as_ref().and_then(|s| s.paused) == Some(true);
        let c = if paused && !paused_cond {
            condition(
                PROGRESSING,
                "Unknown",
                progress::PAUSED,
                "Deployment is paused".into(),
            )
        } else if !paused && paused_cond {
            condition(
                PROGRESSING,
                "Unknown",
                progress::RESUMED,
                "Deployment is resumed".into(),
            )
        } else {
            return Ok(());
        };
        progress::set(d.status.get_or_insert_with(Default::default), c);
        self.write_status(d).await
    }

    /// Whether spec.replicas changed since the active ReplicaSets were sized (their
    /// desired-replicas annotation differs).
    pub(super) async fn is_scaling_event(
        &self,
        d: &mut Deployment,
        rs_list: &[Rs],
    ) -> anyhow::Result<bool> {
        let (new, old) = self.get_all_rs_and_sync_revision(d, rs_list, false).await?;
        if new.is_none() {
            return Ok(false);
        }
        let want = du::replicas(d).to_string();
        Ok(du::active(&all_of(&old, new.as_ref()))
            .iter()
            .any(|rs| du::annotation(rs, du::DESIRED_REPLICAS).is_some_and(|v| v != want)))
    }
}

/// The only active ReplicaSet, or the newest when none is active; `None` when several are.
fn active_or_latest(new: Option<&Rs>, old: &[Rs]) -> Option<Rs> {
    let mut sorted = old.to_vec();
    sorted.sort_by(|a, b| du::by_creation(b, a));
    let active = du::active(&all_of(&sorted, new));
    match active.len() {
        0 => new.cloned().or_else(|| sorted.first().cloned()),
        1 => active.first().cloned(),
        _ => None,
    }
}

/// The new ReplicaSet has every replica, wants them all and has them all available.
pub(super) fn is_saturated(d: &Deployment, new: Option<&Rs>) -> bool {
    let Some(rs) = new else { return false };
    let Some(desired) =
        du::annotation(rs, du::DESIRED_REPLICAS).and_then(|v| v.parse::<i32>().ok())
    else {
        return false;
    };
    let want = du::replicas(d);
    du::rs_replicas(rs) == want && desired == want && du::rs_available(rs) == want
}

/// New sizes for several active ReplicaSets when the Deployment is resized mid-rollout:
/// each gets its share of the change (by its size relative to the max-replicas annotation),
/// the rounding leftover goes to the first in order (larger first; newer first when
/// growing, older first when shrinking).
pub(super) fn proportional_sizes(d: &Deployment, all: &mut [Rs]) -> HashMap<String, i32> {
    let want = du::replicas(d);
    let allowed = if want > 0 { want + du::max_surge(d) } else { 0 };
    let to_add = allowed - du::replica_count(all);
    if to_add > 0 {
        all.sort_by(|a, b| du::by_size_newer(a, b));
    } else if to_add < 0 {
        all.sort_by(|a, b| du::by_size_older(a, b));
    }
    let mut added = 0;
    let mut sizes = HashMap::new();
    for rs in all.iter() {
        let mut size = du::rs_replicas(rs);
        if to_add != 0 {
            let p = proportion(rs, d, to_add, added);
            size += p;
            added += p;
        }
        sizes.insert(rs.name_any(), size);
    }
    if to_add != 0 {
        if let Some(first) = all.first() {
            let e = sizes.entry(first.name_any()).or_insert(0);
            *e = (*e + to_add - added).max(0);
        }
    }
    sizes
}

fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    let size = du::rs_replicas(rs);
    if size == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let want = du::replicas(d);
    let size = du::rs_replicas(rs);
    if want == 0 {
        return -size;
    }
    let deployment_replicas = want + du::max_surge(d);
    let annotated = du::annotation(rs, du::MAX_REPLICAS)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let new_size = f64::from(size) * f64::from(deployment_replicas) / f64::from(annotated);
    new_size.round() as i32 - size
}

//! ControllerRevisions for DaemonSets and StatefulSets (upstream's `controller/history`):
//! each distinct pod template an owner has had is stored as an `apps/v1` ControllerRevision
//! named `<owner>-<hash>` whose data is the strategic-merge patch that restores the
//! template. Pods carry the hash in `controller-revision-hash`, which is how the owner tells
//! updated pods from old ones and what `kubectl rollout history/undo` reads.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use tracing::debug;

use crate::deployment::util::compute_hash;
use crate::informer::Cache;
use crate::util::{controller_of, controller_ref, is_already_exists, is_not_found};

/// The pod label carrying the hash of the revision a pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The revisions `owner` controls, oldest revision number first.
pub fn owned(
    cache: &Cache<ControllerRevision>,
    owner: &ObjectMeta,
) -> Vec<Arc<ControllerRevision>> {
    let ns = owner.namespace.as_deref().unwrap_or_default();
    let mut out: Vec<_> = cache
        .list(ns)
        .into_iter()
        .filter(|r| controller_of(&r.metadata).is_some_and(|c| Some(&c.uid) == owner.uid.as_ref()))
        .collect();
    out.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    out
}

/// The data a revision stores for `template`: a patch replacing `spec.template`.
pub fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut t {
        m.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The template a revision restores, if its data has the expected shape.
pub fn template_of(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = rev.data.as_ref()?.0.get("spec")?.get("template")?.clone();
    if let Value::Object(m) = &mut t {
        m.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// The revision hash recorded on a revision (its label, else its name's suffix).
pub fn hash_of(rev: &ControllerRevision) -> String {
    if let Some(h) = rev
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_LABEL))
    {
        return h.clone();
    }
    let name = rev.metadata.name.as_deref().unwrap_or_default();
    name.rsplit_once('-')
        .map(|(_, h)| h)
        .unwrap_or(name)
        .to_string()
}

fn same_template(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    crate::deployment::util::equal_ignore_hash(a, b)
}

/// Finds or creates the revision for the owner's current template and returns it with the
/// collision count to report. An equal older revision is reused and renumbered as the newest
/// (a rollback), as upstream does; a name clash with different data bumps the collision
/// count, which changes the hash.
#[allow(clippy::too_many_arguments)]
pub async fn ensure(
    api: &Api<ControllerRevision>,
    api_version: &str,
    kind: &str,
    owner: &ObjectMeta,
    template: &PodTemplateSpec,
    revisions: &[Arc<ControllerRevision>],
    collision_count: i32,
) -> anyhow::Result<(ControllerRevision, i32)> {
    let max = revisions.iter().map(|r| r.revision).max().unwrap_or(0);
    let owner_name = owner.name.as_deref().unwrap_or_default();
    if let Some(eq) = revisions
        .iter()
        .rev()
        .find(|r| template_of(r).is_some_and(|t| same_template(&t, template)))
    {
        if eq.revision == max {
            return Ok(((**eq).clone(), collision_count));
        }
        let patch = json!({"revision": max + 1});
        let name = eq.metadata.name.clone().unwrap_or_default();
        let r = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("renumbering revision {name}"))?;
        return Ok((r, collision_count));
    }
    let mut collisions = collision_count;
    for _ in 0..10 {
        let hash = compute_hash(template, Some(collisions));
        let mut labels: BTreeMap<String, String> = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        labels.insert(REVISION_LABEL.into(), hash.clone());
        let rev = ControllerRevision {
            metadata: ObjectMeta {
                name: Some(format!("{owner_name}-{hash}")),
                namespace: owner.namespace.clone(),
                labels: Some(labels),
                owner_references: Some(vec![controller_ref(api_version, kind, owner)]),
                ..Default::default()
            },
            data: Some(RawExtension(revision_data(template))),
            revision: max + 1,
        };
        match api.create(&PostParams::default(), &rev).await {
            Ok(r) => return Ok((r, collisions)),
            Err(e) if is_already_exists(&e) => {
                let name = rev.metadata.name.clone().unwrap_or_default();
                match api.get_opt(&name).await? {
                    Some(existing)
                        if controller_of(&existing.metadata)
                            .is_some_and(|c| Some(&c.uid) == owner.uid.as_ref())
                            && template_of(&existing)
                                .is_some_and(|t| same_template(&t, template)) =>
                    {
                        return Ok((existing, collisions));
                    }
                    _ => collisions += 1,
                }
            }
            Err(e) => return Err(anyhow!(e).context("creating controller revision")),
        }
    }
    Err(anyhow!(
        "too many hash collisions creating a controller revision"
    ))
}

/// Deletes the oldest revisions beyond `limit` that no live pod uses (`in_use` holds hashes)
/// and that are neither current nor update revision (also in `in_use`).
pub async fn truncate(
    api: &Api<ControllerRevision>,
    revisions: &[Arc<ControllerRevision>],
    in_use: &HashSet<String>,
    limit: i32,
) -> anyhow::Result<()> {
    let unused: Vec<_> = revisions
        .iter()
        .filter(|r| !in_use.contains(&hash_of(r)))
        .collect();
    let excess = unused.len().saturating_sub(limit.max(0) as usize);
    for r in unused.into_iter().take(excess) {
        let name = r.metadata.name.clone().unwrap_or_default();
        debug!(revision = %name, "deleting old controller revision");
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(anyhow!(e).context("deleting old revision")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_the_template() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .unwrap_or_default();
        let rev = ControllerRevision {
            data: Some(RawExtension(revision_data(&t))),
            ..Default::default()
        };
        assert_eq!(
            rev.data
                .as_ref()
                .map(|d| d.0["spec"]["template"]["$patch"].clone()),
            Some(json!("replace"))
        );
        assert_eq!(template_of(&rev), Some(t));
    }
}

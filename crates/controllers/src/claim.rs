//! Adoption and release, as upstream's `ControllerRefManager`: a controller owns the
//! objects (pods, ReplicaSets) whose controller reference points at it. Orphans its selector
//! matches are adopted (a controller reference is patched in); owned objects its selector no
//! longer matches are released (the reference is patched out) so another controller, or
//! none, can take them. Objects controlled by someone else are never touched.

use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::info;

use crate::util::{controller_of, controller_ref, is_not_found, Selector};

/// The claiming controller.
pub struct Owner<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub meta: &'a ObjectMeta,
    pub selector: &'a Selector,
}

/// Returns the candidates the owner controls after adopting and releasing. Patch errors
/// other than NotFound are returned after the rest were handled (the caller requeues).
/// `owner_still_valid` is awaited once before the first adoption: it re-reads the owner so
/// that an owner deleted meanwhile (the cache may be stale) adopts nothing, as upstream's
/// `RecheckDeletionTimestamp`.
pub async fn claim<K, F, Fut>(
    api: &Api<K>,
    owner: &Owner<'_>,
    candidates: Vec<Arc<K>>,
    owner_still_valid: F,
) -> (Vec<Arc<K>>, Option<kube::Error>)
where
    K: Resource + Clone + DeserializeOwned + Debug,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<bool, kube::Error>>,
{
    let owner_uid = owner.meta.uid.as_deref().unwrap_or_default();
    let owner_deleting = owner.meta.deletion_timestamp.is_some();
    let mut recheck = Some(owner_still_valid);
    let mut may_adopt = true;
    let mut claimed = Vec::with_capacity(candidates.len());
    let mut first_err = None;
    for obj in candidates {
        let meta = obj.meta();
        let matches = owner.selector.matches(meta.labels.as_ref());
        match controller_of(meta) {
            Some(r) if r.uid != owner_uid => {}
            Some(_) if matches => claimed.push(obj),
            Some(_) => {
                if owner_deleting {
                    continue;
                }
                let patch = json!({"metadata": {
                    "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
                    "uid": meta.uid,
                }});
                match patch_obj(api, &obj, &patch).await {
                    Ok(_) => info!(
                        owner = %owner.meta.name.as_deref().unwrap_or_default(),
                        object = %obj.name_any(),
                        "released object its selector no longer matches"
                    ),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            None => {
                if owner_deleting || !matches || meta.deletion_timestamp.is_some() {
                    continue;
                }
                if meta.namespace != owner.meta.namespace {
                    continue;
                }
                if let Some(f) = recheck.take() {
                    match f().await {
                        Ok(valid) => may_adopt = valid,
                        Err(e) => {
                            may_adopt = false;
                            first_err.get_or_insert(e);
                        }
                    }
                }
                if !may_adopt {
                    continue;
                }
                let r = controller_ref(owner.api_version, owner.kind, owner.meta);
                let patch = json!({"metadata": {"ownerReferences": [r], "uid": meta.uid}});
                match patch_obj(api, &obj, &patch).await {
                    Ok(adopted) => {
                        info!(
                            owner = %owner.meta.name.as_deref().unwrap_or_default(),
                            object = %obj.name_any(),
                            "adopted orphan"
                        );
                        claimed.push(Arc::new(adopted));
                    }
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
    }
    (claimed, first_err)
}

async fn patch_obj<K>(api: &Api<K>, obj: &K, patch: &serde_json::Value) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
}

/// The usual owner re-check: the owner still exists with the same uid and is not being
/// deleted.
pub async fn owner_valid<O>(api: &Api<O>, meta: &ObjectMeta) -> Result<bool, kube::Error>
where
    O: Resource + Clone + DeserializeOwned + Debug,
{
    let name = meta.name.as_deref().unwrap_or_default();
    Ok(match api.get_opt(name).await? {
        Some(fresh) => fresh.meta().uid == meta.uid && fresh.meta().deletion_timestamp.is_none(),
        None => false,
    })
}

//! create, update (PUT) and patch. Every write goes through `admit` (defaults, validation) and
//! is guarded by the revision it was computed from, so concurrent writers never lose updates.

use std::borrow::Cow;
use std::sync::Arc;

use http::{Response, StatusCode};
use rkube_apimachinery::status::ApiError;
use rkube_store::Revision;
use serde_json::{json, Value};

use super::{reply, store_error, Ctx};
use crate::admission::{check_type, prepare_create, validate_meta};
use crate::http::Body;
use crate::object::{from_stored, meta_mut};
use crate::{defaults, patch};

/// Tries of a patch against a concurrently changing object before giving up with 409.
const PATCH_RETRIES: usize = 5;

pub async fn create(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    crate::apply::check_manager(ctx, "CreateOptions")?;
    let mut obj = ctx.decode_body()?;
    crate::apply::track(ctx, None, &mut obj);
    let created = insert(ctx, obj).await?;
    reply(StatusCode::CREATED, &created)
}

/// Admits and stores a new object (POST, or server-side apply of a missing object).
async fn insert(ctx: &Ctx<'_>, mut obj: Value) -> Result<Arc<Value>, ApiError> {
    let info = ctx.rr.info;
    check_type(info, &mut obj)?;
    let ns = ctx.rr.namespace.as_deref();
    if let (Some(url_ns), Some(body_ns)) = (ns, crate::object::namespace(&obj)) {
        if !body_ns.is_empty() && body_ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    if let Some(ns) = ns {
        ctx.srv.check_namespace_open(ns).await?;
    }
    let name = prepare_create(&mut obj, ns);
    if !info.namespaced {
        meta_mut(&mut obj).remove("namespace");
    }
    defaults::apply(info, &mut obj);
    if info.group == "batch" && info.kind == "Job" {
        defaults::job_selector(&mut obj);
    }
    let is_pod = info.group.is_empty() && info.kind == "Pod";
    if is_pod {
        defaults::default_toleration_seconds(&mut obj);
        if let Some(ns) = ns {
            crate::limitrange::admit(ctx.srv, ns, &name, &mut obj)?;
        }
        crate::priority::admit(ctx.srv, &name, &mut obj).await?;
        if let Some(ns) = ns {
            crate::serviceaccount::admit(ctx.srv, ns, &mut obj);
        }
    }
    ctx.admit_custom(&mut obj)?;
    validate_meta(info, &obj, &name)?;
    // Held until the object is stored: quota admission is serialised per namespace.
    let _quota = match ns {
        Some(ns) => crate::quota::admit(ctx.srv, info, ns, &name, &obj).await?,
        None => None,
    };
    let dry_run = ctx.query.dry_run()?;
    ctx.srv.allocate(info, &mut obj, dry_run).await?;
    let key = info
        .storage_key(ns, &name)
        .ok_or_else(|| ApiError::method_not_allowed("this resource is not stored"))?;
    if dry_run {
        crate::object::set_resource_version(&mut obj, 0);
        return Ok(Arc::new(obj));
    }
    let converted = match crate::versions::to_storage(info, &obj) {
        Ok(Cow::Borrowed(_)) => None,
        Ok(Cow::Owned(s)) => Some(s),
        Err(e) => {
            ctx.srv.release(info, &obj, None).await;
            return Err(e);
        }
    };
    let srv = ctx.srv;
    match crate::pending::write(&*srv.store, &srv.cache, &key, obj, converted.as_ref(), None).await
    {
        Ok(created) => Ok(created),
        Err((e, obj)) => {
            // Not stored: its reservations (if any) go now rather than at the next repair.
            srv.release(info, &obj, None).await;
            Err(match e {
                rkube_store::StoreError::AlreadyExists { .. } => {
                    ApiError::already_exists(info.group, info.plural, &name)
                }
                other => store_error(ctx, other),
            })
        }
    }
}

/// The current object and its revision.
pub(super) async fn current(ctx: &Ctx<'_>) -> Result<(Value, Revision), ApiError> {
    let key = ctx.key()?;
    let kv = ctx
        .srv
        .store
        .get(&key)
        .await
        .map_err(|e| store_error(ctx, e))?
        .ok_or_else(|| ctx.not_found())?;
    let obj = from_stored(&kv.value, kv.mod_revision)
        .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))?;
    Ok((
        crate::versions::to_request(ctx.rr.info, obj),
        kv.mod_revision,
    ))
}

/// Whether the kind has a status subresource (then the main resource ignores status and
/// `/status` ignores everything else).
fn has_status(ctx: &Ctx<'_>) -> bool {
    ctx.rr.info.subresource("status").is_some()
}

/// Builds the object to store from the client's `new` and the stored `old`.
fn merge_update(ctx: &Ctx<'_>, old: &Value, mut new: Value) -> Result<Value, ApiError> {
    let info = ctx.rr.info;
    check_type(info, &mut new)?;
    let status_only = ctx.rr.subresource.as_deref() == Some("status");
    if status_only {
        // Only status changes through /status.
        let mut out = old.clone();
        match new.as_object_mut().and_then(|m| m.remove("status")) {
            Some(s) => out["status"] = s,
            None => {
                if let Some(m) = out.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        return Ok(out);
    }
    // Server-owned metadata comes from the stored object.
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    {
        let m = meta_mut(&mut new);
        for k in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match old_meta.get(k) {
                Some(v) => {
                    m.insert(k.to_string(), v.clone());
                }
                None => {
                    m.remove(k);
                }
            }
        }
    }
    if has_status(ctx) {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    defaults::apply(info, &mut new);
    ctx.admit_custom(&mut new)?;
    let causes = crate::immutable::validate_update(info, old, &new);
    if !causes.is_empty() {
        let name = crate::object::name(old).unwrap_or("");
        return Err(ApiError::invalid(info.group, info.kind, name, causes));
    }
    // generation counts changes to everything but metadata and status.
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    if strip(old) != strip(&new) {
        let g = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    Ok(new)
}

/// Validates and stores `new` over the object at `rev`; deletes it instead when the last
/// finalizer of an object being deleted (with no grace period left) was removed.
async fn commit(
    ctx: &Ctx<'_>,
    old: &Value,
    mut new: Value,
    rev: Revision,
) -> Result<Arc<Value>, ApiError> {
    let name = ctx.rr.name.clone().unwrap_or_default();
    validate_meta(ctx.rr.info, &new, &name)?;
    // An update that changes nothing is not written (no new resourceVersion, no event), as
    // upstream's storage does.
    if crate::object::same_stored(old, &new) {
        return Ok(Arc::new(old.clone()));
    }
    let key = ctx.key()?;
    let deleting = crate::object::meta(&new).is_some_and(|m| m.contains_key("deletionTimestamp"));
    let finalizers_left = crate::object::meta(&new)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if ctx.query.dry_run()? {
        return Ok(Arc::new(new));
    }
    // As upstream's ShouldDeleteDuringUpdate: only an object whose grace period is over
    // (0) goes with its last finalizer; a pod still terminating gracefully is removed by the
    // kubelet's final delete, not by its status writes.
    let grace_over = crate::object::meta(old)
        .and_then(|m| m.get("deletionGracePeriodSeconds"))
        .and_then(Value::as_i64)
        .is_none_or(|g| g == 0);
    if deleting && !finalizers_left && grace_over {
        let d = ctx
            .srv
            .store
            .delete(&key, Some(rev))
            .await
            .map_err(|e| store_error(ctx, e))?;
        ctx.srv.release(ctx.rr.info, old, None).await;
        crate::object::set_resource_version(&mut new, d.revision);
        return Ok(Arc::new(new));
    }
    let converted = match crate::versions::to_storage(ctx.rr.info, &new)? {
        Cow::Borrowed(_) => None,
        Cow::Owned(s) => Some(s),
    };
    let srv = ctx.srv;
    let saved = crate::pending::write(
        &*srv.store,
        &srv.cache,
        &key,
        new,
        converted.as_ref(),
        Some(rev),
    )
    .await
    .map_err(|(e, _)| store_error(ctx, e))?;
    srv.release(ctx.rr.info, old, Some(&saved)).await;
    Ok(saved)
}

pub async fn update(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body = ctx.decode_body()?;
    let url_name = ctx.rr.name.as_deref().unwrap_or("");
    if let Some(n) = crate::object::name(&body) {
        if n != url_name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({url_name})"
            )));
        }
    }
    if let (Some(url_ns), Some(body_ns)) =
        (ctx.rr.namespace.as_deref(), crate::object::namespace(&body))
    {
        if !body_ns.is_empty() && body_ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let (old, rev) = current(ctx).await?;
    if let Some(want) = crate::object::meta_str(&body, "resourceVersion").filter(|s| !s.is_empty())
    {
        if want != rev.to_string() {
            return Err(super::store_error(
                ctx,
                rkube_store::StoreError::Conflict {
                    key: String::new(),
                    expected: 0,
                    actual: rev,
                },
            ));
        }
    }
    if let Some(uid) = crate::object::meta_str(&body, "uid").filter(|s| !s.is_empty()) {
        if Some(uid) != crate::object::meta_str(&old, "uid") {
            return Err(ApiError::conflict(
                ctx.rr.group(),
                ctx.rr.resource(),
                url_name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    crate::object::meta_str(&old, "uid").unwrap_or("")
                ),
            ));
        }
    }
    crate::apply::check_manager(ctx, "UpdateOptions")?;
    let mut new = merge_update(ctx, &old, body)?;
    crate::apply::track(ctx, Some(&old), &mut new);
    let saved = commit(ctx, &old, new, rev).await?;
    reply(StatusCode::OK, &saved)
}

pub async fn patch(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let content_type = ctx
        .content_type()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let kind = patch::PatchKind::from_content_type(&content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(&content_type))?;
    if kind == patch::PatchKind::Apply {
        return server_side_apply(ctx).await;
    }
    crate::apply::check_manager(ctx, "PatchOptions")?;
    let mut last_err = None;
    for _ in 0..PATCH_RETRIES {
        let (old, rev) = current(ctx).await?;
        let patched = patch::apply(kind, ctx.rr.info, &old, &ctx.body)?;
        let mut new = merge_update(ctx, &old, patched)?;
        crate::apply::track(ctx, Some(&old), &mut new);
        match commit(ctx, &old, new, rev).await {
            Ok(saved) => return reply(StatusCode::OK, &saved),
            Err(e) if e.code == 409 && e.reason == "Conflict" => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| ApiError::internal("patch retries exhausted")))
}

/// `PATCH` with `application/apply-patch+yaml`: creates the object if missing.
async fn server_side_apply(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let applied = super::parse_yaml(&ctx.body)?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "the body of an apply patch must be an object",
        ));
    }
    let url_name = ctx.rr.name.as_deref().unwrap_or("");
    if let Some(n) = crate::object::name(&applied) {
        if n != url_name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({url_name})"
            )));
        }
    }
    let mut last_err = None;
    for _ in 0..PATCH_RETRIES {
        let live = match current(ctx).await {
            Ok(x) => Some(x),
            Err(e) if e.code == 404 && ctx.rr.subresource.is_none() => None,
            Err(e) => return Err(e),
        };
        match live {
            None => {
                let mut obj = crate::apply::apply(ctx, None, &applied)?;
                crate::object::meta_mut(&mut obj).insert("name".into(), json!(url_name));
                match insert(ctx, obj).await {
                    Ok(created) => return reply(StatusCode::CREATED, &created),
                    Err(e) if e.code == 409 && e.reason == "AlreadyExists" => last_err = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Some((old, rev)) => {
                let out = crate::apply::apply(ctx, Some(&old), &applied)?;
                let new = merge_update(ctx, &old, out)?;
                match commit(ctx, &old, new, rev).await {
                    Ok(saved) => return reply(StatusCode::OK, &saved),
                    Err(e) if e.code == 409 && e.reason == "Conflict" && e.causes().is_empty() => {
                        last_err = Some(e)
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(last_err.unwrap_or_else(|| ApiError::internal("apply retries exhausted")))
}

//! delete and deletecollection: graceful deletion (deletionTimestamp), finalizers,
//! preconditions and propagation policy, as upstream's generic registry store does.

use http::{Response, StatusCode};
use rkube_apimachinery::status::ApiError;
use serde_json::{json, Value};

use super::{reply, store_error, Ctx};
use crate::http::Body;
use crate::object::{from_stored, meta_mut, now_rfc3339, to_stored};

/// The parts of `DeleteOptions` the server acts on (body first, then query parameters).
struct DeleteOptions {
    grace: Option<i64>,
    propagation: Option<String>,
    precondition_uid: Option<String>,
    precondition_rv: Option<String>,
    /// `dryRun: ["All"]` in the body (client-go sends it there) or the query.
    dry_run: bool,
}

fn options(ctx: &Ctx<'_>) -> Result<DeleteOptions, ApiError> {
    let body: Value = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        super::decode(ctx.content_type(), &ctx.body)?
    };
    let mut grace = body.get("gracePeriodSeconds").and_then(Value::as_i64);
    if grace.is_none() {
        grace = ctx.query.int("gracePeriodSeconds")?;
    }
    let mut propagation = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| ctx.query.get("propagationPolicy").map(str::to_string));
    let orphan = body
        .get("orphanDependents")
        .and_then(Value::as_bool)
        .or_else(|| ctx.query.get("orphanDependents").map(|v| v == "true"));
    if propagation.is_none() && orphan == Some(true) {
        propagation = Some("Orphan".into());
    }
    if let Some(p) = &propagation {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            return Err(ApiError::invalid(
                "",
                "DeleteOptions",
                "",
                vec![rkube_apimachinery::status::Cause::new(
                    "FieldValueNotSupported",
                    "propagationPolicy",
                    format!("Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""),
                )],
            ));
        }
    }
    let mut dry_run = ctx.query.dry_run()?;
    for v in body
        .get("dryRun")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if v != "All" {
            return Err(ApiError::bad_request(format!(
                "Invalid dry run value: {v}; the only supported value is \"All\""
            )));
        }
        dry_run = true;
    }
    if let Some(g) = grace {
        if g < 0 {
            return Err(ApiError::bad_request(format!(
                "gracePeriodSeconds must be >= 0, got {g}"
            )));
        }
    }
    Ok(DeleteOptions {
        grace,
        propagation,
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run,
    })
}

pub async fn delete(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let opts = options(ctx)?;
    let key = ctx.key()?;
    let name = ctx.rr.name.clone().unwrap_or_default();
    let (group, resource) = (ctx.rr.group(), ctx.rr.resource());
    let kv = ctx
        .srv
        .store
        .get(&key)
        .await
        .map_err(|e| store_error(ctx, e))?
        .ok_or_else(|| ctx.not_found())?;
    let mut obj = from_stored(&kv.value, kv.mod_revision)
        .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))?;
    let uid = crate::object::meta_str(&obj, "uid")
        .unwrap_or("")
        .to_string();
    if let Some(want) = &opts.precondition_uid {
        if *want != uid {
            return Err(ApiError::conflict(
                group,
                resource,
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"
                ),
            ));
        }
    }
    if let Some(want) = &opts.precondition_rv {
        if *want != kv.mod_revision.to_string() {
            return Err(ApiError::conflict(group, resource, &name, &format!(
                "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {}",
                kv.mod_revision
            )));
        }
    }
    let dry_run = opts.dry_run;

    let is_pod = group.is_empty() && resource == "pods";
    let on_node = is_pod
        && obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
    let pod_finished = is_pod
        && matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded") | Some("Failed")
        );
    let grace = if is_pod && on_node && !pod_finished {
        opts.grace
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
    } else {
        0
    };

    let mut finalizers: Vec<Value> = crate::object::meta(&obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let already_deleting =
        crate::object::meta(&obj).is_some_and(|m| m.contains_key("deletionTimestamp"));
    match opts.propagation.as_deref() {
        Some("Orphan") if !finalizers.contains(&json!("orphan")) => {
            finalizers.push(json!("orphan"))
        }
        Some("Foreground") if !finalizers.contains(&json!("foregroundDeletion")) => {
            finalizers.push(json!("foregroundDeletion"))
        }
        _ => {}
    }
    // Namespaces are emptied by the namespace controller before they go.
    let is_namespace = group.is_empty() && resource == "namespaces";
    let ns_finalizers = is_namespace
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());

    if finalizers.is_empty() && grace == 0 && !ns_finalizers {
        if !dry_run {
            ctx.srv
                .store
                .delete(&key, Some(kv.mod_revision))
                .await
                .map_err(|e| store_error(ctx, e))?;
            ctx.srv.release(ctx.rr.info, &obj, None).await;
        }
        return reply(
            StatusCode::OK,
            &crate::versions::to_request(ctx.rr.info, obj),
        );
    }
    if already_deleting && !(is_pod && opts.grace == Some(0)) {
        // A second delete of an object already being deleted changes nothing.
        return reply(
            StatusCode::OK,
            &crate::versions::to_request(ctx.rr.info, obj),
        );
    }
    if is_pod && opts.grace == Some(0) && already_deleting && finalizers.is_empty() {
        if !dry_run {
            ctx.srv
                .store
                .delete(&key, Some(kv.mod_revision))
                .await
                .map_err(|e| store_error(ctx, e))?;
        }
        return reply(
            StatusCode::OK,
            &crate::versions::to_request(ctx.rr.info, obj),
        );
    }
    {
        let m = meta_mut(&mut obj);
        m.insert("deletionTimestamp".into(), json!(deletion_time(grace)));
        m.insert("deletionGracePeriodSeconds".into(), json!(grace));
        if !finalizers.is_empty() {
            m.insert("finalizers".into(), Value::Array(finalizers));
        }
    }
    if is_namespace {
        obj["status"]["phase"] = json!("Terminating");
    }
    if dry_run {
        return reply(
            StatusCode::OK,
            &crate::versions::to_request(ctx.rr.info, obj),
        );
    }
    let saved = ctx
        .srv
        .store
        .update(&key, to_stored(&obj), Some(kv.mod_revision))
        .await
        .map_err(|e| store_error(ctx, e))?;
    crate::object::set_resource_version(&mut obj, saved.mod_revision);
    // Graceful deletion answers 200 with the object, as upstream does.
    reply(
        StatusCode::OK,
        &crate::versions::to_request(ctx.rr.info, obj),
    )
}

/// `now + grace` in RFC 3339: upstream sets deletionTimestamp to when the grace period ends.
fn deletion_time(grace: i64) -> String {
    if grace <= 0 {
        return now_rfc3339();
    }
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(grace);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub async fn delete_collection(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let filter = super::list_filter(ctx)?;
    ctx.srv
        .cache
        .wait_fresh()
        .await
        .map_err(super::read::cache_error)?;
    let snap = ctx.srv.cache.list(&filter.prefix, &|o| filter.matches(o));
    let mut deleted = Vec::new();
    for obj in snap.items {
        let Some(name) = crate::object::name(&obj).map(str::to_string) else {
            continue;
        };
        let mut rr = ctx.rr.clone();
        rr.name = Some(name);
        rr.namespace = crate::object::namespace(&obj)
            .map(str::to_string)
            .or(rr.namespace);
        let one = Ctx::new(
            ctx.srv,
            rr,
            ctx.query.clone(),
            ctx.headers,
            ctx.body.clone(),
        );
        match delete(&one).await {
            Ok(_) => deleted.push((*obj).clone()),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = super::read::list_object(ctx, deleted, ctx.srv.cache.revision(), None, None);
    reply(StatusCode::OK, &list)
}

//! Subresources with their own shapes: `scale` (autoscaling/v1 Scale over a workload's
//! `spec.replicas`), `binding` (assigns a pod to a node), `eviction` (a policy-checked
//! delete), and `namespaces/finalize`.

use http::{Response, StatusCode};
use rkube_apimachinery::status::ApiError;
use serde_json::{json, Value};

use super::{reply, store_error, write, Ctx};
use crate::http::Body;
use crate::object::{meta_str, to_stored};

/// `metav1.FormatLabelSelector`: `a=b,c in (d,e),!f`.
pub fn format_selector(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    parts.sort();
    parts.join(",")
}

fn scale_of(obj: &Value) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut meta = json!({});
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(k) {
            meta[k] = v.clone();
        }
    }
    let selector = obj
        .pointer("/spec/selector")
        .map(|s| {
            if s.get("matchLabels").is_some() || s.get("matchExpressions").is_some() {
                format_selector(s)
            } else {
                // ReplicationControllers have a plain map selector.
                let mut p: Vec<String> = s
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                            .collect()
                    })
                    .unwrap_or_default();
                p.sort();
                p.join(",")
            }
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

pub async fn get_scale(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (obj, _) = write::current(ctx).await?;
    reply(StatusCode::OK, &scale_of(&obj))
}

/// PUT or PATCH of `/scale`: the new replica count goes into the parent's spec.
pub async fn update_scale(ctx: &Ctx<'_>, patch: bool) -> Result<Response<Body>, ApiError> {
    for _ in 0..5 {
        let (obj, rev) = write::current(ctx).await?;
        let old_scale = scale_of(&obj);
        let new_scale = if patch {
            let content_type = ctx
                .content_type()
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let kind = crate::patch::PatchKind::from_content_type(&content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(&content_type))?;
            crate::patch::apply_scale(kind, &old_scale, &ctx.body)?
        } else {
            let s = ctx.decode_body()?;
            if let Some(want) = meta_str(&s, "resourceVersion").filter(|v| !v.is_empty()) {
                if want != rev.to_string() {
                    return Err(store_error(
                        ctx,
                        rkube_store::StoreError::Conflict {
                            key: String::new(),
                            expected: 0,
                            actual: rev,
                        },
                    ));
                }
            }
            s
        };
        let replicas = match new_scale.pointer("/spec/replicas") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| ApiError::bad_request("spec.replicas must be an integer"))?,
        };
        if replicas < 0 {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                ctx.rr.name.as_deref().unwrap_or(""),
                vec![rkube_apimachinery::status::Cause::new(
                    "FieldValueInvalid",
                    "spec.replicas",
                    format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                )],
            ));
        }
        let mut updated = obj.clone();
        updated["spec"]["replicas"] = json!(replicas);
        if updated != obj {
            let g = updated
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            updated["metadata"]["generation"] = json!(g + 1);
        }
        if ctx.query.dry_run()? {
            return reply(StatusCode::OK, &scale_of(&updated));
        }
        match ctx
            .srv
            .store
            .update(&ctx.key()?, to_stored(&updated), Some(rev))
            .await
        {
            Ok(kv) => {
                crate::object::set_resource_version(&mut updated, kv.mod_revision);
                return reply(StatusCode::OK, &scale_of(&updated));
            }
            Err(rkube_store::StoreError::Conflict { .. }) if patch => continue,
            Err(e) => return Err(store_error(ctx, e)),
        }
    }
    Err(ApiError::conflict(ctx.rr.group(), ctx.rr.resource(), ctx.rr.name.as_deref().unwrap_or(""), "the object has been modified; please apply your changes to the latest version and try again"))
}

/// `POST pods/<name>/binding`: assigns the pod to a node, once.
pub async fn bind(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let binding = ctx.decode_body()?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "",
                "Binding",
                ctx.rr.name.as_deref().unwrap_or(""),
                vec![rkube_apimachinery::status::Cause::new(
                    "FieldValueRequired",
                    "target.name",
                    "Required value",
                )],
            )
        })?
        .to_string();
    let name = ctx.rr.name.clone().unwrap_or_default();
    let (mut pod, rev) = write::current(ctx).await?;
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError::conflict(
            "",
            "pods",
            &name,
            "pod is being deleted, cannot be assigned to a host",
        ));
    }
    if let Some(cur) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError::conflict(
            "",
            "pods",
            &name,
            &format!("pod {name} is already assigned to node \"{cur}\""),
        ));
    }
    pod["spec"]["nodeName"] = json!(node);
    let now = crate::object::now_rfc3339();
    let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let conds = pod["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conds: Vec<Value> = conds
        .into_iter()
        .filter(|c| c["type"] != "PodScheduled")
        .collect();
    conds.push(cond);
    pod["status"]["conditions"] = Value::Array(conds);
    if let Some(ann) = binding
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for (k, v) in ann {
            pod["metadata"]["annotations"][k] = v.clone();
        }
    }
    if !ctx.query.dry_run()? {
        let (srv, key) = (ctx.srv, ctx.key()?);
        crate::pending::write(&*srv.store, &srv.cache, &key, pod, None, Some(rev))
            .await
            .map_err(|(e, _)| store_error(ctx, e))?;
    }
    reply(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

/// `POST pods/<name>/eviction`: a delete that disruption budgets may refuse.
pub async fn evict(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let eviction = ctx.decode_body()?;
    let (pod, _) = write::current(ctx).await?;
    crate::disruption::check(ctx.srv, &pod).await?;
    let body = eviction
        .get("deleteOptions")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let one = Ctx::new(
        ctx.srv,
        ctx.rr.clone(),
        ctx.query.clone(),
        ctx.headers,
        bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    );
    super::delete::delete(&one).await?;
    reply(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

/// `POST serviceaccounts/<name>/token`: a TokenRequest answered with a signed token.
pub async fn token(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body = ctx.decode_body()?;
    let ns = ctx.rr.namespace.as_deref().unwrap_or("default");
    let name = ctx.rr.name.as_deref().unwrap_or_default();
    let answer = crate::satoken::request(ctx.srv, ns, name, body, ctx.query.dry_run()?).await?;
    reply(StatusCode::CREATED, &answer)
}

/// `PUT namespaces/<name>/finalize`: only `spec.finalizers` changes; a namespace being
/// deleted goes once its last finalizer is gone.
pub async fn finalize(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body = ctx.decode_body()?;
    let (mut ns, rev) = write::current(ctx).await?;
    ns["spec"]["finalizers"] = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let empty = ns["spec"]["finalizers"]
        .as_array()
        .is_none_or(|f| f.is_empty());
    let deleting = ns.pointer("/metadata/deletionTimestamp").is_some();
    let meta_finalizers = ns
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if ctx.query.dry_run()? {
        return reply(StatusCode::OK, &ns);
    }
    if empty && deleting && !meta_finalizers {
        ctx.srv
            .store
            .delete(&ctx.key()?, Some(rev))
            .await
            .map_err(|e| store_error(ctx, e))?;
        return reply(StatusCode::OK, &ns);
    }
    let kv = ctx
        .srv
        .store
        .update(&ctx.key()?, to_stored(&ns), Some(rev))
        .await
        .map_err(|e| store_error(ctx, e))?;
    crate::object::set_resource_version(&mut ns, kv.mod_revision);
    reply(StatusCode::OK, &ns)
}

//! Encoding replies: the object or list as JSON, or the server-side Table kubectl asks for.

use std::sync::Arc;

use http::{Response, StatusCode};
use rkube_apimachinery::registry::ResourceInfo;
use rkube_apimachinery::status::ApiError;
use serde_json::{json, Value};

use crate::http::{json_response, Body};
use crate::rest::Ctx;

/// Whether the client asked for a `meta.k8s.io` Table.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|p| {
        let p = p.replace(' ', "");
        p.contains("as=Table") && p.contains("g=meta.k8s.io")
    })
}

/// What each row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Include {
    None,
    Metadata,
    Object,
}

fn include(ctx: &Ctx<'_>) -> Include {
    match ctx.query.get("includeObject") {
        Some("None") => Include::None,
        Some("Object") => Include::Object,
        _ => Include::Metadata,
    }
}

fn columns(_info: &ResourceInfo) -> Value {
    json!([
        {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names", "priority": 0},
        {"name": "Created At", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", "priority": 0},
    ])
}

fn row(obj: &Value, inc: Include) -> Value {
    let cells = json!([
        crate::object::name(obj).unwrap_or(""),
        crate::object::meta_str(obj, "creationTimestamp").unwrap_or(""),
    ]);
    let mut r = json!({"cells": cells});
    match inc {
        Include::None => {}
        Include::Metadata => {
            r["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            })
        }
        Include::Object => r["object"] = obj.clone(),
    }
    r
}

fn table(info: &ResourceInfo, objs: &[&Value], rv: i64, inc: Include, with_columns: bool) -> Value {
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "rows": objs.iter().map(|o| row(o, inc)).collect::<Vec<_>>(),
    });
    if with_columns {
        t["columnDefinitions"] = columns(info);
    }
    t
}

/// The one-row Table of a watch event.
pub fn watch_row(info: &ResourceInfo, obj: &Value) -> Value {
    let rv = crate::object::meta_str(obj, "resourceVersion")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    table(info, &[obj], rv, Include::Metadata, true)
}

pub fn respond_one(ctx: &Ctx<'_>, obj: Value) -> Result<Response<Body>, ApiError> {
    if wants_table(ctx.accept()) {
        let rv = crate::object::meta_str(&obj, "resourceVersion")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        return Ok(json_response(
            StatusCode::OK,
            &table(ctx.rr.info, &[&obj], rv, include(ctx), true),
        ));
    }
    Ok(json_response(StatusCode::OK, &obj))
}

pub fn respond_list(
    ctx: &Ctx<'_>,
    items: Vec<Arc<Value>>,
    rv: i64,
    cont: Option<String>,
    remaining: Option<i64>,
) -> Result<Response<Body>, ApiError> {
    if wants_table(ctx.accept()) {
        let objs: Vec<&Value> = items.iter().map(|o| &**o).collect();
        let mut t = table(ctx.rr.info, &objs, rv, include(ctx), true);
        if let Some(c) = cont {
            t["metadata"]["continue"] = json!(c);
        }
        if let Some(r) = remaining {
            t["metadata"]["remainingItemCount"] = json!(r);
        }
        return Ok(json_response(StatusCode::OK, &t));
    }
    let items: Vec<Value> = items.iter().map(|o| (**o).clone()).collect();
    let list = crate::rest::list_object(ctx, items, rv, cont, remaining);
    Ok(json_response(StatusCode::OK, &list))
}

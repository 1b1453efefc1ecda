//! Encoding replies: the object or list as JSON, or the server-side Table kubectl asks for
//! (printers in `rkube_apimachinery::table`; CRDs use their additionalPrinterColumns).

use std::sync::Arc;

use http::{Response, StatusCode};
use rkube_apimachinery::registry::ResourceInfo;
use rkube_apimachinery::status::ApiError;
use rkube_apimachinery::table::{self as printers, IncludeObject, TableOptions};
use serde_json::{json, Value};

use crate::http::{json_response, Body};
use crate::resources::Resources;
use crate::rest::Ctx;

/// Whether the client asked for a `meta.k8s.io` Table.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|p| {
        let p = p.replace(' ', "");
        p.contains("as=Table") && p.contains("g=meta.k8s.io")
    })
}

/// Whether the client asked for metadata only (`PartialObjectMetadata[List]`), as the
/// garbage collector's and other metadata informers do.
pub fn wants_metadata(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|p| {
        let p = p.replace(' ', "");
        p.contains("as=PartialObjectMetadata") && p.contains("g=meta.k8s.io")
    })
}

/// The `PartialObjectMetadata` view of an object, borrowing its metadata: metadata watches
/// (the garbage collector's) see every write, so the view is serialized without a copy.
pub fn partial(obj: &Value) -> Partial<'_> {
    Partial {
        kind: "PartialObjectMetadata",
        api_version: "meta.k8s.io/v1",
        metadata: obj.get("metadata").unwrap_or(&EMPTY_OBJECT),
    }
}

static EMPTY_OBJECT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| json!({}));

#[derive(serde::Serialize)]
pub struct Partial<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: &'a Value,
}

fn options(ctx: &Ctx<'_>) -> Result<TableOptions, ApiError> {
    let include_object = IncludeObject::from_query(ctx.query.get("includeObject").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(TableOptions {
        include_object,
        ..Default::default()
    })
}

/// The Table of `objs`, with `rv` as its resourceVersion.
pub fn table<T: std::borrow::Borrow<Value>>(
    res: &Resources,
    info: &ResourceInfo,
    objs: &[T],
    rv: i64,
    opts: TableOptions,
) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let mut t = match res.crd_version(info.group, info.version, info.plural) {
        Some(v) => printers::table_from_printer_columns(&v.printer_columns, objs, now, opts),
        None => printers::table_for(info.group, info.kind, objs, now, opts),
    };
    t["metadata"] = json!({"resourceVersion": rv.to_string()});
    t
}

/// The one-row Table of a watch event.
pub fn watch_row(res: &Resources, info: &ResourceInfo, obj: &Value) -> Value {
    let rv = crate::object::meta_str(obj, "resourceVersion")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    table(
        res,
        info,
        std::slice::from_ref(obj),
        rv,
        TableOptions::default(),
    )
}

pub fn respond_one(ctx: &Ctx<'_>, obj: Value) -> Result<Response<Body>, ApiError> {
    if wants_metadata(ctx.accept()) {
        let bytes =
            serde_json::to_vec(&partial(&obj)).map_err(|e| ApiError::internal(e.to_string()))?;
        return Ok(crate::http::raw_response(
            StatusCode::OK,
            "application/json",
            bytes,
        ));
    }
    if wants_table(ctx.accept()) {
        let rv = crate::object::meta_str(&obj, "resourceVersion")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let t = table(
            &ctx.srv.resources,
            ctx.rr.info,
            std::slice::from_ref(&obj),
            rv,
            options(ctx)?,
        );
        return Ok(json_response(StatusCode::OK, &t));
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
    let info = ctx.rr.info;
    // Only cohabiting kinds need conversion; everything else is encoded straight from the
    // cache's shared objects, without copying them.
    let items: Vec<Arc<Value>> =
        if rkube_apimachinery::conversion::storage_version(info.group, info.plural).is_some() {
            items
                .into_iter()
                .map(|o| Arc::new(crate::versions::to_request(info, (*o).clone())))
                .collect()
        } else {
            items
        };
    if wants_table(ctx.accept()) {
        let mut t = table(&ctx.srv.resources, info, &items, rv, options(ctx)?);
        if let Some(c) = cont {
            t["metadata"]["continue"] = json!(c);
        }
        if let Some(r) = remaining {
            t["metadata"]["remainingItemCount"] = json!(r);
        }
        return Ok(json_response(StatusCode::OK, &t));
    }
    let metadata_only = wants_metadata(ctx.accept());
    let (kind, api_version) = if metadata_only {
        (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
        )
    } else {
        (format!("{}List", info.kind), info.api_version())
    };
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        meta["remainingItemCount"] = json!(r);
    }
    // The list is written item by item into one buffer.
    let mut out = Vec::with_capacity(items.len() * 1024 + 256);
    let head = json!({"kind": kind, "apiVersion": api_version, "metadata": meta});
    let head = serde_json::to_vec(&head).map_err(|e| ApiError::internal(e.to_string()))?;
    out.extend_from_slice(&head[..head.len() - 1]);
    out.extend_from_slice(b",\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let r = if metadata_only {
            serde_json::to_writer(&mut out, &partial(o))
        } else {
            serde_json::to_writer(&mut out, &**o)
        };
        r.map_err(|e| ApiError::internal(e.to_string()))?;
    }
    out.extend_from_slice(b"]}");
    Ok(crate::http::raw_response(
        StatusCode::OK,
        "application/json",
        out,
    ))
}

//! get and list.

use std::sync::Arc;

use http::Response;
use rkube_apimachinery::selector::{FieldSelector, LabelSelector};
use rkube_apimachinery::status::ApiError;
use rkube_store::ListOptions;
use serde_json::{json, Value};

use super::{store_error, Ctx};
use crate::cache::CacheError;
use crate::fields;
use crate::http::Body;
use crate::object::{from_stored, labels};

pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
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
    crate::table::respond_one(ctx, crate::versions::to_request(ctx.rr.info, obj))
}

/// The filter of a list or watch: namespace (through the key prefix), labels and fields.
pub struct ListFilter {
    pub prefix: String,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl ListFilter {
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.labels {
            if !l.matches(&labels(obj)) {
                return false;
            }
        }
        if let Some(f) = &self.fields {
            if !f.matches(|field| fields::value(obj, field)) {
                return false;
            }
        }
        true
    }
}

pub fn list_filter(ctx: &Ctx<'_>) -> Result<ListFilter, ApiError> {
    let info = ctx.rr.info;
    let prefix = info
        .storage_list_prefix(ctx.rr.namespace.as_deref())
        .ok_or_else(|| ApiError::method_not_allowed("this resource is not stored"))?;
    let labels = match ctx.query.get("labelSelector") {
        Some(s) if !s.trim().is_empty() => {
            Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        _ => None,
    };
    let mut fields_text = ctx
        .query
        .get("fieldSelector")
        .unwrap_or("")
        .trim()
        .to_string();
    if !fields_text.is_empty() {
        let f =
            FieldSelector::parse(&fields_text).map_err(|e| ApiError::bad_request(e.to_string()))?;
        for field in f.fields() {
            if !fields::supported(info, field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
        }
    }
    // A name given in the path (watch on one object) is a metadata.name field selector.
    if let Some(name) = &ctx.rr.name {
        let term = format!(
            "metadata.name={}",
            rkube_apimachinery::selector::escape_field_value(name)
        );
        fields_text = if fields_text.is_empty() {
            term
        } else {
            format!("{fields_text},{term}")
        };
    }
    let fields = if fields_text.is_empty() {
        None
    } else {
        Some(FieldSelector::parse(&fields_text).map_err(|e| ApiError::bad_request(e.to_string()))?)
    };
    Ok(ListFilter {
        prefix,
        labels,
        fields,
    })
}

pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let filter = list_filter(ctx)?;
    let limit = ctx
        .query
        .int("limit")?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let rv = ctx.query.get("resourceVersion").filter(|s| !s.is_empty());
    let exact = ctx.query.get("resourceVersionMatch") == Some("Exact");
    let cont = ctx.query.get("continue").filter(|s| !s.is_empty());
    let cache = &ctx.srv.cache;

    // Exact revisions and continuations read the store, which keeps history and pins pages
    // to the first page's revision.
    if exact || cont.is_some() {
        let revision = match (exact, rv) {
            (true, Some(r)) => Some(parse_rv(r)?),
            _ => None,
        };
        return list_from_store(ctx, &filter, limit, cont.map(str::to_string), revision).await;
    }
    match rv {
        None => cache.wait_fresh().await.map_err(cache_error)?,
        Some("0") => {}
        Some(r) => {
            let want = parse_rv(r)?;
            cache
                .wait_for(want, std::time::Duration::from_secs(3))
                .await
                .map_err(cache_error)?
        }
    }
    let snap = cache.list(&filter.prefix, &|o| filter.matches(o));
    if let Some(l) = limit {
        if snap.items.len() > l {
            return list_from_store(ctx, &filter, Some(l), None, Some(snap.rv)).await;
        }
    }
    crate::table::respond_list(ctx, snap.items, snap.rv, None, None)
}

async fn list_from_store(
    ctx: &Ctx<'_>,
    filter: &super::read::ListFilter,
    limit: Option<usize>,
    continue_token: Option<String>,
    revision: Option<i64>,
) -> Result<Response<Body>, ApiError> {
    let mut items = Vec::new();
    let mut opts = ListOptions {
        limit,
        continue_token,
        revision,
    };
    // Filtering happens after the store's paging, so keep reading pages until the page is
    // full of matches, as upstream does.
    let (rv, next, remaining) = loop {
        let page = ctx
            .srv
            .store
            .list(&filter.prefix, opts.clone())
            .await
            .map_err(|e| match e {
                rkube_store::StoreError::Compacted { .. } | rkube_store::StoreError::InvalidContinue(_) => ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ),
                other => store_error(ctx, other),
            })?;
        for kv in page.items {
            if let Ok(o) = from_stored(&kv.value, kv.mod_revision) {
                if filter.matches(&o) {
                    items.push(Arc::new(o));
                }
            }
        }
        let full = limit.is_some_and(|l| items.len() >= l);
        match page.continue_token {
            Some(t) if !full => {
                opts = ListOptions {
                    limit,
                    continue_token: Some(t),
                    revision: None,
                }
            }
            t => break (page.revision, t, page.remaining),
        }
    };
    crate::table::respond_list(ctx, items, rv, next, remaining)
}

fn parse_rv(r: &str) -> Result<i64, ApiError> {
    r.parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {r:?}")))
}

pub fn cache_error(e: CacheError) -> ApiError {
    match e {
        CacheError::TooOld { requested, oldest } => {
            ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
        }
        CacheError::NotFresh { requested, current } => ApiError::timeout(format!(
            "Too large resource version: {requested}, current: {current}"
        ))
        .retry_after(1),
    }
}

/// The `<Kind>List` wrapper.
pub fn list_object(
    ctx: &Ctx<'_>,
    items: Vec<Value>,
    rv: i64,
    cont: Option<String>,
    remaining: Option<i64>,
) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        meta["remainingItemCount"] = json!(r);
    }
    json!({
        "kind": format!("{}List", ctx.rr.info.kind),
        "apiVersion": ctx.rr.info.api_version(),
        "metadata": meta,
        "items": items,
    })
}

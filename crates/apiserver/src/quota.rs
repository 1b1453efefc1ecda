//! ResourceQuota admission (upstream's ResourceQuota plugin): a create is refused when it
//! would take a namespace past any of its quotas' `hard` amounts (a quota with scopes
//! counting only the pods they select), or when a quota limits
//! CPU or memory and the pod does not state them. Creates in one namespace are admitted
//! one at a time, each against the store's latest state, so two racing creates cannot both
//! take the last unit.

use std::collections::HashMap;
use std::sync::Arc;

use rkube_apimachinery::quantity::parse_milli;
use rkube_apimachinery::quota::{
    format, in_scope, is_scoped, missing_pod_resources, pod_counts, usage, Usage,
};
use rkube_apimachinery::registry::ResourceInfo;
use rkube_apimachinery::status::ApiError;
use serde_json::Value;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::ApiServer;

/// Per-namespace admission locks.
#[derive(Default)]
pub(crate) struct Locks(std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>);

impl Locks {
    async fn lock(&self, ns: &str) -> OwnedMutexGuard<()> {
        let m = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(ns.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }
}

/// Usage of the objects of `info`'s kind in `ns` that `quota` counts.
fn namespace_usage(srv: &ApiServer, info: &ResourceInfo, ns: &str, quota: &Value) -> Usage {
    let mut total = Usage::new();
    let Some(prefix) = info.storage_key(Some(ns), "") else {
        return total;
    };
    for obj in srv.cache.list(&prefix, &|_| true).items {
        if info.plural == "pods" && info.group.is_empty() && !pod_counts(&obj) {
            continue;
        }
        if !in_scope(quota, info.group, info.plural, &obj) {
            continue;
        }
        for (k, v) in usage(info.group, info.plural, &obj) {
            *total.entry(k).or_insert(0) += v;
        }
    }
    total
}

/// Checks a create; the returned guard must be held until the object is stored.
pub(crate) async fn admit(
    srv: &ApiServer,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    obj: &Value,
) -> Result<Option<OwnedMutexGuard<()>>, ApiError> {
    let quotas = srv
        .cache
        .list(&format!("/registry/resourcequotas/{ns}/"), &|_| true);
    if quotas.items.is_empty() {
        return Ok(None);
    }
    let requested = usage(info.group, info.plural, obj);
    let guard = srv.quota_locks.lock(ns).await;
    srv.cache
        .wait_fresh()
        .await
        .map_err(|e| ApiError::internal(format!("quota: {e:?}")))?;
    let subject = format!("{} {name:?}", info.plural);
    let mut quotas = quotas.items;
    quotas.sort_by_key(|q| crate::object::name(q).unwrap_or("").to_string());
    // Unscoped quotas all count the same objects: their usage is summed once.
    let mut unscoped: Option<Usage> = None;
    for q in &quotas {
        if !in_scope(q, info.group, info.plural, obj) {
            continue;
        }
        let scoped;
        let used = if is_scoped(q) {
            scoped = namespace_usage(srv, info, ns, q);
            &scoped
        } else {
            unscoped.get_or_insert_with(|| namespace_usage(srv, info, ns, q))
        };
        let qname = crate::object::name(q).unwrap_or("");
        let hard: Vec<(String, i128)> = q
            .pointer("/spec/hard")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), parse_milli(v.as_str()?)?)))
                    .collect()
            })
            .unwrap_or_default();
        if info.group.is_empty() && info.plural == "pods" {
            let names: Vec<&str> = hard.iter().map(|(k, _)| k.as_str()).collect();
            let missing = missing_pod_resources(obj, &names);
            if !missing.is_empty() {
                return Err(ApiError::forbidden(format!(
                    "{subject} is forbidden: failed quota: {qname}: must specify {}",
                    missing.join(",")
                )));
            }
        }
        let over: Vec<&(String, i128)> = hard
            .iter()
            .filter(|(k, limit)| {
                requested
                    .get(k)
                    .is_some_and(|r| *r > 0 && used.get(k).copied().unwrap_or(0) + r > *limit)
            })
            .collect();
        if !over.is_empty() {
            let list = |f: &dyn Fn(&str, i128) -> String| {
                over.iter()
                    .map(|(k, limit)| f(k, *limit))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Err(ApiError::forbidden(format!(
                "{subject} is forbidden: exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                list(&|k, _| format!("{k}={}", format(k, requested.get(k).copied().unwrap_or(0)))),
                list(&|k, _| format!("{k}={}", format(k, used.get(k).copied().unwrap_or(0)))),
                list(&|k, l| format!("{k}={}", format(k, l))),
            )));
        }
    }
    Ok(Some(guard))
}

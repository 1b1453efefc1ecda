//! The CustomResourceDefinition controller inside the API server (as upstream's
//! apiextensions-apiserver runs in-process): accepts names, marks CRDs Established, serves
//! their resources, and removes a deleted CRD's objects before the CRD itself goes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::object::{now_rfc3339, to_stored};
use crate::ApiServer;

pub const PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";
const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Serves the CRDs that exist now, then follows changes.
pub async fn start(srv: Arc<ApiServer>, cancel: CancellationToken) {
    // Subscribe before the first pass so no change in between is missed.
    let first = srv.cache.subscribe(PREFIX, Some(srv.cache.revision()));
    reconcile_all(&srv).await;
    tokio::spawn(async move {
        let mut next = first.ok();
        loop {
            let sub = match next.take() {
                Some(s) => Ok(s),
                None => srv.cache.subscribe(PREFIX, Some(srv.cache.revision())),
            };
            let Ok(mut sub) = sub else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            loop {
                tokio::select! {
                    ev = sub.live.recv() => match ev {
                        Ok(ev) if ev.key.starts_with(PREFIX) => reconcile_all(&srv).await,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            reconcile_all(&srv).await;
                        }
                        Err(_) => return,
                    },
                    _ = cancel.cancelled() => return,
                }
            }
        }
    });
}

async fn reconcile_all(srv: &ApiServer) {
    let crds = srv.cache.list(PREFIX, &|_| true).items;
    let mut established = Vec::new();
    for crd in &crds {
        match reconcile(srv, crd).await {
            Ok(true) => established.push(crd.clone()),
            Ok(false) => {}
            Err(e) => {
                warn!(error = %e, name = crate::object::name(crd).unwrap_or(""), "CRD reconcile failed")
            }
        }
    }
    srv.resources.set_crds(&established);
}

fn condition(status: &str, ty: &str, reason: &str, message: &str) -> Value {
    json!({"type": ty, "status": status, "lastTransitionTime": now_rfc3339(), "reason": reason, "message": message})
}

/// Returns whether the CRD's resources should be served.
async fn reconcile(srv: &ApiServer, crd: &Arc<Value>) -> Result<bool, String> {
    let name = crate::object::name(crd).unwrap_or("").to_string();
    let key = format!("{PREFIX}{name}");
    let rev: i64 = crate::object::meta_str(crd, "resourceVersion")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let finalizers: Vec<Value> = crd
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if crd.pointer("/metadata/deletionTimestamp").is_some() {
        if finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
            delete_instances(srv, crd).await?;
            let mut next = (**crd).clone();
            let rest: Vec<Value> = finalizers
                .into_iter()
                .filter(|f| f != CLEANUP_FINALIZER)
                .collect();
            if rest.is_empty() {
                srv.store
                    .delete(&key, Some(rev))
                    .await
                    .map_err(|e| e.to_string())?;
            } else {
                next["metadata"]["finalizers"] = Value::Array(rest);
                srv.store
                    .update(&key, to_stored(&next), Some(rev))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            info!(crd = %name, "custom resources removed");
        }
        return Ok(false);
    }
    let established = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
    let has_finalizer = finalizers.iter().any(|f| f == CLEANUP_FINALIZER);
    if established && has_finalizer {
        return Ok(true);
    }
    let mut next = (**crd).clone();
    if !has_finalizer {
        let mut f = finalizers.clone();
        f.push(json!(CLEANUP_FINALIZER));
        next["metadata"]["finalizers"] = Value::Array(f);
    }
    let names = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut accepted = names.clone();
    if accepted.get("singular").is_none() {
        if let Some(k) = names.get("kind").and_then(Value::as_str) {
            accepted["singular"] = json!(k.to_lowercase());
        }
    }
    if accepted.get("listKind").is_none() {
        if let Some(k) = names.get("kind").and_then(Value::as_str) {
            accepted["listKind"] = json!(format!("{k}List"));
        }
    }
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    next["status"] = json!({
        "acceptedNames": accepted,
        "conditions": [
            condition("True", "NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("True", "Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    });
    srv.store
        .update(&key, to_stored(&next), Some(rev))
        .await
        .map_err(|e| e.to_string())?;
    info!(crd = %name, "established");
    Ok(true)
}

async fn delete_instances(srv: &ApiServer, crd: &Value) -> Result<(), String> {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    if group.is_empty() || plural.is_empty() {
        return Ok(());
    }
    let prefix = format!("/registry/{group}/{plural}/");
    let mut opts = rkube_store::ListOptions::default();
    loop {
        let page = srv
            .store
            .list(&prefix, opts.clone())
            .await
            .map_err(|e| e.to_string())?;
        for kv in page.items {
            match srv.store.delete(&kv.key, None).await {
                Ok(_) | Err(rkube_store::StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        match page.continue_token {
            Some(t) => opts.continue_token = Some(t),
            None => return Ok(()),
        }
    }
}

//! `metrics.k8s.io/v1beta1` (what metrics-server serves, here built in): NodeMetrics and
//! PodMetrics from every node's kubelet `/stats/summary`, fetched concurrently on request, so
//! `kubectl top nodes` and `kubectl top pods` work without an add-on.

use std::collections::BTreeMap;

use http::{Response, StatusCode};
use rkube_apimachinery::selector::LabelSelector;
use rkube_apimachinery::status::ApiError;
use serde_json::{json, Value};

use crate::http::{json_response, Body};
use crate::rest::Ctx;

/// Sampling window the kubelet's rates cover.
const WINDOW: &str = "10s";

fn cpu(nanocores: u64) -> String {
    format!("{nanocores}n")
}

fn memory(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

/// Every node's summary, fetched concurrently; unreachable nodes are left out (as
/// metrics-server leaves out nodes it cannot scrape).
async fn summaries(ctx: &Ctx<'_>) -> Vec<Value> {
    let nodes = ctx.srv.cache.list("/registry/minions/", &|_| true);
    let names: Vec<String> = nodes
        .items
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str().map(String::from))
        .collect();
    let fetches = names.iter().map(|n| async move {
        crate::nodeproxy::kubelet_get(ctx.srv, n, "/stats/summary")
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    });
    futures::future::join_all(fetches)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn selector(ctx: &Ctx<'_>) -> Result<LabelSelector, ApiError> {
    match ctx.query.get("labelSelector") {
        Some(s) if !s.is_empty() => {
            LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.message()))
        }
        _ => Ok(LabelSelector::everything()),
    }
}

fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// GET/LIST of NodeMetrics and PodMetrics.
pub async fn handle(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let sel = selector(ctx)?;
    let now = crate::object::now_rfc3339();
    let sums = summaries(ctx).await;
    let items: Vec<Value> = if ctx.rr.info.kind == "NodeMetrics" {
        sums.iter()
            .filter_map(|s| {
                let node = &s["node"];
                let name = node["nodeName"].as_str()?.to_string();
                let obj = ctx.srv.cache.get(&format!("/registry/minions/{name}"))?;
                let labels = labels_of(&obj);
                if !sel.matches(&labels) {
                    return None;
                }
                Some(json!({
                    "kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": name, "creationTimestamp": now, "labels": labels},
                    "timestamp": node["cpu"]["time"].as_str().unwrap_or(&now),
                    "window": WINDOW,
                    "usage": {
                        "cpu": cpu(node["cpu"]["usageNanoCores"].as_u64().unwrap_or(0)),
                        "memory": memory(node["memory"]["workingSetBytes"].as_u64().unwrap_or(0)),
                    },
                }))
            })
            .collect()
    } else {
        sums.iter()
            .flat_map(|s| s["pods"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| {
                let ns = p["podRef"]["namespace"].as_str()?.to_string();
                let name = p["podRef"]["name"].as_str()?.to_string();
                if ctx.rr.namespace.as_deref().is_some_and(|want| want != ns) {
                    return None;
                }
                let obj = ctx.srv.cache.get(&format!("/registry/pods/{ns}/{name}"))?;
                let labels = labels_of(&obj);
                if !sel.matches(&labels) {
                    return None;
                }
                let containers: Vec<Value> = p["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        json!({
                            "name": c["name"],
                            "usage": {
                                "cpu": cpu(c["cpu"]["usageNanoCores"].as_u64().unwrap_or(0)),
                                "memory": memory(c["memory"]["workingSetBytes"].as_u64().unwrap_or(0)),
                            },
                        })
                    })
                    .collect();
                Some(json!({
                    "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": name, "namespace": ns, "creationTimestamp": now, "labels": labels},
                    "timestamp": p["cpu"]["time"].as_str().unwrap_or(&now),
                    "window": WINDOW,
                    "containers": containers,
                }))
            })
            .collect()
    };
    match &ctx.rr.name {
        Some(name) => items
            .into_iter()
            .find(|i| i["metadata"]["name"] == name.as_str())
            .map(|i| json_response(StatusCode::OK, &i))
            .ok_or_else(|| {
                let resource = if ctx.rr.info.kind == "NodeMetrics" {
                    "nodes"
                } else {
                    "pods"
                };
                ApiError::not_found("metrics.k8s.io", resource, name)
            }),
        None => {
            let list_kind = format!("{}List", ctx.rr.info.kind);
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "kind": list_kind, "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {}, "items": items,
                }),
            ))
        }
    }
}

//! What the controller writes back: the default IngressClass, this node's addresses in
//! `status.loadBalancer.ingress`, and Warning events for refused Ingresses.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::build::{Rejection, CONTROLLER};

pub const CLASS_NAME: &str = "rkube";
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// The IngressClass created when missing.
pub fn default_class() -> Result<IngressClass, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {
            "name": CLASS_NAME,
            "annotations": {DEFAULT_CLASS_ANNOTATION: "true"},
        },
        "spec": {"controller": CONTROLLER},
    }))
}

/// Creates IngressClass `rkube` unless it exists (an admin's edits to it are kept). Retries
/// until it succeeds or `cancel`: every agent races to do this, 409 is success.
pub async fn ensure_ingress_class(client: kube::Client, cancel: CancellationToken) {
    let api: Api<IngressClass> = Api::all(client);
    let mut delay = Duration::from_millis(500);
    loop {
        let res = match api.get_opt(CLASS_NAME).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => match default_class() {
                Ok(c) => match api.create(&PostParams::default(), &c).await {
                    Ok(_) => {
                        tracing::info!(class = CLASS_NAME, "created default IngressClass");
                        Ok(())
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        match res {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "ensuring IngressClass rkube; retrying"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Records a Warning event `Rejected` on the Ingress (best effort, like all events).
pub async fn reject_event(client: &kube::Client, r: &Rejection) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let now = now_rfc3339();
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{}.{nanos:x}", r.name), "namespace": r.namespace},
        "involvedObject": {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "namespace": r.namespace, "name": r.name, "uid": r.uid,
            "resourceVersion": r.resource_version,
        },
        "reason": "Rejected",
        "message": r.reason,
        "type": "Warning",
        "source": {"component": "rkube-ingress"},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    });
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &r.namespace);
    let res = match serde_json::from_value(event) {
        Ok(ev) => api
            .create(&PostParams::default(), &ev)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = res {
        tracing::warn!(ingress = %r.name, namespace = %r.namespace, error = %e, "recording event");
    }
}

fn now_rfc3339() -> String {
    // k8s-openapi's Time serializes through jiff; format via serde for the same layout.
    let t =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Keeps this node's addresses in the status of served Ingresses, and out of the others.
pub struct StatusWriter {
    api_client: kube::Client,
    entries: Vec<Value>,
}

fn entry(ip: &str) -> Value {
    if ip.parse::<std::net::IpAddr>().is_ok() {
        json!({"ip": ip})
    } else {
        json!({"hostname": ip})
    }
}

/// The load-balancer list with ours added (`serve`) or removed; `None` when unchanged.
pub fn merged(current: &[Value], ours: &[Value], serve: bool) -> Option<Vec<Value>> {
    let mut out: Vec<Value> = current
        .iter()
        .filter(|e| serve || !ours.contains(e))
        .cloned()
        .collect();
    if serve {
        for o in ours {
            if !out.contains(o) {
                out.push(o.clone());
            }
        }
    }
    (out.len() != current.len() || out.iter().zip(current).any(|(a, b)| a != b)).then(|| {
        // A stable order keeps agents from rewriting each other's lists back and forth.
        out.sort_by_key(|v| v.to_string());
        out
    })
}

impl StatusWriter {
    pub fn new(client: kube::Client, node_ips: Vec<String>) -> Self {
        StatusWriter {
            api_client: client,
            entries: node_ips.iter().map(|ip| entry(ip)).collect(),
        }
    }

    /// Brings every Ingress's status in line; false when some write failed (retry later).
    pub async fn reconcile(
        &self,
        ingresses: &[Arc<Ingress>],
        served: &HashSet<(String, String)>,
    ) -> bool {
        if self.entries.is_empty() {
            return true;
        }
        let mut ok = true;
        for ing in ingresses {
            let ns = ing.namespace().unwrap_or_default();
            let name = ing.name_any();
            let serve = served.contains(&(ns.clone(), name.clone()));
            let current: Vec<Value> = ing
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .map(|l| {
                    l.iter()
                        .filter_map(|e| serde_json::to_value(e).ok())
                        .collect()
                })
                .unwrap_or_default();
            let Some(list) = merged(&current, &self.entries, serve) else {
                continue;
            };
            // resourceVersion makes concurrent agents conflict instead of losing entries.
            let patch = json!({
                "metadata": {"resourceVersion": ing.resource_version()},
                "status": {"loadBalancer": {"ingress": list}},
            });
            let api: Api<Ingress> = Api::namespaced(self.api_client.clone(), &ns);
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::debug!(ingress = %name, namespace = %ns, error = %e, "status update failed");
                ok = false;
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_and_removes_ours_only() {
        let ours = vec![entry("10.0.0.1")];
        let other = entry("10.0.0.2");
        assert_eq!(
            merged(std::slice::from_ref(&other), &ours, true),
            Some(vec![ours[0].clone(), other.clone()])
        );
        assert_eq!(merged(&[ours[0].clone(), other.clone()], &ours, true), None);
        assert_eq!(
            merged(&[ours[0].clone(), other.clone()], &ours, false),
            Some(vec![other.clone()])
        );
        assert_eq!(merged(&[other], &ours, false), None);
        assert_eq!(entry("node.example"), json!({"hostname": "node.example"}));
    }

    #[test]
    fn default_class_is_marked_default() {
        let c = default_class().unwrap();
        assert_eq!(c.name_any(), "rkube");
        assert_eq!(c.annotations()[DEFAULT_CLASS_ANNOTATION], "true");
        assert_eq!(c.spec.unwrap().controller.as_deref(), Some(CONTROLLER));
    }
}

//! Authorization for nodes (upstream's Node authorizer with NodeRestriction admission): a
//! user `system:node:<name>` in group `system:nodes` may read, but may change only its own
//! Node and Lease, pods bound to it (status, deletion, eviction), events, and Ingress status
//! (the node's ingress controller reports its address, a departure). Every other
//! authenticated user may do everything until RBAC lands, as `system:masters` may.

use ::http::Method;
use rkube_apimachinery::status::ApiError;
use serde_json::Value;

use crate::auth::User;
use crate::request::ResourceRequest;
use crate::ApiServer;

const NODES_GROUP: &str = "system:nodes";
const NODE_USER_PREFIX: &str = "system:node:";

fn verb(method: &Method, rr: &ResourceRequest) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if rr.name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "get",
    }
}

/// Refuses a node's write outside what it owns, with upstream's Forbidden message.
pub(crate) fn authorize(
    srv: &ApiServer,
    user: Option<&User>,
    method: &Method,
    rr: &ResourceRequest,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(user) = user else { return Ok(()) };
    if !user.groups.iter().any(|g| g == NODES_GROUP) {
        return Ok(());
    }
    let verb = verb(method, rr);
    if verb == "get" {
        return Ok(());
    }
    let node = user.name.strip_prefix(NODE_USER_PREFIX).unwrap_or("");
    // A create names its object in the body.
    let name = rr.name.clone().unwrap_or_else(|| {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| {
                v.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default()
    });
    let ns = rr.namespace.as_deref().unwrap_or("");
    let sub = rr.subresource.as_deref();
    let why = match (rr.group(), rr.resource()) {
        ("", "events") | ("events.k8s.io", "events") => return Ok(()),
        ("", "nodes") if !node.is_empty() && name == node && verb != "deletecollection" => {
            return Ok(())
        }
        ("", "nodes") => format!("node {node:?} is not allowed to modify node {name:?}"),
        ("coordination.k8s.io", "leases")
            if ns == "kube-node-lease" && !node.is_empty() && name == node =>
        {
            return Ok(())
        }
        ("coordination.k8s.io", "leases") => {
            format!("node {node:?} is not allowed to modify lease {ns}/{name}")
        }
        ("", "pods") if matches!(sub, Some("status") | Some("eviction")) || verb == "delete" => {
            let bound = srv
                .cache
                .get(&format!("/registry/pods/{ns}/{name}"))
                .and_then(|p| {
                    p.pointer("/spec/nodeName")
                        .and_then(Value::as_str)
                        .map(|n| n == node)
                })
                .unwrap_or(false);
            if bound && !node.is_empty() {
                return Ok(());
            }
            match sub {
                Some("status") => format!(
                    "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
                ),
                Some("eviction") => format!(
                    "node {node:?} can only evict pods with spec.nodeName set to itself"
                ),
                _ => format!("node {node:?} can only delete pods with spec.nodeName set to itself"),
            }
        }
        ("", "serviceaccounts") if sub == Some("token") => return Ok(()),
        // Every node's ingress controller adds its address to the Ingresses it serves.
        ("networking.k8s.io", "ingresses") if sub == Some("status") => return Ok(()),
        _ => "nodes may only modify their own Node, Lease, and pods bound to them".into(),
    };
    let resource = match sub {
        Some(s) => format!("{}/{s}", rr.resource()),
        None => rr.resource().to_string(),
    };
    let scope = match rr.namespace.as_deref() {
        Some(ns) => format!("in the namespace {ns:?}"),
        None => "at the cluster scope".into(),
    };
    let subject = if name.is_empty() {
        rr.resource().to_string()
    } else {
        format!("{} {name:?}", rr.resource())
    };
    Err(ApiError::forbidden(format!(
        "{subject} is forbidden: User {:?} cannot {verb} resource {resource:?} in API group {:?} {scope}: {why}",
        user.name,
        rr.group(),
    )))
}

//! Authorization for nodes (upstream's Node authorizer with NodeRestriction admission): a
//! user `system:node:<name>` in group `system:nodes` may read, but may change only its own
//! Node and Lease, pods bound to it (status, deletion, eviction), events, tokens for the
//! service accounts of pods bound to it, and Ingress status (the node's ingress controller
//! reports its address, a departure). Every other
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
    content_type: &str,
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
    // The authorizer sees only the URL's name (none on create), as upstream's does.
    let url_name = rr.name.as_deref().unwrap_or("");
    let denied = |reason: Option<String>| denied(user, verb, rr, url_name, reason);
    match (rr.group(), rr.resource()) {
        ("", "events") | ("events.k8s.io", "events") => Ok(()),
        ("", "nodes") if verb == "deletecollection" => Err(denied(None)),
        ("", "nodes") if !node.is_empty() && name == node => Ok(()),
        // NodeRestriction admission's refusal (the authorizer lets nodes write nodes).
        ("", "nodes") => Err(restricted(
            rr,
            &name,
            format!("node {node:?} is not allowed to modify node {name:?}"),
        )),
        ("coordination.k8s.io", "leases") => {
            if !matches!(verb, "create" | "update" | "patch" | "delete") {
                Err(denied(Some(
                    "can only get, create, update, patch, or delete a node lease".into(),
                )))
            } else if ns != "kube-node-lease" {
                Err(denied(Some(
                    "can only access leases in the \"kube-node-lease\" system namespace".into(),
                )))
            } else if node.is_empty() || name != node {
                Err(denied(Some(
                    "can only access node lease with the same name as the requesting node".into(),
                )))
            } else {
                Ok(())
            }
        }
        ("", "pods")
            if matches!(
                (sub, verb),
                (Some("status"), "update" | "patch")
                    | (Some("eviction"), "create")
                    | (None, "delete")
            ) =>
        {
            // A pod that does not exist is left to the handler (NotFound), as upstream.
            let Some(pod) = srv.cache.get(&format!("/registry/pods/{ns}/{name}")) else {
                return Ok(());
            };
            let bound = pod.pointer("/spec/nodeName").and_then(Value::as_str);
            if !node.is_empty() && bound == Some(node) {
                return Ok(());
            }
            // NodeRestriction admission's refusals, word for word (eviction's lacks quotes).
            let why = match sub {
                Some("status") => format!(
                    "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
                ),
                Some(_) => format!(
                    "node {node} can only evict pods with spec.nodeName set to itself"
                ),
                None => format!("node {node:?} can only delete pods with spec.nodeName set to itself"),
            };
            Err(restricted(rr, &name, why))
        }
        // NodeRestriction: tokens only for the account of a pod bound to this node.
        ("", "serviceaccounts") if sub == Some("token") && verb == "create" => {
            // kubectl may send it as protobuf.
            let req = crate::rest::decode(content_type, body).unwrap_or(Value::Null);
            let r = &req["spec"]["boundObjectRef"];
            let refuse = |why: &str| Err(restricted(rr, &name, why.to_string()));
            if r["apiVersion"] != "v1" || r["kind"] != "Pod" || r["name"].as_str().is_none() {
                return refuse("node requested token not bound to a pod");
            }
            let Some(uid) = r["uid"].as_str().filter(|u| !u.is_empty()) else {
                return refuse("node requested token with a pod binding without a uid");
            };
            let pod_name = r["name"].as_str().unwrap_or_default();
            // A pod that does not exist is left to the handler (NotFound).
            let Some(pod) = srv.cache.get(&format!("/registry/pods/{ns}/{pod_name}")) else {
                return Ok(());
            };
            if pod.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
                return refuse(&format!("the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"));
            }
            if node.is_empty()
                || pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node)
            {
                return refuse("node requested token bound to a pod scheduled on a different node");
            }
            let account = pod
                .pointer("/spec/serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("default");
            if account != name {
                return Err(denied(Some(format!(
                    "no relationship found between node '{node}' and this object"
                ))));
            }
            Ok(())
        }
        // Every node's ingress controller adds its address to the Ingresses it serves.
        ("networking.k8s.io", "ingresses") if sub == Some("status") => Ok(()),
        _ => Err(denied(None)),
    }
}

/// `pods` or `leases.coordination.k8s.io`, as upstream's GroupResource prints.
fn qualified(rr: &ResourceRequest) -> String {
    match rr.group() {
        "" => rr.resource().to_string(),
        g => format!("{}.{g}", rr.resource()),
    }
}

/// `<resource> "<name>" is forbidden: `, or without the name when there is none.
fn subject(rr: &ResourceRequest, name: &str) -> String {
    if name.is_empty() {
        format!("{} is forbidden: ", qualified(rr))
    } else {
        format!("{} {name:?} is forbidden: ", qualified(rr))
    }
}

/// An admission plugin's refusal (NodeRestriction): the reason follows the subject.
fn restricted(rr: &ResourceRequest, name: &str, why: String) -> ApiError {
    ApiError::forbidden(format!("{}{why}", subject(rr, name)))
}

/// The authorizer's refusal, as kube-apiserver words it, with the Node authorizer's reason
/// when it gives one.
fn denied(
    user: &User,
    verb: &str,
    rr: &ResourceRequest,
    name: &str,
    reason: Option<String>,
) -> ApiError {
    let resource = match rr.subresource.as_deref() {
        Some(s) => format!("{}/{s}", rr.resource()),
        None => rr.resource().to_string(),
    };
    let scope = match rr.namespace.as_deref() {
        Some(ns) => format!("in the namespace {ns:?}"),
        None => "at the cluster scope".into(),
    };
    let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
    ApiError::forbidden(format!(
        "{}User {:?} cannot {verb} resource {resource:?} in API group {:?} {scope}{reason}",
        subject(rr, name),
        user.name,
        rr.group(),
    ))
}

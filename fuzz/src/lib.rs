//! Input plumbing shared by the fuzz targets.
//!
//! Patch targets read `[selector byte][document JSON] 0x00 [patch body]`: the selector
//! picks a kind (and a stock document when the document part is not JSON), so one input
//! drives both sides of a patch. Without a `0x00` the whole rest is the patch body and a
//! stock document is used, which is what most mutations of the seeds produce.

use serde_json::{json, Value};

/// A patch target's decoded input.
pub struct PatchInput<'a> {
    /// First byte; targets use it to pick a kind or a variant.
    pub selector: u8,
    /// The live object the patch applies to.
    pub doc: Value,
    /// The raw patch body, exactly as a client would send it.
    pub patch: &'a [u8],
}

/// Splits fuzz input into a document and a patch body (see the module docs).
pub fn patch_input(data: &[u8]) -> Option<PatchInput<'_>> {
    let (&selector, rest) = data.split_first()?;
    let (doc, patch) = match rest.iter().position(|&b| b == 0) {
        Some(i) => {
            let (doc, patch) = rest.split_at(i);
            let doc = serde_json::from_slice(doc).unwrap_or_else(|_| stock_doc(selector));
            (doc, patch.get(1..).unwrap_or_default())
        }
        None => (stock_doc(selector), rest),
    };
    Some(PatchInput {
        selector,
        doc,
        patch,
    })
}

/// Kinds the strategic patch target cycles through: built-in ones with list merge
/// metadata, and one without (a custom resource, refused with 415).
pub const KINDS: [(&str, &str, &str); 8] = [
    ("", "v1", "Pod"),
    ("apps", "v1", "Deployment"),
    ("", "v1", "Service"),
    ("", "v1", "Node"),
    ("batch", "v1", "Job"),
    ("", "v1", "ConfigMap"),
    ("apps", "v1", "DaemonSet"),
    ("example.com", "v1", "Widget"),
];

/// The kind for a selector byte.
pub fn kind(selector: u8) -> (&'static str, &'static str, &'static str) {
    KINDS[usize::from(selector) % KINDS.len()]
}

/// A realistic live object for the selector's kind, with merge-keyed lists to patch.
pub fn stock_doc(selector: u8) -> Value {
    let pod_spec = json!({
        "containers": [
            {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]}
        ],
        "initContainers": [{"name": "init", "image": "busybox"}],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "restartPolicy": "Always"
    });
    let metadata = json!({
        "name": "web", "namespace": "default", "labels": {"app": "web"},
        "annotations": {"a": "b"}, "finalizers": ["a", "b", "kubernetes"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u1"}]
    });
    match kind(selector) {
        (_, _, "Pod") => json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec,
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }),
        (_, _, "Service") => json!({
            "apiVersion": "v1", "kind": "Service", "metadata": metadata,
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                               {"name": "https", "port": 443, "protocol": "TCP"}],
                     "selector": {"app": "web"}}
        }),
        (_, _, "Node") => json!({
            "apiVersion": "v1", "kind": "Node", "metadata": metadata,
            "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}
        }),
        (_, _, "ConfigMap") => json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}
        }),
        (group, version, kind) => json!({
            "apiVersion": if group.is_empty() { version.to_string() } else { format!("{group}/{version}") },
            "kind": kind, "metadata": metadata,
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}}
        }),
    }
}

//! Field selectors: which fields each kind can be selected by (upstream's `GetAttrs` /
//! `ToSelectableFields` per registry), and their values.

use rkube_apimachinery::registry::ResourceInfo;
use serde_json::Value;

use crate::object::field_string;

fn kind_fields(info: &ResourceInfo) -> &'static [&'static str] {
    match (info.group, info.plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("", "replicationcontrollers") | ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        ("certificates.k8s.io", "certificatesigningrequests") => &["spec.signerName"],
        _ => &[],
    }
}

pub fn supported(info: &ResourceInfo, field: &str) -> bool {
    matches!(field, "metadata.name" | "metadata.namespace") || kind_fields(info).contains(&field)
}

/// The value a field selector compares against; absent booleans read as "false" and absent
/// strings as "".
pub fn value(obj: &Value, field: &str) -> Option<String> {
    match field {
        "source" => Some(field_string(obj, "source.component").unwrap_or_default()),
        "spec.hostNetwork" | "spec.unschedulable" => {
            Some(field_string(obj, field).unwrap_or_else(|| "false".to_string()))
        }
        "metadata.namespace" => Some(field_string(obj, field).unwrap_or_default()),
        _ => Some(field_string(obj, field).unwrap_or_default()),
    }
}

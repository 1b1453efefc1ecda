//! Core (`v1`) non-workload printers: Node, Namespace, Event, ConfigMap,
//! Secret, ServiceAccount, ResourceQuota, ComponentStatus.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Ctx, Row};
use crate::table::duration::since;
use crate::table::quantity::quantity_string;
use crate::table::value::{
    arr_at, at, bool_at, creation, i, len_at, name, opt_int_at, opt_str_at, s, str_at,
};

/// Label prefix marking node roles (`node-role.kubernetes.io/<role>`).
const LABEL_NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";
/// Legacy role label (`kubernetes.io/role=<role>`).
const NODE_LABEL_ROLE: &str = "kubernetes.io/role";

fn age(obj: &Value, ctx: &Ctx<'_>) -> Value {
    s(since(creation(obj), ctx.now))
}

pub(crate) fn print_node(obj: &Value, ctx: &Ctx<'_>) -> Row {
    // Upstream builds a map keyed by condition type, so the last Ready
    // condition wins; only Ready contributes to STATUS.
    let ready = arr_at(obj, &["status", "conditions"])
        .iter()
        .rfind(|c| str_at(c, &["type"]) == "Ready");
    let mut status: Vec<&str> = Vec::new();
    if let Some(c) = ready {
        status.push(if str_at(c, &["status"]) == "True" {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if bool_at(obj, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }

    let mut roles: BTreeSet<String> = BTreeSet::new();
    if let Some(Value::Object(labels)) = at(obj, &["metadata", "labels"]) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix(LABEL_NODE_ROLE_PREFIX) {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == NODE_LABEL_ROLE {
                let v = v.as_str().unwrap_or_default();
                if !v.is_empty() {
                    roles.insert(v.to_string());
                }
            }
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };

    let info = |field: &str| {
        let v = str_at(obj, &["status", "nodeInfo", field]);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    let address = |ty: &str| {
        arr_at(obj, &["status", "addresses"])
            .iter()
            .find(|a| str_at(a, &["type"]) == ty)
            .map_or_else(
                || "<none>".to_string(),
                |a| str_at(a, &["address"]).to_string(),
            )
    };

    Row::new(vec![
        s(name(obj)),
        s(status.join(",")),
        s(roles),
        age(obj, ctx),
        s(str_at(obj, &["status", "nodeInfo", "kubeletVersion"])),
        s(address("InternalIP")),
        s(address("ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ])
}

pub(crate) fn print_namespace(obj: &Value, ctx: &Ctx<'_>) -> Row {
    // status.phase defaults to Active.
    let phase = opt_str_at(obj, &["status", "phase"])
        .filter(|p| !p.is_empty())
        .unwrap_or("Active");
    Row::new(vec![s(name(obj)), s(phase), age(obj, ctx)])
}

/// Field names of an Event in either served shape: core/v1 or
/// events.k8s.io/v1 (which upstream converts to the internal core Event
/// before printing).
struct EventFields {
    first: &'static str,
    last: &'static str,
    count: &'static str,
    involved: &'static str,
    source: &'static str,
    controller: &'static str,
    message: &'static str,
}

const CORE_EVENT: EventFields = EventFields {
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
    involved: "involvedObject",
    source: "source",
    controller: "reportingComponent",
    message: "message",
};

const EVENTS_V1_EVENT: EventFields = EventFields {
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    involved: "regarding",
    source: "deprecatedSource",
    controller: "reportingController",
    message: "note",
};

pub(crate) fn print_event(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let api_version = str_at(obj, &["apiVersion"]);
    let is_events_v1 = if api_version.is_empty() {
        ctx.group == "events.k8s.io"
    } else {
        api_version.starts_with("events.k8s.io/")
    };
    let f = if is_events_v1 {
        &EVENTS_V1_EVENT
    } else {
        &CORE_EVENT
    };

    let nonempty = |field: &str| opt_str_at(obj, &[field]).filter(|t| !t.is_empty());
    let first_timestamp = match nonempty(f.first) {
        Some(t) => since(Some(t), ctx.now),
        None => since(nonempty("eventTime"), ctx.now),
    };
    let mut last_timestamp = match nonempty(f.last) {
        Some(t) => since(Some(t), ctx.now),
        None => first_timestamp.clone(),
    };
    let mut count = opt_int_at(obj, &[f.count]).unwrap_or(0);
    if let Some(series) = at(obj, &["series"]) {
        last_timestamp = since(opt_str_at(series, &["lastObservedTime"]), ctx.now);
        count = opt_int_at(series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        // Singleton events don't have a count set in the new API.
        count = 1;
    }

    let kind = str_at(obj, &[f.involved, "kind"]).to_lowercase();
    let involved_name = str_at(obj, &[f.involved, "name"]);
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };

    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        str_at(obj, &[f.source, "component"]),
        str_at(obj, &[f.controller]),
    );
    let instance = first_non_empty(
        str_at(obj, &[f.source, "host"]),
        str_at(obj, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };

    Row::new(vec![
        s(last_timestamp),
        s(str_at(obj, &["type"])),
        s(str_at(obj, &["reason"])),
        s(target),
        s(str_at(obj, &[f.involved, "fieldPath"])),
        s(source),
        s(str_at(obj, &[f.message]).trim()),
        s(first_timestamp),
        i(count),
        s(name(obj)),
    ])
}

pub(crate) fn print_config_map(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        i(len_at(obj, &["data"]) + len_at(obj, &["binaryData"])),
        age(obj, ctx),
    ])
}

pub(crate) fn print_secret(obj: &Value, ctx: &Ctx<'_>) -> Row {
    // type defaults to Opaque.
    let ty = opt_str_at(obj, &["type"])
        .filter(|t| !t.is_empty())
        .unwrap_or("Opaque");
    Row::new(vec![
        s(name(obj)),
        s(ty),
        i(len_at(obj, &["data"])),
        age(obj, ctx),
    ])
}

pub(crate) fn print_service_account(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        i(len_at(obj, &["secrets"])),
        age(obj, ctx),
    ])
}

pub(crate) fn print_resource_quota(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let hard = at(obj, &["status", "hard"]).and_then(Value::as_object);
    let used = at(obj, &["status", "used"]).and_then(Value::as_object);
    let mut resources: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
    resources.sort();
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    let qty = |v: Option<&Value>| match v {
        Some(Value::String(q)) => quantity_string(q),
        Some(Value::Number(n)) => quantity_string(&n.to_string()),
        _ => "0".to_string(),
    };
    for resource in resources {
        let hard_q = qty(hard.and_then(|h| h.get(resource.as_str())));
        let used_q = qty(used.and_then(|u| u.get(resource.as_str())));
        let entry = format!("{resource}: {used_q}/{hard_q}");
        let pieces: Vec<&str> = resource.split('.').collect();
        if pieces.len() > 1 && pieces[0] == "limits" {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    Row::new(vec![
        s(name(obj)),
        s(requests.join(", ")),
        s(limits.join(", ")),
        age(obj, ctx),
    ])
}

pub(crate) fn print_component_status(obj: &Value, _ctx: &Ctx<'_>) -> Row {
    let mut status = "Unknown";
    let mut message = "";
    let mut error = "";
    if let Some(c) = arr_at(obj, &["conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Healthy")
    {
        status = if str_at(c, &["status"]) == "True" {
            "Healthy"
        } else {
            "Unhealthy"
        };
        message = str_at(c, &["message"]);
        error = str_at(c, &["error"]);
    }
    Row::new(vec![s(name(obj)), s(status), s(message), s(error)])
}

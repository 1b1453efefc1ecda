//! Printers for RBAC bindings, certificates, coordination, scheduling,
//! admission, flow control, DRA and other cluster-level kinds.

use serde_json::Value;

use super::{Ctx, Row};
use crate::table::duration::{human_duration, since};
use crate::table::value::{
    arr_at, at, b, creation, deleting, i, int_at, len_at, name, opt_int_at, opt_str_at, s, str_at,
};

fn age(obj: &Value, ctx: &Ctx<'_>) -> Value {
    s(since(creation(obj), ctx.now))
}

/// RoleBinding and ClusterRoleBinding share a printer shape.
pub(crate) fn print_role_binding(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let role_ref = format!(
        "{}/{}",
        str_at(obj, &["roleRef", "kind"]),
        str_at(obj, &["roleRef", "name"])
    );
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr_at(obj, &["subjects"]) {
        let subject_name = str_at(subject, &["name"]);
        match str_at(subject, &["kind"]) {
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                str_at(subject, &["namespace"]),
                subject_name
            )),
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            _ => {}
        }
    }
    Row::new(vec![
        s(name(obj)),
        s(role_ref),
        age(obj, ctx),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(sas.join(", ")),
    ])
}

/// Upstream `extractCSRStatus`.
fn csr_status(obj: &Value) -> String {
    let (mut approved, mut denied, mut failed) = (false, false, false);
    for c in arr_at(obj, &["status", "conditions"]) {
        match str_at(c, &["type"]) {
            "Approved" => approved = true,
            "Denied" => denied = true,
            "Failed" => failed = true,
            _ => {}
        }
    }
    let mut status = if denied {
        "Denied".to_string()
    } else if approved {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if failed {
        status.push_str(",Failed");
    }
    if !str_at(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

pub(crate) fn print_certificate_signing_request(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let signer = opt_str_at(obj, &["spec", "signerName"])
        .filter(|v| !v.is_empty())
        .unwrap_or("<none>");
    let requested = match opt_int_at(obj, &["spec", "expirationSeconds"]) {
        Some(secs) => human_duration(secs.saturating_mul(1_000_000_000)),
        None => "<none>".to_string(),
    };
    Row::new(vec![
        s(name(obj)),
        age(obj, ctx),
        s(signer),
        s(str_at(obj, &["spec", "username"])),
        s(requested),
        s(csr_status(obj)),
    ])
}

pub(crate) fn print_cluster_trust_bundle(obj: &Value, _ctx: &Ctx<'_>) -> Row {
    let signer = opt_str_at(obj, &["spec", "signerName"])
        .filter(|v| !v.is_empty())
        .unwrap_or("<none>");
    Row::new(vec![s(name(obj)), s(signer)])
}

pub(crate) fn print_lease(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["spec", "holderIdentity"])),
        age(obj, ctx),
    ])
}

pub(crate) fn print_lease_candidate(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["spec", "leaseName"])),
        s(str_at(obj, &["spec", "binaryVersion"])),
        s(str_at(obj, &["spec", "emulationVersion"])),
        age(obj, ctx),
    ])
}

pub(crate) fn print_priority_class(obj: &Value, ctx: &Ctx<'_>) -> Row {
    // preemptionPolicy defaults to PreemptLowerPriority.
    let preemption = opt_str_at(obj, &["preemptionPolicy"]).unwrap_or("PreemptLowerPriority");
    Row::new(vec![
        s(name(obj)),
        i(int_at(obj, &["value"])),
        b(crate::table::value::bool_at(obj, &["globalDefault"])),
        age(obj, ctx),
        s(preemption),
    ])
}

pub(crate) fn print_runtime_class(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["handler"])),
        age(obj, ctx),
    ])
}

/// Mutating and validating webhook configurations: number of webhooks.
pub(crate) fn print_webhook_configuration(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        i(len_at(obj, &["webhooks"])),
        age(obj, ctx),
    ])
}

fn param_kind(obj: &Value) -> String {
    match at(obj, &["spec", "paramKind"]) {
        None => "<unset>".to_string(),
        Some(pk) => format!("{}/{}", str_at(pk, &["apiVersion"]), str_at(pk, &["kind"])),
    }
}

pub(crate) fn print_validating_admission_policy(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        i(len_at(obj, &["spec", "validations"])),
        s(param_kind(obj)),
        age(obj, ctx),
    ])
}

pub(crate) fn print_mutating_admission_policy(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        i(len_at(obj, &["spec", "mutations"])),
        s(param_kind(obj)),
        age(obj, ctx),
    ])
}

/// Go's generated `(*metav1.LabelSelector).String()` (gogo protobuf debug
/// form), which upstream prints for selector-based param refs.
fn label_selector_debug_string(sel: &Value) -> String {
    let mut keys: Vec<(&String, &Value)> = at(sel, &["matchLabels"])
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    let labels: String = keys
        .iter()
        .map(|(k, v)| format!("{k}: {},", v.as_str().unwrap_or_default()))
        .collect();
    let exprs: String = arr_at(sel, &["matchExpressions"])
        .iter()
        .map(|e| {
            let values: Vec<&str> = arr_at(e, &["values"])
                .iter()
                .map(|v| v.as_str().unwrap_or_default())
                .collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                str_at(e, &["key"]),
                str_at(e, &["operator"]),
                values.join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
}

/// Validating and mutating admission policy bindings.
pub(crate) fn print_admission_policy_binding(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let param = match at(obj, &["spec", "paramRef"]) {
        None => "<unset>".to_string(),
        Some(pr) => {
            let pr_name = str_at(pr, &["name"]);
            let pr_ns = str_at(pr, &["namespace"]);
            if !pr_name.is_empty() {
                if pr_ns.is_empty() {
                    // Can't tell whether the param is cluster-scoped.
                    format!("*/{pr_name}")
                } else {
                    format!("{pr_ns}/{pr_name}")
                }
            } else if let Some(sel) = at(pr, &["selector"]) {
                label_selector_debug_string(sel)
            } else {
                "<unset>".to_string()
            }
        }
    };
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["spec", "policyName"])),
        s(param),
        age(obj, ctx),
    ])
}

/// `spec.matchingPrecedence` (defaults to 1000); also the FlowSchema list
/// sort key.
pub(crate) fn matching_precedence(obj: &Value) -> i64 {
    opt_int_at(obj, &["spec", "matchingPrecedence"]).unwrap_or(1000)
}

pub(crate) fn print_flow_schema(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let distinguisher =
        at(obj, &["spec", "distinguisherMethod"]).map_or("<none>", |d| str_at(d, &["type"]));
    let bad_pl_ref = arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Dangling")
        .map_or("?", |c| str_at(c, &["status"]));
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["spec", "priorityLevelConfiguration", "name"])),
        i(matching_precedence(obj)),
        s(distinguisher),
        age(obj, ctx),
        s(bad_pl_ref),
    ])
}

pub(crate) fn print_priority_level_configuration(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let none = || s("<none>");
    let (mut ncs, mut queues, mut hand_size, mut queue_length_limit) =
        (none(), none(), none(), none());
    if let Some(limited) = at(obj, &["spec", "limited"]) {
        ncs = i(opt_int_at(limited, &["nominalConcurrencyShares"]).unwrap_or(30));
        if let Some(q) = at(limited, &["limitResponse", "queuing"]) {
            queues = i(opt_int_at(q, &["queues"]).unwrap_or(64));
            hand_size = i(opt_int_at(q, &["handSize"]).unwrap_or(8));
            queue_length_limit = i(opt_int_at(q, &["queueLengthLimit"]).unwrap_or(50));
        }
    }
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["spec", "type"])),
        ncs,
        queues,
        hand_size,
        queue_length_limit,
        age(obj, ctx),
    ])
}

pub(crate) fn print_storage_version(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let common = opt_str_at(obj, &["status", "commonEncodingVersion"]).unwrap_or("<unset>");
    let max = 3;
    let versions = arr_at(obj, &["status", "storageVersions"]);
    let list: Vec<String> = versions
        .iter()
        .take(max)
        .map(|sv| {
            format!(
                "{}={}",
                str_at(sv, &["apiServerID"]),
                str_at(sv, &["encodingVersion"])
            )
        })
        .collect();
    let formatted = if versions.len() > max {
        format!("{} + {} more...", list.join(","), versions.len() - max)
    } else if list.is_empty() {
        "<unset>".to_string()
    } else {
        list.join(",")
    };
    Row::new(vec![s(name(obj)), s(common), s(formatted), age(obj, ctx)])
}

pub(crate) fn print_storage_version_migration(obj: &Value, _ctx: &Ctx<'_>) -> Row {
    let gvr = format!(
        "{}.{}.{}",
        str_at(obj, &["spec", "resource", "resource"]),
        str_at(obj, &["spec", "resource", "version"]),
        str_at(obj, &["spec", "resource", "group"])
    );
    Row::new(vec![s(name(obj)), s(gvr)])
}

/// DeviceClass and ResourceClaimTemplate: name and age only.
pub(crate) fn print_name_age(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![s(name(obj)), age(obj, ctx)])
}

pub(crate) fn print_resource_claim(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let mut states = Vec::new();
    let is_deleting = deleting(obj);
    if is_deleting {
        states.push("deleted");
    }
    if at(obj, &["status", "allocation"]).is_none() {
        if !is_deleting {
            states.push("pending");
        }
    } else {
        states.push("allocated");
        if !arr_at(obj, &["status", "reservedFor"]).is_empty() {
            states.push("reserved");
        }
    }
    Row::new(vec![s(name(obj)), s(states.join(",")), age(obj, ctx)])
}

pub(crate) fn print_resource_slice(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["spec", "nodeName"])),
        s(str_at(obj, &["spec", "driver"])),
        s(str_at(obj, &["spec", "pool", "name"])),
        age(obj, ctx),
    ])
}

/// kube-aggregator APIService: backing service (`Local` for built-in
/// groups) and the Available condition, with its reason when not True.
pub(crate) fn print_api_service(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let service = match at(obj, &["spec", "service"]) {
        Some(svc) => format!("{}/{}", str_at(svc, &["namespace"]), str_at(svc, &["name"])),
        None => "Local".to_string(),
    };
    let available = match arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Available")
    {
        None => "Unknown".to_string(),
        Some(c) => {
            let status = str_at(c, &["status"]);
            let reason = str_at(c, &["reason"]);
            if status == "True" || reason.is_empty() {
                status.to_string()
            } else {
                format!("{status} ({reason})")
            }
        }
    };
    Row::new(vec![s(name(obj)), s(service), s(available), age(obj, ctx)])
}

pub(crate) fn print_status(obj: &Value, _ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(str_at(obj, &["status"])),
        s(str_at(obj, &["reason"])),
        s(str_at(obj, &["message"])),
    ])
}

//! Workload printers (apps, batch, autoscaling, policy, PodTemplate, RC).
//!
//! Where upstream prints a field that API defaulting always fills (e.g.
//! `spec.replicas` = 1, `cronjob.spec.suspend` = false, HPA `minReplicas` =
//! 1), an absent field is printed as its default so output matches a real
//! cluster even if the stored object skipped defaulting.

use serde_json::Value;

use super::{Ctx, Row};
use crate::table::duration::{between, parse_time, since};
use crate::table::labels::{format_label_selector, format_labels, selector_string_or_invalid};
use crate::table::quantity::quantity_string;
use crate::table::value::{
    arr_at, at, i, int_at, int_or_string, layout_containers, name, opt_bool_at, opt_int_at,
    opt_str_at, s, str_at,
};

fn age(obj: &Value, ctx: &Ctx<'_>) -> Value {
    s(since(crate::table::value::creation(obj), ctx.now))
}

/// `spec.replicas`, defaulted to 1 like the API server does.
fn desired_replicas(obj: &Value) -> i64 {
    opt_int_at(obj, &["spec", "replicas"]).unwrap_or(1)
}

pub(crate) fn print_pod_template(obj: &Value, _ctx: &Ctx<'_>) -> Row {
    let (names, images) = layout_containers(arr_at(obj, &["template", "spec", "containers"]));
    Row::new(vec![
        s(name(obj)),
        s(names),
        s(images),
        s(format_labels(at(obj, &["template", "metadata", "labels"]))),
    ])
}

pub(crate) fn print_replication_controller(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name(obj)),
        i(desired_replicas(obj)),
        i(int_at(obj, &["status", "replicas"])),
        i(int_at(obj, &["status", "readyReplicas"])),
        age(obj, ctx),
        s(names),
        s(images),
        s(format_labels(at(obj, &["spec", "selector"]))),
    ])
}

pub(crate) fn print_replica_set(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name(obj)),
        i(desired_replicas(obj)),
        i(int_at(obj, &["status", "replicas"])),
        i(int_at(obj, &["status", "readyReplicas"])),
        age(obj, ctx),
        s(names),
        s(images),
        s(format_label_selector(at(obj, &["spec", "selector"]))),
    ])
}

pub(crate) fn print_deployment(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name(obj)),
        s(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        i(int_at(obj, &["status", "updatedReplicas"])),
        i(int_at(obj, &["status", "availableReplicas"])),
        age(obj, ctx),
        s(names),
        s(images),
        s(selector_string_or_invalid(at(obj, &["spec", "selector"]))),
    ])
}

pub(crate) fn print_stateful_set(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name(obj)),
        s(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        age(obj, ctx),
        s(names),
        s(images),
    ])
}

pub(crate) fn print_daemon_set(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name(obj)),
        i(int_at(obj, &["status", "desiredNumberScheduled"])),
        i(int_at(obj, &["status", "currentNumberScheduled"])),
        i(int_at(obj, &["status", "numberReady"])),
        i(int_at(obj, &["status", "updatedNumberScheduled"])),
        i(int_at(obj, &["status", "numberAvailable"])),
        s(format_labels(at(
            obj,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        age(obj, ctx),
        s(names),
        s(images),
        s(format_label_selector(at(obj, &["spec", "selector"]))),
    ])
}

pub(crate) fn print_controller_revision(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let controller = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| opt_bool_at(r, &["controller"]) == Some(true));
    let controller_name = match controller {
        None => "<none>".to_string(),
        Some(r) => {
            let api_version = str_at(r, &["apiVersion"]);
            let kind = str_at(r, &["kind"]);
            let ref_name = str_at(r, &["name"]);
            // schema.ParseGroupVersion: "v1" has no group, "g/v" has group g.
            let group = match api_version.matches('/').count() {
                1 => api_version.split('/').next().unwrap_or_default(),
                _ => "",
            };
            if group.is_empty() && kind.is_empty() {
                ref_name.to_string()
            } else {
                let gk = if group.is_empty() {
                    kind.to_string()
                } else {
                    format!("{kind}.{group}")
                };
                format!("{}/{}", gk.to_lowercase(), ref_name)
            }
        }
    };
    Row::new(vec![
        s(name(obj)),
        s(controller_name),
        i(int_at(obj, &["revision"])),
        age(obj, ctx),
    ])
}

/// `hasJobCondition`: the first condition of the type decides.
fn has_job_condition(obj: &Value, ty: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == ty)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

pub(crate) fn print_job(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    let completions = match opt_int_at(obj, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = opt_int_at(obj, &["spec", "parallelism"]).unwrap_or(0);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = opt_str_at(obj, &["status", "startTime"]).and_then(parse_time);
    let completion = opt_str_at(obj, &["status", "completionTime"]).and_then(parse_time);
    let duration = match (start, completion) {
        (None, _) => String::new(),
        (Some(st), None) => between(ctx.now, st),
        (Some(st), Some(done)) => between(done, st),
    };
    let status = if has_job_condition(obj, "Complete") {
        "Complete"
    } else if has_job_condition(obj, "Failed") {
        "Failed"
    } else if crate::table::value::deleting(obj) {
        "Terminating"
    } else if has_job_condition(obj, "Suspended") {
        "Suspended"
    } else if has_job_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) =
        layout_containers(arr_at(obj, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        s(name(obj)),
        s(status),
        s(completions),
        s(duration),
        age(obj, ctx),
        s(names),
        s(images),
        s(format_label_selector(at(obj, &["spec", "selector"]))),
    ])
}

pub(crate) fn print_cron_job(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let last_schedule = match opt_str_at(obj, &["status", "lastScheduleTime"]) {
        Some(t) => since(Some(t), ctx.now),
        None => "<none>".to_string(),
    };
    let time_zone = opt_str_at(obj, &["spec", "timeZone"]).unwrap_or("<none>");
    // printBoolPtr; suspend defaults to false.
    let suspend = match opt_bool_at(obj, &["spec", "suspend"]) {
        Some(true) => "True",
        _ => "False",
    };
    let template = &[
        "spec",
        "jobTemplate",
        "spec",
        "template",
        "spec",
        "containers",
    ];
    let (names, images) = layout_containers(arr_at(obj, template));
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["spec", "schedule"])),
        s(time_zone),
        s(suspend),
        i(arr_at(obj, &["status", "active"]).len() as i64),
        s(last_schedule),
        age(obj, ctx),
        s(names),
        s(images),
        s(format_label_selector(at(
            obj,
            &["spec", "jobTemplate", "spec", "selector"],
        ))),
    ])
}

/// Renders an optional quantity like Go's `(*Quantity).String()` (nil
/// pointers print as `<nil>`).
fn qty(v: Option<&Value>) -> String {
    match v {
        None => "<nil>".to_string(),
        Some(Value::String(q)) => quantity_string(q),
        Some(other) => quantity_string(&other.to_string()),
    }
}

/// Upstream `autoscaling.DefaultCPUUtilization`.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

/// Normalizes an HPA to the internal (autoscaling/v2) metric shape.
///
/// autoscaling/v1 objects carry only a CPU utilization target/current value,
/// which upstream conversion turns into a single Resource metric; an HPA
/// with no metrics at all is defaulted (on every decode from storage) to
/// 80% average CPU utilization, so a real cluster prints
/// `cpu: <unknown>/80%` rather than `<none>` for it.
fn hpa_metrics(obj: &Value) -> (Vec<Value>, Vec<Value>) {
    let specs = arr_at(obj, &["spec", "metrics"]).to_vec();
    let statuses = arr_at(obj, &["status", "currentMetrics"]).to_vec();
    if !specs.is_empty() {
        return (specs, statuses);
    }
    let target = opt_int_at(obj, &["spec", "targetCPUUtilizationPercentage"])
        .unwrap_or(DEFAULT_CPU_UTILIZATION);
    let spec = serde_json::json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}},
    });
    let mut st = statuses;
    if let Some(cur) = opt_int_at(obj, &["status", "currentCPUUtilizationPercentage"]) {
        st = vec![serde_json::json!({
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": cur}},
        })];
    }
    (vec![spec], st)
}

/// Upstream `formatHPAMetrics`.
fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let max = 2;
    let mut list: Vec<String> = Vec::new();
    for (idx, spec) in specs.iter().enumerate() {
        let status = |field: &str| statuses.get(idx).and_then(|st| at(st, &[field]));
        let unknown = || "<unknown>".to_string();
        let entry = match str_at(spec, &["type"]) {
            "External" => {
                let target = at(spec, &["external", "target"]);
                let avg = target.and_then(|t| at(t, &["averageValue"]));
                if avg.is_some() {
                    let current = status("external")
                        .and_then(|e| at(e, &["current", "averageValue"]))
                        .map_or_else(unknown, |v| qty(Some(v)));
                    format!("{current}/{} (avg)", qty(avg))
                } else {
                    let current = status("external")
                        .map_or_else(unknown, |e| qty(at(e, &["current", "value"])));
                    format!("{current}/{}", qty(target.and_then(|t| at(t, &["value"]))))
                }
            }
            "Pods" => {
                let current = status("pods")
                    .map_or_else(unknown, |p| qty(at(p, &["current", "averageValue"])));
                format!(
                    "{current}/{}",
                    qty(at(spec, &["pods", "target", "averageValue"]))
                )
            }
            "Object" => {
                let target = at(spec, &["object", "target"]);
                let avg = target.and_then(|t| at(t, &["averageValue"]));
                if avg.is_some() {
                    let current = status("object")
                        .and_then(|o| at(o, &["current", "averageValue"]))
                        .map_or_else(unknown, |v| qty(Some(v)));
                    format!("{current}/{} (avg)", qty(avg))
                } else {
                    let current = status("object")
                        .map_or_else(unknown, |o| qty(at(o, &["current", "value"])));
                    format!("{current}/{}", qty(target.and_then(|t| at(t, &["value"]))))
                }
            }
            ty @ ("Resource" | "ContainerResource") => {
                let field = if ty == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let res_name = str_at(spec, &[field, "name"]);
                let target = at(spec, &[field, "target"]);
                let avg = target.and_then(|t| at(t, &["averageValue"]));
                if avg.is_some() {
                    let current = status(field)
                        .map_or_else(unknown, |r| qty(at(r, &["current", "averageValue"])));
                    format!("{res_name}: {current}/{}", qty(avg))
                } else {
                    let current = status(field)
                        .and_then(|r| opt_int_at(r, &["current", "averageUtilization"]))
                        .map_or_else(unknown, |u| format!("{u}%"));
                    let target = target
                        .and_then(|t| opt_int_at(t, &["averageUtilization"]))
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{res_name}: {current}/{target}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    let count = list.len();
    if count > max {
        list.truncate(max);
        return format!("{} + {} more...", list.join(", "), count - max);
    }
    list.join(", ")
}

pub(crate) fn print_horizontal_pod_autoscaler(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let reference = format!(
        "{}/{}",
        str_at(obj, &["spec", "scaleTargetRef", "kind"]),
        str_at(obj, &["spec", "scaleTargetRef", "name"])
    );
    let (specs, statuses) = hpa_metrics(obj);
    // minReplicas defaults to 1.
    let min_pods = opt_int_at(obj, &["spec", "minReplicas"]).unwrap_or(1);
    Row::new(vec![
        s(name(obj)),
        s(reference),
        s(format_hpa_metrics(&specs, &statuses)),
        s(min_pods.to_string()),
        i(int_at(obj, &["spec", "maxReplicas"])),
        i(int_at(obj, &["status", "currentReplicas"])),
        age(obj, ctx),
    ])
}

pub(crate) fn print_scale(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        i(int_at(obj, &["spec", "replicas"])),
        i(int_at(obj, &["status", "replicas"])),
        age(obj, ctx),
    ])
}

pub(crate) fn print_pod_disruption_budget(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let or_na = |v: Option<&Value>| v.map_or_else(|| "N/A".to_string(), int_or_string);
    Row::new(vec![
        s(name(obj)),
        s(or_na(at(obj, &["spec", "minAvailable"]))),
        s(or_na(at(obj, &["spec", "maxUnavailable"]))),
        i(int_at(obj, &["status", "disruptionsAllowed"])),
        age(obj, ctx),
    ])
}

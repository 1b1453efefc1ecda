//! Pod printer: the most-watched `kubectl get` output, so the STATUS reason
//! precedence (init containers, waiting/terminated reasons, `Completed` ->
//! `Running`/`NotReady`, `Terminating`, node-lost `Unknown`), the READY
//! counting of sidecar (restartable init) containers and the RESTARTS
//! `N (5m ago)` suffix follow upstream `printPod` step by step.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{Ctx, Row};
use crate::table::duration::{parse_time, since};
use crate::table::value::{arr_at, as_int, at, bool_at, creation, name, opt_bool_at, s, str_at};

/// Upstream `node.NodeUnreachablePodReason`.
const NODE_UNREACHABLE_POD_REASON: &str = "NodeLost";

pub(crate) fn print_pod(pod: &Value, ctx: &Ctx<'_>) -> Row {
    let containers = arr_at(pod, &["spec", "containers"]);
    let init_containers = arr_at(pod, &["spec", "initContainers"]);
    let conditions = arr_at(pod, &["status", "conditions"]);

    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let mut total_containers = containers.len() as i64;
    let mut ready_containers: i64 = 0;
    let mut last_restart: Option<OffsetDateTime> = None;
    let mut last_restartable_init_restart: Option<OffsetDateTime> = None;

    let phase = str_at(pod, &["status", "phase"]);
    let mut reason = phase.to_string();
    let status_reason = str_at(pod, &["status", "reason"]);
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }

    // A {type: PodScheduled, reason: SchedulingGated} condition wins.
    for c in conditions {
        if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let row_conditions = match phase {
        "Succeeded" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }])),
        "Failed" => Some(json!([{
            "type": "Completed",
            "status": "True",
            "reason": "Failed",
            "message": "The pod failed.",
        }])),
        _ => None,
    };

    let is_restartable = |container_name: &str| -> bool {
        init_containers
            .iter()
            .find(|c| str_at(c, &["name"]) == container_name)
            .is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
    };
    for c in init_containers {
        if str_at(c, &["restartPolicy"]) == "Always" {
            total_containers += 1;
        }
    }

    let mut initializing = false;
    for (i, status) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let restart_count = restart_count(status);
        restarts += restart_count;
        let finished = last_terminated_at(status);
        bump(&mut last_restart, finished);
        let restartable = is_restartable(str_at(status, &["name"]));
        if restartable {
            restartable_init_restarts += restart_count;
            bump(&mut last_restartable_init_restart, finished);
        }
        let terminated = at(status, &["state", "terminated"]);
        let waiting = at(status, &["state", "waiting"]);
        if let Some(t) = terminated {
            if exit_code(t) == 0 {
                continue;
            }
        }
        if restartable && opt_bool_at(status, &["started"]) == Some(true) {
            if bool_at(status, &["ready"]) {
                ready_containers += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            // initialization failed
            let t_reason = str_at(t, &["reason"]);
            reason = if t_reason.is_empty() {
                let signal = signal(t);
                if signal != 0 {
                    format!("Init:Signal:{signal}")
                } else {
                    format!("Init:ExitCode:{}", exit_code(t))
                }
            } else {
                format!("Init:{t_reason}")
            };
        } else if let Some(w) = waiting.filter(|w| {
            let r = str_at(w, &["reason"]);
            !r.is_empty() && r != "PodInitializing"
        }) {
            reason = format!("Init:{}", str_at(w, &["reason"]));
        } else {
            reason = format!("Init:{}/{}", i, init_containers.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        for status in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += restart_count(status);
            bump(&mut last_restart, last_terminated_at(status));
            let waiting_reason = at(status, &["state", "waiting"]).map(|w| str_at(w, &["reason"]));
            let terminated = at(status, &["state", "terminated"]);
            if let Some(r) = waiting_reason.filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                let t_reason = str_at(t, &["reason"]);
                if !t_reason.is_empty() {
                    reason = t_reason.to_string();
                } else {
                    let signal = signal(t);
                    reason = if signal != 0 {
                        format!("Signal:{signal}")
                    } else {
                        format!("ExitCode:{}", exit_code(t))
                    };
                }
            } else if bool_at(status, &["ready"]) && at(status, &["state", "running"]).is_some() {
                has_running = true;
                ready_containers += 1;
            }
        }
        // Back to "Running" if at least one container is still running.
        if reason == "Completed" && has_running {
            reason = if condition_true_any(conditions, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    let deleting = crate::table::value::deleting(pod);
    if deleting && status_reason == NODE_UNREACHABLE_POD_REASON {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".to_string();
    }

    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{} ({} ago)",
            restarts,
            crate::table::duration::between(ctx.now, t)
        ),
        _ => restarts.to_string(),
    };

    let mut cells = vec![
        s(name(pod)),
        s(format!("{ready_containers}/{total_containers}")),
        s(reason),
        s(restarts_str),
        s(since(creation(pod), ctx.now)),
    ];

    // Wide columns. The internal pod's PodIPs[0] is status.podIP when set
    // (conversion makes podIP authoritative), else status.podIPs[0].
    let mut pod_ip = str_at(pod, &["status", "podIP"]);
    if pod_ip.is_empty() {
        pod_ip = arr_at(pod, &["status", "podIPs"])
            .first()
            .map(|p| str_at(p, &["ip"]))
            .unwrap_or_default();
    }
    let or_none = |v: &str| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.to_string()
        }
    };
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_conditions = gates
            .iter()
            .filter(|g| {
                let ty = str_at(g, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| str_at(c, &["type"]) == ty)
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{}/{}", true_conditions, gates.len())
    };
    cells.push(s(or_none(pod_ip)));
    cells.push(s(or_none(str_at(pod, &["spec", "nodeName"]))));
    cells.push(s(or_none(str_at(pod, &["status", "nominatedNodeName"]))));
    cells.push(s(readiness_gates));

    Row {
        cells,
        conditions: row_conditions,
    }
}

fn restart_count(status: &Value) -> i64 {
    at(status, &["restartCount"]).and_then(as_int).unwrap_or(0)
}

fn exit_code(terminated: &Value) -> i64 {
    at(terminated, &["exitCode"]).and_then(as_int).unwrap_or(0)
}

fn signal(terminated: &Value) -> i64 {
    at(terminated, &["signal"]).and_then(as_int).unwrap_or(0)
}

/// `lastState.terminated.finishedAt` (zero time when absent).
fn last_terminated_at(status: &Value) -> Option<OffsetDateTime> {
    at(status, &["lastState", "terminated", "finishedAt"])
        .and_then(Value::as_str)
        .and_then(parse_time)
}

/// `if last.Before(&t) { last = t }` where the zero time sorts first.
fn bump(last: &mut Option<OffsetDateTime>, t: Option<OffsetDateTime>) {
    if let Some(t) = t {
        if last.is_none_or(|l| l < t) {
            *last = Some(t);
        }
    }
}

/// `isPodInitializedConditionTrue`: the first condition of the type decides.
fn condition_true(conditions: &[Value], ty: &str) -> bool {
    conditions
        .iter()
        .find(|c| str_at(c, &["type"]) == ty)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// `hasPodReadyCondition`: any condition of the type being True.
fn condition_true_any(conditions: &[Value], ty: &str) -> bool {
    conditions
        .iter()
        .any(|c| str_at(c, &["type"]) == ty && str_at(c, &["status"]) == "True")
}

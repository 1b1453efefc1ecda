//! Pod status from runtime state, computed as upstream's kubelet does: container states with
//! lastState and restartCount, phase (getPhase's rules), conditions with stable transition
//! times, IPs, startTime and QoS class.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use rkube_runtime::{ContainerState, ContainerStatus};
use serde_json::{json, Value};

use crate::probes;
use crate::time::to_seconds;

/// Why a container is not running right now (`ContainerCreating`, `CrashLoopBackOff`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

impl Waiting {
    pub fn new(reason: &str, message: &str) -> Self {
        Waiting {
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The latest attempt of container `name`.
pub fn latest<'a>(runtime: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    runtime
        .iter()
        .filter(|c| c.name == name)
        .max_by_key(|c| c.attempt)
}

fn previous<'a>(
    runtime: &'a [ContainerStatus],
    name: &str,
    attempt: u32,
) -> Option<&'a ContainerStatus> {
    runtime
        .iter()
        .filter(|c| c.name == name && c.attempt < attempt)
        .max_by_key(|c| c.attempt)
}

/// What [`build`] reads.
pub struct Input<'a> {
    pub pod: &'a Pod,
    pub runtime: &'a [ContainerStatus],
    pub waiting: &'a HashMap<String, Waiting>,
    pub probes: &'a probes::Manager,
    pub host_ip: &'a str,
    pub pod_ip: Option<String>,
    pub start_time: Option<String>,
    pub sandbox_ready: bool,
}

fn terminated(c: &ContainerStatus) -> Value {
    let mut t = json!({
        "exitCode": c.exit_code.unwrap_or(0),
        "reason": c.reason.clone().unwrap_or_else(|| "Error".into()),
        "startedAt": c.started_at.as_deref().map(to_seconds),
        "finishedAt": c.finished_at.as_deref().map(to_seconds),
        "containerID": format!("rkube://{}", c.id),
    });
    if let Some(m) = &c.message {
        t["message"] = json!(m);
    }
    json!({"terminated": t})
}

struct Counted {
    status: Value,
    ready: bool,
    /// For phase: running, waiting (never ran), stopped, succeeded.
    kind: &'static str,
    exit_ok: bool,
}

fn container_status(input: &Input<'_>, c: &Container, default_waiting: &str) -> Counted {
    let latest = latest(input.runtime, &c.name);
    let waiting = input.waiting.get(&c.name);
    let mut last_state = json!({});
    let mut ready = false;
    let mut started = false;
    let (state, kind, exit_ok) = match latest {
        None => {
            let w = waiting
                .cloned()
                .unwrap_or_else(|| Waiting::new(default_waiting, ""));
            (waiting_state(&w), "waiting", false)
        }
        Some(l) => {
            if let Some(p) = previous(input.runtime, &c.name, l.attempt) {
                if p.state == ContainerState::Exited {
                    last_state = terminated(p);
                }
            }
            match l.state {
                ContainerState::Running => {
                    started = input.probes.started(c);
                    ready = started && input.probes.ready(c);
                    (
                        json!({"running": {"startedAt": l.started_at.as_deref().map(to_seconds)}}),
                        "running",
                        false,
                    )
                }
                ContainerState::Created | ContainerState::Unknown => {
                    let w = waiting
                        .cloned()
                        .unwrap_or_else(|| Waiting::new("ContainerCreating", ""));
                    (waiting_state(&w), "waiting", false)
                }
                ContainerState::Exited => match waiting {
                    Some(w) => {
                        last_state = terminated(l);
                        (waiting_state(w), "stopped", l.exit_code == Some(0))
                    }
                    None => (terminated(l), "stopped", l.exit_code == Some(0)),
                },
            }
        }
    };
    let mut s = json!({
        "name": c.name,
        "state": state,
        "lastState": last_state,
        "ready": ready,
        "restartCount": latest.map(|l| l.attempt).unwrap_or(0),
        "image": c.image.clone().unwrap_or_default(),
        "imageID": latest.map(|l| l.image_ref.clone()).unwrap_or_default(),
        "started": started,
    });
    if let Some(l) = latest {
        s["containerID"] = json!(format!("rkube://{}", l.id));
    }
    Counted {
        status: s,
        ready,
        kind,
        exit_ok,
    }
}

fn waiting_state(w: &Waiting) -> Value {
    let mut v = json!({"reason": w.reason});
    if !w.message.is_empty() {
        v["message"] = json!(w.message);
    }
    json!({"waiting": v})
}

/// Guaranteed, Burstable or BestEffort from requests and limits.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = &pod.spec else {
        return "BestEffort";
    };
    let all: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        let r = c.resources.clone().unwrap_or_default();
        let req = r.requests.unwrap_or_default();
        let lim = r.limits.unwrap_or_default();
        for k in ["cpu", "memory"] {
            let rq = req
                .get(k)
                .and_then(|q| rkube_apimachinery::quantity::parse_milli(&q.0));
            let lm = lim
                .get(k)
                .and_then(|q| rkube_apimachinery::quantity::parse_milli(&q.0));
            if rq.is_some_and(|v| v != 0) || lm.is_some_and(|v| v != 0) {
                any = true;
            }
            match (rq, lm) {
                (_, None) => guaranteed = false,
                (Some(a), Some(b)) if a != b => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The whole status object.
pub fn build(input: &Input<'_>) -> Value {
    let pod = input.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec
        .restart_policy
        .clone()
        .unwrap_or_else(|| "Always".into());
    let inits = spec.init_containers.clone().unwrap_or_default();

    let mut init_statuses = Vec::new();
    let mut incomplete = Vec::new();
    let mut init_failed = false;
    for c in &inits {
        let cs = container_status(input, c, "PodInitializing");
        let done = latest(input.runtime, &c.name)
            .is_some_and(|l| l.state == ContainerState::Exited && l.exit_code == Some(0));
        if !done {
            incomplete.push(c.name.clone());
            if cs.kind == "stopped" && !cs.exit_ok && policy == "Never" {
                init_failed = true;
            }
        }
        let mut st = cs.status;
        if done {
            st["ready"] = json!(true);
        }
        init_statuses.push(st);
    }
    let initialized = incomplete.is_empty();
    let default_waiting = if initialized {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let mut statuses = Vec::new();
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    let mut unready = Vec::new();
    for c in &spec.containers {
        let cs = container_status(input, c, default_waiting);
        match cs.kind {
            "running" => running += 1,
            "waiting" => waiting += 1,
            _ => {
                stopped += 1;
                if cs.exit_ok {
                    succeeded += 1;
                }
            }
        }
        if !cs.ready {
            unready.push(c.name.clone());
        }
        statuses.push(cs.status);
    }
    let phase = if init_failed {
        "Failed"
    } else if !initialized || waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped > 0 {
        if policy == "Always" {
            "Running"
        } else if stopped == succeeded {
            "Succeeded"
        } else if policy == "Never" {
            "Failed"
        } else {
            "Running"
        }
    } else {
        "Pending"
    };

    let old_conditions: Vec<Value> = pod
        .status
        .as_ref()
        .and_then(|s| serde_json::to_value(&s.conditions).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let now = crate::time::now();
    let cond = |type_: &str, ok: bool, reason: Option<&str>, message: Option<String>| {
        let status = if ok { "True" } else { "False" };
        let ltt = old_conditions
            .iter()
            .find(|c| c["type"] == type_ && c["status"] == status)
            .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
            .unwrap_or_else(|| now.clone());
        let mut c = json!({"type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": ltt});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
        c
    };
    let completed = phase == "Succeeded" || phase == "Failed";
    let all_ready = unready.is_empty() && !completed && input.sandbox_ready;
    let not_ready_reason = if completed {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    let not_ready_msg =
        (!completed).then(|| format!("containers with unready status: [{}]", unready.join(" ")));
    let mut conditions = vec![
        cond("PodReadyToStartContainers", input.sandbox_ready, None, None),
        if initialized {
            cond("Initialized", true, None, None)
        } else {
            cond(
                "Initialized",
                false,
                Some("ContainersNotInitialized"),
                Some(format!(
                    "containers with incomplete status: [{}]",
                    incomplete.join(" ")
                )),
            )
        },
        if all_ready {
            cond("Ready", true, None, None)
        } else {
            cond(
                "Ready",
                false,
                Some(not_ready_reason),
                not_ready_msg.clone(),
            )
        },
        if all_ready {
            cond("ContainersReady", true, None, None)
        } else {
            cond(
                "ContainersReady",
                false,
                Some(not_ready_reason),
                not_ready_msg,
            )
        },
    ];
    // The kubelet reports PodScheduled too: a pod it runs is scheduled, also when its
    // nodeName was set by hand.
    match old_conditions.iter().find(|c| c["type"] == "PodScheduled") {
        Some(sched) => conditions.push(sched.clone()),
        None => conditions.push(cond("PodScheduled", true, None, None)),
    }
    let host_network = spec.host_network.unwrap_or(false);
    let pod_ip = if host_network {
        Some(input.host_ip.to_string())
    } else {
        input.pod_ip.clone()
    };
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": input.host_ip,
        "hostIPs": [{"ip": input.host_ip}],
        "startTime": input.start_time,
        "containerStatuses": statuses,
        "qosClass": qos_class(pod),
    });
    if !init_statuses.is_empty() {
        status["initContainerStatuses"] = json!(init_statuses);
    }
    if let Some(ip) = pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        let pod = |res: Value| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "a", "resources": res}]},
            }))
            .expect("pod")
        };
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(
                json!({"requests": {"cpu": "100m"}, "limits": {"cpu": "1", "memory": "1Gi"}})
            )),
            "Burstable"
        );
    }
}

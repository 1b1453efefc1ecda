//! Finding the pod (and container) a streaming command talks to, as kubectl does: a pod
//! name, or `TYPE/NAME` of a workload or service whose selector picks pods, ranked the way
//! kubectl ranks them (`ByLogging` for logs, reversed `ActivePods` for exec, attach and
//! port-forward), plus the default-container rule and its message.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ctx::{query_escape, Ctx};
use crate::error::{Error, Result};
use crate::resource::{split_type_name, Resolver};

/// The annotation that names the container commands default to.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// How candidate pods are ranked; the first one is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// `podutils.ByLogging` (logs).
    Logging,
    /// `sort.Reverse(podutils.ActivePods)` (exec, attach, port-forward).
    Attachable,
}

/// What a `POD` or `TYPE/NAME` argument resolved to.
pub enum Target {
    /// The argument named a pod.
    Pod(Value),
    /// A workload or service: its namespace and pod selector.
    Selector { namespace: String, selector: String },
}

/// Resolves `arg` (`NAME` = a pod, or `TYPE/NAME`) to a pod or a selector.
pub async fn resolve(ctx: &Ctx, resolver: &mut Resolver, arg: &str, rank: Rank) -> Result<Target> {
    let (ty, name) = match split_type_name(arg) {
        (t, Some(n)) => (t, n),
        (n, None) => ("pods", n),
    };
    let rt = resolver.resolve(ctx, ty).await?;
    let obj = ctx.get_json(&rt.object_path(&ctx.namespace, name)).await?;
    if rt.group.is_empty() && rt.kind == "Pod" {
        return Ok(Target::Pod(obj));
    }
    let selector = selector_for(&obj, &rt.kind, &rt.version).map_err(|e| {
        let what = match rank {
            Rank::Logging => "cannot get the logs from",
            Rank::Attachable => "cannot attach to",
        };
        let msg = e.to_string();
        Error::client(format!(
            "{what} *{}.{}: {}",
            rt.version,
            rt.kind,
            msg.strip_prefix("error: ").unwrap_or(&msg)
        ))
    })?;
    Ok(Target::Selector {
        namespace: str_at(&obj, &["metadata", "namespace"]).to_string(),
        selector,
    })
}

/// `logs` looks objects up through kubectl's resource builder, which reports a missing
/// object in its own words.
pub fn builder_error(e: Error, namespace: &str) -> Error {
    match e {
        Error::Server(s) if s.code == 404 && s.reason == "NotFound" => Error::client(format!(
            "error from server (NotFound): {} in namespace \"{namespace}\"",
            s.message
        )),
        other => other,
    }
}

/// `SelectorsForObject`: the pod selector of a workload or service, as a query string.
fn selector_for(obj: &Value, kind: &str, version: &str) -> Result<String> {
    let spec_selector = &obj["spec"]["selector"];
    let map_selector = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let selector = match kind {
        "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Deployment" | "Job" => {
            rkube_apimachinery::selector::LabelSelector::from_label_selector(spec_selector)
                .map_err(|e| Error::client(format!("invalid label selector: {}", e.message())))?
        }
        "ReplicationController" => {
            rkube_apimachinery::selector::LabelSelector::from_set(&map_selector(spec_selector))
        }
        "Service" => {
            let set = map_selector(spec_selector);
            if set.is_empty() {
                return Err(Error::client(format!(
                    "invalid service '{}': Service is defined without a selector",
                    str_at(obj, &["metadata", "name"])
                )));
            }
            rkube_apimachinery::selector::LabelSelector::from_set(&set)
        }
        _ => {
            return Err(Error::client(format!(
                "selector for *{version}.{kind} not implemented"
            )))
        }
    };
    Ok(selector.to_string())
}

/// The pods matching `selector`, ranked; waits up to `timeout` for one to appear (kubectl's
/// `--pod-running-timeout`) when there is none yet.
pub async fn ranked_pods(
    ctx: &Ctx,
    namespace: &str,
    selector: &str,
    timeout: Duration,
    rank: Rank,
) -> Result<Vec<Value>> {
    let path = format!(
        "/api/v1/namespaces/{namespace}/pods?labelSelector={}",
        query_escape(selector)
    );
    let deadline = Instant::now() + timeout;
    loop {
        let list = ctx.get_json(&path).await?;
        let mut pods = list["items"].as_array().cloned().unwrap_or_default();
        if !pods.is_empty() {
            sort_pods(&mut pods, rank);
            return Ok(pods);
        }
        if Instant::now() >= deadline {
            return Err(Error::client("timed out waiting for the condition"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Resolves `arg` to the single pod a command uses (`AttachablePodForObject` /
/// `GetFirstPod`) and the number of pods that matched.
pub async fn pick_pod(
    ctx: &Ctx,
    resolver: &mut Resolver,
    arg: &str,
    timeout: Duration,
    rank: Rank,
) -> Result<(Value, usize)> {
    match resolve(ctx, resolver, arg, rank).await? {
        Target::Pod(p) => Ok((p, 1)),
        Target::Selector {
            namespace,
            selector,
        } => {
            let pods = ranked_pods(ctx, &namespace, &selector, timeout, rank).await?;
            let n = pods.len();
            let first = pods
                .into_iter()
                .next()
                .ok_or_else(|| Error::client("timed out waiting for the condition"))?;
            Ok((first, n))
        }
    }
}

/// Sorts pods best-first for `rank`.
pub fn sort_pods(pods: &mut [Value], rank: Rank) {
    match rank {
        Rank::Logging => pods.sort_by(by_logging),
        Rank::Attachable => pods.sort_by(|a, b| active_pods(b, a)),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or_default()
}

fn node_name(p: &Value) -> &str {
    str_at(p, &["spec", "nodeName"])
}

fn phase(p: &Value) -> &str {
    str_at(p, &["status", "phase"])
}

fn ready_condition(p: &Value) -> Option<&Value> {
    p["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

fn is_ready(p: &Value) -> bool {
    ready_condition(p).is_some_and(|c| c["status"] == "True")
}

/// When the pod became ready (RFC 3339 sorts as time), `None` when unknown.
fn ready_time(p: &Value) -> Option<jiff::Timestamp> {
    ready_condition(p)
        .filter(|c| c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|t| t.parse().ok())
}

fn created(p: &Value) -> Option<jiff::Timestamp> {
    p["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
}

fn max_restarts(p: &Value) -> i64 {
    p["status"]["containerStatuses"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["restartCount"].as_i64())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Go's `afterOrZero(t1, t2)`: a zero time counts as latest.
fn after_or_zero(t1: Option<jiff::Timestamp>, t2: Option<jiff::Timestamp>) -> bool {
    match (t1, t2) {
        (None, _) | (_, None) => t1.is_none(),
        (Some(a), Some(b)) => a > b,
    }
}

fn less_to_ordering(less_ab: bool, less_ba: bool) -> Ordering {
    match (less_ab, less_ba) {
        (true, _) => Ordering::Less,
        (_, true) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// `podutils.ByLogging`: assigned, running, ready, ready longest, most restarts, oldest.
fn by_logging(a: &Value, b: &Value) -> Ordering {
    less_to_ordering(logging_less(a, b), logging_less(b, a))
}

fn logging_less(a: &Value, b: &Value) -> bool {
    let (na, nb) = (node_name(a), node_name(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return !na.is_empty();
    }
    // Phases missing from the map rank as Running, as Go's zero value makes them.
    let rank = |p: &str| match p {
        "Unknown" => 1,
        "Pending" => 2,
        _ => 0,
    };
    let (pa, pb) = (rank(phase(a)), rank(phase(b)));
    if pa != pb {
        return pa < pb;
    }
    if is_ready(a) != is_ready(b) {
        return is_ready(a);
    }
    if is_ready(a) && is_ready(b) && ready_time(a) != ready_time(b) {
        return after_or_zero(ready_time(b), ready_time(a));
    }
    let (ra, rb) = (max_restarts(a), max_restarts(b));
    if ra != rb {
        return ra > rb;
    }
    if created(a) != created(b) {
        return after_or_zero(created(b), created(a));
    }
    false
}

/// `podutils.ActivePods` (less = less active); callers reverse it.
fn active_pods(a: &Value, b: &Value) -> Ordering {
    less_to_ordering(active_less(a, b), active_less(b, a))
}

fn active_less(a: &Value, b: &Value) -> bool {
    let (na, nb) = (node_name(a), node_name(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    let rank = |p: &str| match p {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    let (pa, pb) = (rank(phase(a)), rank(phase(b)));
    if pa != pb {
        return pa < pb;
    }
    if is_ready(a) != is_ready(b) {
        return !is_ready(a);
    }
    if is_ready(a) && is_ready(b) && ready_time(a) != ready_time(b) {
        return after_or_zero(ready_time(a), ready_time(b));
    }
    let (ra, rb) = (max_restarts(a), max_restarts(b));
    if ra != rb {
        return ra > rb;
    }
    if created(a) != created(b) {
        return after_or_zero(created(a), created(b));
    }
    false
}

/// Names of a pod's containers of one kind (`containers`, `initContainers`, …).
pub fn container_names<'a>(pod: &'a Value, field: &str) -> Vec<&'a str> {
    pod["spec"][field]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default()
}

/// `podcmd.AllContainerNames`: `a, b, dbg (ephem), setup (init)`.
pub fn all_container_names(pod: &Value) -> String {
    let mut names: Vec<String> = container_names(pod, "containers")
        .into_iter()
        .map(String::from)
        .collect();
    names.extend(
        container_names(pod, "ephemeralContainers")
            .into_iter()
            .map(|n| format!("{n} (ephem)")),
    );
    names.extend(
        container_names(pod, "initContainers")
            .into_iter()
            .map(|n| format!("{n} (init)")),
    );
    names.join(", ")
}

/// Whether the pod has a container (of any kind) called `name`; its field path if so.
pub fn find_container(pod: &Value, name: &str) -> Option<String> {
    for field in ["containers", "initContainers", "ephemeralContainers"] {
        if container_names(pod, field).contains(&name) {
            return Some(format!("spec.{field}{{{name}}}"));
        }
    }
    None
}

/// `podcmd.FindOrDefaultContainerByName` for exec and attach: the named container, else
/// the annotation's, else the first one (saying so on stderr when there was a choice).
pub fn default_container(pod: &Value, name: Option<&str>, quiet: bool) -> Result<String> {
    let pod_name = str_at(pod, &["metadata", "name"]);
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        if find_container(pod, name).is_none() {
            return Err(Error::client(format!(
                "container {name} not found in pod {pod_name}"
            )));
        }
        return Ok(name.to_string());
    }
    let containers = container_names(pod, "containers");
    let Some(first) = containers.first() else {
        return Err(Error::client(format!(
            "pod {}/{pod_name} does not have any containers",
            str_at(pod, &["metadata", "namespace"])
        )));
    };
    if let Some(a) = pod["metadata"]["annotations"][DEFAULT_CONTAINER_ANNOTATION].as_str() {
        if !a.is_empty() && find_container(pod, a).is_some() {
            return Ok(a.to_string());
        }
    }
    if !quiet && has_choice(pod) {
        eprintln!(
            "Defaulted container \"{first}\" out of: {}",
            all_container_names(pod)
        );
    }
    Ok(first.to_string())
}

/// Whether a pod has more than one container to choose from.
pub fn has_choice(pod: &Value) -> bool {
    container_names(pod, "containers").len() > 1
        || !container_names(pod, "initContainers").is_empty()
        || !container_names(pod, "ephemeralContainers").is_empty()
}

/// A pod's name.
pub fn name(pod: &Value) -> &str {
    str_at(pod, &["metadata", "name"])
}

/// A pod's namespace.
pub fn namespace(pod: &Value) -> &str {
    str_at(pod, &["metadata", "namespace"])
}

/// A pod's phase.
pub fn pod_phase(pod: &Value) -> &str {
    phase(pod)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, phase: &str, ready: bool, created: &str) -> Value {
        json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]},
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": if ready {"True"} else {"False"},
                 "lastTransitionTime": created}
            ]}
        })
    }

    #[test]
    fn logging_and_attach_pick_the_running_ready_pod() {
        let mut pods = vec![
            pod("pending", "", "Pending", false, "2024-01-01T00:00:00Z"),
            pod("young", "n", "Running", true, "2024-01-03T00:00:00Z"),
            pod("old", "n", "Running", true, "2024-01-02T00:00:00Z"),
            pod("unready", "n", "Running", false, "2024-01-01T00:00:00Z"),
        ];
        sort_pods(&mut pods, Rank::Logging);
        let names: Vec<_> = pods.iter().map(name).collect();
        assert_eq!(names, ["old", "young", "unready", "pending"]);
        sort_pods(&mut pods, Rank::Attachable);
        assert_eq!(name(&pods[0]), "old");
        assert_eq!(name(&pods[3]), "pending");
    }

    #[test]
    fn containers_default_like_kubectl() {
        let p = json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}],
                     "initContainers": [{"name": "i"}]}
        });
        assert_eq!(all_container_names(&p), "a, b, i (init)");
        assert_eq!(default_container(&p, None, true).ok().as_deref(), Some("a"));
        assert_eq!(
            default_container(&p, Some("i"), true).ok().as_deref(),
            Some("i")
        );
        assert_eq!(
            default_container(&p, Some("x"), true)
                .err()
                .map(|e| e.to_string()),
            Some("error: container x not found in pod p".into())
        );
        assert_eq!(
            find_container(&p, "b").as_deref(),
            Some("spec.containers{b}")
        );
        let s = selector_for(
            &json!({"spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}}}}),
            "Deployment",
            "v1",
        );
        assert_eq!(s.ok().as_deref(), Some("a=1,b=2"));
        let e = selector_for(&json!({}), "ConfigMap", "v1").err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("error: selector for *v1.ConfigMap not implemented".into())
        );
    }
}

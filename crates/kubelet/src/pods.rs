//! The pods bound to this node: one watch (field selector `spec.nodeName`), one worker per
//! pod uid fed the latest version of its pod. After the first complete list, sandboxes that
//! belong to no pod (left from before a restart) are removed, and so are containers whose
//! sandbox or pod is gone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::Api;
use rkube_runtime::{ContainerStatus, PodSandbox, POD_UID_LABEL};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::worker::{PodWorker, Update};
use crate::Agent;

struct Handle {
    tx: watch::Sender<Update>,
    task: tokio::task::JoinHandle<()>,
}

/// Watches this node's pods and dispatches them to workers until cancelled.
pub async fn run(agent: Arc<Agent>, cancel: CancellationToken) {
    let api: Api<Pod> = Api::all(agent.client.clone());
    let cfg =
        watcher::Config::default().fields(&format!("spec.nodeName={}", agent.config.node_name));
    let mut stream = watcher(api, cfg).boxed();
    let mut workers: HashMap<String, Handle> = HashMap::new();
    let mut initial: Option<Vec<String>> = None;
    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => break,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { break };
        match ev {
            Ok(watcher::Event::Init) => initial = Some(Vec::new()),
            Ok(watcher::Event::InitApply(pod)) => {
                if let (Some(list), Some(uid)) = (initial.as_mut(), pod.metadata.uid.clone()) {
                    list.push(uid);
                }
                dispatch(&agent, &mut workers, pod, false, &cancel);
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(uids) = initial.take() {
                    let agent = agent.clone();
                    tokio::spawn(async move { remove_orphans(&agent, &uids).await });
                }
            }
            Ok(watcher::Event::Apply(pod)) => dispatch(&agent, &mut workers, pod, false, &cancel),
            Ok(watcher::Event::Delete(pod)) => dispatch(&agent, &mut workers, pod, true, &cancel),
            Err(e) => {
                tracing::warn!("pod watch: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
        workers.retain(|_, h| !h.task.is_finished());
    }
    for (_, h) in workers {
        h.task.abort();
    }
}

fn dispatch(
    agent: &Arc<Agent>,
    workers: &mut HashMap<String, Handle>,
    pod: Pod,
    removed: bool,
    cancel: &CancellationToken,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let update = Update { pod, removed };
    if let Some(h) = workers.get(&uid) {
        if !h.task.is_finished() {
            let _ = h.tx.send(update);
            return;
        }
        if removed {
            return;
        }
    }
    let (tx, rx) = watch::channel(update);
    let worker = PodWorker::new(agent.clone(), rx);
    let task = tokio::spawn(worker.run(cancel.clone()));
    workers.insert(uid, Handle { tx, task });
}

/// Removes sandboxes (and their containers) whose pod no longer exists, and containers
/// whose sandbox or pod is gone.
async fn remove_orphans(agent: &Agent, uids: &[String]) {
    // Containers first: a container's sandbox exists before it, so every sandbox that a
    // listed container still has is in the later sandbox list.
    let Ok(containers) = agent.runtime.list_containers().await else {
        return;
    };
    let Ok(sandboxes) = agent.runtime.list_pod_sandboxes().await else {
        return;
    };
    let (dead_sandboxes, dead_containers) = orphans(uids, &sandboxes, &containers);
    for sb in sandboxes.iter().filter(|s| dead_sandboxes.contains(&s.id)) {
        tracing::info!(sandbox = %sb.id, pod = %format!("{}/{}", sb.config.namespace, sb.config.name), "removing sandbox of a pod that no longer exists");
        if let Err(e) = agent.runtime.remove_pod_sandbox(&sb.id).await {
            tracing::warn!(sandbox = %sb.id, "remove orphaned sandbox: {e}");
        }
        crate::worker::remove_pod_dir(&agent.config.pod_dir(&sb.config.uid));
    }
    for id in dead_containers {
        tracing::info!(container = %id, "removing container whose pod or sandbox no longer exists");
        if let Err(e) = agent.runtime.remove_container(&id).await {
            tracing::warn!(container = %id, "remove orphaned container: {e}");
        }
    }
}

/// What belongs to no pod of `uids`: sandbox ids, and the ids of containers left outside
/// them (their sandbox is gone, or their pod label names a pod that is).
fn orphans(
    uids: &[String],
    sandboxes: &[PodSandbox],
    containers: &[ContainerStatus],
) -> (Vec<String>, Vec<String>) {
    let dead: Vec<String> = sandboxes
        .iter()
        .filter(|s| !uids.contains(&s.config.uid))
        .map(|s| s.id.clone())
        .collect();
    let live: HashSet<&str> = sandboxes
        .iter()
        .filter(|s| !dead.contains(&s.id))
        .map(|s| s.id.as_str())
        .collect();
    let stray = containers
        .iter()
        .filter(|c| {
            let pod_gone = c
                .labels
                .get(POD_UID_LABEL)
                .is_some_and(|u| !uids.contains(u));
            // Those in a dead sandbox go with it.
            !dead.contains(&c.sandbox_id) && (pod_gone || !live.contains(c.sandbox_id.as_str()))
        })
        .map(|c| c.id.clone())
        .collect();
    (dead, stray)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_runtime::{ContainerState, PodSandboxConfig, SandboxState};

    fn sandbox(id: &str, uid: &str) -> PodSandbox {
        PodSandbox {
            id: id.into(),
            config: PodSandboxConfig {
                uid: uid.into(),
                ..Default::default()
            },
            state: SandboxState::Ready,
            created_at: String::new(),
            ip: None,
        }
    }

    fn container(id: &str, sandbox: &str, uid: Option<&str>) -> ContainerStatus {
        ContainerStatus {
            id: id.into(),
            sandbox_id: sandbox.into(),
            name: id.into(),
            attempt: 0,
            state: ContainerState::Running,
            pid: None,
            created_at: String::new(),
            started_at: None,
            finished_at: None,
            exit_code: None,
            reason: None,
            message: None,
            image: String::new(),
            image_id: String::new(),
            image_ref: String::new(),
            log_path: Default::default(),
            labels: uid
                .map(|u| [(POD_UID_LABEL.to_string(), u.to_string())].into())
                .unwrap_or_default(),
            annotations: Default::default(),
        }
    }

    #[test]
    fn orphans_are_sandboxes_of_gone_pods_and_containers_without_a_live_sandbox_or_pod() {
        let uids = vec!["live".to_string()];
        let sandboxes = [sandbox("sb-live", "live"), sandbox("sb-gone", "gone")];
        let containers = [
            container("ok", "sb-live", Some("live")),
            container("ok-unlabelled", "sb-live", None),
            container("in-gone-sandbox", "sb-gone", Some("gone")),
            container("lost-sandbox", "sb-vanished", Some("live")),
            container("lost-unlabelled", "sb-vanished", None),
            container("pod-gone", "sb-live", Some("gone")),
        ];
        let (sb, c) = orphans(&uids, &sandboxes, &containers);
        assert_eq!(sb, ["sb-gone"]);
        assert_eq!(c, ["lost-sandbox", "lost-unlabelled", "pod-gone"]);
        let (sb, c) = orphans(&uids, &sandboxes[..1], &containers[..2]);
        assert!(sb.is_empty() && c.is_empty());
    }
}

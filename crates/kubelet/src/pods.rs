//! The pods bound to this node: one watch (field selector `spec.nodeName`), one worker per
//! pod uid fed the latest version of its pod. After the first complete list, sandboxes that
//! belong to no pod (left from before a restart) are removed.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::Api;

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

/// Removes sandboxes (and their containers) whose pod no longer exists.
async fn remove_orphans(agent: &Agent, uids: &[String]) {
    let Ok(sandboxes) = agent.runtime.list_pod_sandboxes().await else {
        return;
    };
    for sb in sandboxes {
        if !uids.contains(&sb.config.uid) {
            tracing::info!(sandbox = %sb.id, pod = %format!("{}/{}", sb.config.namespace, sb.config.name), "removing sandbox of a pod that no longer exists");
            if let Err(e) = agent.runtime.remove_pod_sandbox(&sb.id).await {
                tracing::warn!(sandbox = %sb.id, "remove orphaned sandbox: {e}");
            }
            crate::worker::remove_pod_dir(&agent.config.pod_dir(&sb.config.uid));
        }
    }
}

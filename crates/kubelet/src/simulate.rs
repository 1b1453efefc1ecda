//! Simulated nodes, as kwok makes them: `rkube agent --simulate N` registers N Nodes that
//! renew their Leases and report the pods bound to them as Running and Ready — without
//! running anything. They exist for scale tests and benchmarks of the scheduler and
//! controllers; no other test uses them in place of a real agent.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What simulated nodes look like.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Nodes are `<prefix>-<i>`.
    pub prefix: String,
    pub count: usize,
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            prefix: "sim".into(),
            count: 1,
            cpu: "32".into(),
            memory: "256Gi".into(),
            pods: crate::node::MAX_PODS,
        }
    }
}

fn now() -> String {
    crate::time::now()
}

fn node_object(cfg: &SimConfig, name: &str) -> serde_json::Value {
    let t = now();
    let resources = json!({"cpu": cfg.cpu, "memory": cfg.memory, "pods": cfg.pods.to_string(), "ephemeral-storage": "100Gi"});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "simulated",
            },
            "annotations": {"rkube.io/simulated": "true"},
        },
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "simulated node is posting ready status", "lastHeartbeatTime": t, "lastTransitionTime": t},
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "", "lastHeartbeatTime": t, "lastTransitionTime": t},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "", "lastHeartbeatTime": t, "lastTransitionTime": t},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "", "lastHeartbeatTime": t, "lastTransitionTime": t},
            ],
            "nodeInfo": {"kubeletVersion": crate::node::KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64", "containerRuntimeVersion": "simulated", "osImage": "simulated", "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
        },
    })
}

/// Registers the nodes, keeps their Leases fresh and runs their pods on paper until
/// `cancel` fires.
pub async fn run(client: Client, cfg: SimConfig, cancel: CancellationToken) -> anyhow::Result<()> {
    let names: Vec<String> = (0..cfg.count)
        .map(|i| format!("{}-{i}", cfg.prefix))
        .collect();
    let nodes: Api<Node> = Api::all(client.clone());
    let limit = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for name in &names {
        let (nodes, cfg, name, limit) = (nodes.clone(), cfg.clone(), name.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await;
            register(&nodes, &cfg, &name).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    info!(count = cfg.count, prefix = %cfg.prefix, "simulated nodes registered");
    let leases = tokio::spawn(renew_leases(client.clone(), names.clone(), cancel.clone()));
    let own: Arc<HashSet<String>> = Arc::new(names.into_iter().collect());
    run_pods(client, own, cancel.clone()).await;
    leases.abort();
    Ok(())
}

async fn register(nodes: &Api<Node>, cfg: &SimConfig, name: &str) -> anyhow::Result<()> {
    let obj: Node = serde_json::from_value(node_object(cfg, name))?;
    match nodes.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    // Status is a subresource: write it explicitly (also refreshes a re-registered node).
    let status = json!({"status": node_object(cfg, name)["status"]});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

/// One Lease renewal per node every 10 s, spread over the period.
async fn renew_leases(client: Client, names: Vec<String>, cancel: CancellationToken) {
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    let period = crate::node::LEASE_RENEW;
    let gap = period / names.len().max(1) as u32;
    loop {
        for name in &names {
            if cancel.is_cancelled() {
                return;
            }
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": name,
                    "leaseDurationSeconds": crate::node::LEASE_DURATION_SECONDS,
                    "renewTime": crate::time::now_micro(),
                },
            });
            let pp = PatchParams::apply("rkube-simulator").force();
            if let Err(e) = leases.patch(name, &pp, &Patch::Apply(&lease)).await {
                warn!(node = %name, "renew lease: {e}");
            }
            tokio::time::sleep(gap).await;
        }
    }
}

/// Watches every pod and answers for those bound to a simulated node: Running and Ready
/// at once; deleted at once when their deletion starts.
async fn run_pods(client: Client, own: Arc<HashSet<String>>, cancel: CancellationToken) {
    let pods: Api<Pod> = Api::all(client);
    let seen = Arc::new(std::sync::Mutex::new(HashSet::<String>::new()));
    let ip = Arc::new(AtomicU32::new(1));
    let limit = Arc::new(Semaphore::new(64));
    let stream = watcher(pods.clone(), watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    loop {
        let ev = tokio::select! {
            ev = stream.next() => ev,
            _ = cancel.cancelled() => return,
        };
        let Some(ev) = ev else { return };
        let pod = match ev {
            Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p)) => p,
            Ok(_) => continue,
            Err(e) => {
                warn!("pod watch: {e}");
                continue;
            }
        };
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        if !own.contains(&node) {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let key = format!("{ns}/{name}/{}", pod.uid().unwrap_or_default());
        let api: Api<Pod> = Api::namespaced(pods.clone().into_client(), &ns);
        if pod.metadata.deletion_timestamp.is_some() {
            let permit = limit.clone().acquire_owned().await;
            tokio::spawn(async move {
                let _permit = permit;
                let _ = api
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
            });
            continue;
        }
        let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        if running || !seen.lock().map(|mut s| s.insert(key)).unwrap_or(false) {
            continue;
        }
        let n = ip.fetch_add(1, Ordering::Relaxed);
        let pod_ip = format!("10.{}.{}.{}", 200 + (n >> 16) % 50, (n >> 8) & 255, n & 255);
        let status = running_status(&pod, &pod_ip);
        let permit = limit.clone().acquire_owned().await;
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await
            {
                warn!(pod = %name, "simulated status: {e}");
            }
        });
    }
}

fn running_status(pod: &Pod, pod_ip: &str) -> serde_json::Value {
    let t = now();
    let containers: Vec<_> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "ready": true, "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": t}},
            })
        })
        .collect();
    let cond = |ty: &str| json!({"type": ty, "status": "True", "lastTransitionTime": t});
    json!({"status": {
        "phase": "Running",
        "hostIP": "",
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": t,
        "qosClass": crate::status::qos_class(pod),
        "conditions": [cond("PodScheduled"), cond("Initialized"), cond("ContainersReady"), cond("Ready")],
        "containerStatuses": containers,
    }})
}

//! The Node object: registration with capacity, addresses and nodeInfo; conditions kept
//! current; the Lease in `kube-node-lease` renewed every 10 s (the heartbeat the node
//! lifecycle controller watches).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::Agent;

/// How often the Lease is renewed and the status refreshed (upstream's defaults).
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
pub const LEASE_DURATION_SECONDS: i32 = 40;
pub const STATUS_UPDATE: Duration = Duration::from_secs(10);
/// Pods a node accepts (upstream's default maxPods).
pub const MAX_PODS: u32 = 110;
/// The kubelet version we report (the API version we implement, tagged as ours).
pub const KUBELET_VERSION: &str = "v1.33.0+rkube";

/// What the host has.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    pub cpus: usize,
    pub memory_kib: u64,
    pub ephemeral_storage_bytes: u64,
}

pub fn capacity(data_dir: &std::path::Path) -> Capacity {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0);
    let ephemeral_storage_bytes = statvfs_total(data_dir).unwrap_or(0);
    Capacity {
        cpus,
        memory_kib,
        ephemeral_storage_bytes,
    }
}

fn statvfs_total(path: &std::path::Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `st` is a zeroed statvfs the call fills; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (r == 0).then(|| st.f_blocks as u64 * st.f_frsize as u64)
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

fn hostname() -> String {
    nix_hostname().unwrap_or_else(|| "localhost".into())
}

fn nix_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).to_string())
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastHeartbeatTime": now, "lastTransitionTime": now,
    })
}

/// The Node's status as the agent reports it.
pub fn node_status(agent: &Agent) -> Value {
    let cap = capacity(&agent.config.data_dir);
    let now = crate::time::now();
    let resources = json!({
        "cpu": cap.cpus.to_string(),
        "memory": format!("{}Ki", cap.memory_kib),
        "ephemeral-storage": format!("{}Ki", cap.ephemeral_storage_bytes / 1024),
        "pods": MAX_PODS.to_string(),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    });
    json!({
        "capacity": resources,
        "allocatable": resources,
        "addresses": [
            {"type": "InternalIP", "address": agent.config.node_ip.to_string()},
            {"type": "Hostname", "address": agent.config.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": agent.config.server_port}},
        "nodeInfo": {
            "machineID": read_trim("/etc/machine-id"),
            "systemUUID": read_trim("/sys/class/dmi/id/product_uuid"),
            "bootID": read_trim("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": read_trim("/proc/sys/kernel/osrelease"),
            "osImage": os_image(),
            "containerRuntimeVersion": format!("rkube://{}", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", &now),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", &now),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", &now),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", &now),
        ],
    })
}

/// Creates the Node, or takes over an existing one of our name (a restart).
pub async fn register(agent: &Agent) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(agent.client.clone());
    let mut labels = serde_json::Map::new();
    labels.insert(
        "kubernetes.io/hostname".into(),
        json!(agent.config.node_name),
    );
    labels.insert("kubernetes.io/os".into(), json!("linux"));
    labels.insert("kubernetes.io/arch".into(), json!("amd64"));
    labels.insert("beta.kubernetes.io/os".into(), json!("linux"));
    labels.insert("beta.kubernetes.io/arch".into(), json!("amd64"));
    for (k, v) in &agent.config.node_labels {
        labels.insert(k.clone(), json!(v));
    }
    let name = agent.config.node_name.clone();
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        }},
    }))?;
    match api.create(&PostParams::default(), &node).await {
        Ok(_) => tracing::info!(node = %name, "registered node"),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": labels}})),
            )
            .await?;
            tracing::info!(node = %name, "node already registered; taking it over");
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("register node {name}"))),
    }
    update_status(agent).await?;
    renew_lease(agent).await?;
    Ok(())
}

async fn update_status(agent: &Agent) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(agent.client.clone());
    let mut status = node_status(agent);
    // A condition keeps its lastTransitionTime while its status stays the same.
    if let Ok(current) = api.get_status(&agent.config.node_name).await {
        let old = current
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default();
        if let Some(conds) = status["conditions"].as_array_mut() {
            for c in conds {
                let same = old
                    .iter()
                    .find(|o| c["type"] == o.type_.as_str() && c["status"] == o.status.as_str());
                if let Some(t) = same.and_then(|o| o.last_transition_time.as_ref()) {
                    c["lastTransitionTime"] = json!(crate::time::to_seconds(&t.0.to_string()));
                }
            }
        }
    }
    api.patch_status(
        &agent.config.node_name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await?;
    Ok(())
}

async fn renew_lease(agent: &Agent) -> anyhow::Result<()> {
    let api: Api<Lease> = Api::namespaced(agent.client.clone(), "kube-node-lease");
    let name = &agent.config.node_name;
    let spec = json!({
        "holderIdentity": name,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": crate::time::now_micro(),
    });
    let patched = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await;
    match patched {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let node: Api<Node> = Api::all(agent.client.clone());
            let owner = node.get(name).await?;
            let lease: Lease = serde_json::from_value(json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease", "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Node", "name": name,
                    "uid": owner.metadata.uid.unwrap_or_default(),
                }]},
                "spec": spec,
            }))?;
            api.create(&PostParams::default(), &lease).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Renews the Lease and refreshes the status until cancelled.
pub async fn run(agent: Arc<Agent>, cancel: CancellationToken) {
    let mut lease = tokio::time::interval(LEASE_RENEW);
    let mut status = tokio::time::interval(STATUS_UPDATE);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = lease.tick() => {
                if let Err(e) = renew_lease(&agent).await {
                    tracing::warn!(node = %agent.config.node_name, "renew lease: {e:#}");
                }
            }
            _ = status.tick() => {
                if let Err(e) = update_status(&agent).await {
                    tracing::warn!(node = %agent.config.node_name, "update node status: {e:#}");
                }
            }
        }
    }
}

/// The node name to use when none is given: the host name, lowercased.
pub fn default_node_name() -> String {
    hostname().to_ascii_lowercase()
}

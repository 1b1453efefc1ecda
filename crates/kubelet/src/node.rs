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
    statvfs(path).map(|fs| fs.total)
}

/// A filesystem's size in bytes.
struct Fs {
    total: u64,
    /// Available to unprivileged users.
    available: u64,
    /// Total less free (blocks reserved for root are free, not used).
    used: u64,
}

fn statvfs(path: &std::path::Path) -> Option<Fs> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `st` is a zeroed statvfs the call fills; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (r == 0).then(|| {
        let f = st.f_frsize as u64;
        Fs {
            total: st.f_blocks as u64 * f,
            available: st.f_bavail as u64 * f,
            used: (st.f_blocks as u64).saturating_sub(st.f_bfree as u64) * f,
        }
    })
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
        "conditions": conditions(&pressure(&usage(&agent.config.data_dir)), &now),
    })
}

/// Upstream's default hard eviction thresholds, which set the pressure conditions.
pub const MEMORY_AVAILABLE_MIN: u64 = 100 * 1024 * 1024;
pub const NODEFS_AVAILABLE_MIN_PERCENT: u64 = 10;
/// Upstream sets no default for pid.available; 10 % of pid_max left is our line.
pub const PID_AVAILABLE_MIN_PERCENT: u64 = 10;

/// What the host has left (unknown values never signal pressure).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub memory_available: Option<u64>,
    pub fs_available: Option<u64>,
    /// Available plus used.
    pub fs_total: Option<u64>,
    pub pids: Option<u64>,
    pub pid_max: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

/// Reads MemAvailable, the data dir's filesystem and the task count (`/proc/loadavg`).
pub fn usage(data_dir: &std::path::Path) -> Usage {
    let memory_available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    let fs = statvfs(data_dir);
    let pids = std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| {
        l.split_whitespace()
            .nth(3)
            .and_then(|f| f.split_once('/'))
            .and_then(|(_, total)| total.parse().ok())
    });
    Usage {
        memory_available,
        fs_available: fs.as_ref().map(|f| f.available),
        // As df's Use%: blocks reserved for root are neither used nor available (on some
        // hosts they are most of the disk).
        fs_total: fs.as_ref().map(|f| f.available + f.used),
        pids,
        pid_max: read_trim("/proc/sys/kernel/pid_max").parse().ok(),
    }
}

/// The pressure conditions' states from what is left.
pub fn pressure(u: &Usage) -> Pressure {
    let below_percent = |left: Option<u64>, total: Option<u64>, pct: u64| match (left, total) {
        (Some(l), Some(t)) if t > 0 => l.saturating_mul(100) < t.saturating_mul(pct),
        _ => false,
    };
    Pressure {
        memory: u.memory_available.is_some_and(|m| m < MEMORY_AVAILABLE_MIN),
        disk: below_percent(u.fs_available, u.fs_total, NODEFS_AVAILABLE_MIN_PERCENT),
        pid: below_percent(
            match (u.pid_max, u.pids) {
                (Some(max), Some(used)) => Some(max.saturating_sub(used)),
                _ => None,
            },
            u.pid_max,
            PID_AVAILABLE_MIN_PERCENT,
        ),
    }
}

/// The four node conditions, with upstream's reasons and messages.
pub fn conditions(p: &Pressure, now: &str) -> Value {
    let pick = |on: bool, yes: (&str, &str), no: (&str, &str)| {
        if on {
            ("True", yes.0.to_string(), yes.1.to_string())
        } else {
            ("False", no.0.to_string(), no.1.to_string())
        }
    };
    let mem = pick(
        p.memory,
        (
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
        ),
        (
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
    );
    let disk = pick(
        p.disk,
        ("KubeletHasDiskPressure", "kubelet has disk pressure"),
        ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    );
    let pid = pick(
        p.pid,
        (
            "KubeletHasInsufficientPID",
            "kubelet has insufficient PID available",
        ),
        (
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
    );
    json!([
        condition("MemoryPressure", mem.0, &mem.1, &mem.2, now),
        condition("DiskPressure", disk.0, &disk.1, &disk.2, now),
        condition("PIDPressure", pid.0, &pid.1, &pid.2, now),
        condition(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
            now
        ),
    ])
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
    renew_lease_of(&agent.client, &agent.config.node_name).await
}

/// Renews node `name`'s Lease with a merge patch of its spec (no read first), creating it,
/// owned by the Node, when it does not exist yet. Simulated nodes renew the same way.
pub(crate) async fn renew_lease_of(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
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
            let node: Api<Node> = Api::all(client.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    const MI: u64 = 1024 * 1024;

    fn healthy() -> Usage {
        Usage {
            memory_available: Some(2048 * MI),
            fs_available: Some(50),
            fs_total: Some(100),
            pids: Some(300),
            pid_max: Some(32768),
        }
    }

    #[test]
    fn no_pressure_on_a_healthy_host_or_unknown_values() {
        assert_eq!(pressure(&healthy()), Pressure::default());
        assert_eq!(pressure(&Usage::default()), Pressure::default());
    }

    #[test]
    fn memory_pressure_below_100mi_available() {
        let mut u = healthy();
        u.memory_available = Some(100 * MI);
        assert!(!pressure(&u).memory);
        u.memory_available = Some(100 * MI - 1);
        assert_eq!(
            pressure(&u),
            Pressure {
                memory: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn disk_pressure_below_ten_percent_of_nodefs() {
        let mut u = healthy();
        u.fs_available = Some(10);
        assert!(!pressure(&u).disk);
        u.fs_available = Some(9);
        assert!(pressure(&u).disk && !pressure(&u).memory && !pressure(&u).pid);
    }

    #[test]
    fn pid_pressure_when_few_pids_are_left() {
        let mut u = healthy();
        u.pids = Some(32768 - 3277);
        assert!(!pressure(&u).pid);
        u.pids = Some(32768 - 3000);
        assert!(pressure(&u).pid);
        u.pids = Some(40000);
        assert!(pressure(&u).pid, "more tasks than pid_max saturates");
    }

    #[test]
    fn conditions_carry_upstream_reasons() {
        let c = conditions(
            &Pressure {
                memory: true,
                disk: false,
                pid: true,
            },
            "2024-01-01T00:00:00Z",
        );
        let got: Vec<(String, String, String)> = c
            .as_array()
            .expect("array")
            .iter()
            .map(|c| {
                (
                    c["type"].as_str().unwrap_or("").to_string(),
                    c["status"].as_str().unwrap_or("").to_string(),
                    c["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let want = [
            ("MemoryPressure", "True", "KubeletHasInsufficientMemory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "True", "KubeletHasInsufficientPID"),
            ("Ready", "True", "KubeletReady"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(got, want);
    }

    #[test]
    fn this_host_reads() {
        let u = usage(std::path::Path::new("/"));
        assert!(u.memory_available.is_some_and(|m| m > 0));
        assert!(u.fs_total.is_some_and(|t| t > 0));
        assert!(u.pids.is_some_and(|p| p > 0) && u.pid_max.is_some());
    }
}

//! What a container is asked to be: CRI's `ContainerConfig`, in Rust.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A container to create in a sandbox (CRI `ContainerConfig`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerConfig {
    /// The container's name in the pod.
    pub name: String,
    /// How many times a container of this name was created in this sandbox before.
    pub attempt: u32,
    /// An image reference or id already in the image store.
    pub image: String,
    /// Kubernetes' `command` (replaces the image's entrypoint).
    pub command: Vec<String>,
    /// Kubernetes' `args` (replaces the image's cmd).
    pub args: Vec<String>,
    pub working_dir: Option<String>,
    /// Environment from the pod spec; it overrides the image's variables of the same name.
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Log file, relative to the sandbox's log directory (`<name>/<attempt>.log`).
    pub log_path: PathBuf,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
    pub resources: Resources,
    pub security: SecurityContext,
}

/// A bind mount into the container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Mount {
    pub container_path: String,
    pub host_path: PathBuf,
    pub readonly: bool,
}

/// Cgroup limits (CRI `LinuxContainerResources`), already converted from Kubernetes
/// quantities by the agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    /// `cpu.shares` (v1) from the CPU request; converted to `cpu.weight` on v2.
    pub cpu_shares: Option<u64>,
    /// CFS quota in µs per `cpu_period` from the CPU limit.
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub memory_limit_bytes: Option<i64>,
    pub pids_limit: Option<i64>,
}

impl Resources {
    /// Kubernetes' conversion of a CPU request in millicores to shares (min 2).
    pub fn shares_from_millis(millis: i64) -> u64 {
        if millis <= 0 {
            return 2;
        }
        ((millis as u64) * 1024 / 1000).max(2)
    }

    /// Kubernetes' conversion of a CPU limit in millicores to a CFS quota over a 100 ms
    /// period (min 1 ms).
    pub fn quota_from_millis(millis: i64) -> (i64, u64) {
        let period = 100_000u64;
        ((millis * period as i64 / 1000).max(1000), period)
    }
}

/// Seccomp profile choice.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Seccomp {
    #[default]
    Unconfined,
    RuntimeDefault,
}

/// Security settings (CRI `LinuxContainerSecurityContext`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SecurityContext {
    pub privileged: bool,
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub supplemental_groups: Vec<u32>,
    pub read_only_rootfs: bool,
    /// Capability names as Kubernetes writes them (`NET_ADMIN` or `CAP_NET_ADMIN`); `ALL`.
    pub add_capabilities: Vec<String>,
    pub drop_capabilities: Vec<String>,
    /// `allowPrivilegeEscalation: false`.
    pub no_new_privs: bool,
    pub seccomp: Seccomp,
}

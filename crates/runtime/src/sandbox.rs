//! Pod sandboxes: the network, IPC and UTS namespaces and the cgroup that a pod's containers
//! share.
//!
//! Instead of a pause process, the namespaces are *pinned*: a short-lived thread unshares
//! them, sets the hostname, brings up `lo`, and bind-mounts its `/proc/thread-self/ns/*` onto
//! files in the sandbox directory (as CRI-O's `pinns` does). A pinned namespace lives on
//! without any process, so a sandbox needs nothing running between containers and survives
//! agent restarts untouched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroups;
use crate::error::{Result, RuntimeError};
use crate::sys;

/// What the pod asks of its sandbox (CRI `PodSandboxConfig`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PodSandboxConfig {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub attempt: u32,
    /// The pod's hostname (its name, or spec.hostname).
    pub hostname: String,
    /// Directory of the pod's container logs (`agent/logs/<ns>_<pod>_<uid>`).
    pub log_directory: PathBuf,
    pub dns: DnsConfig,
    /// Extra `/etc/hosts` lines (hostAliases): `(ip, names)`.
    pub host_aliases: Vec<(String, Vec<String>)>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Use the node's network namespace (hostNetwork).
    pub host_network: bool,
    /// Use the node's IPC namespace (hostIPC).
    pub host_ipc: bool,
}

/// A resolv.conf to write into the sandbox.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl DnsConfig {
    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.searches.is_empty() {
            s.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for n in &self.servers {
            s.push_str(&format!("nameserver {n}\n"));
        }
        if !self.options.is_empty() {
            s.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        s
    }
}

/// CRI's sandbox states.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum SandboxState {
    Ready,
    NotReady,
}

/// A sandbox as stored in `sandboxes/<id>/sandbox.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PodSandbox {
    pub id: String,
    pub config: PodSandboxConfig,
    pub state: SandboxState,
    /// RFC 3339 with nanoseconds.
    pub created_at: String,
    /// The pod's IP once the network is set up (the agent records it).
    #[serde(default)]
    pub ip: Option<String>,
}

/// The files of one sandbox.
#[derive(Debug, Clone)]
pub struct SandboxPaths {
    pub dir: PathBuf,
}

impl SandboxPaths {
    pub fn new(root: &Path, id: &str) -> Self {
        SandboxPaths { dir: root.join(id) }
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("sandbox.json")
    }
    pub fn ns(&self, kind: &str) -> PathBuf {
        self.dir.join("ns").join(kind)
    }
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }
    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }
}

/// The cgroup path every container of the pod lives under.
pub fn cgroup_parent(config: &PodSandboxConfig) -> String {
    format!("/rkube/pod{}", config.uid)
}

/// `/etc/hosts` as the kubelet writes it for a pod.
pub fn hosts_file(config: &PodSandboxConfig, ip: Option<&str>) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = ip {
        s.push_str(&format!("{ip}\t{}\n", config.hostname));
    }
    if !config.host_aliases.is_empty() {
        s.push_str("\n# Entries added by HostAliases.\n");
        for (ip, names) in &config.host_aliases {
            s.push_str(&format!("{ip}\t{}\n", names.join("\t")));
        }
    }
    s
}

/// Creates the sandbox's directory, namespaces, files and cgroup. On failure everything made
/// so far is removed.
pub fn create(root: &Path, id: &str, config: &PodSandboxConfig) -> Result<PodSandbox> {
    let paths = SandboxPaths::new(root, id);
    let made = (|| -> Result<PodSandbox> {
        std::fs::create_dir_all(paths.dir.join("ns"))
            .map_err(|e| RuntimeError::io(format!("create {}", paths.dir.display()), e))?;
        let mut kinds = Vec::new();
        if !config.host_network {
            kinds.push("net");
        }
        if !config.host_ipc {
            kinds.push("ipc");
        }
        kinds.push("uts");
        sys::pin_namespaces(&paths.dir.join("ns"), &kinds, &config.hostname)?;
        write(&paths.hostname(), &format!("{}\n", config.hostname))?;
        write(&paths.hosts(), &hosts_file(config, None))?;
        write(&paths.resolv_conf(), &config.dns.render())?;
        cgroups::create_pod(&cgroup_parent(config))?;
        let sandbox = PodSandbox {
            id: id.to_string(),
            config: config.clone(),
            state: SandboxState::Ready,
            created_at: crate::now_rfc3339(),
            ip: None,
        };
        save(root, &sandbox)?;
        Ok(sandbox)
    })();
    if made.is_err() {
        let _ = destroy(root, id, config);
    }
    made
}

/// Writes the sandbox record (atomically).
pub fn save(root: &Path, sandbox: &PodSandbox) -> Result<()> {
    sys::save_json(
        &SandboxPaths::new(root, &sandbox.id).record(),
        sandbox,
        "sandbox",
    )
}

pub fn load(root: &Path, id: &str) -> Result<PodSandbox> {
    sys::load_json(
        &SandboxPaths::new(root, id).record(),
        &format!("sandbox {id}"),
    )
}

/// Every sandbox id under `root`.
pub fn list_ids(root: &Path) -> Vec<String> {
    sys::dirs_with(root, "sandbox.json")
}

/// Releases the namespaces (network teardown is the agent's business before this).
pub fn stop(root: &Path, id: &str) -> Result<()> {
    let paths = SandboxPaths::new(root, id);
    for kind in ["net", "ipc", "uts"] {
        sys::unmount_pin(&paths.ns(kind));
    }
    Ok(())
}

/// Removes everything of the sandbox: namespaces, cgroup, files.
pub fn destroy(root: &Path, id: &str, config: &PodSandboxConfig) -> Result<()> {
    stop(root, id)?;
    cgroups::remove_pod(&cgroup_parent(config));
    let dir = SandboxPaths::new(root, id).dir;
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RuntimeError::io(format!("remove {}", dir.display()), e)),
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| RuntimeError::io(format!("write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_and_hosts_render_as_the_kubelet_writes_them() {
        let dns = DnsConfig {
            servers: vec!["10.43.0.10".into()],
            searches: vec![
                "default.svc.cluster.local".into(),
                "svc.cluster.local".into(),
            ],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            dns.render(),
            "search default.svc.cluster.local svc.cluster.local\nnameserver 10.43.0.10\noptions ndots:5\n"
        );
        let cfg = PodSandboxConfig {
            hostname: "web".into(),
            host_aliases: vec![("10.1.2.3".into(), vec!["foo.local".into(), "bar".into()])],
            ..Default::default()
        };
        let h = hosts_file(&cfg, Some("10.42.0.5"));
        assert!(h.contains("10.42.0.5\tweb\n"));
        assert!(h.ends_with("# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar\n"));
    }
}

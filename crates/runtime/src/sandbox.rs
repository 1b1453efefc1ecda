//! Pod sandboxes: the network, IPC and UTS namespaces and the cgroup that a pod's containers
//! share.
//!
//! Instead of a pause process, the namespaces are *pinned*: a short-lived thread unshares
//! them, sets the hostname, brings up `lo`, and bind-mounts its `/proc/thread-self/ns/*` onto
//! files in the sandbox directory (as CRI-O's `pinns` does). A pinned namespace lives on
//! without any process, so a sandbox needs nothing running between containers and survives
//! agent restarts untouched.
//!
//! A PID namespace cannot be pinned that way (it ends with its first process), so a pod with
//! `shareProcessNamespace` gets a minimal init instead ([`crate::shim`]'s `pause` mode): it
//! is PID 1 of a new PID namespace that every container of the pod joins, is recorded in
//! `pause.json` (found again after an agent restart), and is stopped with the sandbox.

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
    /// All containers of the pod share one PID namespace (shareProcessNamespace).
    #[serde(default)]
    pub share_process_namespace: bool,
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
    /// The pod's `/dev/shm` (a tmpfs every container bind-mounts, as containerd's sandbox
    /// shm), unless the pod uses the host's IPC namespace.
    pub fn shm(&self) -> PathBuf {
        self.dir.join("shm")
    }
    /// The shared PID namespace's init (shareProcessNamespace).
    pub fn pause(&self) -> PathBuf {
        self.dir.join("pause.json")
    }
}

/// The init of a shared PID namespace: its host pid and its namespace's identity
/// (`pid:[<inode>]`), so a reused pid is not mistaken for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct PauseRecord {
    pid: i32,
    ns: String,
}

/// How long the shared PID namespace's init gets to leave after SIGTERM.
const PAUSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

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
pub fn create(
    root: &Path,
    id: &str,
    config: &PodSandboxConfig,
    shim: &crate::ShimCommand,
) -> Result<PodSandbox> {
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
        if !config.host_ipc {
            sys::mount_shm(&paths.shm())?;
        }
        cgroups::create_pod(&cgroup_parent(config))?;
        if config.share_process_namespace {
            start_pause(shim, &paths)?;
        }
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

/// Starts the init of the pod's shared PID namespace and records it.
fn start_pause(shim: &crate::ShimCommand, paths: &SandboxPaths) -> Result<()> {
    let reply = crate::container::run_shim(shim, "pause", &paths.dir).map_err(|e| {
        RuntimeError::Start(format!("start the pod's shared process namespace: {e}"))
    })?;
    let pid: i32 = reply
        .trim()
        .parse()
        .map_err(|_| RuntimeError::Internal(format!("shim pause replied {reply:?}, not a pid")))?;
    let link = format!("/proc/{pid}/ns/pid");
    let ns = std::fs::read_link(&link)
        .map_err(|e| RuntimeError::io(format!("read {link}"), e))?
        .to_string_lossy()
        .into_owned();
    tracing::debug!(pid, %ns, "shared pid namespace ready");
    sys::save_json(&paths.pause(), &PauseRecord { pid, ns }, "pause record")
}

/// The live init of the sandbox's shared PID namespace, if it has one.
fn pause_pid(paths: &SandboxPaths) -> Option<i32> {
    let rec: PauseRecord = sys::load_json(&paths.pause(), "pause record").ok()?;
    let ns = std::fs::read_link(format!("/proc/{}/ns/pid", rec.pid)).ok()?;
    (sys::pid_alive(rec.pid) && ns.to_string_lossy() == rec.ns).then_some(rec.pid)
}

/// The shared PID namespace for the sandbox's containers to join (`/proc/<init>/ns/pid`):
/// `None` without shareProcessNamespace, an error when its init is gone.
pub fn pid_namespace(root: &Path, sandbox: &PodSandbox) -> Result<Option<PathBuf>> {
    if !sandbox.config.share_process_namespace {
        return Ok(None);
    }
    match pause_pid(&SandboxPaths::new(root, &sandbox.id)) {
        Some(pid) => Ok(Some(PathBuf::from(format!("/proc/{pid}/ns/pid")))),
        None => Err(RuntimeError::InvalidConfig(format!(
            "the shared process namespace of sandbox {} is gone",
            sandbox.id
        ))),
    }
}

/// The sandbox as it is now: a Ready sandbox whose shared PID namespace's init died is
/// NotReady, as a sandbox whose pause container died is upstream (the kubelet recreates it).
pub fn observe(root: &Path, mut sandbox: PodSandbox) -> PodSandbox {
    if sandbox.state == SandboxState::Ready
        && sandbox.config.share_process_namespace
        && pause_pid(&SandboxPaths::new(root, &sandbox.id)).is_none()
    {
        sandbox.state = SandboxState::NotReady;
    }
    sandbox
}

/// Stops the sandbox's processes: the shared PID namespace's init, whose exit makes the
/// kernel kill whatever is left in that namespace.
pub fn stop_processes(root: &Path, id: &str) {
    let paths = SandboxPaths::new(root, id);
    let Some(pid) = pause_pid(&paths) else {
        return;
    };
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = std::time::Instant::now() + PAUSE_GRACE;
    while sys::pid_alive(pid.as_raw()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if sys::pid_alive(pid.as_raw()) {
        tracing::warn!(
            sandbox = id,
            "pid namespace init ignored SIGTERM; killing it"
        );
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// Stops the sandbox's processes and releases the namespaces (network teardown is the
/// agent's business before this).
pub fn stop(root: &Path, id: &str) -> Result<()> {
    stop_processes(root, id);
    let paths = SandboxPaths::new(root, id);
    for kind in ["net", "ipc", "uts"] {
        sys::unmount_pin(&paths.ns(kind));
    }
    sys::unmount(&paths.shm());
    Ok(())
}

/// What the sandbox's containers mount at `/dev/shm`: the pod's tmpfs, the host's with
/// hostIPC, `None` for a sandbox made before pods shared one (each container gets its own).
pub fn shm_source(root: &Path, sandbox: &PodSandbox) -> Option<PathBuf> {
    if sandbox.config.host_ipc {
        return Some(PathBuf::from("/dev/shm"));
    }
    let shm = SandboxPaths::new(root, &sandbox.id).shm();
    shm.is_dir().then_some(shm)
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

//! The CRI-shaped runtime service: sandbox and container calls as the kubelet makes them to
//! containerd, implemented by [`Runtime`] over pinned namespaces, overlayfs, libcontainer and
//! per-container shims. Everything is on disk under `<data-dir>/agent/`, so a new `Runtime`
//! on the same data dir (an agent restart) finds every sandbox and container again.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::container::{self, ContainerConfig, ContainerPaths, ContainerRecord, ContainerStatus};
use crate::error::{Result, RuntimeError};
use crate::image::ImageService;
use crate::sandbox::{self, PodSandbox, PodSandboxConfig, SandboxPaths, SandboxState};
use crate::shim::{ExitRecord, ShimConfig};
use crate::sys;

/// How to run the shim: the `rkube` binary with `shim`, or the `rkube-shim` test program.
#[derive(Debug, Clone)]
pub struct ShimCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Output of a command run to completion in a container (probes, `exec` without streams).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecResult {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Sandbox and container calls, shaped like CRI's RuntimeService.
#[async_trait]
pub trait RuntimeService: Send + Sync {
    async fn run_pod_sandbox(&self, config: PodSandboxConfig) -> Result<String>;
    /// Stops every container of the sandbox; its namespaces stay until removal.
    async fn stop_pod_sandbox(&self, id: &str) -> Result<()>;
    /// Removes the sandbox and all its containers.
    async fn remove_pod_sandbox(&self, id: &str) -> Result<()>;
    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandbox>;
    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandbox>>;
    /// Records the pod IP (after the network is set up) and rewrites `/etc/hosts`.
    async fn set_pod_sandbox_ip(&self, id: &str, ip: Option<String>) -> Result<()>;
    /// The sandbox's network namespace file, for the pod network.
    fn pod_sandbox_netns(&self, id: &str) -> PathBuf;

    async fn create_container(&self, sandbox_id: &str, config: ContainerConfig) -> Result<String>;
    async fn start_container(&self, id: &str) -> Result<()>;
    /// SIGTERM (or the image's stop signal), `timeout`, then SIGKILL.
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()>;
    async fn remove_container(&self, id: &str) -> Result<()>;
    async fn container_status(&self, id: &str) -> Result<ContainerStatus>;
    async fn list_containers(&self) -> Result<Vec<ContainerStatus>>;
    /// The containers of one pod (label `io.kubernetes.pod.uid`), without reading every
    /// other pod's: the agent asks this on every sync of every pod.
    async fn list_pod_containers(&self, pod_uid: &str) -> Result<Vec<ContainerStatus>> {
        Ok(self
            .list_containers()
            .await?
            .into_iter()
            .filter(|c| c.labels.get(POD_UID_LABEL).map(String::as_str) == Some(pod_uid))
            .collect())
    }
    /// The container's cgroup path (for usage statistics).
    fn container_cgroup(&self, id: &str) -> Option<String>;
    /// A command that runs `cmd` inside the container with whatever stdio the caller gives
    /// it (pipes or a pty), and exits with the process's exit code.
    fn exec_command(&self, id: &str, cmd: &[String]) -> std::process::Command;
    /// Runs `cmd` in the container and collects its output; killed after `timeout`.
    async fn exec_sync(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecResult>;
    /// The running container's attach socket, for [`crate::attach::AttachClient`]: live
    /// output, stdin (with `stdin: true`) and resizes (with `tty: true`).
    /// `NotRunning` once the container has ended.
    fn attach_socket(&self, id: &str) -> Result<PathBuf>;
}

/// The label naming a container's pod (set by the agent, as the CRI's kubelet does).
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";

/// The built-in runtime.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    images: ImageService,
    sandboxes: PathBuf,
    containers: PathBuf,
    /// libcontainer's state (`agent/run`): kept short, it holds a unix socket path.
    state_root: PathBuf,
    shim: ShimCommand,
    /// Pod uid → its container ids, built from disk at open and kept by create/remove.
    by_pod: std::sync::Mutex<HashMap<String, BTreeSet<String>>>,
}

impl Inner {
    fn index(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeSet<String>>> {
        self.by_pod.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Runtime {
    /// Opens the runtime's directories under `<data-dir>/agent/`.
    pub fn open(images: ImageService, shim: ShimCommand) -> Result<Runtime> {
        let agent = images.data_dir().join("agent");
        let sandboxes = agent.join("sandboxes");
        let containers = agent.join("containers");
        let state_root = agent.join("run");
        for d in [&sandboxes, &containers, &state_root] {
            std::fs::create_dir_all(d)
                .map_err(|e| RuntimeError::io(format!("create {}", d.display()), e))?;
        }
        let mut by_pod: HashMap<String, BTreeSet<String>> = HashMap::new();
        for id in container::list_ids(&containers) {
            if let Ok(rec) = container::load(&containers, &id) {
                if let Some(uid) = rec.config.labels.get(POD_UID_LABEL) {
                    by_pod.entry(uid.clone()).or_default().insert(id);
                }
            }
        }
        Ok(Runtime {
            inner: Arc::new(Inner {
                images,
                sandboxes,
                containers,
                state_root,
                shim,
                by_pod: std::sync::Mutex::new(by_pod),
            }),
        })
    }

    pub fn images(&self) -> &ImageService {
        &self.inner.images
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| RuntimeError::Internal(format!("runtime task: {e}")))?
    }
}

impl Inner {
    fn remove_container(&self, id: &str) -> Result<()> {
        let root = &self.containers;
        {
            let mut index = self.index();
            index.retain(|_, ids| {
                ids.remove(id);
                !ids.is_empty()
            });
        }
        if let Ok(rec) = container::load(root, id) {
            container::stop(root, &rec, libc::SIGKILL, Duration::ZERO);
            crate::cgroups::remove_pod(&rec.cgroup_path);
        }
        let state = self.state_root.join(id);
        if state.exists() {
            match libcontainer::container::Container::load(state.clone()) {
                Ok(mut c) => {
                    if let Err(e) = c.delete(true) {
                        tracing::warn!(container = id, "delete container state: {e}");
                    }
                }
                Err(e) => tracing::warn!(container = id, "load container state: {e}"),
            }
            let _ = std::fs::remove_dir_all(&state);
        }
        let paths = ContainerPaths::new(root, id);
        sys::unmount(&paths.rootfs());
        if paths.dir.exists() {
            std::fs::remove_dir_all(&paths.dir)
                .map_err(|e| RuntimeError::io(format!("remove {}", paths.dir.display()), e))?;
        }
        Ok(())
    }

    fn create_container(&self, id: &str, sandbox_id: &str, cfg: ContainerConfig) -> Result<()> {
        let sb = sandbox::load(&self.sandboxes, sandbox_id)?;
        let paths = ContainerPaths::new(&self.containers, id);
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| RuntimeError::Internal(format!("no async runtime: {e}")))?;
        let rootfs_info = handle.block_on(self.images.lease(id, &cfg.image))?;
        let image = rootfs_info.image;
        let rootfs = paths.rootfs();
        for d in [
            rootfs.clone(),
            paths.dir.join("upper"),
            paths.dir.join("work"),
        ] {
            std::fs::create_dir_all(&d)
                .map_err(|e| RuntimeError::io(format!("create {}", d.display()), e))?;
        }
        sys::mount_overlay(
            &rootfs_info.lowerdirs,
            &paths.dir.join("upper"),
            &paths.dir.join("work"),
            &rootfs,
        )?;
        let sec = &cfg.security;
        let user = container::user::resolve(
            &rootfs,
            &image.config.user,
            sec.run_as_user,
            sec.run_as_group,
            &sec.supplemental_groups,
        )
        .map_err(|e| RuntimeError::InvalidConfig(e.to_string()))?;
        let argv = container::spec::argv(&cfg, &image.config);
        let Some(argv0) = argv.first() else {
            return Err(RuntimeError::InvalidConfig(
                "failed to generate container spec: no command specified".into(),
            ));
        };
        let env = container::spec::env(&cfg, &image.config, &sb.config.hostname);
        let path_env = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(container::spec::DEFAULT_PATH);
        container::check_executable(&rootfs, argv0, path_env)?;
        let sb_paths = SandboxPaths::new(&self.sandboxes, sandbox_id);
        let (net, ipc, uts) = (sb_paths.ns("net"), sb_paths.ns("ipc"), sb_paths.ns("uts"));
        let (hosts, hostname, resolv) = (
            sb_paths.hosts(),
            sb_paths.hostname(),
            sb_paths.resolv_conf(),
        );
        let cgroup_parent = sandbox::cgroup_parent(&sb.config);
        let pid_ns = sandbox::pid_namespace(&self.sandboxes, &sb)?;
        let shm = sandbox::shm_source(&self.sandboxes, &sb);
        let view = container::spec::SandboxView {
            hostname: &sb.config.hostname,
            net_ns: (!sb.config.host_network).then_some(net.as_path()),
            ipc_ns: (!sb.config.host_ipc).then_some(ipc.as_path()),
            uts_ns: Some(uts.as_path()),
            pid_ns: pid_ns.as_deref(),
            hosts_file: &hosts,
            hostname_file: &hostname,
            resolv_conf: &resolv,
            shm: shm.as_deref(),
            cgroup_parent: &cgroup_parent,
        };
        let spec = container::spec::build(id, &cfg, &image.config, &rootfs, &user, &view);
        let data = serde_json::to_vec_pretty(&spec)
            .map_err(|e| RuntimeError::Internal(format!("encode spec: {e}")))?;
        sys::write_atomic(&paths.dir.join("config.json"), &data)?;
        let log_path = sb.config.log_directory.join(&cfg.log_path);
        if let Some(parent) = log_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| RuntimeError::io(format!("create {}", parent.display()), e))?;
        }
        let image_ref = image
            .repo_digests
            .first()
            .cloned()
            .unwrap_or_else(|| image.id.clone());
        let rec = ContainerRecord {
            id: id.to_string(),
            sandbox_id: sandbox_id.to_string(),
            image: cfg.image.clone(),
            image_id: image.id.clone(),
            image_ref,
            log_path,
            cgroup_path: format!("{cgroup_parent}/{id}"),
            created_at: crate::now_rfc3339(),
            started_at: None,
            pid: None,
            stop_signal: image.config.stop_signal.clone(),
            config: cfg,
        };
        container::save(&self.containers, &rec)
    }
}

#[async_trait]
impl RuntimeService for Runtime {
    async fn run_pod_sandbox(&self, config: PodSandboxConfig) -> Result<String> {
        self.blocking(move |i| {
            let id = sys::random_id(16);
            sandbox::create(&i.sandboxes, &id, &config, &i.shim)?;
            tracing::info!(sandbox = %id, pod = %format!("{}/{}", config.namespace, config.name), "sandbox ready");
            Ok(id)
        })
        .await
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |i| {
            let mut sb = sandbox::load(&i.sandboxes, &id)?;
            for cid in container::list_ids(&i.containers) {
                if let Ok(rec) = container::load(&i.containers, &cid) {
                    if rec.sandbox_id == id {
                        container::stop(&i.containers, &rec, libc::SIGKILL, Duration::ZERO);
                    }
                }
            }
            sandbox::stop_processes(&i.sandboxes, &id);
            sb.state = SandboxState::NotReady;
            sandbox::save(&i.sandboxes, &sb)
        })
        .await
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |i| {
            for cid in container::list_ids(&i.containers) {
                if let Ok(rec) = container::load(&i.containers, &cid) {
                    if rec.sandbox_id == id {
                        i.remove_container(&cid)?;
                        let h = tokio::runtime::Handle::try_current();
                        if let Ok(h) = h {
                            let _ = h.block_on(i.images.release(&cid));
                        }
                    }
                }
            }
            match sandbox::load(&i.sandboxes, &id) {
                Ok(sb) => sandbox::destroy(&i.sandboxes, &id, &sb.config),
                Err(RuntimeError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandbox> {
        let id = id.to_string();
        self.blocking(move |i| {
            Ok(sandbox::observe(
                &i.sandboxes,
                sandbox::load(&i.sandboxes, &id)?,
            ))
        })
        .await
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandbox>> {
        self.blocking(|i| {
            Ok(sandbox::list_ids(&i.sandboxes)
                .iter()
                .filter_map(|id| sandbox::load(&i.sandboxes, id).ok())
                .map(|sb| sandbox::observe(&i.sandboxes, sb))
                .collect())
        })
        .await
    }

    async fn set_pod_sandbox_ip(&self, id: &str, ip: Option<String>) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |i| {
            let mut sb = sandbox::load(&i.sandboxes, &id)?;
            let hosts = sandbox::hosts_file(&sb.config, ip.as_deref());
            // Rewritten in place: containers bind-mount this very file.
            let path = SandboxPaths::new(&i.sandboxes, &id).hosts();
            std::fs::write(&path, hosts)
                .map_err(|e| RuntimeError::io(format!("write {}", path.display()), e))?;
            sb.ip = ip;
            sandbox::save(&i.sandboxes, &sb)
        })
        .await
    }

    fn pod_sandbox_netns(&self, id: &str) -> PathBuf {
        SandboxPaths::new(&self.inner.sandboxes, id).ns("net")
    }

    async fn create_container(&self, sandbox_id: &str, config: ContainerConfig) -> Result<String> {
        let sandbox_id = sandbox_id.to_string();
        let id = sys::random_id(16);
        if let Some(uid) = config.labels.get(POD_UID_LABEL) {
            self.inner
                .index()
                .entry(uid.clone())
                .or_default()
                .insert(id.clone());
        }
        let cid = id.clone();
        let made = self
            .blocking(move |i| i.create_container(&cid, &sandbox_id, config))
            .await;
        if let Err(e) = made {
            let cid = id.clone();
            let _ = self.blocking(move |i| i.remove_container(&cid)).await;
            let _ = self.inner.images.release(&id).await;
            return Err(e);
        }
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |i| {
            let mut rec = container::load(&i.containers, &id)?;
            let paths = ContainerPaths::new(&i.containers, &id);
            let cfg = ShimConfig {
                id: id.clone(),
                bundle: paths.dir.clone(),
                state_root: i.state_root.clone(),
                log_path: rec.log_path.clone(),
                cgroup_path: rec.cgroup_path.clone(),
                stdin: rec.config.stdin,
                stdin_once: rec.config.stdin_once,
                tty: rec.config.tty,
            };
            match container::spawn_shim(&i.shim, &paths.dir, &cfg) {
                Ok((pid, at)) => {
                    rec.pid = Some(pid);
                    rec.started_at = Some(at);
                    container::save(&i.containers, &rec)
                }
                Err(e) => {
                    // The process never ran: record it as exited, as containerd does.
                    let now = crate::now_rfc3339();
                    rec.started_at = Some(now.clone());
                    let exit = ExitRecord {
                        exit_code: 128,
                        signal: None,
                        oom_killed: false,
                        finished_at: now,
                        reason: Some("StartError".into()),
                        message: Some(e.to_string()),
                    };
                    if let Ok(d) = serde_json::to_vec(&exit) {
                        let _ = sys::write_atomic(&paths.exit(), &d);
                    }
                    let _ = container::save(&i.containers, &rec);
                    Err(e)
                }
            }
        })
        .await
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |i| {
            let rec = container::load(&i.containers, &id)?;
            let signal = stop_signal(&rec);
            container::stop(&i.containers, &rec, signal, timeout);
            Ok(())
        })
        .await
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let cid = id.to_string();
        self.blocking(move |i| i.remove_container(&cid)).await?;
        self.inner.images.release(id).await?;
        Ok(())
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        let id = id.to_string();
        self.blocking(move |i| {
            let rec = container::load(&i.containers, &id)?;
            Ok(container::status(&i.containers, &rec))
        })
        .await
    }

    async fn list_containers(&self) -> Result<Vec<ContainerStatus>> {
        self.blocking(|i| {
            Ok(container::list_ids(&i.containers)
                .iter()
                .filter_map(|id| container::load(&i.containers, id).ok())
                .map(|rec| container::status(&i.containers, &rec))
                .collect())
        })
        .await
    }

    async fn list_pod_containers(&self, pod_uid: &str) -> Result<Vec<ContainerStatus>> {
        let ids: Vec<String> = self
            .inner
            .index()
            .get(pod_uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        self.blocking(move |i| {
            Ok(ids
                .iter()
                .filter_map(|id| container::load(&i.containers, id).ok())
                .map(|rec| container::status(&i.containers, &rec))
                .collect())
        })
        .await
    }

    fn container_cgroup(&self, id: &str) -> Option<String> {
        container::load(&self.inner.containers, id)
            .ok()
            .map(|r| r.cgroup_path)
    }

    fn exec_command(&self, id: &str, cmd: &[String]) -> std::process::Command {
        let mut c = std::process::Command::new(&self.inner.shim.program);
        c.args(&self.inner.shim.args)
            .arg("exec")
            .arg("--root")
            .arg(&self.inner.state_root)
            .arg("--id")
            .arg(id)
            .arg("--")
            .args(cmd);
        c
    }

    fn attach_socket(&self, id: &str) -> Result<PathBuf> {
        let root = &self.inner.containers;
        let rec = container::load(root, id)?;
        let socket = ContainerPaths::new(root, id).attach_socket();
        let running = rec.started_at.is_some()
            && container::read_exit(root, id).is_none()
            && container::shim_alive(root, id).is_some()
            && socket.exists();
        if !running {
            return Err(RuntimeError::NotRunning(format!("container {id}")));
        }
        Ok(socket)
    }

    async fn exec_sync(&self, id: &str, cmd: &[String], timeout: Duration) -> Result<ExecResult> {
        let mut c = tokio::process::Command::from(self.exec_command(id, cmd));
        c.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = c.spawn().map_err(|e| RuntimeError::io("start exec", e))?;
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(ExecResult {
                exit_code: out.status.code().unwrap_or(255),
                stdout: out.stdout,
                stderr: out.stderr,
            }),
            Ok(Err(e)) => Err(RuntimeError::io("wait for exec", e)),
            Err(_) => Err(RuntimeError::Start(format!(
                "command timed out after {}s",
                timeout.as_secs_f64()
            ))),
        }
    }
}

/// The image's STOPSIGNAL, else SIGTERM.
fn stop_signal(rec: &ContainerRecord) -> i32 {
    signal_number(&rec.stop_signal).unwrap_or(libc::SIGTERM)
}

/// `SIGQUIT`, `QUIT`, `3` → the signal number.
pub fn signal_number(name: &str) -> Option<i32> {
    let n = name.trim().to_ascii_uppercase();
    if let Ok(num) = n.parse::<i32>() {
        return Some(num);
    }
    let n = n.strip_prefix("SIG").unwrap_or(&n);
    Some(match n {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "WINCH" => libc::SIGWINCH,
        _ => return None,
    })
}

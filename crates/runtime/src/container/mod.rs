//! Containers: an OCI bundle on an overlayfs rootfs, run by a per-container shim.
//!
//! `containers/<id>/` holds `container.json` (what was asked and when it started),
//! `config.json` (the OCI spec), `rootfs/` (the overlay mount), `upper/` and `work/` (the
//! writable layer), `shim.json`, `shim.pid`, `shim.log`, the shim's `attach.sock` while it
//! runs and, once it ended, `exit.json`.

pub mod config;
pub mod spec;
pub mod user;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use config::{ContainerConfig, Mount, Resources, Seccomp, SecurityContext};

use crate::error::{Result, RuntimeError};
use crate::shim::{ExitRecord, ShimConfig};
use crate::sys;

/// CRI's container states.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

/// The stored record of a container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerRecord {
    pub id: String,
    pub sandbox_id: String,
    pub config: ContainerConfig,
    /// The image as named, and its id (`sha256:…` of the config).
    pub image: String,
    pub image_id: String,
    /// The image's digest reference (`repo@sha256:…`) when it has one: the kubelet's imageID.
    pub image_ref: String,
    pub log_path: PathBuf,
    pub cgroup_path: String,
    pub created_at: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub pid: Option<i32>,
    /// The image's STOPSIGNAL (empty: SIGTERM).
    #[serde(default)]
    pub stop_signal: String,
}

/// A container's status (CRI `ContainerStatus`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStatus {
    pub id: String,
    pub sandbox_id: String,
    pub name: String,
    pub attempt: u32,
    pub state: ContainerState,
    pub pid: Option<i32>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    /// `OOMKilled`, `Completed`, `Error` (for exited containers), as CRI reports them.
    pub reason: Option<String>,
    pub message: Option<String>,
    pub image: String,
    pub image_id: String,
    pub image_ref: String,
    pub log_path: PathBuf,
    pub labels: std::collections::BTreeMap<String, String>,
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Paths of one container.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    pub dir: PathBuf,
}

impl ContainerPaths {
    pub fn new(root: &Path, id: &str) -> Self {
        ContainerPaths { dir: root.join(id) }
    }
    pub fn record(&self) -> PathBuf {
        self.dir.join("container.json")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub fn exit(&self) -> PathBuf {
        self.dir.join("exit.json")
    }
    pub fn shim_pid(&self) -> PathBuf {
        self.dir.join("shim.pid")
    }
    /// The shim's attach socket ([`crate::attach`]).
    pub fn attach_socket(&self) -> PathBuf {
        self.dir.join(crate::attach::SOCKET_NAME)
    }
}

pub fn save(root: &Path, rec: &ContainerRecord) -> Result<()> {
    sys::save_json(
        &ContainerPaths::new(root, &rec.id).record(),
        rec,
        "container",
    )
}

pub fn load(root: &Path, id: &str) -> Result<ContainerRecord> {
    sys::load_json(
        &ContainerPaths::new(root, id).record(),
        &format!("container {id}"),
    )
}

pub fn list_ids(root: &Path) -> Vec<String> {
    sys::dirs_with(root, "container.json")
}

pub fn read_exit(root: &Path, id: &str) -> Option<ExitRecord> {
    let data = std::fs::read(ContainerPaths::new(root, id).exit()).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Resolves argv[0] inside the rootfs the way execvp would, following symlinks within it;
/// errors carry runc's wording, which is what users search for.
pub fn check_executable(rootfs: &Path, argv0: &str, path_env: &str) -> Result<()> {
    let exists = |p: &str| resolve_in_root(rootfs, p).is_some_and(|f| f.is_file());
    if argv0.contains('/') {
        let abs = if argv0.starts_with('/') {
            argv0.to_string()
        } else {
            format!("/{argv0}")
        };
        if exists(&abs) {
            return Ok(());
        }
        return Err(RuntimeError::InvalidConfig(format!(
            "exec: \"{argv0}\": stat {argv0}: no such file or directory"
        )));
    }
    if path_env
        .split(':')
        .filter(|d| !d.is_empty())
        .any(|d| exists(&format!("{}/{argv0}", d.trim_end_matches('/'))))
    {
        return Ok(());
    }
    Err(RuntimeError::InvalidConfig(format!(
        "exec: \"{argv0}\": executable file not found in $PATH"
    )))
}

/// Follows `path` inside `root` (absolute symlinks are relative to `root`).
fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .rev()
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(p) = parts.pop() {
        match p.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        cur.push(p);
        let full = root.join(cur.join("/"));
        if let Ok(target) = std::fs::read_link(&full) {
            hops += 1;
            if hops > 40 {
                return None;
            }
            cur.pop();
            let t = target.to_string_lossy().to_string();
            if t.starts_with('/') {
                cur.clear();
            }
            parts.extend(
                t.split('/')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .rev(),
            );
        }
    }
    Some(root.join(cur.join("/")))
}

/// Spawns the shim for a prepared container and waits for it to report the start.
pub fn spawn_shim(
    shim: &crate::ShimCommand,
    dir: &Path,
    cfg: &ShimConfig,
) -> Result<(i32, String)> {
    let data = serde_json::to_vec(cfg)
        .map_err(|e| RuntimeError::Internal(format!("encode shim config: {e}")))?;
    sys::write_atomic(&dir.join("shim.json"), &data)?;
    match run_shim(shim, "start", dir) {
        Ok(rest) => {
            let mut it = rest.split_whitespace();
            let pid = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let at = it
                .next()
                .map(String::from)
                .unwrap_or_else(crate::now_rfc3339);
            Ok((pid, at))
        }
        Err(msg) => {
            let msg = if msg.is_empty() {
                std::fs::read_to_string(dir.join("shim.log"))
                    .unwrap_or_else(|_| "shim exited".into())
            } else {
                msg
            };
            Err(RuntimeError::Start(msg))
        }
    }
}

/// Runs `shim <mode> <dir>` with a sync pipe as its fd 3 and returns what follows `OK ` in
/// its one-line reply, or the error text (empty if it said nothing).
pub(crate) fn run_shim(
    shim: &crate::ShimCommand,
    mode: &str,
    dir: &Path,
) -> std::result::Result<String, String> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("sync pipe: {e}"))?;
    let wfd = w.as_raw_fd();
    let mut cmd = std::process::Command::new(&shim.program);
    cmd.args(&shim.args)
        .arg(mode)
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: dup2 is async-signal-safe; it makes the pipe's write end fd 3 (without
    // CLOEXEC) in the child only.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(wfd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("start shim {}: {e}", shim.program.display()))?;
    drop(w);
    let _ = child.wait();
    let mut reply = String::new();
    let mut f = std::fs::File::from(r);
    let _ = f.read_to_string(&mut reply);
    let reply = reply.trim();
    match reply.strip_prefix("OK ") {
        Some(rest) => Ok(rest.to_string()),
        None => Err(reply.strip_prefix("ERR ").unwrap_or(reply).to_string()),
    }
}

/// The shim's pid if it is still running.
pub fn shim_alive(root: &Path, id: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(ContainerPaths::new(root, id).shim_pid())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    sys::pid_alive(pid).then_some(pid)
}

/// Builds the status from the record, the exit file and the processes.
pub fn status(root: &Path, rec: &ContainerRecord) -> ContainerStatus {
    let exit = read_exit(root, &rec.id);
    let (state, finished_at, exit_code, reason) = match (&exit, rec.started_at.is_some()) {
        (Some(x), _) => {
            let reason = if let Some(r) = &x.reason {
                r.as_str()
            } else if x.oom_killed {
                "OOMKilled"
            } else if x.exit_code == 0 {
                "Completed"
            } else {
                "Error"
            };
            (
                ContainerState::Exited,
                Some(x.finished_at.clone()),
                Some(x.exit_code),
                Some(reason.to_string()),
            )
        }
        (None, false) => (ContainerState::Created, None, None, None),
        (None, true) => {
            let running =
                rec.pid.is_some_and(sys::pid_alive) || shim_alive(root, &rec.id).is_some();
            if running {
                (ContainerState::Running, None, None, None)
            } else {
                // The shim is gone without a record (a reboot, or it was killed).
                (
                    ContainerState::Exited,
                    Some(crate::now_rfc3339()),
                    Some(255),
                    Some("Unknown".to_string()),
                )
            }
        }
    };
    ContainerStatus {
        id: rec.id.clone(),
        sandbox_id: rec.sandbox_id.clone(),
        name: rec.config.name.clone(),
        attempt: rec.config.attempt,
        state,
        pid: if state == ContainerState::Running {
            rec.pid
        } else {
            None
        },
        created_at: rec.created_at.clone(),
        started_at: rec.started_at.clone(),
        finished_at,
        exit_code,
        reason,
        message: exit.and_then(|x| x.message),
        image: rec.image.clone(),
        image_id: rec.image_id.clone(),
        image_ref: rec.image_ref.clone(),
        log_path: rec.log_path.clone(),
        labels: rec.config.labels.clone(),
        annotations: rec.config.annotations.clone(),
    }
}

/// Sends `signal` to the container's init, waits up to `grace` for it to end, then kills
/// everything in its cgroup.
pub fn stop(root: &Path, rec: &ContainerRecord, signal: i32, grace: Duration) {
    let Some(pid) = rec.pid else { return };
    if read_exit(root, &rec.id).is_some() || !sys::pid_alive(pid) {
        return;
    }
    if let Ok(sig) = nix::sys::signal::Signal::try_from(signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if read_exit(root, &rec.id).is_some() || !sys::pid_alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if sys::pid_alive(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    for p in crate::cgroups::pids(&rec.cgroup_path) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    // Give the shim a moment to record the exit.
    let deadline = Instant::now() + Duration::from_secs(2);
    while read_exit(root, &rec.id).is_none()
        && shim_alive(root, &rec.id).is_some()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_resolve_through_absolute_symlinks() {
        let d = tempfile::tempdir().expect("tempdir");
        let r = d.path();
        std::fs::create_dir_all(r.join("bin")).expect("bin");
        std::fs::write(r.join("bin/busybox"), b"").expect("busybox");
        std::os::unix::fs::symlink("/bin/busybox", r.join("bin/sh")).expect("link");
        std::os::unix::fs::symlink("../bin/busybox", r.join("bin/rel")).expect("link");
        assert!(check_executable(r, "sh", "/usr/bin:/bin").is_ok());
        assert!(check_executable(r, "/bin/sh", "").is_ok());
        assert!(check_executable(r, "rel", "/bin").is_ok());
        let e = check_executable(r, "nope", "/bin").expect_err("missing");
        assert_eq!(
            e.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );
        let e = check_executable(r, "/x/y", "/bin").expect_err("missing");
        assert_eq!(
            e.to_string(),
            "exec: \"/x/y\": stat /x/y: no such file or directory"
        );
    }
}

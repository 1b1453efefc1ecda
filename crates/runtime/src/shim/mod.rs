//! `rkube shim`: the small process that owns one container, as conmon does for CRI-O.
//!
//! The agent starts `shim start <container-dir>`; the shim forks into the background (its
//! first process exits at once so the agent never collects zombies), creates and starts the
//! container through libcontainer, tells the agent the outcome on fd 3, then owns the
//! container's stdio: pipes for stdout/stderr (and stdin with `stdin: true`), or a pty whose
//! master libcontainer hands over on a console socket (`tty: true`). Every output line goes
//! to the container's log in CRI format, and live to the clients of `attach.sock` ([`io`],
//! protocol in [`crate::attach`]). When the container ends, the shim records its exit status
//! in `exit.json`. Because the shim — not the agent — is the container's parent, restarting
//! the agent leaves containers running.
//!
//! `shim exec` runs a process inside a running container (libcontainer's tenant builder)
//! with the caller's stdio and exits with the process's exit code. `shim pause` is the init
//! of a pod's shared PID namespace ([`pause`]).

mod io;
mod pause;

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::get_executor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use serde::{Deserialize, Serialize};

use crate::attach;

/// How long libcontainer gets to hand over a TTY container's pty master.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the shim needs, written by the agent to `<container-dir>/shim.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    /// The OCI bundle (holds `config.json`).
    pub bundle: PathBuf,
    /// libcontainer's state root.
    pub state_root: PathBuf,
    /// The CRI log file.
    pub log_path: PathBuf,
    /// The container's cgroup path (for OOM accounting).
    pub cgroup_path: String,
    pub stdin: bool,
    #[serde(default)]
    pub stdin_once: bool,
    #[serde(default)]
    pub tty: bool,
}

/// How a container ended, written by the shim to `<container-dir>/exit.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
    /// Set when the process never ran (`StartError`), with the runtime's message.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Entry point for `rkube shim ...`; returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("start") if args.len() == 2 => start(Path::new(&args[1])),
        Some("pause") if args.len() == 2 => pause::pause(Path::new(&args[1])),
        Some("exec") => exec(&args[1..]),
        _ => {
            eprintln!("usage: rkube shim start <container-dir> | pause <sandbox-dir> | exec --root DIR --id ID [--cwd DIR] [--env K=V]... -- CMD...");
            2
        }
    }
}

fn start(dir: &Path) -> i32 {
    // SAFETY: fd 3 is the sync pipe the agent passes; nothing else in this process owns it.
    let mut sync = unsafe { File::from_raw_fd(3) };
    // SAFETY: the shim is single-threaded here; the child only continues this function.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => return 0,
        Ok(ForkResult::Child) => {}
        Err(e) => {
            let _ = writeln!(sync, "ERR fork shim: {e}");
            return 1;
        }
    }
    let _ = nix::unistd::setsid();
    // Writes to a gone client or a closed stdin must fail, not kill the shim.
    // SAFETY: setting a disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    redirect_stderr(&dir.join("shim.log"));
    let _ = tracing_subscriber_init();
    let cfg: ShimConfig = match std::fs::read(dir.join("shim.json"))
        .map_err(|e| e.to_string())
        .and_then(|d| serde_json::from_slice(&d).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(sync, "ERR read shim.json: {e}");
            return 1;
        }
    };
    let log = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cfg.log_path)
    {
        Ok(f) => Arc::new(Mutex::new(f)),
        Err(e) => {
            let _ = writeln!(sync, "ERR open log {}: {e}", cfg.log_path.display());
            return 1;
        }
    };
    // Bound before the container starts; early clients wait in the backlog.
    let attach_path = dir.join(attach::SOCKET_NAME);
    let listener = match io::listen(&attach_path) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(sync, "ERR attach socket {}: {e}", attach_path.display());
            return 1;
        }
    };
    let started = match create_and_start(&cfg, dir) {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&attach_path);
            let _ = writeln!(sync, "ERR {}", e.replace('\n', " "));
            return 1;
        }
    };
    let pid = started.pid;
    let _ = std::fs::write(dir.join("shim.pid"), std::process::id().to_string());
    let _ = writeln!(sync, "OK {pid} {}", crate::now_rfc3339());
    drop(sync);

    // The hub holds stdin's write end, so a container reading stdin blocks rather than
    // seeing EOF until a client (or `stdin_once`) closes it.
    let hub = io::Hub::new(started.stdin, started.tty, cfg.stdin_once);
    hub.serve(listener);
    let pumps: Vec<_> = started
        .outputs
        .into_iter()
        .map(|(fd, kind)| {
            let (log, hub) = (log.clone(), hub.clone());
            std::thread::spawn(move || io::pump(File::from(fd), kind, &log, &hub))
        })
        .collect();
    let status = loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other,
        }
    };
    let (exit_code, signal) = match status {
        Ok(WaitStatus::Exited(_, code)) => (code, None),
        Ok(WaitStatus::Signaled(_, sig, _)) => (128 + sig as i32, Some(sig as i32)),
        other => {
            tracing::error!(?other, "unexpected wait status");
            (255, None)
        }
    };
    // Output still buffered in the pipes is logged before the exit is reported.
    for p in pumps {
        let _ = p.join();
    }
    let record = ExitRecord {
        exit_code,
        signal,
        oom_killed: crate::cgroups::oom_kills(&cfg.cgroup_path) > 0,
        finished_at: crate::now_rfc3339(),
        reason: None,
        message: None,
    };
    if let Ok(data) = serde_json::to_vec(&record) {
        let _ = crate::sys::write_atomic(&dir.join("exit.json"), &data);
    }
    let _ = std::fs::remove_file(&attach_path);
    hub.finish(exit_code);
    0
}

/// A started container and the shim's ends of its stdio.
struct Started {
    pid: Pid,
    /// Output to log and fan out, with its attach frame type.
    outputs: Vec<(OwnedFd, u8)>,
    /// Where attached stdin goes (only with `stdin: true`).
    stdin: Option<File>,
    /// The pty master of a TTY container.
    tty: Option<File>,
}

fn create_and_start(cfg: &ShimConfig, dir: &Path) -> Result<Started, String> {
    let pipe =
        || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"));
    let mut builder = ContainerBuilder::new(cfg.id.clone(), SyscallType::default())
        .with_root_path(&cfg.state_root)
        .map_err(|e| format!("state root: {e}"))?
        .with_executor(DefaultSignals);
    let mut outputs = Vec::new();
    let mut stdin = None;
    let mut console = None;
    if cfg.tty {
        // libcontainer connects here and passes the pty master it made inside.
        let path = dir.join("console.sock");
        let l = io::listen(&path).map_err(|e| format!("console socket: {e}"))?;
        builder = builder.with_console_socket(Some(&path));
        console = Some((l, path));
    } else {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        builder = builder.with_stdout(out_w).with_stderr(err_w);
        outputs.push((out_r, attach::STDOUT));
        outputs.push((err_r, attach::STDERR));
        if cfg.stdin {
            let (in_r, in_w) = pipe()?;
            builder = builder.with_stdin(in_r);
            stdin = Some(File::from(in_w));
        } else if let Ok(null) = File::open("/dev/null") {
            builder = builder.with_stdin(null);
        }
    }
    let built = builder
        .as_init(&cfg.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build();
    let master = match (&built, &console) {
        (Ok(_), Some((listener, _))) => Some(receive_master(listener)),
        _ => None,
    };
    if let Some((_, path)) = &console {
        let _ = std::fs::remove_file(path);
    }
    let mut container = built.map_err(|e| start_error(&e))?;
    let mut tty = None;
    if let Some(master) = master {
        match master.and_then(|m| tty_ends(m, cfg.stdin)) {
            Ok((resize, output, input)) => {
                outputs.push((OwnedFd::from(output), attach::STDOUT));
                stdin = input;
                tty = Some(resize);
            }
            Err(e) => {
                let _ = container.delete(true);
                return Err(e);
            }
        }
    }
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        return Err(start_error(&e));
    }
    let pid = container
        .pid()
        .ok_or_else(|| "container started without a pid".to_string())?;
    Ok(Started {
        pid,
        outputs,
        stdin,
        tty,
    })
}

/// The pty master three times: for resizes, for output, and for stdin (if enabled).
type TtyEnds = (File, File, Option<File>);

fn tty_ends(master: File, stdin: bool) -> Result<TtyEnds, String> {
    let dup = || {
        master
            .try_clone()
            .map_err(|e| format!("dup pty master: {e}"))
    };
    let output = dup()?;
    let input = if stdin { Some(dup()?) } else { None };
    Ok((master, output, input))
}

/// Accepts libcontainer's console connection and takes the pty master out of it.
fn receive_master(listener: &UnixListener) -> Result<File, String> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    use std::os::fd::AsRawFd;

    let err = |what: &str, e: &dyn std::fmt::Display| format!("receive pty master: {what}: {e}");
    listener
        .set_nonblocking(true)
        .map_err(|e| err("listener", &e))?;
    // The init sends the master before it reports ready, so it is normally already queued.
    let deadline = Instant::now() + CONSOLE_TIMEOUT;
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(err("accept", &e)),
        }
    };
    conn.set_nonblocking(false)
        .and_then(|_| conn.set_read_timeout(Some(CONSOLE_TIMEOUT)))
        .map_err(|e| err("connection", &e))?;
    let mut name = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<UnixAddr>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| err("recvmsg", &e))?;
    for c in msg.cmsgs().map_err(|e| err("control message", &e))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            let mut it = fds.into_iter();
            if let Some(fd) = it.next() {
                for extra in it {
                    // SAFETY: received fds are new and ours; extras are closed.
                    drop(unsafe { OwnedFd::from_raw_fd(extra) });
                }
                // SAFETY: the kernel just installed this fd for us.
                return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
    }
    Err("receive pty master: no fd in the console message".into())
}

/// libcontainer's default executor after restoring SIGPIPE: the shim (as any Rust program)
/// ignores it, and an ignored signal stays ignored across exec — `yes | head` would notice.
#[derive(Clone)]
struct DefaultSignals;

impl Executor for DefaultSignals {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        // SAFETY: resetting a disposition to default has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        get_executor().validate(spec)
    }
}

/// libcontainer's error chain as one line (the useful part is often in a source).
fn start_error(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !msg.contains(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        src = s.source();
    }
    msg
}

fn redirect_stderr(path: &Path) {
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&f), 2);
    }
    if let Ok(null) = File::open("/dev/null") {
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0);
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
    }
}

fn tracing_subscriber_init() -> Result<(), ()> {
    tracing::subscriber::set_global_default(ShimLog).map_err(|_| ())
}

/// A minimal subscriber: warnings and errors from libcontainer go to the shim's log.
struct ShimLog;

impl tracing::Subscriber for ShimLog {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        struct V(String);
        impl tracing::field::Visit for V {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={v:?}", f.name()));
            }
        }
        let mut v = V(String::new());
        e.record(&mut v);
        eprintln!("{} {}{}", crate::now_rfc3339(), e.metadata().level(), v.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// `shim exec --root DIR --id ID [--cwd DIR] [--env K=V]... [--user UID:GID] -- CMD...`
fn exec(args: &[String]) -> i32 {
    let mut root = None;
    let mut id = None;
    let mut cwd = None;
    let mut env = std::collections::HashMap::new();
    let mut user = None;
    let mut it = args.iter();
    let mut cmd = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => root = it.next().cloned(),
            "--id" => id = it.next().cloned(),
            "--cwd" => cwd = it.next().cloned(),
            "--user" => user = it.next().cloned(),
            "--env" => {
                if let Some((k, v)) = it.next().and_then(|kv| kv.split_once('=')) {
                    env.insert(k.to_string(), v.to_string());
                }
            }
            "--" => {
                cmd = it.by_ref().cloned().collect();
                break;
            }
            other => {
                eprintln!("shim exec: unknown argument {other:?}");
                return 2;
            }
        }
    }
    let (Some(root), Some(id)) = (root, id) else {
        eprintln!("shim exec: --root and --id are required");
        return 2;
    };
    if cmd.is_empty() {
        eprintln!("shim exec: no command");
        return 2;
    }
    let (uid, gid) = match user
        .as_deref()
        .map(|u| u.split_once(':').unwrap_or((u, "0")))
    {
        Some((u, g)) => (u.parse().ok(), g.parse().ok()),
        None => (None, None),
    };
    let built = ContainerBuilder::new(id, SyscallType::default())
        .with_root_path(root)
        .map(|b| {
            b.with_executor(DefaultSignals)
                .as_tenant()
                .with_container_args(cmd.clone())
                .with_env(env)
                .with_cwd(cwd)
                .with_user(uid)
                .with_group(gid)
                .with_detach(false)
                .build()
        });
    let pid = match built {
        Ok(Ok(pid)) => pid,
        Ok(Err(e)) | Err(e) => {
            eprintln!(
                "OCI runtime exec failed: exec failed: unable to start container process: {}",
                start_error(&e)
            );
            return 126;
        }
    };
    loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            _ => return 255,
        }
    }
}

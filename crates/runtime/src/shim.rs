//! `rkube shim`: the small process that owns one container, as conmon does for CRI-O.
//!
//! The agent starts `shim start <container-dir>`; the shim forks into the background (its
//! first process exits at once so the agent never collects zombies), creates and starts the
//! container through libcontainer with pipes as its stdout/stderr, tells the agent the
//! outcome on fd 3, then writes every output line to the container's log in CRI format and,
//! when the container ends, records its exit status in `exit.json`. Because the shim — not
//! the agent — is the container's parent, restarting the agent leaves containers running.
//!
//! `shim exec` runs a process inside a running container (libcontainer's tenant builder)
//! with the caller's stdio and exits with the process's exit code.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use serde::{Deserialize, Serialize};

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

/// Lines longer than this are split into partial (`P`) records, as containerd does.
const MAX_LINE: usize = 16 * 1024;

/// Entry point for `rkube shim ...`; returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("start") if args.len() == 2 => start(Path::new(&args[1])),
        Some("exec") => exec(&args[1..]),
        _ => {
            eprintln!("usage: rkube shim start <container-dir> | exec --root DIR --id ID [--cwd DIR] [--env K=V]... -- CMD...");
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
    let (pid, stdout, stderr, stdin) = match create_and_start(&cfg) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(sync, "ERR {}", e.replace('\n', " "));
            return 1;
        }
    };
    let _ = std::fs::write(dir.join("shim.pid"), std::process::id().to_string());
    let _ = writeln!(sync, "OK {pid} {}", crate::now_rfc3339());
    drop(sync);
    // Hold stdin's write end so a container reading stdin blocks instead of seeing EOF.
    let _stdin = stdin;

    let log = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cfg.log_path)
    {
        Ok(f) => Arc::new(Mutex::new(f)),
        Err(e) => {
            tracing::error!(path = %cfg.log_path.display(), "open log: {e}");
            return 1;
        }
    };
    let pumps = [(stdout, "stdout"), (stderr, "stderr")].map(|(fd, stream)| {
        let log = log.clone();
        std::thread::spawn(move || pump(File::from(fd), stream, &log))
    });
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
    0
}

type Started = (Pid, OwnedFd, OwnedFd, Option<OwnedFd>);

fn create_and_start(cfg: &ShimConfig) -> Result<Started, String> {
    let pipe =
        || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let mut builder = ContainerBuilder::new(cfg.id.clone(), SyscallType::default())
        .with_root_path(&cfg.state_root)
        .map_err(|e| format!("state root: {e}"))?
        .with_stdout(out_w)
        .with_stderr(err_w);
    let mut stdin_w = None;
    if cfg.stdin {
        let (in_r, in_w) = pipe()?;
        builder = builder.with_stdin(in_r);
        stdin_w = Some(in_w);
    } else if let Ok(null) = File::open("/dev/null") {
        builder = builder.with_stdin(null);
    }
    let mut container = builder
        .as_init(&cfg.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| start_error(&e))?;
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        return Err(start_error(&e));
    }
    let pid = container
        .pid()
        .ok_or_else(|| "container started without a pid".to_string())?;
    Ok((pid, out_r, err_r, stdin_w))
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

/// Copies one stream into the log as CRI records: `<time> <stream> F|P <text>`.
fn pump(mut from: File, stream: &str, log: &Mutex<File>) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut line: Vec<u8> = Vec::new();
    let emit = |line: &[u8], tag: &str| {
        let mut rec = format!("{} {stream} {tag} ", crate::now_rfc3339()).into_bytes();
        rec.extend_from_slice(line);
        rec.push(b'\n');
        if let Ok(mut f) = log.lock() {
            let _ = f.write_all(&rec);
        }
    };
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        line.extend_from_slice(&buf[..n]);
        while let Some(pos) = line.iter().position(|&b| b == b'\n') {
            emit(&line[..pos], "F");
            line.drain(..=pos);
        }
        while line.len() > MAX_LINE {
            emit(&line[..MAX_LINE], "P");
            line.drain(..MAX_LINE);
        }
    }
    if !line.is_empty() {
        emit(&line, "F");
    }
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
            b.as_tenant()
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

//! The end-to-end harness: starts `rkube server` in a network namespace of its own with its
//! own data dir, and runs real kubectl (and other clients) inside that namespace. Everything
//! is removed when the [`Cluster`] is dropped, also when a test fails.

pub mod golden;
pub mod images;
pub mod multinode;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// kubectl binaries by version (real ones, as users have).
pub const KUBECTL_1_32: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";
pub const KUBECTL_1_27: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
pub const KUBECTL_1_20: &str = "/opt/rkube-test/kubectl-1.20/usr/bin/kubectl";

static COUNTER: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// The panic message of this test thread, kept to be printed again after the logs.
    static FAILURE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keeps each panic's message (and where it happened) so that [`print_logs_and_failure`]
/// can repeat it after a long log: a CI excerpt then shows the failure, not only the log.
pub(crate) fn record_failures() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            FAILURE.with(|f| *f.borrow_mut() = Some(info.to_string()));
            previous(info);
        }));
    });
}

/// Prints a failed test's logs, then its failure again.
pub(crate) fn print_logs_and_failure(logs: &str) {
    eprintln!("{logs}");
    if let Some(f) = FAILURE.with(|f| f.borrow_mut().take()) {
        eprintln!("---- the failure, again ----\n{f}");
    }
}

/// The rkube binary next to the test executable (`target/<profile>/rkube`).
pub fn rkube_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RKUBE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("rkube");
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build -p rkube)",
        bin.display()
    );
    bin
}

/// A cluster for one test.
pub struct Cluster {
    pub netns: String,
    pub dir: tempfile::TempDir,
    server: Option<Child>,
    pub kubeconfig: PathBuf,
}

/// The result of a command, with its output as text.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub(crate) fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "command failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

pub(crate) fn sh(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("run command"))
}

impl Cluster {
    /// Starts `rkube server` with `extra` arguments in a fresh network namespace.
    pub fn start(extra: &[&str]) -> Cluster {
        record_failures();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let netns = format!("rke2e-{}-{n}", std::process::id());
        sh(Command::new("ip").args(["netns", "add", &netns])).ok();
        let dir = tempfile::Builder::new()
            .prefix("rkube-e2e-")
            .tempdir()
            .expect("tempdir");
        let mut cluster = Cluster {
            kubeconfig: dir.path().join("data/kubeconfig"),
            netns,
            dir,
            server: None,
        };
        cluster.exec(&["ip", "link", "set", "lo", "up"]).ok();
        std::fs::create_dir_all(cluster.dir.path().join("home")).expect("home dir");
        std::fs::create_dir_all(cluster.dir.path().join("tmp")).expect("tmp dir");
        cluster.start_server(extra);
        cluster
    }

    fn start_server(&mut self, extra: &[&str]) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).expect("log file");
        let data = self.dir.path().join("data");
        // nsenter joins only the network namespace: the server's mounts (pod sandboxes,
        // container rootfs) then live in the host's mount namespace and survive a restart,
        // as they do on a real machine (`ip netns exec` would give every start a private one).
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("--")
            .arg(rkube_bin())
            .args(["server", "--https-listen-port", "6443", "--data-dir"])
            .arg(&data)
            .args(extra)
            .env("RKUBE_LOG", "info,rkube_apiserver=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start rkube server");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.kubeconfig.exists() {
                let r = self.kubectl(&["get", "--raw", "/readyz"]);
                if r.code == 0 {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.server.as_mut().map(|c| c.try_wait()) {
                panic!("rkube server exited ({status}):\n{}", self.server_log());
            }
            assert!(
                Instant::now() < deadline,
                "server not ready in 30 s:\n{}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (SIGTERM) and starts it again on the same data dir.
    pub fn restart(&mut self, extra: &[&str]) {
        self.stop_server();
        self.start_server(extra);
    }

    fn stop_server(&mut self) {
        if let Some(mut c) = self.server.take() {
            // nsenter execs the server, so the child is the server itself.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server process's pid.
    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(|c| c.id())
    }

    /// The server's data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server that is also node `node`, with the tests' busybox image (`busybox:e2e`)
    /// imported and the Node registered.
    pub fn with_node(node: &str) -> Cluster {
        let c = Cluster::start(&["--node-name", node]);
        let archive = images::busybox_image(c.dir.path(), "busybox:e2e");
        c.import_image(&archive);
        c.wait_until(Duration::from_secs(30), "node registered", || {
            c.kubectl(&["get", "node", node]).code == 0
        });
        c
    }

    /// `kubectl apply -f -` (1.32) of `yaml`, which must succeed.
    pub fn apply(&self, yaml: &str) {
        self.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], yaml)
            .ok();
    }

    /// `kubectl get OBJ -o jsonpath=PATH`'s output (empty when the object is missing).
    pub fn jsonpath(&self, obj: &str, path: &str) -> String {
        self.kubectl(&["get", obj, "-o", &format!("jsonpath={path}")])
            .stdout
    }

    /// Waits (60 s at most) until `f` accepts `jsonpath(obj, path)`.
    pub fn wait_jsonpath(&self, obj: &str, path: &str, what: &str, f: impl Fn(&str) -> bool) {
        self.wait_until(Duration::from_secs(60), what, || {
            f(&self.jsonpath(obj, path))
        });
    }

    /// Imports an image archive into the node's image store (as `rkube image import`).
    pub fn import_image(&self, archive: &Path) {
        let r = sh(Command::new(rkube_bin())
            .args(["image", "import", "--data-dir"])
            .arg(self.data_dir())
            .arg(archive));
        assert_eq!(r.code, 0, "image import failed: {}{}", r.stdout, r.stderr);
    }

    /// Kills every container this cluster's agent started and unmounts everything under
    /// the test directory (the agent itself leaves containers running by design).
    fn remove_containers(&self) {
        // Whatever still runs from this cluster's directory: shims, and the holders of
        // shared PID namespaces (`rkube shim pause <sandbox dir>`), which no container record
        // names.
        let root = self.dir.path().to_string_lossy().to_string();
        let me = std::process::id().to_string();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&root) {
                if let Ok(pid) = name.parse::<i32>() {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let containers = self.data_dir().join("agent/containers");
        for entry in std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = entry.path();
            if let Ok(pid) = std::fs::read_to_string(dir.join("shim.pid")) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let rec: serde_json::Value = std::fs::read(dir.join("container.json"))
                .ok()
                .and_then(|d| serde_json::from_slice(&d).ok())
                .unwrap_or_default();
            if let Some(cg) = rec["cgroup_path"].as_str() {
                for ctrl in ["pids", "memory", "cpu"] {
                    let procs = format!("/sys/fs/cgroup/{ctrl}{cg}/cgroup.procs");
                    for pid in std::fs::read_to_string(&procs).unwrap_or_default().lines() {
                        if let Ok(pid) = pid.trim().parse::<i32>() {
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                        }
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
            .filter(|m| m.starts_with(&root))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m) {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        // Pod cgroups of this cluster: /rkube/pod<uid> directories whose containers are gone.
        for ctrl in [
            "memory",
            "cpu",
            "cpuacct",
            "pids",
            "cpuset",
            "devices",
            "freezer",
            "blkio",
            "hugetlb",
            "perf_event",
            "net_cls",
            "net_prio",
            "systemd",
        ] {
            let base = PathBuf::from(format!("/sys/fs/cgroup/{ctrl}/rkube"));
            for pod in std::fs::read_dir(&base).into_iter().flatten().flatten() {
                for c in std::fs::read_dir(pod.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if c.path().is_dir() {
                        let _ = std::fs::remove_dir(c.path());
                    }
                }
                let _ = std::fs::remove_dir(pod.path());
            }
        }
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs a command inside the cluster's network namespace.
    pub fn exec(&self, argv: &[&str]) -> Run {
        sh(Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .args(argv))
    }

    /// A command set up to run inside the namespace with the admin kubeconfig and a private
    /// HOME and TMPDIR (kubectl's caches and edit files).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns, program])
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path().join("home"))
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("KUBECTL_COMMAND_HEADERS", "true")
            .stdin(Stdio::null());
        c
    }

    /// kubectl 1.32.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        self.kubectl_v(KUBECTL_1_32, args)
    }

    /// A given kubectl binary.
    pub fn kubectl_v(&self, kubectl: &str, args: &[&str]) -> Run {
        sh(self.command(kubectl).args(args))
    }

    /// kubectl with `stdin` piped in.
    pub fn kubectl_stdin(&self, kubectl: &str, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command(kubectl)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        Run::from(child.wait_with_output().expect("kubectl"))
    }

    /// Writes `contents` to a file in the test's directory and returns its path.
    pub fn file(&self, name: &str, contents: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("write file");
        p.display().to_string()
    }

    /// Polls `f` until it returns true or `timeout` passes.
    pub fn wait_until(&self, timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_server();
        self.remove_containers();
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .output();
        if std::thread::panicking() {
            print_logs_and_failure(&format!("---- server log ----\n{}", self.server_log()));
        }
    }
}

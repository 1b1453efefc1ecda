//! Multi-node clusters for end-to-end tests, made with `rkube cluster create` (each node a
//! network namespace on a bridge of the cluster's own) and removed with `rkube cluster
//! delete` when the [`MultiNode`] is dropped, also when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::{rkube_bin, sh, Run, KUBECTL_1_32};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct MultiNode {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub nodes: u8,
    pub kubeconfig: PathBuf,
}

impl MultiNode {
    /// A cluster of `nodes` nodes (node 0 runs the server), with `images` imported into
    /// every node before its agent starts pods.
    pub fn create(nodes: u8) -> MultiNode {
        MultiNode::create_with(nodes, 1)
    }

    /// `nodes` nodes of which the first `servers` run `rkube server` over a shared etcd
    /// cluster (one member per server node).
    pub fn create_with(nodes: u8, servers: u8) -> MultiNode {
        crate::record_failures();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("e{}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("rkube-mn-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        let mn = MultiNode {
            kubeconfig: dir.path().join(&name).join("kubeconfig"),
            name,
            dir,
            nodes,
        };
        let r = sh(Command::new(rkube_bin())
            .args(["cluster", "create", "--name", &mn.name, "--nodes"])
            .arg(nodes.to_string())
            .arg("--servers")
            .arg(servers.to_string())
            .arg("--dir")
            .arg(mn.dir.path())
            .stdin(Stdio::null()));
        assert_eq!(
            r.code,
            0,
            "rkube cluster create failed: {}{}\n{}",
            r.stdout,
            r.stderr,
            mn.logs()
        );
        mn
    }

    /// Node `i`'s name.
    pub fn node(&self, i: u8) -> String {
        format!("{}-{i}", self.name)
    }

    /// Node `i`'s data dir.
    pub fn data_dir(&self, i: u8) -> PathBuf {
        self.dir.path().join(&self.name).join(format!("node-{i}"))
    }

    /// Node `i`'s network namespace.
    pub fn netns(&self, i: u8) -> String {
        format!("rkc-{}-{i}", self.name)
    }

    /// Imports an image archive into every node's store.
    pub fn import_image(&self, archive: &Path) {
        for i in 0..self.nodes {
            let r = sh(Command::new(rkube_bin())
                .args(["image", "import", "--data-dir"])
                .arg(self.data_dir(i))
                .arg(archive));
            assert_eq!(r.code, 0, "image import: {}{}", r.stdout, r.stderr);
        }
    }

    /// kubectl 1.32 on the host, against the cluster (reached over its bridge).
    pub fn kubectl(&self, args: &[&str]) -> Run {
        sh(self.kubectl_cmd(&self.kubeconfig).args(args))
    }

    /// kubectl 1.32 against server node `i` (not the kubeconfig's server).
    pub fn kubectl_at(&self, i: u8, args: &[&str]) -> Run {
        let server = format!("https://{}:6443", self.ip(i));
        sh(self
            .kubectl_cmd(&self.kubeconfig)
            .args(["--server", &server])
            .args(args))
    }

    /// Node `i`'s address on the cluster's bridge.
    pub fn ip(&self, i: u8) -> String {
        let state: serde_json::Value = serde_json::from_slice(
            &std::fs::read(self.dir.path().join(&self.name).join("cluster.json"))
                .expect("cluster.json"),
        )
        .expect("cluster.json");
        format!("172.30.{}.{}", state["subnet"], 10 + i)
    }

    /// kubectl with another kubeconfig (e.g. a node's own credentials).
    pub fn kubectl_cmd(&self, kubeconfig: &Path) -> Command {
        let mut c = Command::new(KUBECTL_1_32);
        c.env("KUBECONFIG", kubeconfig)
            .env("HOME", self.dir.path().join("home"))
            .stdin(Stdio::null());
        c
    }

    pub fn apply(&self, yaml: &str) {
        use std::io::Write;
        let mut child = self
            .kubectl_cmd(&self.kubeconfig)
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(yaml.as_bytes())
            .expect("write");
        Run::from(child.wait_with_output().expect("kubectl")).ok();
    }

    /// Runs a command inside node `i`'s network namespace.
    pub fn exec_on(&self, i: u8, argv: &[&str]) -> Run {
        sh(Command::new("ip")
            .args(["netns", "exec", &self.netns(i)])
            .args(argv))
    }

    /// The pid of node `i`'s rkube process.
    pub fn pid(&self, i: u8) -> i32 {
        std::fs::read_to_string(self.data_dir(i).join("rkube.pid"))
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }

    /// Stops node `i`'s rkube (SIGTERM) and starts it again with the same command line.
    pub fn restart_node(&self, i: u8) {
        self.restart_node_with(i, |_| {});
    }

    /// Like [`MultiNode::restart_node`], with `between` run while the node is stopped; it may
    /// change the command line (e.g. another `--token`).
    pub fn restart_node_with(&self, i: u8, between: impl FnOnce(&mut Vec<String>)) {
        self.restart_node_by(i, libc::SIGTERM, between);
    }

    /// Kills node `i`'s rkube with SIGKILL (no chance to clean up) and starts it again.
    pub fn kill_and_restart_node(&self, i: u8) {
        self.restart_node_by(i, libc::SIGKILL, |_| {});
    }

    fn restart_node_by(&self, i: u8, signal: i32, between: impl FnOnce(&mut Vec<String>)) {
        let pid = self.pid(i);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
        let mut argv: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        // SAFETY: signalling a pid recorded by `rkube cluster create`.
        unsafe { libc::kill(pid, signal) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            // Not our child: it is reaped by init; wait for it to go.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.contains(") Z ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        between(&mut argv);
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data_dir(i).join("rkube.log"))
            .expect("log");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns(i)))
            .arg("--")
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("restart rkube");
        std::fs::write(self.data_dir(i).join("rkube.pid"), child.id().to_string())
            .expect("pid file");
        // The child is reaped when the test ends; cluster delete stops it by pid.
        std::mem::forget(child);
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for i in 0..self.nodes {
            let log =
                std::fs::read_to_string(self.data_dir(i).join("rkube.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            out.push_str(&format!("---- node {i} log (tail) ----\n"));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Polls `f` until it returns true or `timeout` passes.
    pub fn wait_until(&self, timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !f() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for MultiNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            crate::print_logs_and_failure(&self.logs());
        }
        let _ = Command::new(rkube_bin())
            .args(["cluster", "delete", &self.name, "--dir"])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .output();
    }
}

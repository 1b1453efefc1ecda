//! Runs a real etcd (Debian's `etcd-server`) on loopback with its own data dir: used by the
//! conformance tests, the benchmark and local multi-server setups.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Result, StoreError};

/// A running single-member etcd; killed and its data dir removed on drop.
pub struct EtcdProcess {
    child: Child,
    dir: PathBuf,
    remove_dir: bool,
    endpoint: String,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl EtcdProcess {
    /// Starts etcd in a new temporary directory under `std::env::temp_dir()`.
    pub fn start() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "rkube-etcd-{}-{}",
            std::process::id(),
            free_port().map_err(|e| StoreError::backend("pick port", e))?
        ));
        Self::start_in(&dir, true)
    }

    /// Starts etcd with its data in `dir` (kept on drop unless `remove_dir`).
    pub fn start_in(dir: &Path, remove_dir: bool) -> Result<Self> {
        let io = |ctx: &str, e: std::io::Error| StoreError::backend(ctx.to_string(), e);
        std::fs::create_dir_all(dir).map_err(|e| io("create etcd dir", e))?;
        let client = free_port().map_err(|e| io("pick port", e))?;
        let peer = free_port().map_err(|e| io("pick port", e))?;
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.join("etcd.log")).map_err(|e| io("etcd log", e))?;
        let child = Command::new(etcd_binary())
            .arg("--name=rkube-test")
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=rkube-test={peer_url}"))
            // Room for a value at the store's own 1.5 MiB limit plus request overhead.
            .arg("--max-request-bytes=2097152")
            .arg("--quota-backend-bytes=8589934592")
            .env("ETCD_UNSUPPORTED_ARCH", "amd64")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| io("etcd log", e))?)
            .stderr(log)
            .spawn()
            .map_err(|e| io("start etcd (is Debian's etcd-server installed?)", e))?;
        let mut proc = EtcdProcess {
            child,
            dir: dir.to_path_buf(),
            remove_dir,
            endpoint,
        };
        proc.wait_ready(client)?;
        Ok(proc)
    }

    fn wait_ready(&mut self, port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default();
                return Err(StoreError::backend(
                    "etcd exited at start",
                    std::io::Error::other(format!("{status}: {}", tail(&log))),
                ));
            }
            // etcd logs "ready to serve client requests" once it can take writes.
            let log = std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default();
            if log.contains("ready to serve client requests")
                && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StoreError::backend(
                    "etcd did not become ready in 20 s",
                    std::io::Error::other(tail(&log)),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Size of the member's bbolt file.
    pub fn db_size(&self) -> u64 {
        std::fs::metadata(self.dir.join("data/member/snap/db"))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

fn etcd_binary() -> PathBuf {
    std::env::var_os("RKUBE_ETCD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("etcd"))
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

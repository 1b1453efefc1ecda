//! `rkube cluster create|kubeconfig|delete|list`: local multi-node clusters, as kind gives,
//! on this one machine. Each node is a network namespace (its own interfaces, routes,
//! nftables, ports) with an address on a bridge of the cluster's own; node 0 runs
//! `rkube server`, the others `rkube agent` joined with the server's token. Processes share
//! the host's mount namespace and cgroup tree but keep their state in their own data dirs.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::{json, Value};

const DEFAULT_DIR: &str = "/var/lib/rkube/clusters";

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster of network-namespace nodes and wait until every node is Ready.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 1)]
        nodes: u8,
        /// How many of the nodes run `rkube server` (the first ones). With more than one,
        /// the servers share a cluster of Debian's etcd, one member per server node.
        #[arg(long, default_value_t = 1)]
        servers: u8,
        /// Where clusters keep their state.
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
        /// How long to wait for every node to be Ready (seconds).
        #[arg(long, default_value_t = 120)]
        wait: u64,
    },
    /// Print the admin kubeconfig of a cluster.
    Kubeconfig {
        name: String,
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// Stop a cluster and remove all of it (processes, containers, namespaces, bridge, state).
    Delete {
        name: String,
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// List clusters.
    List {
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
}

pub fn run(cmd: ClusterCommand) -> std::process::ExitCode {
    let r = match cmd {
        ClusterCommand::Create {
            name,
            nodes,
            servers,
            dir,
            wait,
        } => create(&dir, &name, nodes, servers, Duration::from_secs(wait)),
        ClusterCommand::Kubeconfig { name, dir } => {
            std::fs::read_to_string(dir.join(&name).join("kubeconfig"))
                .with_context(|| format!("cluster {name:?} not found"))
                .map(|k| print!("{k}"))
        }
        ClusterCommand::Delete { name, dir } => delete(&dir, &name),
        ClusterCommand::List { dir } => {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if e.path().join("cluster.json").exists() {
                    println!("{}", e.file_name().to_string_lossy());
                }
            }
            Ok(())
        }
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rkube cluster: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Names of the kernel objects of a cluster (interface names are at most 15 bytes).
struct Names {
    bridge: String,
    name: String,
}

impl Names {
    fn new(name: &str) -> Names {
        let h = ring_hash(name);
        Names {
            bridge: format!("rkc{}", &h[..10]),
            name: name.to_string(),
        }
    }
    fn netns(&self, i: u8) -> String {
        format!("rkc-{}-{i}", self.name)
    }
    fn veth(&self, i: u8) -> String {
        format!("{}v{i}", &self.bridge[..12])
    }
    fn node(&self, i: u8) -> String {
        format!("{}-{i}", self.name)
    }
}

fn ring_hash(s: &str) -> String {
    // FNV-1a: short, stable names; not security relevant.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("run ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Holds an exclusive lock on `<dir>/.lock` while subnets are chosen.
/// Where the host-wide lock of `cluster create` lives (subnet choice across --dir bases).
const HOST_LOCK_DIR: &str = "/run/rkube";

struct Lock {
    _file: std::fs::File,
}

impl Lock {
    fn take(dir: &Path) -> anyhow::Result<Lock> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let f = std::fs::File::create(dir.join(".lock")).context("lock file")?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!(
                "lock {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(Lock { _file: f })
    }
}

/// The first 172.30.K.0/24 that no cluster and no host interface uses.
fn free_subnet(dir: &Path) -> anyhow::Result<u8> {
    let addrs = Command::new("ip")
        .args(["-o", "-4", "addr"])
        .output()
        .context("list addresses")?;
    let host = String::from_utf8_lossy(&addrs.stdout).to_string();
    let mut used = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(d) = std::fs::read(e.path().join("cluster.json")) {
            if let Ok(v) = serde_json::from_slice::<Value>(&d) {
                if let Some(k) = v["subnet"].as_u64() {
                    used.push(k as u8);
                }
            }
        }
    }
    (0..=255u8)
        .find(|k| !used.contains(k) && !host.contains(&format!(" 172.30.{k}.")))
        .ok_or_else(|| anyhow::anyhow!("no free 172.30.K.0/24 subnet"))
}

fn node_ip(subnet: u8, i: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 30, subnet, 10 + i)
}

fn create(base: &Path, name: &str, nodes: u8, servers: u8, wait: Duration) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 40
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!("--name {name:?}: use 1-40 lower-case letters, digits and '-'");
    }
    if nodes == 0 || nodes > 200 {
        bail!("--nodes {nodes}: between 1 and 200");
    }
    if servers == 0 || servers > nodes {
        bail!("--servers {servers}: between 1 and --nodes");
    }
    let started = Instant::now();
    let dir = base.join(name);
    let names = Names::new(name);
    // The subnet is chosen, and its gateway address put on the bridge, under this base's
    // lock and a host-wide one: clusters under other --dir bases see the address.
    let (subnet, bridged) = {
        let _lock = Lock::take(base)?;
        let _host = Lock::take(Path::new(HOST_LOCK_DIR))?;
        if dir.join("cluster.json").exists() {
            bail!("cluster {name:?} already exists");
        }
        let subnet = free_subnet(base)?;
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let state = json!({"name": name, "nodes": nodes, "subnet": subnet, "bridge": names.bridge});
        std::fs::write(dir.join("cluster.json"), serde_json::to_vec_pretty(&state)?)?;
        let bridged = (|| -> anyhow::Result<()> {
            ip(&["link", "add", &names.bridge, "type", "bridge"])?;
            let cidr = format!("172.30.{subnet}.1/24");
            ip(&["addr", "add", &cidr, "dev", &names.bridge])?;
            ip(&["link", "set", &names.bridge, "up"])
        })();
        (subnet, bridged)
    };
    let result = bridged.and_then(|()| {
        let gw = format!("172.30.{subnet}.1");
        for i in 0..nodes {
            let ns = names.netns(i);
            let veth = names.veth(i);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &names.bridge, "up"])?;
            let addr = format!("{}/24", node_ip(subnet, i));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "route", "add", "default", "via", &gw])?;
        }
        let ips: Vec<String> = (0..nodes).map(|i| node_ip(subnet, i).to_string()).collect();
        let urls: Vec<String> = (0..servers)
            .map(|i| format!("https://{}:6443", ips[i as usize]))
            .collect();
        let mut ha_args: Vec<String> = Vec::new();
        if servers > 1 {
            let endpoints = start_etcd(&dir, &names, &ips[..servers as usize])?;
            ha_args = vec![
                "--datastore-endpoint".into(),
                endpoints,
                "--token".into(),
                rkube_apiserver::join::new_secret(),
            ];
        }
        let start_server = |i: u8| -> anyhow::Result<()> {
            let data = dir.join(format!("node-{i}"));
            let mut args: Vec<String> = vec![
                "server".into(),
                "--data-dir".into(),
                data.to_string_lossy().into(),
                "--node-ip".into(),
                ips[i as usize].clone(),
                "--node-name".into(),
                names.node(i),
            ];
            args.extend(ha_args.iter().cloned());
            spawn_in(&names.netns(i), &data, RKUBE, &args)
        };
        // The first server bootstraps (CA, token, built-in objects); the others follow.
        start_server(0)?;
        let node0 = dir.join("node-0");
        let token_file = node0.join("server/token");
        let admin = node0.join("kubeconfig");
        wait_for(Duration::from_secs(60), "the server to start", || {
            token_file.exists() && admin.exists()
        })?;
        let token = std::fs::read_to_string(&token_file)?.trim().to_string();
        let kubeconfig =
            std::fs::read_to_string(&admin)?.replace("https://127.0.0.1:6443", &urls[0]);
        std::fs::write(dir.join("kubeconfig"), kubeconfig)?;
        for i in 1..servers {
            start_server(i)?;
        }
        for i in servers..nodes {
            let data = dir.join(format!("node-{i}"));
            let args: Vec<String> = vec![
                "agent".into(),
                "--server".into(),
                urls.join(","),
                "--token".into(),
                token.clone(),
                "--data-dir".into(),
                data.to_string_lossy().into(),
                "--node-ip".into(),
                ips[i as usize].clone(),
                "--node-name".into(),
                names.node(i),
            ];
            spawn_in(&names.netns(i), &data, RKUBE, &args)?;
        }
        wait_ready(&dir.join("kubeconfig"), nodes, wait)
    });
    match result {
        Ok(()) => {
            eprintln!(
                "cluster {name}: {nodes} node(s) Ready in {:.1} s; kubeconfig: {}",
                started.elapsed().as_secs_f64(),
                dir.join("kubeconfig").display()
            );
            Ok(())
        }
        Err(e) => {
            eprintln!("rkube cluster: create failed ({e:#}); removing what was made");
            let _ = delete(base, name);
            Err(e)
        }
    }
}

/// What [`spawn_in`] runs.
#[derive(Clone, Copy)]
enum Program {
    Rkube,
    Etcd,
}
const RKUBE: Program = Program::Rkube;

/// Starts `rkube ARGS` (or etcd) as a daemon inside network namespace `ns`, logging to
/// `DATA/<program>.log`, its pid in `DATA/<program>.pid`.
fn spawn_in(ns: &str, data: &Path, program: Program, args: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(data)?;
    let (exe, stem) = match program {
        Program::Rkube => (
            std::env::current_exe().context("locate the rkube binary")?,
            "rkube",
        ),
        Program::Etcd => (PathBuf::from("etcd"), "etcd"),
    };
    let log = std::fs::File::create(data.join(format!("{stem}.log")))?;
    let netns = std::fs::File::open(format!("/run/netns/{ns}"))
        .with_context(|| format!("open netns {ns}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let fd = netns.as_raw_fd();
    // SAFETY: only async-signal-safe calls (setns, setsid) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("start {stem} in {ns}"))?;
    std::fs::write(data.join(format!("{stem}.pid")), child.id().to_string())?;
    Ok(())
}

/// One etcd member per server node (Debian's etcd-server), on the node's address; returns
/// the client endpoints once every member answers /health.
fn start_etcd(dir: &Path, names: &Names, ips: &[String]) -> anyhow::Result<String> {
    let initial: Vec<String> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("m{i}=http://{ip}:2380"))
        .collect();
    for (i, ip) in ips.iter().enumerate() {
        let data = dir.join(format!("node-{i}"));
        let args: Vec<String> = vec![
            "--name".to_string(),
            format!("m{i}"),
            "--data-dir".into(),
            data.join("etcd").to_string_lossy().into(),
            "--listen-client-urls".into(),
            format!("http://{ip}:2379"),
            "--advertise-client-urls".into(),
            format!("http://{ip}:2379"),
            "--listen-peer-urls".into(),
            format!("http://{ip}:2380"),
            "--initial-advertise-peer-urls".into(),
            format!("http://{ip}:2380"),
            "--initial-cluster".into(),
            initial.join(","),
            "--initial-cluster-state".into(),
            "new".into(),
            "--initial-cluster-token".into(),
            names.name.clone(),
            "--max-request-bytes".into(),
            "2097152".into(),
        ];
        spawn_in(&names.netns(i as u8), &data, Program::Etcd, &args)?;
    }
    for ip in ips {
        wait_for(Duration::from_secs(60), "etcd to be healthy", || {
            etcd_healthy(ip)
        })?;
    }
    Ok(ips
        .iter()
        .map(|ip| format!("http://{ip}:2379"))
        .collect::<Vec<_>>()
        .join(","))
}

fn etcd_healthy(ip: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(addr) = format!("{ip}:2379").parse::<std::net::SocketAddr>() else {
        return false;
    };
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.contains("\"health\":\"true\"")
}

fn wait_for(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() > deadline {
            bail!("timed out after {}s waiting for {what}", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn wait_ready(kubeconfig: &Path, nodes: u8, wait: Duration) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?;
        let client = kube::Client::try_from(cfg)?;
        let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
        let deadline = Instant::now() + wait;
        loop {
            let ready = match api.list(&Default::default()).await {
                Ok(l) => l
                    .items
                    .iter()
                    .filter(|n| {
                        n.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|cs| {
                                cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                            })
                    })
                    .count(),
                Err(_) => 0,
            };
            if ready >= nodes as usize {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{ready} of {nodes} nodes Ready after {}s", wait.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

fn delete(base: &Path, name: &str) -> anyhow::Result<()> {
    let dir = base.join(name);
    let state: Value = std::fs::read(dir.join("cluster.json"))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .ok_or_else(|| anyhow::anyhow!("cluster {name:?} not found"))?;
    let names = Names::new(name);
    let nodes = state["nodes"].as_u64().unwrap_or(0) as u8;
    // Agents first, then the server, each SIGTERM then SIGKILL.
    for i in (0..nodes).rev() {
        stop(&dir.join(format!("node-{i}")), "rkube");
    }
    for i in 0..nodes {
        stop(&dir.join(format!("node-{i}")), "etcd");
    }
    for i in 0..nodes {
        crate::cleanup::remove_containers(&dir.join(format!("node-{i}")));
    }
    crate::cleanup::unmount_under(&dir);
    for i in 0..nodes {
        let _ = ip(&["netns", "delete", &names.netns(i)]);
    }
    let _ = ip(&["link", "delete", &names.bridge]);
    std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    eprintln!("cluster {name} deleted");
    Ok(())
}

fn stop(data: &Path, stem: &str) {
    let Some(pid) = std::fs::read_to_string(data.join(format!("{stem}.pid")))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        return;
    };
    // SAFETY: signalling a pid; a stale pid at worst gets a signal it ignores or is gone.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut status = 0;
        // Reap it if it is our child; otherwise check it still exists.
        // SAFETY: plain syscalls on a pid.
        let gone = unsafe {
            libc::waitpid(pid, &mut status, libc::WNOHANG) == pid || libc::kill(pid, 0) != 0
        };
        if gone {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

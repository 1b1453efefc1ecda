//! Scheduler and controller throughput on simulated nodes (issue 6's benchmark, in
//! scheduler_perf's manner): `rkube server --disable-agent` plus `rkube agent --simulate N`;
//! bare pods created by 32 concurrent clients, timed from the first create to the last bind;
//! then one Deployment of 10k replicas timed until every pod reports Running. Run twice: as
//! users run it (one server process), then with the scheduler and the controllers as
//! processes of their own (`rkube scheduler`, `rkube controller-manager` against a server
//! with `--disable-scheduler --disable-controller-manager`), so that each one's CPU time and
//! RSS shows apart from the API server's. Prints tables; asserts nothing.
//!
//! `cargo build --release -p rkube && RKUBE_BIN=target/release/rkube cargo bench -p rkube-e2e --bench simulated`
//! (as root). `BENCH_LARGE=1` adds 5,000 nodes with 30k pods.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use rkube_e2e::{rkube_bin, Cluster};

struct Usage {
    cpu: Duration,
    rss_mib: f64,
}

fn usage(pid: u32) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    let rss_kib: f64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    Usage {
        cpu: Duration::from_secs_f64(ticks / hz),
        rss_mib: rss_kib / 1024.0,
    }
}

fn enter_netns(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns");
    use std::os::fd::AsRawFd;
    // SAFETY: setns on an fd we own, before any other thread exists.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}

fn pod(name: &str, labels: bool) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": if labels { serde_json::json!({"bench": "bare"}) } else { serde_json::json!({}) }},
        "spec": {"containers": [{"name": "c", "image": "busybox:bench", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
    }))
    .expect("pod")
}

fn scale(nodes: usize, pods: usize, split: bool) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let flags: &[&str] = if split {
        &[
            "--disable-agent",
            "--disable-scheduler",
            "--disable-controller-manager",
        ]
    } else {
        &["--disable-agent"]
    };
    let c = Cluster::start(flags);
    let pid = c.server_pid().expect("server pid");
    let component = |role: &str| {
        c.command(&rkube_bin().display().to_string())
            .args([role, "--kubeconfig"])
            .arg(&c.kubeconfig)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect(role)
    };
    let mut children = Vec::new();
    let procs: Procs = if split {
        let scheduler = component("scheduler");
        let controllers = component("controller-manager");
        let procs = vec![
            ("API server", pid),
            ("scheduler", scheduler.id()),
            ("controller manager", controllers.id()),
        ];
        children.extend([scheduler, controllers]);
        procs
    } else {
        vec![("server (API + scheduler + controllers)", pid)]
    };
    let sim = c
        .command(&rkube_bin().display().to_string())
        .args(["agent", "--simulate", &nodes.to_string(), "--kubeconfig"])
        .arg(&c.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("simulator");
    let t0 = Instant::now();
    c.wait_until(Duration::from_secs(300), "simulated nodes", || {
        let r = c.kubectl(&["get", "nodes", "-o", "name"]);
        r.stdout.lines().count() >= nodes
    });
    rows.push((
        format!("{nodes} simulated nodes registered"),
        format!("{:.1} s", t0.elapsed().as_secs_f64()),
    ));
    // Threads made after this (the runtime's) live in the cluster's namespace.
    enter_netns(&c.netns);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rows.extend(rt.block_on(measure(&c, &procs, nodes, pods)));
    children.push(sim);
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    rows
}

/// The processes measured: the server alone, or API server (with its store), scheduler
/// and controller manager as processes of their own.
type Procs = Vec<(&'static str, u32)>;

fn usages(procs: &Procs) -> Vec<Usage> {
    procs.iter().map(|(_, pid)| usage(*pid)).collect()
}

/// One row per process: CPU seconds between `before` and `after`.
fn cpu_rows(what: &str, procs: &Procs, before: &[Usage], after: &[Usage]) -> Vec<(String, String)> {
    procs
        .iter()
        .zip(before.iter().zip(after))
        .map(|((name, _), (b, a))| {
            (
                format!("{name} CPU during {what}"),
                format!("{:.1} s", (a.cpu.saturating_sub(b.cpu)).as_secs_f64()),
            )
        })
        .collect()
}

async fn measure(c: &Cluster, procs: &Procs, nodes: usize, pods: usize) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let kc = kube::config::Kubeconfig::read_from(&c.kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    let client = Client::try_from(cfg).expect("client");
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");

    // Binds and Running pods as the watch sees them.
    let bound = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let last_bind = Arc::new(Mutex::new(None::<Instant>));
    let seen = Arc::new(Mutex::new(
        std::collections::HashMap::<String, (bool, bool)>::new(),
    ));
    {
        let (bound, running, last_bind, seen) = (
            bound.clone(),
            running.clone(),
            last_bind.clone(),
            seen.clone(),
        );
        let all: Api<Pod> = Api::all(client.clone());
        tokio::spawn(async move {
            let mut s = std::pin::pin!(watcher(all, Default::default()).applied_objects());
            while let Ok(Some(p)) = s.try_next().await {
                let name = format!(
                    "{}/{}",
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default()
                );
                let is_bound = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
                let is_running =
                    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                let mut m = seen.lock().expect("lock");
                let e = m.entry(name).or_default();
                if is_bound && !e.0 {
                    e.0 = true;
                    bound.fetch_add(1, Ordering::SeqCst);
                    *last_bind.lock().expect("lock") = Some(Instant::now());
                }
                if is_running && !e.1 {
                    e.1 = true;
                    running.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    let before = usages(procs);
    let start = Instant::now();
    futures::stream::iter(0..pods)
        .for_each_concurrent(32, |i| {
            let api = api.clone();
            async move {
                let _ = api
                    .create(&PostParams::default(), &pod(&format!("p{i}"), true))
                    .await;
            }
        })
        .await;
    let created = start.elapsed();
    while bound.load(Ordering::SeqCst) < pods && start.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let binds = last_bind
        .lock()
        .expect("lock")
        .map(|t| t.duration_since(start))
        .unwrap_or_default();
    let after = usages(procs);
    rows.push((
        format!("{pods} bare pods created (32 clients)"),
        format!("{:.0} pods/s", pods as f64 / created.as_secs_f64()),
    ));
    rows.push((
        format!("{pods} bare pods scheduled, {nodes} nodes"),
        format!(
            "{:.0} pods/s ({} bound in {:.1} s)",
            bound.load(Ordering::SeqCst) as f64 / binds.as_secs_f64().max(0.001),
            bound.load(Ordering::SeqCst),
            binds.as_secs_f64()
        ),
    ));
    rows.extend(cpu_rows("the bare pods", procs, &before, &after));

    // One Deployment of 10k replicas until every pod reports Running.
    let replicas = 10_000usize;
    let running_before = running.load(Ordering::SeqCst);
    let deploy = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: big}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: big}}}}\n  template:\n    metadata: {{labels: {{app: big}}}}\n    spec:\n      containers: [{{name: c, image: busybox:bench}}]\n"
    );
    let before = usages(procs);
    let start = Instant::now();
    c.kubectl_stdin(rkube_e2e::KUBECTL_1_32, &["apply", "-f", "-"], &deploy)
        .ok();
    while running.load(Ordering::SeqCst) < running_before + replicas
        && start.elapsed() < Duration::from_secs(900)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = start.elapsed();
    let after = usages(procs);
    let done = running.load(Ordering::SeqCst) - running_before;
    rows.push((
        format!("Deployment of {replicas} replicas all Running"),
        format!(
            "{:.1} s ({done} Running, {:.0} pods/s)",
            took.as_secs_f64(),
            done as f64 / took.as_secs_f64()
        ),
    ));
    rows.extend(cpu_rows("the Deployment", procs, &before, &after));
    for ((name, _), u) in procs.iter().zip(&after) {
        rows.push((
            format!("{name} RSS at the end"),
            format!("{:.0} MiB", u.rss_mib),
        ));
    }
    rows
}

fn main() {
    let mut sizes = vec![(1000usize, 10_000usize)];
    if std::env::var_os("BENCH_LARGE").is_some() {
        sizes.push((5000, 30_000));
    }
    // As users run it (one server process), then with the scheduler and the controller
    // manager as processes of their own to see what each costs.
    for split in [false, true] {
        let mut rows = Vec::new();
        for &(nodes, pods) in &sizes {
            rows.extend(scale(nodes, pods, split));
        }
        if split {
            println!("\nscheduler and controller manager as processes of their own");
        } else {
            println!("\nscheduling and controllers on simulated nodes, one server process");
        }
        println!("{:<56} figure", "measure");
        for (k, v) in rows {
            println!("{k:<56} {v}");
        }
    }
}

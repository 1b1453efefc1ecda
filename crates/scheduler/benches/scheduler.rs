//! Scheduler throughput, scheduler_perf style.
//!
//! 1. The algorithm alone: N nodes in the cache, 10k pods scheduled and assumed one after
//!    another (what the scheduling loop does per cycle, without the API).
//! 2. End to end: a real in-process API server (redb), N Node objects, the scheduler
//!    running, 10k pods created; throughput is measured from the first bind to the last,
//!    latency from each pod's create call to the moment the watch shows it bound.
//!
//! `cargo bench -p rkube-scheduler` (env `SCHED_BENCH_NODES=1000,5000`, `SCHED_BENCH_PODS`).
//! Prints a table; timings are never asserted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::PostParams;
use kube::runtime::watcher;
use kube::{Api, Client};
use rkube_scheduler::algorithm::{Algorithm, Options};
use rkube_scheduler::cache::Cache;
use rkube_scheduler::node::NodeData;
use rkube_scheduler::pod::PodInfo;
use serde_json::json;
use tokio_util::sync::CancellationToken;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn node_json(i: usize) -> serde_json::Value {
    let name = format!("node-{i:05}");
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": format!("zone-{}", i % 3)}},
        "status": {
            "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"}
        }
    })
}

fn pod_json(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i:05}"), "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "pause",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The pure algorithm: pods/s and mean cycle time.
fn algorithm_only(nodes: usize, pods: usize, parallelism: usize) -> Result<(f64, Duration)> {
    let mut cache = Cache::new();
    for i in 0..nodes {
        let n: Node = serde_json::from_value(node_json(i))?;
        cache.upsert_node(NodeData::from_node(&n));
    }
    let infos: Vec<PodInfo> = (0..pods)
        .map(|i| {
            let mut v = pod_json(i);
            v["metadata"]["uid"] = json!(format!("uid-{i}"));
            serde_json::from_value::<Pod>(v).map(|p| PodInfo::from_pod(&p))
        })
        .collect::<std::result::Result<_, _>>()?;
    let mut alg = Algorithm::new(Options {
        percentage_of_nodes_to_score: 0,
        parallelism,
    });
    let start = Instant::now();
    for p in &infos {
        match alg.schedule(&cache, p) {
            Ok(d) => cache.assume(p, &d.node),
            Err(e) => return Err(e.message().into()),
        }
    }
    let took = start.elapsed();
    Ok((pods as f64 / took.as_secs_f64(), took / pods as u32))
}

struct EndToEnd {
    pods_per_sec: f64,
    p50: Duration,
    p99: Duration,
    total: Duration,
}

async fn client_for(started: &rkube_apiserver::Started, user: &str) -> Result<Client> {
    let yaml = started.component_kubeconfig(user, &[])?;
    let kc = kube::config::Kubeconfig::from_yaml(&yaml)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(Client::try_from(config)?)
}

async fn end_to_end(nodes: usize, pods: usize) -> Result<EndToEnd> {
    let tmp = tempfile::tempdir()?;
    std::fs::create_dir_all(tmp.path().join("db"))?;
    let store: Arc<dyn rkube_store::Store> = Arc::new(rkube_store::RedbStore::open(
        tmp.path().join("db/state.redb"),
    )?);
    let cancel = CancellationToken::new();
    let _guard = cancel.clone().drop_guard();
    let started = rkube_apiserver::start(
        rkube_apiserver::Config {
            listen: "127.0.0.1:0".parse()?,
            tls_dir: tmp.path().join("tls"),
            kubeconfigs: vec![],
            node_ips: vec!["127.0.0.1".parse()?],
            cluster_domain: "cluster.local".into(),
            service_cidr: rkube_apiserver::Cidr::parse("10.43.0.0/16").ok_or("bad service CIDR")?,
        },
        store,
        cancel.clone(),
    )
    .await?;
    let admin = client_for(&started, "admin").await?;
    let sched = client_for(&started, "system:kube-scheduler").await?;

    let node_api: Api<Node> = Api::all(admin.clone());
    futures::stream::iter(0..nodes)
        .map(|i| {
            let api = node_api.clone();
            async move {
                let n: Node = serde_json::from_value(node_json(i))?;
                api.create(&PostParams::default(), &n).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;

    // Watch binds before anything is created.
    let pod_api: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let (bound_tx, mut bound_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let watch_api = pod_api.clone();
    tokio::spawn(async move {
        let mut seen = std::collections::HashSet::new();
        let mut s = watcher::watcher(watch_api, watcher::Config::default()).boxed();
        while let Some(ev) = s.next().await {
            let pod = match ev {
                Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p)) => p,
                _ => continue,
            };
            let bound = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some();
            let name = pod.metadata.name.unwrap_or_default();
            if bound && seen.insert(name.clone()) && bound_tx.send((name, Instant::now())).is_err()
            {
                return;
            }
        }
    });

    let sched_cancel = cancel.child_token();
    tokio::spawn(rkube_scheduler::run(sched, sched_cancel.clone()));

    let created: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let creator = {
        let created = created.clone();
        let api = pod_api.clone();
        tokio::spawn(async move {
            futures::stream::iter(0..pods)
                .map(|i| {
                    let api = api.clone();
                    let created = created.clone();
                    async move {
                        let p: Pod = serde_json::from_value(pod_json(i))?;
                        let name = format!("pod-{i:05}");
                        if let Ok(mut m) = created.lock() {
                            m.insert(name, Instant::now());
                        }
                        api.create(&PostParams::default(), &p).await?;
                        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                    }
                })
                .buffer_unordered(64)
                .try_collect::<Vec<_>>()
                .await
        })
    };

    let deadline = Instant::now() + Duration::from_secs(600);
    let mut binds: Vec<(String, Instant)> = Vec::with_capacity(pods);
    while binds.len() < pods {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, bound_rx.recv()).await {
            Ok(Some(b)) => binds.push(b),
            _ => return Err(format!("only {} of {pods} pods bound", binds.len()).into()),
        }
    }
    creator.await??;
    sched_cancel.cancel();
    let first = binds.iter().map(|b| b.1).min().unwrap_or_else(Instant::now);
    let last = binds.iter().map(|b| b.1).max().unwrap_or_else(Instant::now);
    let created = created.lock().map(|m| m.clone()).unwrap_or_default();
    let mut lat: Vec<Duration> = binds
        .iter()
        .filter_map(|(n, t)| created.get(n).map(|c| t.saturating_duration_since(*c)))
        .collect();
    lat.sort();
    let total = last.saturating_duration_since(first);
    Ok(EndToEnd {
        pods_per_sec: pods as f64 / total.as_secs_f64().max(1e-9),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        total,
    })
}

fn main() -> Result<()> {
    let nodes: Vec<usize> = std::env::var("SCHED_BENCH_NODES")
        .unwrap_or_else(|_| "1000,5000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let pods: usize = std::env::var("SCHED_BENCH_PODS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let e2e = std::env::var("SCHED_BENCH_E2E").map_or(true, |v| v != "0");

    println!("algorithm only ({pods} pods, filter+score+assume, no API)");
    println!(
        "{:>7} | {:>7} | {:>10} | {:>12}",
        "nodes", "threads", "pods/s", "per pod"
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for &n in &nodes {
        for t in [1, threads] {
            let (rate, per) = algorithm_only(n, pods, t)?;
            println!("{n:>7} | {t:>7} | {rate:>10.0} | {per:>12.2?}");
        }
    }
    println!();
    println!("end to end ({pods} pods created against a real API server, redb store)");
    println!(
        "{:>7} | {:>10} | {:>10} | {:>10} | {:>10}",
        "nodes", "pods/s", "p50", "p99", "first→last"
    );
    for &n in nodes.iter().filter(|_| e2e) {
        let r = rt.block_on(end_to_end(n, pods))?;
        println!(
            "{n:>7} | {:>10.0} | {:>10.2?} | {:>10.2?} | {:>10.2?}",
            r.pods_per_sec, r.p50, r.p99, r.total
        );
    }
    Ok(())
}

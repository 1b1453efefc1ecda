//! API server benchmark: the real `rkube server` process over HTTPS/2 with client
//! certificates, on both store backends, at 10k and 100k pods (objects only).
//!
//! `cargo bench -p rkube --bench api` (needs Debian's etcd-server). `RKUBE_BENCH_SCALE=0.1`
//! for a quick run. Prints a table; asserts nothing about timings.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use rkube_store::etcd_process::EtcdProcess;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};

fn scale(n: usize) -> usize {
    let s: f64 = std::env::var("RKUBE_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((n as f64) * s).max(1.0) as usize
}

struct Server {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(etcd: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rkube"));
    // The API alone: no node agent on this machine (it would set up a pod network here),
    // and no scheduler writing conditions to the unschedulable pods between a GET and a PUT.
    cmd.args([
        "server",
        "--disable-agent",
        "--disable-scheduler",
        "--disable-controller-manager",
        "--https-listen-port",
        &port.to_string(),
        "--data-dir",
    ])
    .arg(dir.path())
    .env("RKUBE_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(dir.path().join("server.log")).expect("log file"));
    if let Some(ep) = etcd {
        // Servers over a datastore share their CA through it, sealed with the token.
        cmd.args(["--datastore-endpoint", ep, "--token", "rkube-bench-token"]);
    }
    let mut child = cmd.spawn().expect("start rkube server");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.path().join("kubeconfig").exists()
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    {
        if let Ok(Some(st)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("rkube server exited at start ({st}):\n{log}");
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server { child, dir, port }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

async fn connect(server: &Server) -> SendRequest<Full<Bytes>> {
    let tls = server.dir.path().join("server/tls");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(tls.join("ca.crt")).unwrap())
        .unwrap();
    let cert = CertificateDer::from_pem_file(tls.join("admin.crt")).unwrap();
    let key = PrivateKeyDer::from_pem_file(tls.join("admin.key")).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(vec![cert], key)
    .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    send
}

async fn call(
    c: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Bytes) {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("https://127.0.0.1{path}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body
        .map(|b| Bytes::from(serde_json::to_vec(b).unwrap()))
        .unwrap_or_default();
    let resp = c
        .send_request(req.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, bytes)
}

fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i:06}"), "labels": {"app": "bench", "shard": format!("{}", i % 16)}},
        "spec": {"containers": [{"name": "main", "image": "registry.local/app:1.0",
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            "ports": [{"containerPort": 8080}], "env": [{"name": "MODE", "value": "bench"}]}]},
    })
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

#[derive(Default)]
struct Row {
    create_per_s: f64,
    create_p50: f64,
    create_p99: f64,
    get_p50: f64,
    get_p99: f64,
    update_p50: f64,
    update_p99: f64,
    list_ms: f64,
    watch_p50: f64,
    watch_p99: f64,
    rss: f64,
}

/// Creates pods `from..to` with 64 concurrent writers over 4 connections.
async fn create_pods(
    conns: &[SendRequest<Full<Bytes>>],
    from: usize,
    to: usize,
) -> (f64, Vec<Duration>) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    let writers = 64;
    for w in 0..writers {
        let mut c = conns[w % conns.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = from + w;
            while i < to {
                let t = Instant::now();
                let (s, _) = call(
                    &mut c,
                    Method::POST,
                    "/api/v1/namespaces/bench/pods",
                    Some(&pod(i)),
                )
                .await;
                assert_eq!(s, 201, "create pod-{i}");
                lat.push(t.elapsed());
                i += writers;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    ((to - from) as f64 / started.elapsed().as_secs_f64(), all)
}

/// Latencies on top of `n` existing pods: sequential creates, gets, updates, a list of ~10k
/// pods (a label selector narrows larger sets), watch delivery, and the server's RSS.
async fn measure(conns: &[SendRequest<Full<Bytes>>], n: usize, pid: u32, salt: usize) -> Row {
    let mut c = conns[0].clone();
    let mut row = Row::default();
    let mut single = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        let (s, _) = call(
            &mut c,
            Method::POST,
            "/api/v1/namespaces/bench/pods",
            Some(&pod(salt + i)),
        )
        .await;
        assert_eq!(s, 201);
        single.push(t.elapsed());
    }
    row.create_p50 = pct(&mut single, 0.5);
    row.create_p99 = pct(&mut single, 0.99);
    let mut gets = Vec::new();
    let mut updates = Vec::new();
    for k in 0..500 {
        let name = format!("pod-{:06}", (k * 7919 + salt) % n);
        let t = Instant::now();
        let (s, body) = call(
            &mut c,
            Method::GET,
            &format!("/api/v1/namespaces/bench/pods/{name}"),
            None,
        )
        .await;
        gets.push(t.elapsed());
        assert_eq!(s, 200, "get {name}");
        let mut obj: Value = serde_json::from_slice(&body).unwrap();
        obj["metadata"]["labels"]["touched"] = json!(format!("{k}"));
        let t = Instant::now();
        let (s, _) = call(
            &mut c,
            Method::PUT,
            &format!("/api/v1/namespaces/bench/pods/{name}"),
            Some(&obj),
        )
        .await;
        updates.push(t.elapsed());
        assert_eq!(s, 200);
    }
    row.get_p50 = pct(&mut gets, 0.5);
    row.get_p99 = pct(&mut gets, 0.99);
    row.update_p50 = pct(&mut updates, 0.5);
    row.update_p99 = pct(&mut updates, 0.99);
    // ~10k pods: all of them at 10k, 2 of 16 label shards at 100k.
    let selector = if n > 10_000 {
        "?labelSelector=shard%20in%20(0,1)"
    } else {
        ""
    };
    let mut lists = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (s, _) = call(
            &mut c,
            Method::GET,
            &format!("/api/v1/namespaces/bench/pods{selector}"),
            None,
        )
        .await;
        assert_eq!(s, 200);
        lists.push(t.elapsed());
    }
    row.list_ms = pct(&mut lists, 0.5);
    let (p50, p99) = watch_latency(conns, salt).await;
    row.watch_p50 = p50;
    row.watch_p99 = p99;
    row.rss = rss_mib(pid);
    row
}

/// Time from issuing a write to the watcher holding its event.
async fn watch_latency(conns: &[SendRequest<Full<Bytes>>], salt: usize) -> (f64, f64) {
    let mut c = conns[0].clone();
    let ns = format!("watched-{salt}");
    let (s, _) = call(
        &mut c,
        Method::POST,
        "/api/v1/namespaces",
        Some(&json!({"metadata": {"name": ns}})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, body) = call(
        &mut c,
        Method::GET,
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let list: Value = serde_json::from_slice(&body).unwrap();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut wc = conns[1 % conns.len()].clone();
    let req = Request::builder()
        .uri(format!(
            "https://127.0.0.1/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}"
        ))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = wc.send_request(req).await.unwrap();
    let mut body = resp.into_body();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let m = 300;
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while got.len() < m {
            let Some(Ok(frame)) = body.frame().await else {
                break;
            };
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    buf.drain(..=pos);
                    got.push(Instant::now());
                }
            }
        }
        got
    });
    for i in 0..m {
        let _ = tx.send(Instant::now());
        let cm = json!({"metadata": {"name": format!("cm-{i}")}, "data": {"i": i.to_string()}});
        let (s, _) = call(
            &mut c,
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/configmaps"),
            Some(&cm),
        )
        .await;
        assert_eq!(s, 201);
    }
    let got = reader.await.unwrap();
    let mut w = Vec::new();
    for g in got {
        let sent = rx.recv().await.unwrap();
        w.push(g.saturating_duration_since(sent));
    }
    (pct(&mut w, 0.5), pct(&mut w, 0.99))
}

async fn run_backend(etcd: Option<&str>) -> (f64, Row, Row) {
    let server = start_server(etcd);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_mib(server.child.id());
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(connect(&server).await);
    }
    let mut c = conns[0].clone();
    let (s, _) = call(
        &mut c,
        Method::POST,
        "/api/v1/namespaces",
        Some(&json!({"metadata": {"name": "bench"}})),
    )
    .await;
    assert_eq!(s, 201);
    let small = scale(10_000);
    let big = scale(100_000);
    let (rate10, _) = create_pods(&conns, 0, small).await;
    let mut r10 = measure(&conns, small, server.child.id(), 1_000_000).await;
    r10.create_per_s = rate10;
    let (rate100, _) = create_pods(&conns, small, big).await;
    let mut r100 = measure(&conns, big, server.child.id(), 2_000_000).await;
    r100.create_per_s = rate100;
    (idle, r10, r100)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (ri, r10, r100) = run_backend(None).await;
        let etcd = EtcdProcess::start().expect("start etcd");
        let (ei, e10, e100) = run_backend(Some(etcd.endpoint())).await;
        let n10 = scale(10_000);
        let n100 = scale(100_000);
        println!();
        println!("| API benchmark (2 cores, HTTPS/2, client certs) | redb {n10} | redb {n100} | etcd {n10} | etcd {n100} |");
        println!("|---|---:|---:|---:|---:|");
        let line = |name: &str, f: &dyn Fn(&Row) -> f64| {
            println!("| {name} | {:.1} | {:.1} | {:.1} | {:.1} |", f(&r10), f(&r100), f(&e10), f(&e100));
        };
        line("pod creates/s (64 writers)", &|r| r.create_per_s);
        line("create p50 ms (sequential)", &|r| r.create_p50);
        line("create p99 ms (sequential)", &|r| r.create_p99);
        line("get p50 ms", &|r| r.get_p50);
        line("get p99 ms", &|r| r.get_p99);
        line("update p50 ms", &|r| r.update_p50);
        line("update p99 ms", &|r| r.update_p99);
        line("list ~10k pods from cache, ms", &|r| r.list_ms);
        line("watch delivery p50 ms", &|r| r.watch_p50);
        line("watch delivery p99 ms", &|r| r.watch_p99);
        line("RSS MiB", &|r| r.rss);
        println!("| RSS MiB idle | {ri:.1} | | {ei:.1} | |");
        println!();
        println!("(the 100k list selects 2 of 16 label shards, ~12.5k pods; rates and latencies are of the rkube server process)");
    });
}

//! Queries per second and latency percentiles over UDP on loopback, against a real API server
//! (100 Services) and a fake upstream. Prints a table; asserts nothing about timings.
//!
//! Run: `cargo bench -p rkube-dns` (or the `dns` bench binary of a dev build).

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{request, wait, Cluster, Result};
use hickory_proto::rr::RecordType;
use k8s_openapi::api::core::v1::Service;
use serde_json::json;
use tokio::net::UdpSocket;

const CONCURRENCY: usize = 4;
const DURATION: Duration = Duration::from_secs(2);

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench())
}

async fn bench() -> Result<()> {
    let c = Cluster::start().await?;
    for i in 0..100 {
        let _: Service = c
            .create(
                "default",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i}")},
                    "spec": {"ports": [{"name": "http", "port": 80}]}}),
            )
            .await?;
    }
    wait("services indexed", || async {
        let m = c
            .query("svc-99.default.svc.cluster.local.", RecordType::A)
            .await
            .ok()?;
        (!m.answers().is_empty()).then_some(())
    })
    .await?;
    c.query("www.example.test.", RecordType::A).await?; // fills the cache

    let cases = [
        (
            "cluster A",
            "svc-42.default.svc.cluster.local.",
            RecordType::A,
        ),
        (
            "cluster SRV",
            "_http._tcp.svc-42.default.svc.cluster.local.",
            RecordType::SRV,
        ),
        (
            "search-path NXDOMAIN",
            "www.example.test.default.svc.cluster.local.",
            RecordType::A,
        ),
        ("forwarded (cached)", "www.example.test.", RecordType::A),
    ];
    println!(
        "{CONCURRENCY} concurrent UDP clients, {}s per case",
        DURATION.as_secs()
    );
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>8}",
        "case", "queries/s", "p50 µs", "p99 µs", "errors"
    );
    for (label, name, qtype) in cases {
        let (lat, errors) = load(c.dns, name, qtype).await?;
        let qps = lat.len() as f64 / DURATION.as_secs_f64();
        println!(
            "{label:<24} {qps:>10.0} {:>10} {:>10} {errors:>8}",
            percentile(&lat, 0.50),
            percentile(&lat, 0.99)
        );
    }
    Ok(())
}

/// Latencies (µs) of every answered query, and the number of timeouts.
async fn load(server: SocketAddr, name: &str, qtype: RecordType) -> Result<(Vec<u64>, usize)> {
    let bytes = request(name, qtype, true)?.to_vec()?;
    let deadline = Instant::now() + DURATION;
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let bytes = bytes.clone();
        tasks.push(tokio::spawn(async move {
            let sock = UdpSocket::bind("127.0.0.1:0").await?;
            sock.connect(server).await?;
            let mut buf = vec![0u8; 4096];
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let t = Instant::now();
                sock.send(&bytes).await?;
                match tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await {
                    Ok(Ok(_)) => lat.push(t.elapsed().as_micros() as u64),
                    _ => errors += 1,
                }
            }
            Ok::<_, std::io::Error>((lat, errors))
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (lat, e) = t.await??;
        all.extend(lat);
        errors += e;
    }
    all.sort_unstable();
    Ok((all, errors))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

//! Many machines (issue 10's benchmark): time from `rkube cluster create` to every node
//! Ready (3 nodes with one server; 3 servers over etcd plus an agent), how long the
//! scheduler's leadership takes to move when its server is killed, and API latency on a
//! surviving server while that happens. Prints a table; asserts nothing.
//!
//! `cargo build --release -p rkube && RKUBE_BIN=$PWD/target/release/rkube cargo bench -p rkube-e2e --bench ha` (as root).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rkube_e2e::multinode::MultiNode;

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn holder(c: &MultiNode, at: u8) -> String {
    c.kubectl_at(
        at,
        &[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kube-scheduler",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    )
    .stdout
}

fn main() {
    let mut rows: Vec<(String, String)> = Vec::new();
    let t = Instant::now();
    let single = MultiNode::create(3);
    rows.push((
        "cluster create, 3 nodes (1 server), to all Ready".into(),
        ms(t.elapsed()),
    ));
    drop(single);
    let t = Instant::now();
    let c = MultiNode::create_with(4, 3);
    rows.push((
        "cluster create, 3 servers on etcd + 1 agent, to all Ready".into(),
        ms(t.elapsed()),
    ));
    std::thread::sleep(Duration::from_secs(3));

    // The scheduler leader's server, found through its log.
    let id = holder(&c, 0);
    let leader = (0..3u8)
        .find(|i| {
            std::fs::read_to_string(c.data_dir(*i).join("rkube.log"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("became leader") && l.contains(&id))
        })
        .unwrap_or(0);
    let survivor = (0..3u8).find(|i| *i != leader).unwrap_or(1);
    let tls = c.data_dir(0).join("server/tls");
    let url = format!(
        "https://{}:6443/api/v1/namespaces/default/configmaps",
        c.ip(survivor)
    );
    let get = || {
        let t = Instant::now();
        let ok = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "--max-time", "5"])
            .arg("--cacert")
            .arg(tls.join("ca.crt"))
            .arg("--cert")
            .arg(tls.join("admin.crt"))
            .arg("--key")
            .arg(tls.join("admin.key"))
            .arg(&url)
            .stdin(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        (t.elapsed(), ok)
    };
    let before: Vec<Duration> = (0..50).map(|_| get().0).collect();
    // Kill the leader's server and keep asking the survivor while leadership moves.
    let killed = Instant::now();
    // SAFETY: signalling a pid recorded by `rkube cluster create`.
    unsafe { libc::kill(c.pid(leader), libc::SIGKILL) };
    let mut during = Vec::new();
    let mut failed = 0;
    let mut failover = None;
    while killed.elapsed() < Duration::from_secs(40) {
        let (d, ok) = get();
        during.push(d);
        if !ok {
            failed += 1;
        }
        if failover.is_none() {
            let h = holder(&c, survivor);
            if !h.is_empty() && h != id {
                failover = Some(killed.elapsed());
            }
        }
        if failover.is_some() && during.len() > 100 {
            break;
        }
    }
    rows.push((
        "scheduler leadership moved after kill -9".into(),
        failover.map(ms).unwrap_or_else(|| "not within 40 s".into()),
    ));
    rows.push((
        "GET configmaps on a survivor before: p50 / p99".into(),
        format!(
            "{} / {}",
            ms(pct(before.clone(), 0.5)),
            ms(pct(before, 0.99))
        ),
    ));
    rows.push((
        "  … while the leader is killed: p50 / p99 / max".into(),
        format!(
            "{} / {} / {} ({} requests, {failed} failed)",
            ms(pct(during.clone(), 0.5)),
            ms(pct(during.clone(), 0.99)),
            ms(pct(during.clone(), 1.0)),
            during.len()
        ),
    ));
    println!("\nmany machines (curl per request: includes process start and TLS handshake)");
    for (k, v) in rows {
        println!("{k:<58} {v}");
    }
}

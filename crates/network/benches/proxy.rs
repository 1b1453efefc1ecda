//! Service proxy sync times at 1,000, 5,000 and 10,000 Services (2 endpoints each) in scratch
//! network namespaces — the full load (first start), a one-Service endpoint change and a
//! sync with nothing changed — and first-packet latency: TCP connects from a client
//! namespace, routed through the proxy's namespace, to a listener in a backend namespace.
//! Prints tables; asserts nothing about time.
//!
//! Run with `cargo bench -p rkube-network --bench proxy` (as root).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rkube_network::netns;
use rkube_network::proxy::{
    Endpoint, EndpointPort, EndpointSlice, Protocol, Proxier, ProxierConfig, Service, ServicePort,
};

/// A scratch namespace, deleted on drop.
struct Scratch(String);

impl Scratch {
    fn new(tag: &str) -> anyhow::Result<Scratch> {
        let name = format!("rknb{}-{tag}", std::process::id());
        sh("ip", &["netns", "add", &name])?;
        let ns = Scratch(name);
        ns.exec("ip link set lo up")?;
        Ok(ns)
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.0))
    }

    fn exec(&self, cmd: &str) -> anyhow::Result<()> {
        sh("ip", &["netns", "exec", &self.0, "sh", "-c", cmd])
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(cmd: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(cmd).args(args).status()?;
    anyhow::ensure!(status.success(), "`{cmd} {}` failed", args.join(" "));
    Ok(())
}

const EPS: u32 = 2;
const LAT_IP: Ipv4Addr = Ipv4Addr::new(10, 97, 255, 1);
const BACKEND: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 2);

fn service(name: String, ip: Ipv4Addr) -> Service {
    Service {
        namespace: "bench".into(),
        name,
        cluster_ips: vec![ip],
        ports: vec![ServicePort {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port: 80,
            node_port: None,
        }],
        ..Default::default()
    }
}

fn slice(name: String, eps: Vec<Ipv4Addr>) -> EndpointSlice {
    EndpointSlice {
        namespace: "bench".into(),
        service_name: name,
        ports: vec![EndpointPort {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port: 8080,
        }],
        endpoints: eps
            .into_iter()
            .map(|ip| Endpoint::ready(ip, Some("node-a")))
            .collect(),
    }
}

/// `n` Services of `EPS` endpoints each, plus one whose endpoint is the real backend.
fn model(n: usize) -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut services = Vec::with_capacity(n + 1);
    let mut slices = Vec::with_capacity(n + 1);
    for i in 0..n {
        let i = u32::try_from(i).unwrap_or(0);
        let name = format!("svc-{i}");
        services.push(service(name.clone(), Ipv4Addr::from(0x0a60_0000 + i)));
        let eps = (0..EPS)
            .map(|e| Ipv4Addr::from(0x0af4_0000 + i * 4 + e))
            .collect();
        slices.push(slice(name, eps));
    }
    services.push(service("latency".into(), LAT_IP));
    slices.push(slice("latency".into(), vec![BACKEND]));
    (services, slices)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// client (10.251.0.2) — node (forwards, runs the proxy) — backend (10.250.0.2:8080).
struct Topology {
    node: Scratch,
    client: Scratch,
    _backend: Scratch,
    stop: Arc<AtomicBool>,
}

impl Topology {
    fn new() -> anyhow::Result<Topology> {
        let node = Scratch::new("node")?;
        let client = Scratch::new("client")?;
        let backend = Scratch::new("be")?;
        let pid = std::process::id();
        for (peer, net, dev) in [(&client, "10.251.0", "c"), (&backend, "10.250.0", "b")] {
            let (a, b) = (format!("rkb{pid}{dev}a"), format!("rkb{pid}{dev}b"));
            sh(
                "ip",
                &["link", "add", &a, "type", "veth", "peer", "name", &b],
            )?;
            sh("ip", &["link", "set", &a, "netns", &node.0])?;
            sh("ip", &["link", "set", &b, "netns", &peer.0])?;
            node.exec(&format!(
                "ip addr add {net}.1/24 dev {a} && ip link set {a} up"
            ))?;
            peer.exec(&format!(
                "ip addr add {net}.2/24 dev {b} && ip link set {b} up && ip route add default via {net}.1"
            ))?;
        }
        node.exec("sysctl -qw net.ipv4.ip_forward=1")?;
        let stop = Arc::new(AtomicBool::new(false));
        let listener = netns::run_in(Some(&backend.path()), || {
            Ok(TcpListener::bind(SocketAddr::from((BACKEND, 8080)))?)
        })?;
        listener.set_nonblocking(true)?;
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => drop(s),
                    Err(_) => std::thread::sleep(Duration::from_micros(50)),
                }
            }
        });
        Ok(Topology {
            node,
            client,
            _backend: backend,
            stop,
        })
    }

    /// Median and 99th percentile of `n` TCP connects from the client to `to`.
    fn connect_latency(&self, to: Ipv4Addr, port: u16, n: usize) -> anyhow::Result<[Duration; 2]> {
        let addr = SocketAddr::from((to, port));
        let mut times = netns::run_in(Some(&self.client.path()), || {
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                    .with_context(|| format!("connecting to {addr}"))?;
                times.push(t.elapsed());
                drop(s);
            }
            Ok(times)
        })?;
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        Ok([at(0.5), at(0.99)])
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn proxier(top: &Topology) -> anyhow::Result<Proxier> {
    let mut cfg = ProxierConfig::new("node-a", Some("10.244.0.0/16".parse()?));
    cfg.netns = Some(top.node.path());
    Ok(Proxier::new(cfg))
}

fn main() -> anyhow::Result<()> {
    let top = Topology::new()?;
    const CONNECTS: usize = 300;
    let mut latency = vec![(
        "no proxy table, backend IP".to_string(),
        top.connect_latency(BACKEND, 8080, CONNECTS)?,
    )];

    println!("| services | endpoints | full load | script | 1-Service endpoint change (median of 9) | no-op sync |");
    println!("|---------:|----------:|----------:|-------:|----------------------------------------:|-----------:|");
    for n in [1_000usize, 5_000, 10_000] {
        let mut proxier = proxier(&top)?;
        let (services, mut slices) = model(n);

        let t = Instant::now();
        let stats = proxier.sync(&services, &slices)?;
        let full = t.elapsed();

        let mut changes = Vec::new();
        for round in 0..9 {
            let idx = (round * 7919) % n;
            slices[idx].endpoints[1].ready = !slices[idx].endpoints[1].ready;
            let t = Instant::now();
            let s = proxier.sync(&services, &slices)?;
            changes.push(t.elapsed());
            anyhow::ensure!(
                s.changed_services == 1 && !s.full,
                "expected one changed service, got {s:?}"
            );
        }
        changes.sort();
        let t = Instant::now();
        proxier.sync(&services, &slices)?;
        let noop = t.elapsed();
        println!(
            "| {n:>8} | {:>9} | {:>9} | {:>4} KiB | {:>39} | {:>10} |",
            n * EPS as usize,
            ms(full),
            stats.script_bytes / 1024,
            ms(changes[changes.len() / 2]),
            ms(noop)
        );
        if n == 10_000 {
            latency.push((
                format!("ClusterIP, {n} Services"),
                top.connect_latency(LAT_IP, 80, CONNECTS)?,
            ));
        }
        proxier.flush()?;
    }
    let mut proxier = proxier(&top)?;
    let (services, slices) = model(0);
    proxier.sync(&services, &slices)?;
    latency.insert(
        1,
        (
            "ClusterIP, 1 Service".to_string(),
            top.connect_latency(LAT_IP, 80, CONNECTS)?,
        ),
    );
    proxier.flush()?;

    println!();
    println!(
        "| TCP connect, client netns → node → backend netns ({CONNECTS} connects) | median | p99 |"
    );
    println!("|---|---:|---:|");
    for (what, [p50, p99]) in latency {
        println!("| {what} | {} | {} |", us(p50), us(p99));
    }
    Ok(())
}

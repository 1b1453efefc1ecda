//! Service proxy sync times at 1,000 and 10,000 Services (3 endpoints each), in a scratch
//! network namespace: the full sync (first start), a single endpoint change, and a sync with
//! nothing changed. Prints a table; asserts nothing about time.
//!
//! Run with `cargo bench -p rkube-network --bench proxy` (as root).

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use rkube_network::proxy::{
    Endpoint, EndpointPort, EndpointSlice, Protocol, Proxier, ProxierConfig, Service, ServicePort,
};

struct Scratch(String);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn model(n: usize) -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut services = Vec::with_capacity(n);
    let mut slices = Vec::with_capacity(n);
    for i in 0..n {
        let i32_ = u32::try_from(i).unwrap_or(0);
        let name = format!("svc-{i}");
        services.push(Service {
            namespace: "bench".into(),
            name: name.clone(),
            cluster_ips: vec![Ipv4Addr::from(0x0a60_0000 + i32_)],
            ports: vec![ServicePort {
                name: "http".into(),
                protocol: Protocol::Tcp,
                port: 80,
                node_port: None,
            }],
            ..Default::default()
        });
        slices.push(EndpointSlice {
            namespace: "bench".into(),
            service_name: name,
            ports: vec![EndpointPort {
                name: "http".into(),
                protocol: Protocol::Tcp,
                port: 8080,
            }],
            endpoints: (0..3u32)
                .map(|e| {
                    Endpoint::ready(Ipv4Addr::from(0x0af4_0000 + i32_ * 4 + e), Some("node-a"))
                })
                .collect(),
        });
    }
    (services, slices)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let ns = format!("rknb{}", std::process::id());
    let status = Command::new("ip").args(["netns", "add", &ns]).status()?;
    anyhow::ensure!(status.success(), "ip netns add failed (run as root)");
    let _guard = Scratch(ns.clone());

    println!("| services | endpoints | full sync | script | 1 endpoint change (median of 5) | no-op sync |");
    println!("|---------:|----------:|----------:|-------:|--------------------------------:|-----------:|");
    for n in [1_000usize, 10_000] {
        let mut cfg = ProxierConfig::new("node-a", Some("10.244.0.0/16".parse()?));
        cfg.netns = Some(format!("/run/netns/{ns}").into());
        let mut proxier = Proxier::new(cfg);
        let (services, mut slices) = model(n);

        let t = Instant::now();
        let stats = proxier.sync(&services, &slices)?;
        let full = t.elapsed();

        let mut changes = Vec::new();
        for round in 0..5 {
            let idx = (round * 7919) % n;
            slices[idx].endpoints[1].ready = !slices[idx].endpoints[1].ready;
            let t = Instant::now();
            let s = proxier.sync(&services, &slices)?;
            changes.push(t.elapsed());
            anyhow::ensure!(
                s.changed_services == 1,
                "expected one changed service, got {s:?}"
            );
        }
        changes.sort();
        let t = Instant::now();
        proxier.sync(&services, &slices)?;
        let noop = t.elapsed();
        println!(
            "| {n:>8} | {:>9} | {:>9} | {:>4} KiB | {:>31} | {:>10} |",
            n * 3,
            ms(full),
            stats.script_bytes / 1024,
            ms(changes[2]),
            ms(noop)
        );
        proxier.flush()?;
    }
    Ok(())
}

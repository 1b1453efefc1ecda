//! Pod start-up latency on a real node (issue 5's benchmark): 100 pods with their image
//! present, created in one request, timed from the watch as kubectl sees it — created →
//! scheduled (nodeName set), → Running (the agent picked it up, made the sandbox and the
//! container, and wrote the first status), → Ready. Prints a table; asserts nothing.
//!
//! `cargo build --release -p rkube && RKUBE_BIN=target/release/rkube cargo bench -p rkube-e2e --bench pod_startup`
//! (as root: the cluster runs in a network namespace of its own).

use std::collections::HashMap;
use std::io::BufRead;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use rkube_e2e::images::busybox_image;
use rkube_e2e::{Cluster, KUBECTL_1_32};

const PODS: usize = 100;

#[derive(Default, Clone, Copy)]
struct Seen {
    /// Wall clock of the scheduled event, to line up with the agent's log.
    scheduled_wall: Option<SystemTime>,
    added: Option<Instant>,
    scheduled: Option<Instant>,
    running: Option<Instant>,
    ready: Option<Instant>,
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

fn main() {
    let c = Cluster::start(&["--node-name", "bench"]);
    c.import_image(&busybox_image(c.dir.path(), "busybox:bench"));
    c.wait_until(Duration::from_secs(30), "node", || {
        c.kubectl(&["get", "node", "bench"]).code == 0
    });
    // Let the node's pod network come up first (it waits for its podCIDR).
    c.wait_until(Duration::from_secs(30), "podCIDR", || {
        !c.kubectl(&["get", "node", "bench", "-o", "jsonpath={.spec.podCIDR}"])
            .stdout
            .is_empty()
    });
    let mut watch = c
        .command(KUBECTL_1_32)
        .args([
            "get",
            "pods",
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch");
    let out = watch.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, SystemTime, serde_json::Value)>();
    std::thread::spawn(move || {
        // With --output-watch-events, `-o json` prints one compact event per line.
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let _ = tx.send((Instant::now(), SystemTime::now(), v));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut manifest = String::new();
    for i in 0..PODS {
        manifest.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {{name: c, image: busybox:bench, command: [sleep, '3600']}}\n"
        ));
    }
    let started = Instant::now();
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], &manifest)
        .ok();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen.values().filter(|s| s.ready.is_some()).count() < PODS && Instant::now() < deadline {
        let Ok((at, wall, ev)) = rx.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        let obj = &ev["object"];
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let s = seen.entry(name).or_default();
        s.added.get_or_insert(at);
        if obj["spec"]["nodeName"].is_string() {
            s.scheduled.get_or_insert(at);
            s.scheduled_wall.get_or_insert(wall);
        }
        if obj["status"]["phase"] == "Running" {
            s.running.get_or_insert(at);
        }
        let ready = obj["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if ready {
            s.ready.get_or_insert(at);
        }
    }
    let total = started.elapsed();
    let _ = watch.kill();
    let _ = watch.wait();
    let lat = |f: fn(&Seen) -> Option<Instant>| -> Vec<Duration> {
        seen.values()
            .filter_map(|s| Some(f(s)?.duration_since(s.added?)))
            .collect()
    };
    let sched = lat(|s| s.scheduled);
    let running = lat(|s| s.running);
    let ready = lat(|s| s.ready);
    let phase =
        |a: fn(&Seen) -> Option<Instant>, b: fn(&Seen) -> Option<Instant>| -> Vec<Duration> {
            seen.values()
                .filter_map(|s| Some(b(s)?.duration_since(a(s)?)))
                .collect()
        };
    let agent = phase(|s| s.scheduled, |s| s.running);
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "\npod start-up, {PODS} pods created at once, image present ({} Ready)",
        ready.len()
    );
    println!(
        "{:<44} {:>10} {:>10}",
        "phase (from the watch's ADDED event)", "p50", "p99"
    );
    for (label, v) in [
        ("created → scheduled", sched),
        (
            "scheduled → Running (agent: sandbox, container, status)",
            agent,
        ),
        ("created → Running", running),
        ("created → Ready", ready),
    ] {
        println!(
            "{label:<44} {:>10} {:>10}",
            ms(pct(v.clone(), 0.5)),
            ms(pct(v, 0.99))
        );
    }
    println!("{:<44} {:>10}", "all 100 Ready after the apply", ms(total));

    // The agent's share, from its "pod startup" log lines (pickup time and step durations).
    let log = c.server_log();
    let mut pickup = Vec::new();
    let mut sandbox = Vec::new();
    let mut start = Vec::new();
    let mut status = Vec::new();
    for line in log.lines().filter(|l| l.contains("pod startup")) {
        let field = |k: &str| -> Option<f64> {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse().ok())
        };
        // `pod=default/x` or, as tracing prints a string field, `pod="default/x"`.
        let name = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("pod="))
            .map(|v| v.trim_matches('"'))
            .and_then(|v| v.strip_prefix("default/"))
            .unwrap_or("");
        let Some(s) = seen.get(name) else { continue };
        let (Some(p), Some(sb), Some(ct), Some(rr)) = (
            field("pickup_unix_us"),
            field("sandbox_ms"),
            field("containers_ms"),
            field("running_reported_ms"),
        ) else {
            continue;
        };
        if let Some(sched) = s.scheduled_wall {
            let sched_us = sched
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_micros() as f64)
                .unwrap_or(0.0);
            pickup.push(Duration::from_secs_f64(((p - sched_us) / 1e6).max(0.0)));
        }
        sandbox.push(Duration::from_secs_f64(sb.max(0.0) / 1e3));
        start.push(Duration::from_secs_f64((ct - sb).max(0.0) / 1e3));
        status.push(Duration::from_secs_f64((rr - ct).max(0.0) / 1e3));
    }
    println!("\ninside the agent ({} pods logged)", sandbox.len());
    for (label, v) in [
        ("scheduled (watch) → agent pickup", pickup),
        ("pickup → sandbox ready (netns, IP)", sandbox),
        ("sandbox → containers started", start),
        ("started → Running status written", status),
    ] {
        println!(
            "{label:<44} {:>10} {:>10}",
            ms(pct(v.clone(), 0.5)),
            ms(pct(v, 0.99))
        );
    }
}

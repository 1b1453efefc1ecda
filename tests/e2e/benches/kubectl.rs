//! `rkube kubectl` against real kubectl 1.32 in the same run (issue 9's benchmark): wall time
//! of `get pods` with 100 pods, and of `apply -f` with a 50-object file — creating every
//! object, then applying the same file again (all unchanged), then a changed file (all
//! configured). kubectl runs with a warm discovery cache, as on a user's machine. Prints a
//! table; asserts nothing.
//!
//! `cargo build --release -p rkube && RKUBE_BIN=target/release/rkube cargo bench -p rkube-e2e --bench kubectl`
//! (as root: the cluster runs in a network namespace of its own).

use std::process::Command;
use std::time::{Duration, Instant};

use rkube_e2e::{rkube_bin, Cluster, KUBECTL_1_32};

const PODS: usize = 100;
const OBJECTS: usize = 50;
const ROUNDS: usize = 10;

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Runs one client command and returns its wall time; panics if it fails.
fn timed(c: &Cluster, rkube: bool, args: &[&str]) -> Duration {
    let mut cmd: Command = if rkube {
        let mut cmd = c.command(&rkube_bin().display().to_string());
        cmd.arg("kubectl");
        cmd
    } else {
        c.command(KUBECTL_1_32)
    };
    cmd.args(args);
    let start = Instant::now();
    let out = cmd.output().expect("run client");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// 50 objects of the kinds an application manifest holds: ConfigMaps, Services,
/// Deployments and Secrets. `generation` changes one value in every object.
fn manifest(generation: u32) -> String {
    let mut docs = Vec::new();
    for i in 0..OBJECTS {
        let doc = match i % 4 {
            0 => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  labels:\n    app: bench\ndata:\n  key: value-{generation}\n  other: \"{i}\"\n"
            ),
            1 => format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  labels:\n    app: bench\n    gen: \"{generation}\"\nspec:\n  selector:\n    app: app-{i}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n"
            ),
            2 => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: deploy-{i}\n  labels:\n    app: bench\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n    metadata:\n      labels:\n        app: app-{i}\n    spec:\n      containers:\n      - name: web\n        image: busybox:{generation}\n        ports:\n        - containerPort: 8080\n        env:\n        - name: MODE\n          value: bench\n"
            ),
            _ => format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-{i}\n  labels:\n    app: bench\ntype: Opaque\nstringData:\n  password: pass-{generation}\n"
            ),
        };
        docs.push(doc);
    }
    docs.join("---\n")
}

fn main() {
    let c = Cluster::start(&["--disable-agent"]);
    // 100 pods (no agent: they stay Pending, which does not change what get prints).
    let pods: Vec<String> = (0..PODS)
        .map(|i| format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-{i:03}\n  labels:\n    app: bench\nspec:\n  containers:\n  - name: c\n    image: busybox\n"))
        .collect();
    let f = c.file("pods.yaml", &pods.join("---\n"));
    c.kubectl(&["create", "-f", &f]).ok();
    // Warm kubectl's discovery and OpenAPI caches, as on a user's machine.
    c.kubectl(&["get", "pods"]).ok();
    c.kubectl(&["api-resources"]).ok();

    let mut rows: Vec<(String, Duration, Duration)> = Vec::new();
    for (label, args) in [
        ("get pods (100 pods)", vec!["get", "pods"]),
        (
            "get pods -o json (100 pods)",
            vec!["get", "pods", "-o", "json"],
        ),
    ] {
        let mut k = Vec::new();
        let mut r = Vec::new();
        for _ in 0..ROUNDS {
            k.push(timed(&c, false, &args));
            r.push(timed(&c, true, &args));
        }
        rows.push((
            format!("{label} p50"),
            pct(k.clone(), 0.5),
            pct(r.clone(), 0.5),
        ));
        rows.push((format!("{label} p90"), pct(k, 0.9), pct(r, 0.9)));
    }

    let v1 = c.file("apply-1.yaml", &manifest(1));
    let v2 = c.file("apply-2.yaml", &manifest(2));
    let mut create = (Vec::new(), Vec::new());
    let mut unchanged = (Vec::new(), Vec::new());
    let mut configured = (Vec::new(), Vec::new());
    for round in 0..ROUNDS / 2 {
        for rkube in [false, true] {
            let ns = format!("bench-{}-{round}", if rkube { "r" } else { "k" });
            c.kubectl(&["create", "namespace", &ns]).ok();
            let slot = |t: &mut (Vec<Duration>, Vec<Duration>), d| {
                if rkube {
                    t.1.push(d)
                } else {
                    t.0.push(d)
                }
            };
            slot(
                &mut create,
                timed(&c, rkube, &["apply", "-n", &ns, "-f", &v1]),
            );
            slot(
                &mut unchanged,
                timed(&c, rkube, &["apply", "-n", &ns, "-f", &v1]),
            );
            slot(
                &mut configured,
                timed(&c, rkube, &["apply", "-n", &ns, "-f", &v2]),
            );
        }
    }
    for (label, (k, r)) in [
        ("apply -f 50 objects: created", create),
        ("apply -f 50 objects: unchanged", unchanged),
        ("apply -f 50 objects: configured", configured),
    ] {
        rows.push((format!("{label} p50"), pct(k, 0.5), pct(r, 0.5)));
    }

    println!(
        "\n`rkube kubectl` vs kubectl 1.32, wall time per command (ms), same cluster, same run\n"
    );
    println!("| command | kubectl 1.32 | rkube kubectl | speed-up |");
    println!("|---|---:|---:|---:|");
    for (label, k, r) in rows {
        println!(
            "| {label} | {} | {} | {:.1}x |",
            ms(k),
            ms(r),
            k.as_secs_f64() / r.as_secs_f64().max(1e-9)
        );
    }
}

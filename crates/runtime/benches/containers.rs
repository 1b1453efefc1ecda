//! Container runtime benchmark (as root): prints a table, asserts nothing.
//!
//! 1. create→start→exit of a `true` container, 100 runs: rkube's whole path (overlay mount,
//!    OCI spec, shim, libcontainer, exit record) and Debian's runc on the same bundle.
//! 2. 100 sandboxes × 2 containers started concurrently: total and per-pod p99.
//! 3. Import and pull throughput for a ~100 MB image of 4 layers.
//!
//! Run: `cargo bench -p rkube-runtime --bench containers`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use rkube_runtime::container::ContainerConfig;
use rkube_runtime::image::ImageService;
use rkube_runtime::{ContainerState, PodSandboxConfig, Runtime, RuntimeService, ShimCommand};

const IMAGE: &str = "docker.io/library/busybox:bench";
const RUNS: usize = 100;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn pod(name: &str, data: &Path) -> PodSandboxConfig {
    PodSandboxConfig {
        name: name.into(),
        namespace: "bench".into(),
        uid: format!("bench-{name}-{}", std::process::id()),
        hostname: name.into(),
        log_directory: data.join("logs").join(name),
        ..Default::default()
    }
}

fn ctr(name: &str, argv: &[&str]) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        image: IMAGE.into(),
        command: argv.iter().map(|s| s.to_string()).collect(),
        log_path: PathBuf::from(format!("{name}/0.log")),
        ..Default::default()
    }
}

async fn wait_exit(rt: &Runtime, id: &str) {
    loop {
        if let Ok(s) = rt.container_status(id).await {
            if s.state == ContainerState::Exited {
                return;
            }
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let img = TestImage::oci(vec![busybox_layer()], "amd64");
    let archive = data.join("busybox.tar");
    std::fs::write(&archive, oci_archive(&[(IMAGE, &img)])).expect("archive");
    let images = ImageService::open(&data).expect("images");
    images.import_archive(&archive).await.expect("import");
    let shim = ShimCommand {
        program: PathBuf::from(env!("CARGO_BIN_EXE_rkube-shim")),
        args: vec![],
    };
    let rt = Runtime::open(images.clone(), shim).expect("runtime");
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // 1. create→start→exit, ours.
    let sb = rt
        .run_pod_sandbox(pod("single", &data))
        .await
        .expect("sandbox");
    let mut ours = Vec::new();
    let mut bundle = None;
    for i in 0..RUNS {
        let t = Instant::now();
        let id = rt
            .create_container(&sb, ctr(&format!("c{i}"), &["true"]))
            .await
            .expect("create");
        rt.start_container(&id).await.expect("start");
        wait_exit(&rt, &id).await;
        ours.push(t.elapsed());
        if i + 1 == RUNS {
            bundle = Some(id);
        } else {
            rt.remove_container(&id).await.expect("remove");
        }
    }
    let (p50, p99) = (pct(&mut ours, 0.5), pct(&mut ours, 0.99));
    rows.push((
        "create→start→exit, rkube (overlay+spec+shim+libcontainer)".into(),
        ms(p50),
        ms(p99),
    ));

    // 1b. runc on the same bundle (the last container's config.json and mounted rootfs).
    if let Some(id) = &bundle {
        let bundle_dir = data.join("agent/containers").join(id);
        let mut runc = Vec::new();
        let mut failures = 0;
        for i in 0..RUNS {
            let name = format!("runc-bench-{}-{i}", std::process::id());
            let t = Instant::now();
            let out = std::process::Command::new("runc")
                .args([
                    "--root",
                    &data.join("runc").display().to_string(),
                    "run",
                    "--bundle",
                ])
                .arg(&bundle_dir)
                .arg(&name)
                .stdin(std::process::Stdio::null())
                .output();
            runc.push(t.elapsed());
            if !out.is_ok_and(|o| o.status.success()) {
                failures += 1;
            }
            let _ = std::process::Command::new("runc")
                .args([
                    "--root",
                    &data.join("runc").display().to_string(),
                    "delete",
                    "-f",
                    &name,
                ])
                .output();
        }
        let (p50, p99) = (pct(&mut runc, 0.5), pct(&mut runc, 0.99));
        let label = if failures > 0 {
            format!("create→start→exit, runc run on the same bundle ({failures} failed)")
        } else {
            "create→start→exit, runc run on the same bundle".into()
        };
        rows.push((label, ms(p50), ms(p99)));
    }
    rt.remove_pod_sandbox(&sb).await.expect("remove sandbox");

    // 2. 100 sandboxes × 2 containers at once.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let rt = rt.clone();
        let data = data.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let sb = rt.run_pod_sandbox(pod(&format!("p{i}"), &data)).await?;
            for name in ["app", "sidecar"] {
                let id = rt
                    .create_container(&sb, ctr(name, &["sleep", "60"]))
                    .await?;
                rt.start_container(&id).await?;
            }
            Ok::<_, rkube_runtime::RuntimeError>((sb, t.elapsed()))
        }));
    }
    let mut per_pod = Vec::new();
    let mut sandboxes = Vec::new();
    for task in tasks {
        if let Ok(Ok((sb, d))) = task.await {
            per_pod.push(d);
            sandboxes.push(sb);
        }
    }
    let total = t.elapsed();
    let started = per_pod.len();
    let p99 = pct(&mut per_pod, 0.99);
    rows.push((
        format!("100 sandboxes × 2 containers concurrently ({started} ok): total"),
        ms(total),
        String::new(),
    ));
    rows.push((
        "  per pod (sandbox + 2 containers started)".into(),
        String::new(),
        ms(p99),
    ));
    for sb in sandboxes {
        let _ = rt.remove_pod_sandbox(&sb).await;
    }

    // 3. Import and pull throughput, ~100 MB in 4 layers of incompressible data.
    let layers: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let mut buf = vec![0u8; 25 << 20];
            let mut x: u64 = 0x9e3779b97f4a7c15 ^ i;
            for chunk in buf.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            LayerBuilder::new()
                .file(&format!("data{i}.bin"), 0o644, &buf)
                .finish()
        })
        .collect();
    let big = TestImage::oci(layers, "amd64");
    let size: usize = big.layers.iter().map(|l| l.data.len()).sum();
    let mb = size as f64 / 1e6;
    let big_archive = data.join("big.tar");
    std::fs::write(
        &big_archive,
        oci_archive(&[("example.com/bench/big:1", &big)]),
    )
    .expect("write");
    let fresh = tempfile::tempdir().expect("tempdir");
    let svc = ImageService::open(fresh.path()).expect("images");
    let t = Instant::now();
    svc.import_archive(&big_archive).await.expect("import big");
    let secs = t.elapsed().as_secs_f64();
    rows.push((
        format!("import {mb:.0} MB OCI archive (4 layers)"),
        format!("{:.0} MB/s", mb / secs),
        format!("{:.2} s", secs),
    ));

    let reg = Registry::start(None).await;
    reg.push_image("bench/big", "1", &big).await;
    let fresh = tempfile::tempdir().expect("tempdir");
    let svc = ImageService::open(fresh.path()).expect("images");
    let t = Instant::now();
    svc.pull_image(&format!("{}/bench/big:1", reg.host()), None)
        .await
        .expect("pull big");
    let secs = t.elapsed().as_secs_f64();
    rows.push((
        format!("pull {mb:.0} MB from a local registry"),
        format!("{:.0} MB/s", mb / secs),
        format!("{:.2} s", secs),
    ));

    println!(
        "\n{:<66} {:>12} {:>12}",
        "container runtime", "p50 / rate", "p99 / time"
    );
    for (a, b, c) in rows {
        println!("{a:<66} {b:>12} {c:>12}");
    }
}

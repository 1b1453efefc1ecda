//! `rkube image import|ls|rm|pull` on a data dir, with archives and a registry image built
//! here from Debian's static busybox using plain `tar`, `gzip` and `sha256sum`.

use std::path::PathBuf;
use std::process::Command;

use rkube_e2e::images::{busybox_layer, docker_archive, oci_archive, oci_blobs};
use rkube_e2e::registry::Registry;
use rkube_e2e::rkube_bin;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn rkube(args: &[&str]) -> Out {
    let o = Command::new(rkube_bin())
        .args(args)
        .env_remove("RKUBE_LOG")
        .output()
        .expect("run rkube");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn ok(args: &[&str]) -> Out {
    let o = rkube(args);
    assert_eq!(
        o.code, 0,
        "rkube {args:?} failed:\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
    o
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn image_import_ls_rm() {
    let work = tempfile::Builder::new()
        .prefix("rkube-e2e-images-")
        .tempdir()
        .unwrap();
    let data = work.path().join("data");
    let data_s = data.to_str().unwrap();
    let layer = busybox_layer(work.path());
    let docker = docker_archive(work.path(), &layer, "busybox:e2e");
    let oci = oci_archive(work.path(), &layer, "example.com/e2e/oci:1");

    // An empty store lists only the header.
    let o = ok(&["image", "ls", "--data-dir", data_s]);
    assert_eq!(o.stdout, "IMAGE   TAG   IMAGE ID   SIZE\n");

    let o = ok(&[
        "image",
        "import",
        "--data-dir",
        data_s,
        docker.to_str().unwrap(),
        oci.to_str().unwrap(),
    ]);
    assert!(
        o.stdout.contains("imported docker.io/library/busybox:e2e"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("example.com/e2e/oci:1 ("), "{}", o.stdout);
    // Quiet otherwise: nothing on stderr.
    assert_eq!(o.stderr, "");

    // Both archives hold the same image (same configuration): one id, two names.
    let o = ok(&["image", "ls", "--data-dir", data_s]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    assert!(lines[0].starts_with("IMAGE"));
    let row = |repo: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(repo))
            .unwrap_or_else(|| panic!("{repo} not listed:\n{}", o.stdout))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let bb = row("docker.io/library/busybox");
    assert_eq!(bb[1], "e2e");
    let oc = row("example.com/e2e/oci");
    assert_eq!(oc[1], "1");
    assert_eq!(bb[2], oc[2], "same image id");
    assert_eq!(bb[2].len(), 12);
    assert!(
        bb[3].parse::<f64>().is_ok() && bb[4] == "MiB",
        "size column: {bb:?}"
    );

    // The layer is unpacked once, and it is a working root filesystem.
    let snapshots: Vec<PathBuf> = std::fs::read_dir(data.join("agent/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(snapshots.len(), 1);
    let fs = snapshots[0].join("fs");
    assert!(fs.join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_link(fs.join("bin/sh")).unwrap(),
        PathBuf::from("busybox")
    );
    if is_root() {
        let o = Command::new("/usr/sbin/chroot")
            .arg(&fs)
            .args(["/bin/busybox", "echo", "ok"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n");
    }

    // rm removes the image with all its names; the content goes with it.
    let o = ok(&["image", "rm", "--data-dir", data_s, "busybox:e2e"]);
    assert!(o.stdout.starts_with("deleted "), "{}", o.stdout);
    let o = ok(&["image", "ls", "--data-dir", data_s]);
    assert_eq!(o.stdout.lines().count(), 1, "{}", o.stdout);
    let blobs = std::fs::read_dir(data.join("agent/content/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
    assert!(!snapshots[0].exists());

    // Re-import, then remove by short id.
    ok(&[
        "image",
        "import",
        "--data-dir",
        data_s,
        oci.to_str().unwrap(),
    ]);
    let o = ok(&["image", "ls", "--data-dir", data_s]);
    let id = o
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();
    ok(&["image", "rm", "--data-dir", data_s, &id]);

    // Bad input: clear messages, non-zero exits.
    let o = rkube(&["image", "rm", "--data-dir", data_s, "busybox:e2e"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("not found"), "{}", o.stderr);
    let o = rkube(&["image", "rm", "--data-dir", data_s, "Not A Name"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let missing = work.path().join("missing.tar");
    let o = rkube(&[
        "image",
        "import",
        "--data-dir",
        data_s,
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("missing.tar"), "{}", o.stderr);
    let o = rkube(&[
        "image",
        "import",
        "--data-dir",
        data_s,
        layer.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("neither index.json"), "{}", o.stderr);
    let o = rkube(&["image", "import", "--data-dir", data_s]);
    assert_eq!(o.code, 2);
}

#[test]
fn image_pull_from_a_local_registry() {
    let work = tempfile::Builder::new()
        .prefix("rkube-e2e-pull-")
        .tempdir()
        .unwrap();
    let data = work.path().join("data");
    let data_s = data.to_str().unwrap();
    let layer = busybox_layer(work.path());
    let (gz, config, manifest) = oci_blobs(work.path(), &layer);
    let reg = Registry::start();
    reg.push_blob("e2e/busybox", &gz);
    let config_digest = reg.push_blob("e2e/busybox", &config);
    reg.push_manifest(
        "e2e/busybox",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    let reference = format!("{}/e2e/busybox:v1", reg.host());

    let o = ok(&["image", "pull", "--data-dir", data_s, &reference]);
    assert_eq!(
        o.stdout,
        format!("Image is up to date for {config_digest}\n")
    );
    // stderr is not a terminal here: no progress drawing.
    assert!(!o.stderr.contains('\x1b'), "{:?}", o.stderr);
    // On a terminal (script(1) gives the pull one) a person sees each layer's progress,
    // redrawn in place, and the result.
    let fresh = work.path().join("fresh");
    let cmd = format!(
        "{} image pull --data-dir {} {reference}",
        rkube_bin().display(),
        fresh.display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("RKUBE_LOG")
        .output()
        .expect("run script");
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{tty}");
    let short = &rkube_e2e::registry::sha256_file(&gz)[7..19];
    for expected in [
        format!("{reference}: resolving at"),
        format!("  {short}  done"),
        format!("{reference}: pulled, image id {config_digest}"),
        "\x1b[2K".to_string(),
    ] {
        assert!(tty.contains(&expected), "{expected:?} missing from {tty:?}");
    }
    let o = ok(&["image", "ls", "--data-dir", data_s]);
    assert!(
        o.stdout.contains(&format!("{}/e2e/busybox", reg.host())),
        "{}",
        o.stdout
    );

    let o = rkube(&[
        "image",
        "pull",
        "--data-dir",
        data_s,
        &format!("{}/e2e/nothing:v1", reg.host()),
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("not found"), "{}", o.stderr);
    let o = rkube(&[
        "image",
        "pull",
        "--data-dir",
        data_s,
        "--creds",
        "nocolon",
        &reference,
    ]);
    assert_eq!(o.code, 2);
}

/// Runs `rkube args` and returns its peak resident set in MiB (from wait4's rusage).
#[allow(clippy::zombie_processes)] // reaped by wait4, which std does not know about
fn rkube_peak_rss_mib(args: &[&str]) -> f64 {
    let child = Command::new(rkube_bin())
        .args(args)
        .env_remove("RKUBE_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run rkube");
    let mut status = 0;
    // SAFETY: wait4 on our own child, writing into locals.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(r, child.id() as i32, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "rkube {args:?} failed"
    );
    usage.ru_maxrss as f64 / 1024.0
}
#[test]
fn layers_are_streamed_not_held_in_memory() {
    let work = tempfile::Builder::new()
        .prefix("rkube-e2e-big-")
        .tempdir()
        .unwrap();
    // A 96 MiB layer that gzip cannot shrink: a process that held it whole would peak above
    // 96 MiB plus its own size; streaming stays well below (~40–70 MiB in a debug build,
    // buffers included).
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let st = Command::new("head")
        .args(["-c", "100663296", "/dev/urandom"])
        .stdout(std::fs::File::create(rootfs.join("blob")).unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    let layer = work.path().join("layer.tar");
    let st = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let archive = docker_archive(work.path(), &layer, "big:1");
    // The registry's blobs, made by child processes: a wait4 peak includes the high-water
    // mark of the process that forked the child, so this one must stay small.
    let gz = work.path().join("layer.tar.gz");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -n -c {} > {}", layer.display(), gz.display()))
        .status()
        .unwrap();
    assert!(st.success());
    let config = work.path().join("config.json");
    std::fs::write(
        &config,
        rkube_e2e::images::config_json(&rkube_e2e::registry::sha256_file(&layer)),
    )
    .unwrap();
    let descriptor = |media: &str, p: &std::path::Path| {
        serde_json::json!({"mediaType": media, "digest": rkube_e2e::registry::sha256_file(p),
                           "size": std::fs::metadata(p).unwrap().len()})
    };
    let manifest = work.path().join("manifest.json");
    std::fs::write(
        &manifest,
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &gz)],
        })
        .to_string(),
    )
    .unwrap();
    let own_peak = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap()
        / 1024.0;
    assert!(
        own_peak < 32.0,
        "the test itself peaked at {own_peak:.0} MiB"
    );

    let data = work.path().join("data");
    let data_s = data.to_str().unwrap();
    let import_rss = rkube_peak_rss_mib(&[
        "image",
        "import",
        "--data-dir",
        data_s,
        archive.to_str().unwrap(),
    ]);
    assert!(
        import_rss < 90.0,
        "importing a 96 MiB layer peaked at {import_rss:.0} MiB: not streamed?"
    );

    let reg = Registry::start();
    reg.push_blob("e2e/big", &gz);
    reg.push_blob("e2e/big", &config);
    reg.push_manifest(
        "e2e/big",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    let fresh = work.path().join("fresh");
    let pull_rss = rkube_peak_rss_mib(&[
        "image",
        "pull",
        "--data-dir",
        fresh.to_str().unwrap(),
        &format!("{}/e2e/big:v1", reg.host()),
    ]);
    assert!(
        pull_rss < 90.0,
        "pulling a 96 MiB layer peaked at {pull_rss:.0} MiB: not streamed?"
    );
}

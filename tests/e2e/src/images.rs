//! Test images built here from Debian's static busybox with plain `tar`, `gzip` and
//! `sha256sum`: an uncompressed layer, docker-archive and OCI-layout tarballs, OCI blobs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::registry::sha256_file;

pub fn run(cmd: &mut Command) {
    let o = cmd.output().expect("run command");
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("sha256 digest")
}

/// A busybox root filesystem as an uncompressed layer tar; returns its path.
pub fn busybox_layer(work: &Path) -> PathBuf {
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static installed");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
    }
    for d in ["tmp", "root", "www", "proc", "sys", "dev"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let layer = work.join("layer.tar");
    run(Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    layer
}

pub fn config_json(diff_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap()
}

/// A docker-archive tarball (`docker save` < 25 layout) tagged `tag`.
pub fn docker_archive(work: &Path, layer: &Path, tag: &str) -> PathBuf {
    let dir = work.join("docker-archive");
    std::fs::create_dir_all(dir.join("abc")).unwrap();
    std::fs::copy(layer, dir.join("abc/layer.tar")).unwrap();
    std::fs::write(dir.join("abc/VERSION"), "1.0").unwrap();
    let diff_id = sha256_file(layer);
    let config = config_json(&diff_id);
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, &config).unwrap();
    let cfg_name = format!("{}.json", hex(&sha256_file(&config_path)));
    std::fs::rename(&config_path, dir.join(&cfg_name)).unwrap();
    let manifest = json!([{"Config": cfg_name, "RepoTags": [tag], "Layers": ["abc/layer.tar"]}]);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let out = work.join("docker.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&out)
        .args([&cfg_name, "abc", "manifest.json"]));
    out
}

/// The image's gzip layer, configuration and manifest as files; returns
/// (layer, config, manifest) paths.
pub fn oci_blobs(work: &Path, layer: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let dir = work.join("oci-blobs");
    std::fs::create_dir_all(&dir).unwrap();
    let gz = dir.join("layer.tar.gz");
    let o = Command::new("gzip")
        .args(["-n", "-c"])
        .arg(layer)
        .output()
        .expect("gzip");
    assert!(o.status.success());
    std::fs::write(&gz, o.stdout).unwrap();
    let config = dir.join("config.json");
    std::fs::write(&config, config_json(&sha256_file(layer))).unwrap();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256_file(&config), "size": size(&config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256_file(&gz), "size": size(&gz)}],
    });
    let mpath = dir.join("manifest.json");
    std::fs::write(&mpath, serde_json::to_vec(&manifest).unwrap()).unwrap();
    (gz, config, mpath)
}

/// An OCI layout tar naming the image `name`.
pub fn oci_archive(work: &Path, layer: &Path, name: &str) -> PathBuf {
    let (gz, config, manifest) = oci_blobs(work, layer);
    let dir = work.join("oci-layout");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for p in [&gz, &config, &manifest] {
        std::fs::copy(p, blobs.join(hex(&sha256_file(p)))).unwrap();
    }
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256_file(&manifest),
            "size": std::fs::metadata(&manifest).unwrap().len(),
            "annotations": {"io.containerd.image.name": name},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let out = work.join("oci.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&out)
        .args(["oci-layout", "index.json", "blobs"]));
    out
}

/// A busybox image named `name` as an OCI archive in `work` (made once per directory).
pub fn busybox_image(work: &Path, name: &str) -> PathBuf {
    let dir = work.join(format!("img-{}", name.replace(['/', ':'], "_")));
    std::fs::create_dir_all(&dir).unwrap();
    let layer = busybox_layer(&dir);
    oci_archive(&dir, &layer, name)
}

/// A busybox image that also holds the host's `curl` with every shared library it loads
/// (for HTTPS from inside pods, which busybox's wget cannot do), as an OCI archive.
pub fn busybox_curl_image(work: &Path, name: &str) -> PathBuf {
    let dir = work.join(format!("img-{}", name.replace(['/', ':'], "_")));
    std::fs::create_dir_all(&dir).unwrap();
    let layer = busybox_layer(&dir);
    let rootfs = dir.join("rootfs");
    let ldd = Command::new("ldd")
        .arg("/usr/bin/curl")
        .output()
        .expect("ldd");
    let mut files = vec![PathBuf::from("/usr/bin/curl")];
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = line
            .split("=>")
            .nth(1)
            .unwrap_or(line)
            .split_whitespace()
            .next()
            .unwrap_or("");
        if path.starts_with('/') {
            files.push(PathBuf::from(path));
        }
    }
    for f in files {
        let dest = rootfs.join(f.strip_prefix("/").unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        // Copies the target of a symlink under the link's name.
        std::fs::copy(&f, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", f.display()));
    }
    run(Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    oci_archive(&dir, &layer, name)
}

//! Pulls from a real registry (Debian's docker-registry on a loopback port) into a real
//! store, unpacks, and runs busybox from the result.

mod common;

use std::collections::HashSet;

use common::*;
use rkube_runtime::image::{
    AuthConfig, GcPolicy, ImageError, ImageService, ImageServiceConfig, LayerStatus, Platform,
    PullEvent,
};

fn service(dir: &std::path::Path) -> ImageService {
    let mut cfg = ImageServiceConfig::new(dir);
    cfg.platform = Platform::linux_amd64();
    ImageService::with_config(cfg).unwrap()
}

fn blob_names(data: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data.join("agent/content/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn snapshot_dirs(data: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data.join("agent/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_unpack_run_and_share_layers() {
    let reg = Registry::start(None).await;
    let base = busybox_layer();
    let app = LayerBuilder::new()
        .dir("etc/", 0o755)
        .file("etc/app.conf", 0o600, b"greeting=hello\n")
        .finish();
    let img = TestImage::oci(vec![base.clone(), app], "amd64");
    reg.push_image("test/busybox", "1", &img).await;

    let data = data_dir();
    let svc = service(data.path());
    let reference = format!("{}/test/busybox:1", reg.host());
    let id = svc.pull_image(&reference, None).await.unwrap();
    assert_eq!(id, img.id());

    // Listed under its name and the digest the registry served.
    let images = svc.list_images(None).await.unwrap();
    assert_eq!(images.len(), 1);
    let i = &images[0];
    assert_eq!(i.repo_tags, vec![reference.clone()]);
    assert_eq!(
        i.repo_digests,
        vec![format!(
            "{}/test/busybox@{}",
            reg.host(),
            img.manifest.digest
        )]
    );
    assert_eq!(i.uid, Some(0));
    assert_eq!(i.config.cmd, vec!["/bin/sh"]);
    assert_eq!(i.layer_count, 2);
    let by_short = svc.image_status(&img.id()[7..19]).await.unwrap().unwrap();
    assert_eq!(by_short.id, id);

    // Every blob is stored under its digest with exactly its bytes.
    for b in [&img.manifest, &img.config].into_iter().chain(&img.layers) {
        let hex = b.digest.strip_prefix("sha256:").unwrap();
        let p = data.path().join("agent/content/blobs/sha256").join(hex);
        let stored = std::fs::read(&p).unwrap();
        assert_eq!(sha256(&stored), b.digest);
    }
    assert_eq!(snapshot_dirs(data.path()).len(), 2);

    // The rootfs works: mount the layers and run busybox in it.
    let rootfs = svc.lease("ctr-1", &reference).await.unwrap();
    assert_eq!(rootfs.lowerdirs.len(), 2);
    assert!(rootfs.lowerdirs[1].join("bin/busybox").is_file());
    if is_root() {
        let m = Mounted::new(&rootfs.lowerdirs);
        assert_eq!(chroot(&m.root(), &["/bin/busybox", "echo", "ok"]), "ok\n");
        assert_eq!(
            chroot(&m.root(), &["/bin/sh", "-c", "echo $((6*7))"]),
            "42\n"
        );
        assert_eq!(
            chroot(&m.root(), &["/bin/cat", "/etc/app.conf"]),
            "greeting=hello\n"
        );
        assert_eq!(
            chroot(
                &m.root(),
                &["/bin/stat", "-c", "%a %u", "/tmp", "/etc/app.conf"]
            ),
            "1777 0\n600 0\n"
        );
    }

    // A second image on the same base: the base layer is neither downloaded nor unpacked
    // again.
    let other = LayerBuilder::new()
        .file("srv/index.html", 0o644, b"<h1>hi</h1>\n")
        .finish();
    let img2 = TestImage::docker(vec![base, other], "amd64");
    reg.push_image("test/web", "2", &img2).await;
    let rec = Recorder::default();
    let reference2 = format!("{}/test/web:2", reg.host());
    svc.pull_image_with_progress(&reference2, None, &rec)
        .await
        .unwrap();
    let events = rec.0.lock().unwrap().clone();
    let base_events: Vec<&LayerStatus> = events
        .iter()
        .filter_map(|e| match e {
            PullEvent::Layer {
                index: 0, status, ..
            } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(
        base_events.first(),
        Some(&&LayerStatus::Exists),
        "{events:?}"
    );
    assert!(!base_events
        .iter()
        .any(|s| matches!(s, LayerStatus::Downloading { .. } | LayerStatus::Unpacking)));
    assert!(events.iter().any(|e| matches!(
        e,
        PullEvent::Layer {
            index: 1,
            status: LayerStatus::Downloading { .. },
            ..
        }
    )));
    assert_eq!(snapshot_dirs(data.path()).len(), 3);

    // Pulling again is a no-op that returns the same id.
    assert_eq!(svc.pull_image(&reference2, None).await.unwrap(), img2.id());

    // Removing the first image keeps what the second uses, and the leased layers stay
    // until released.
    let removed = svc.remove_image(&reference).await.unwrap().unwrap();
    assert_eq!(removed.id, img.id());
    assert!(svc.image_status(&reference).await.unwrap().is_none());
    assert_eq!(
        snapshot_dirs(data.path()).len(),
        3,
        "leased layers are kept"
    );
    svc.release("ctr-1").await.unwrap();
    assert_eq!(snapshot_dirs(data.path()).len(), 2);
    let app_blob = data
        .path()
        .join("agent/content/blobs/sha256")
        .join(&img.layers[1].digest[7..]);
    assert!(!app_blob.exists());
    let base_blob = data
        .path()
        .join("agent/content/blobs/sha256")
        .join(&img.layers[0].digest[7..]);
    assert!(base_blob.exists());
    assert!(svc.remove_image(&reference).await.unwrap().is_none());

    // Garbage collection removes unused images once the disk is "full" (threshold 0), but
    // not those in use.
    let policy = GcPolicy {
        high_percent: 0,
        low_percent: 0,
        min_age_secs: 0,
    };
    let in_use: HashSet<String> = [reference2.clone()].into();
    let r = svc.garbage_collect(&policy, &in_use).await.unwrap();
    assert!(r.removed.is_empty());
    let r = svc.garbage_collect(&policy, &HashSet::new()).await.unwrap();
    assert_eq!(r.removed, vec![img2.id()]);
    assert!(svc.list_images(None).await.unwrap().is_empty());
    assert!(snapshot_dirs(data.path()).is_empty());
    let blobs = std::fs::read_dir(data.path().join("agent/content/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_arch_index_picks_linux_amd64() {
    let reg = Registry::start(None).await;
    let base = busybox_layer();
    let arch_layer = |a: &str| {
        LayerBuilder::new()
            .dir("etc/", 0o755)
            .file("etc/arch", 0o644, a.as_bytes())
            .finish()
    };
    let arm = TestImage::oci(vec![base.clone(), arch_layer("arm64")], "arm64");
    let amd = TestImage::oci(vec![base, arch_layer("amd64")], "amd64");
    for img in [&arm, &amd] {
        for l in &img.layers {
            reg.push_blob("multi/arch", l).await;
        }
        reg.push_blob("multi/arch", &img.config).await;
        reg.push_manifest("multi/arch", &img.manifest.digest, &img.manifest)
            .await;
    }
    // arm64 first, so picking the first entry would be wrong.
    let ix = index(&[(&arm, "arm64"), (&amd, "amd64")]);
    reg.push_manifest("multi/arch", "v1", &ix).await;

    let data = data_dir();
    let svc = service(data.path());
    let reference = format!("{}/multi/arch:v1", reg.host());
    let id = svc.pull_image(&reference, None).await.unwrap();
    assert_eq!(id, amd.id());
    let img = svc.image_status(&reference).await.unwrap().unwrap();
    assert_eq!(img.platform.architecture, "amd64");
    assert_eq!(img.manifest_digest, amd.manifest.digest);
    // The repo digest is the index's: what `name@digest` pulls.
    assert_eq!(
        img.repo_digests,
        vec![format!("{}/multi/arch@{}", reg.host(), ix.digest)]
    );
    let rootfs = svc.lease("x", &id).await.unwrap();
    assert_eq!(
        std::fs::read(rootfs.lowerdirs[0].join("etc/arch")).unwrap(),
        b"amd64"
    );

    // Pulling by the index digest finds the same image.
    let by_digest = format!("{}/multi/arch@{}", reg.host(), ix.digest);
    assert_eq!(svc.pull_image(&by_digest, None).await.unwrap(), amd.id());
    assert_eq!(
        svc.image_status(&by_digest).await.unwrap().unwrap().id,
        amd.id()
    );

    // An index without our platform is refused with the platforms it has.
    let mut arm_only = ImageServiceConfig::new(data.path());
    arm_only.platform = Platform {
        architecture: "s390x".into(),
        os: "linux".into(),
        variant: None,
    };
    let s390 = ImageService::with_config(arm_only).unwrap();
    let e = s390.pull_image(&reference, None).await.unwrap_err();
    eprintln!("no platform: {e}");
    assert!(matches!(e, ImageError::NoMatchingPlatform { .. }), "{e}");
    assert!(e.to_string().contains("linux/arm64"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_manifest_list_picks_linux_amd64() {
    let reg = Registry::start(None).await;
    let base = busybox_layer();
    let arch_layer = |a: &str| {
        LayerBuilder::new()
            .file("arch", 0o644, a.as_bytes())
            .finish()
    };
    let arm = TestImage::docker(vec![base.clone(), arch_layer("arm64")], "arm64");
    let amd = TestImage::docker(vec![base, arch_layer("amd64")], "amd64");
    let mut manifests = Vec::new();
    for (img, arch) in [(&arm, "arm64"), (&amd, "amd64")] {
        for l in &img.layers {
            reg.push_blob("docker/list", l).await;
        }
        reg.push_blob("docker/list", &img.config).await;
        reg.push_manifest("docker/list", &img.manifest.digest, &img.manifest)
            .await;
        let mut d = img.manifest.descriptor();
        d["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
        manifests.push(d);
    }
    let list = serde_json::json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": manifests,
    });
    let list = Blob::new(DOCKER_MANIFEST_LIST, serde_json::to_vec(&list).unwrap());
    reg.push_manifest("docker/list", "v1", &list).await;

    let data = data_dir();
    let svc = service(data.path());
    let reference = format!("{}/docker/list:v1", reg.host());
    assert_eq!(svc.pull_image(&reference, None).await.unwrap(), amd.id());
    let img = svc.image_status(&reference).await.unwrap().unwrap();
    assert_eq!(img.platform.architecture, "amd64");
    assert_eq!(img.manifest_digest, amd.manifest.digest);
    assert_eq!(
        img.repo_digests,
        vec![format!("{}/docker/list@{}", reg.host(), list.digest)]
    );
    let rootfs = svc.lease("x", &reference).await.unwrap();
    assert_eq!(
        std::fs::read(rootfs.lowerdirs[0].join("arch")).unwrap(),
        b"amd64"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whiteouts_delete_files() {
    if !is_root() {
        eprintln!("skipped: needs root (whiteout devices, overlay mounts)");
        return;
    }
    let reg = Registry::start(None).await;
    let l1 = busybox_layer();
    let l2 = LayerBuilder::new()
        .dir("etc/", 0o755)
        .file("etc/victim", 0o644, b"delete me")
        .file("etc/survivor", 0o644, b"keep me")
        .dir("opaque/", 0o755)
        .file("opaque/a", 0o644, b"a")
        .file("opaque/b", 0o644, b"b")
        .finish();
    let l3 = LayerBuilder::new()
        .dir("etc/", 0o755)
        .file("etc/.wh.victim", 0o644, b"")
        .dir("opaque/", 0o755)
        .file("opaque/.wh..wh..opq", 0o644, b"")
        .file("opaque/c", 0o644, b"c")
        .finish();
    let img = TestImage::oci(vec![l1, l2, l3], "amd64");
    reg.push_image("test/whiteout", "latest", &img).await;

    let data = data_dir();
    let svc = service(data.path());
    let reference = format!("{}/test/whiteout", reg.host());
    svc.pull_image(&reference, None).await.unwrap();
    let rootfs = svc.lease("w", &reference).await.unwrap();
    let m = Mounted::new(&rootfs.lowerdirs);
    let root = m.root();
    assert!(!root.join("etc/victim").exists());
    assert!(!root.join("etc/.wh.victim").exists());
    assert_eq!(
        std::fs::read(root.join("etc/survivor")).unwrap(),
        b"keep me"
    );
    let mut listing: Vec<String> = std::fs::read_dir(root.join("opaque"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listing.sort();
    assert_eq!(listing, vec!["c"]);
    assert_eq!(chroot(&root, &["/bin/ls", "/opaque"]), "c\n");
    assert_eq!(chroot(&root, &["/bin/busybox", "echo", "ok"]), "ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_blob_fails_digest_verification() {
    let reg = Registry::start(None).await;
    let img = TestImage::oci(vec![busybox_layer()], "amd64");
    reg.push_image("test/tampered", "1", &img).await;
    // Flip one byte of the layer in the registry's storage.
    let p = reg.blob_data_path(&img.layers[0].digest);
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();

    let data = data_dir();
    let svc = service(data.path());
    let e = svc
        .pull_image(&format!("{}/test/tampered:1", reg.host()), None)
        .await
        .unwrap_err();
    eprintln!("tampered layer: {e}");
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains(&img.layers[0].digest), "{e}");
    assert!(svc.list_images(None).await.unwrap().is_empty());
    // Nothing the failed pull staged is kept (manifest, configuration, the bad blob, a
    // partial download), and no prune was needed for that.
    assert!(blob_names(data.path()).is_empty());
    assert_eq!(
        std::fs::read_dir(data.path().join("agent/content/ingest"))
            .unwrap()
            .count(),
        0
    );
    assert!(snapshot_dirs(data.path()).is_empty());

    // A manifest asked for by digest must have that digest.
    let wrong = format!("{}/test/tampered@sha256:{}", reg.host(), "0".repeat(64));
    let e = svc.pull_image(&wrong, None).await.unwrap_err();
    eprintln!("unknown digest: {e}");
    assert!(
        e.is_not_found() || matches!(e, ImageError::DigestMismatch { .. }),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_needs_the_right_credentials() {
    let reg = Registry::start(Some(("alice", "s3cret"))).await;
    let img = TestImage::oci(vec![busybox_layer()], "amd64");
    reg.push_image("private/busybox", "1", &img).await;
    let reference = format!("{}/private/busybox:1", reg.host());

    let data = data_dir();
    let svc = service(data.path());
    let e = svc.pull_image(&reference, None).await.unwrap_err();
    eprintln!("no credentials: {e}");
    assert!(matches!(e, ImageError::Unauthorized { .. }), "{e}");
    let wrong = AuthConfig {
        username: "alice".into(),
        password: "nope".into(),
        ..AuthConfig::default()
    };
    let e = svc.pull_image(&reference, Some(&wrong)).await.unwrap_err();
    assert!(matches!(e, ImageError::Unauthorized { .. }), "{e}");
    assert!(svc.list_images(None).await.unwrap().is_empty());

    // As the kubelet passes an imagePullSecret: docker-config style `auth`.
    let right = AuthConfig {
        auth: base64_encode("alice:s3cret"),
        server_address: reg.host(),
        ..AuthConfig::default()
    };
    assert_eq!(
        svc.pull_image(&reference, Some(&right)).await.unwrap(),
        img.id()
    );

    // Credentials from registries.yaml work too.
    let data2 = data_dir();
    std::fs::write(
        data2.path().join("registries.yaml"),
        format!(
            "configs:\n  \"{}\":\n    auth:\n      username: alice\n      password: s3cret\n",
            reg.host()
        ),
    )
    .unwrap();
    let svc2 = service(data2.path());
    assert_eq!(svc2.pull_image(&reference, None).await.unwrap(), img.id());
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_yaml_mirror_and_rewrite() {
    // A "mirror" of Docker Hub on loopback: pulls of docker.io images go there first
    // (no network needed), with rewrites applied to the repository path.
    let reg = Registry::start(None).await;
    let img = TestImage::oci(vec![busybox_layer()], "amd64");
    reg.push_image("library/busybox", "1.36", &img).await;
    reg.push_image("mirrored/rancher/k3s", "v1", &img).await;
    let data = data_dir();
    std::fs::write(
        data.path().join("registries.yaml"),
        format!(
            "mirrors:\n  docker.io:\n    endpoint:\n      - \"http://{}\"\n    rewrite:\n      \"^rancher/(.*)\": \"mirrored/rancher/$1\"\n",
            reg.host()
        ),
    )
    .unwrap();
    let svc = service(data.path());
    assert_eq!(
        svc.pull_image("busybox:1.36", None).await.unwrap(),
        img.id()
    );
    let i = svc.image_status("busybox:1.36").await.unwrap().unwrap();
    assert_eq!(i.repo_tags, vec!["docker.io/library/busybox:1.36"]);
    assert_eq!(
        i.repo_digests,
        vec![format!("docker.io/library/busybox@{}", img.manifest.digest)]
    );
    assert_eq!(
        svc.pull_image("rancher/k3s:v1", None).await.unwrap(),
        img.id()
    );
    let i = svc
        .image_status("docker.io/rancher/k3s:v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i.repo_tags.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_images_and_bad_references() {
    let reg = Registry::start(None).await;
    let data = data_dir();
    let svc = service(data.path());
    let e = svc
        .pull_image(&format!("{}/no/such:1", reg.host()), None)
        .await
        .unwrap_err();
    eprintln!("unknown image: {e}");
    assert!(e.is_not_found(), "{e}");
    let e = svc.pull_image("bad::ref", None).await.unwrap_err();
    assert!(matches!(e, ImageError::InvalidReference { .. }), "{e}");
    // Nothing listens here: a connection error names the endpoint.
    let e = svc.pull_image("127.0.0.1:1/x/y:z", None).await.unwrap_err();
    eprintln!("connection refused: {e}");
    assert!(e.to_string().contains("http://127.0.0.1:1"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_share_work() {
    let reg = Registry::start(None).await;
    let base = busybox_layer();
    let a = TestImage::oci(
        vec![
            base.clone(),
            LayerBuilder::new().file("a", 0o644, b"a").finish(),
        ],
        "amd64",
    );
    let b = TestImage::oci(
        vec![base, LayerBuilder::new().file("b", 0o644, b"b").finish()],
        "amd64",
    );
    reg.push_image("c/a", "1", &a).await;
    reg.push_image("c/b", "1", &b).await;
    let data = data_dir();
    let svc = service(data.path());
    let ra = format!("{}/c/a:1", reg.host());
    let rb = format!("{}/c/b:1", reg.host());
    // Many pods starting at once: the same image several times, and another image on the
    // same base layer, all concurrently.
    let mut tasks = Vec::new();
    for r in [&ra, &ra, &rb, &ra, &rb] {
        let svc = svc.clone();
        let r = r.clone();
        tasks.push(tokio::spawn(async move { svc.pull_image(&r, None).await }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    assert_eq!(ids, vec![a.id(), a.id(), b.id(), a.id(), b.id()]);
    assert_eq!(svc.list_images(None).await.unwrap().len(), 2);
    assert_eq!(snapshot_dirs(data.path()).len(), 3);
    let leftovers = std::fs::read_dir(data.path().join("agent/content/ingest"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0);
    let tmp = std::fs::read_dir(data.path().join("agent/snapshots"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(tmp, 0);
}

//! Importing OCI archives and docker-archive tarballs built here from Debian's busybox.

mod common;

use common::*;
use rkube_runtime::image::{ImageError, ImageService, ImageServiceConfig, Platform};

fn service(dir: &std::path::Path) -> ImageService {
    let mut cfg = ImageServiceConfig::new(dir);
    cfg.platform = Platform::linux_amd64();
    ImageService::with_config(cfg).unwrap()
}

fn snapshot_count(data: &std::path::Path) -> usize {
    std::fs::read_dir(data.join("agent/snapshots"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_and_docker_archives_share_layers_and_run() {
    let work = data_dir();
    let base = busybox_layer();
    let extra = LayerBuilder::new()
        .dir("etc/", 0o755)
        .file("etc/motd", 0o644, b"welcome\n")
        .hardlink("etc/motd.hardlink", "etc/motd")
        .finish();
    let img = TestImage::oci(vec![base.clone()], "amd64");
    let img2 = TestImage::oci(vec![base.clone(), extra.clone()], "amd64");
    let oci = work.path().join("oci.tar");
    std::fs::write(
        &oci,
        oci_archive(&[
            ("docker.io/library/busybox:latest", &img),
            ("example.com/tools/motd:v2", &img2),
        ]),
    )
    .unwrap();
    let docker_img = TestImage::docker(vec![base, extra], "amd64");
    let docker = work.path().join("docker.tar");
    std::fs::write(
        &docker,
        docker_archive(&[(&["motd:docker", "registry.local:5000/motd:1"], &docker_img)]),
    )
    .unwrap();

    let data = data_dir();
    let svc = service(data.path());
    let imported = svc.import_archive(&oci).await.unwrap();
    assert_eq!(imported.len(), 2);
    assert_eq!(imported[0].id, img.id());
    assert_eq!(
        imported[0].repo_tags,
        vec!["docker.io/library/busybox:latest"]
    );
    assert_eq!(
        imported[0].repo_digests,
        vec![format!("docker.io/library/busybox@{}", img.manifest.digest)]
    );
    assert_eq!(imported[1].repo_tags, vec!["example.com/tools/motd:v2"]);
    assert_eq!(
        snapshot_count(data.path()),
        2,
        "the base layer is unpacked once"
    );

    // The docker archive holds the same image (same configuration, so the same id) with
    // uncompressed layers: same diff ids, same chain ids, nothing new to unpack, and the
    // names add up.
    let imported = svc.import_archive(&docker).await.unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].id, docker_img.id());
    assert_eq!(docker_img.id(), img2.id());
    assert_eq!(
        imported[0].repo_tags,
        vec![
            "docker.io/library/motd:docker",
            "example.com/tools/motd:v2",
            "registry.local:5000/motd:1"
        ]
    );
    assert_eq!(
        imported[0].repo_digests,
        vec![format!("example.com/tools/motd@{}", img2.manifest.digest)]
    );
    assert_eq!(snapshot_count(data.path()), 2);
    assert_eq!(svc.list_images(None).await.unwrap().len(), 2);
    // What is left unreferenced (the docker archive's implied manifest and uncompressed
    // layers: the image was already recorded with the OCI ones) goes at the next prune;
    // the archive's other files (`<id>/json`, `VERSION`) were never stored.
    svc.prune().await.unwrap();
    let blobs = std::fs::read_dir(data.path().join("agent/content/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(
        blobs, 6,
        "2 manifests, 2 configurations, 2 distinct gzip layers"
    );

    let rootfs = svc.lease("c", "busybox").await.unwrap();
    assert_eq!(rootfs.lowerdirs.len(), 1);
    if is_root() {
        // A single-layer image's snapshot is a complete root filesystem.
        assert_eq!(
            chroot(&rootfs.lowerdirs[0], &["/bin/busybox", "echo", "ok"]),
            "ok\n"
        );
        let two = svc.lease("d", "motd:docker").await.unwrap();
        let m = Mounted::new(&two.lowerdirs);
        assert_eq!(
            chroot(&m.root(), &["/bin/cat", "/etc/motd.hardlink"]),
            "welcome\n"
        );
        assert_eq!(
            chroot(&m.root(), &["/bin/stat", "-c", "%h", "/etc/motd"]),
            "2\n"
        );
    }

    // Importing again changes nothing.
    let again = svc.import_archive(&oci).await.unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(svc.list_images(None).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_images_dir_compressed_archives_and_skipping_unchanged() {
    let data = data_dir();
    let images = data.path().join("agent/images");
    std::fs::create_dir_all(&images).unwrap();
    let img = TestImage::oci(vec![busybox_layer()], "amd64");
    // gzip-compressed archive, picked up by its suffix; other files are ignored.
    std::fs::write(
        images.join("busybox.tar.gz"),
        gzip(&oci_archive(&[("busybox:airgap", &img)])),
    )
    .unwrap();
    std::fs::write(images.join("README.txt"), b"not an image").unwrap();
    std::fs::write(
        images.join("broken.tar"),
        b"this is not a tar archive at all",
    )
    .unwrap();

    let svc = service(data.path());
    let report = svc.import_agent_images().await.unwrap();
    assert_eq!(report.imported.len(), 1, "{report:?}");
    assert_eq!(report.imported[0].1[0].id.to_string(), img.id());
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].0.ends_with("broken.tar"));
    assert!(svc.image_status("busybox:airgap").await.unwrap().is_some());

    // At the next start the unchanged archive is skipped…
    let report = svc.import_agent_images().await.unwrap();
    assert_eq!(report.unchanged.len(), 1);
    assert!(report.imported.is_empty());
    // …unless its image was removed meanwhile.
    svc.remove_image("busybox:airgap").await.unwrap().unwrap();
    let report = svc.import_agent_images().await.unwrap();
    assert_eq!(report.imported.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_incomplete_archives_are_refused() {
    let work = data_dir();
    let img = TestImage::oci(vec![busybox_layer()], "amd64");

    // A blob whose bytes do not match its name.
    let mut bad = img.clone();
    let mut data = bad.layers[0].data.clone();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    bad.layers[0].data = data;
    let tampered = work.path().join("tampered.tar");
    std::fs::write(&tampered, oci_archive(&[("x:1", &bad)])).unwrap();

    let data_d = data_dir();
    let svc = service(data_d.path());
    let e = svc.import_archive(&tampered).await.unwrap_err();
    eprintln!("tampered archive: {e}");
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(svc.list_images(None).await.unwrap().is_empty());

    // A layer whose uncompressed content is not the configuration's diff id.
    let mut wrong_diff = img.clone();
    wrong_diff.layers[0] = Blob::new(
        OCI_LAYER_GZIP,
        gzip(&LayerBuilder::new().file("x", 0o644, b"x").finish()),
    );
    let m: serde_json::Value = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": wrong_diff.config.descriptor(),
        "layers": [wrong_diff.layers[0].descriptor()],
    });
    wrong_diff.manifest = Blob::new(OCI_MANIFEST, serde_json::to_vec(&m).unwrap());
    let p = work.path().join("wrongdiff.tar");
    std::fs::write(&p, oci_archive(&[("y:1", &wrong_diff)])).unwrap();
    let e = svc.import_archive(&p).await.unwrap_err();
    eprintln!("wrong diff id: {e}");
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains("diff id"), "{e}");

    // A docker archive missing a layer.
    let mut b = tar::Builder::new(Vec::new());
    let manifest =
        serde_json::json!([{"Config": "c.json", "RepoTags": ["z:1"], "Layers": ["l/layer.tar"]}]);
    let mut h = tar::Header::new_ustar();
    let mj = serde_json::to_vec(&manifest).unwrap();
    h.set_path("manifest.json").unwrap();
    h.set_size(mj.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &mj[..]).unwrap();
    let p = work.path().join("incomplete.tar");
    std::fs::write(&p, b.into_inner().unwrap()).unwrap();
    let e = svc.import_archive(&p).await.unwrap_err();
    eprintln!("incomplete: {e}");
    assert!(matches!(e, ImageError::BadArchive { .. }), "{e}");

    // Not an image archive at all.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path("hello.txt").unwrap();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"hi"[..]).unwrap();
    let p = work.path().join("plain.tar");
    std::fs::write(&p, b.into_inner().unwrap()).unwrap();
    let e = svc.import_archive(&p).await.unwrap_err();
    assert!(e.to_string().contains("neither index.json"), "{e}");
    let e = svc
        .import_archive(work.path().join("missing.tar"))
        .await
        .unwrap_err();
    assert!(matches!(e, ImageError::Io { .. }), "{e}");

    // Nothing was left behind by the failures (without a prune).
    assert_eq!(snapshot_count(data_d.path()), 0);
    assert_eq!(
        std::fs::read_dir(data_d.path().join("agent/content/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

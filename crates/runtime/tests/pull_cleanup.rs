//! A failed pull leaves nothing half-made on disk, without waiting for a prune: what it
//! staged goes, what other images share stays, and while another pull is staging the
//! cleanup waits for it to end.

mod common;

use common::*;
use rkube_runtime::image::{ImageError, ImageService, ImageServiceConfig, Platform};

fn service(dir: &std::path::Path) -> ImageService {
    let mut cfg = ImageServiceConfig::new(dir);
    cfg.platform = Platform::linux_amd64();
    ImageService::with_config(cfg).unwrap()
}

fn names(dir: std::path::PathBuf) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

fn blob_names(data: &std::path::Path) -> Vec<String> {
    names(data.join("agent/content/blobs/sha256"))
}

fn snapshot_dirs(data: &std::path::Path) -> Vec<String> {
    names(data.join("agent/snapshots"))
}

/// Holds a pull's staging lock, as a pull in flight in another process would (released when
/// the file closes).
struct Staging {
    _lock: std::fs::File,
}

impl Staging {
    fn hold(data: &std::path::Path) -> Staging {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(data.join("agent/content/.gc.lock")).unwrap();
        // SAFETY: flock on a file descriptor we own.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) }, 0);
        Staging { _lock: f }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pull_removes_what_it_staged_but_not_shared_layers() {
    let reg = Registry::start(None).await;
    let base = busybox_layer();
    let good = TestImage::oci(vec![base.clone()], "amd64");
    let extra = |name: &str| LayerBuilder::new().file(name, 0o644, b"x").finish();
    let bad = TestImage::oci(vec![base.clone(), extra("bad")], "amd64");
    reg.push_image("s/good", "1", &good).await;
    reg.push_image("s/bad", "1", &bad).await;
    let p = reg.blob_data_path(&bad.layers[1].digest);
    let mut bytes = std::fs::read(&p).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();

    let data = data_dir();
    let svc = service(data.path());
    svc.pull_image(&format!("{}/s/good:1", reg.host()), None)
        .await
        .unwrap();
    let (blobs, snaps) = (blob_names(data.path()), snapshot_dirs(data.path()));
    let e = svc
        .pull_image(&format!("{}/s/bad:1", reg.host()), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    // The shared base layer (blob and snapshot) stays with the good image; the bad
    // image's manifest and configuration are gone.
    assert_eq!(blob_names(data.path()), blobs);
    assert_eq!(snapshot_dirs(data.path()), snaps);
    let rootfs = svc
        .lease("c", &format!("{}/s/good:1", reg.host()))
        .await
        .unwrap();
    assert!(rootfs
        .lowerdirs
        .iter()
        .all(|d| d.join("bin/busybox").exists()));

    // While another pull is staging, the failure's leftovers wait for it to end: the
    // other pull's content is not touched, and its end removes them.
    let staging = Staging::hold(data.path());
    let e = svc
        .pull_image(&format!("{}/s/bad:1", reg.host()), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(
        blob_names(data.path()).len() > blobs.len(),
        "left for later"
    );
    drop(staging);
    let other = TestImage::oci(vec![base, extra("other")], "amd64");
    reg.push_image("s/other", "1", &other).await;
    svc.pull_image(&format!("{}/s/other:1", reg.host()), None)
        .await
        .unwrap();
    let mut want: Vec<String> = blobs;
    for b in [&other.manifest, &other.config, &other.layers[1]] {
        want.push(b.digest[7..].to_string());
    }
    want.sort();
    assert_eq!(blob_names(data.path()), want);
    assert_eq!(snapshot_dirs(data.path()).len(), 2);
}

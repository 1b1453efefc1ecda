//! Image garbage collection against a real filesystem: a small tmpfs holds the store, so
//! "disk use" is what the images really take.

mod common;

use std::collections::HashSet;
use std::process::Command;

use common::*;
use rkube_runtime::image::{GcPolicy, ImageService, ImageServiceConfig, Platform};

/// A tmpfs of `mib` MiB mounted for the test's lifetime.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(mib: u32) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("rkube-gc-")
            .tempdir()
            .unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs");
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// An image with one layer holding `mib` MiB that gzip cannot shrink.
fn bulky_image(seed: u64, mib: usize) -> TestImage {
    let mut x = seed.wrapping_mul(2).wrapping_add(1);
    let data: Vec<u8> = (0..mib << 20)
        .map(|_| {
            // xorshift64: incompressible enough for gzip.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let layer = LayerBuilder::new()
        .dir("data/", 0o755)
        .file("data/blob", 0o644, &data)
        .finish();
    TestImage::oci(vec![layer], "amd64")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_images_go_least_recently_used_first_down_to_the_low_mark() {
    assert!(is_root(), "mounting a tmpfs needs root");
    let fs = Tmpfs::new(40);
    let mut cfg = ImageServiceConfig::new(fs.0.path());
    cfg.platform = Platform::linux_amd64();
    let svc = ImageService::with_config(cfg).unwrap();
    let work = data_dir();
    let mut ids = Vec::new();
    for i in 0..3u64 {
        let img = bulky_image(i + 7, 3);
        let archive = work.path().join(format!("img{i}.tar"));
        std::fs::write(&archive, oci_archive(&[(&format!("bulky:{i}"), &img)])).unwrap();
        svc.import_archive(&archive).await.unwrap();
        ids.push(img.id());
        // Last-used times have a resolution of one second: keep the order unambiguous.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let none = HashSet::new();

    // Below the high threshold nothing goes.
    let lenient = GcPolicy {
        high_percent: 100,
        low_percent: 90,
        min_age_secs: 0,
    };
    let r = svc.garbage_collect(&lenient, &none).await.unwrap();
    assert!(r.removed.is_empty(), "{r:?}");
    let usage = r.usage_before;
    assert!(
        usage > 20.0,
        "three 3 MiB images (blob + snapshot) in 40 MiB: {usage}"
    );

    // Above it, the least recently used image goes first, and only until use falls below
    // the low mark (one image is ~6 MiB, 15 % of the filesystem).
    let strict = GcPolicy {
        high_percent: 0,
        low_percent: (usage - 5.0) as u8,
        min_age_secs: 0,
    };
    let r = svc.garbage_collect(&strict, &none).await.unwrap();
    assert_eq!(r.removed, vec![ids[0].clone()], "{r:?}");
    assert!(r.usage_after < r.usage_before - 10.0, "{r:?}");

    // Images in use by a container stay, whatever the pressure.
    let everything = GcPolicy {
        high_percent: 0,
        low_percent: 0,
        min_age_secs: 0,
    };
    let in_use: HashSet<String> = ["bulky:2".to_string()].into();
    let r = svc.garbage_collect(&everything, &in_use).await.unwrap();
    assert_eq!(r.removed, vec![ids[1].clone()], "{r:?}");
    let left: Vec<String> = svc
        .list_images(None)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(left, vec![ids[2].clone()]);
    // And an image younger than min_age stays too.
    let patient = GcPolicy {
        min_age_secs: 3600,
        ..everything
    };
    let r = svc.garbage_collect(&patient, &none).await.unwrap();
    assert!(r.removed.is_empty(), "{r:?}");
}

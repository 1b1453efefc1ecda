//! Runtime test helpers: a busybox image imported into a fresh data dir, and a `Runtime`
//! whose shim is the `rkube-shim` test program.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use rkube_runtime::container::ContainerConfig;
use rkube_runtime::image::ImageService;
use rkube_runtime::{ContainerState, PodSandboxConfig, Runtime, RuntimeService, ShimCommand};

pub const IMAGE: &str = "docker.io/library/busybox:rt";

pub struct Env {
    pub _dir: tempfile::TempDir,
    pub data: PathBuf,
    pub rt: Runtime,
}

pub async fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_path_buf();
    let img = TestImage::oci(vec![busybox_layer()], "amd64");
    let archive = data.join("busybox.tar");
    std::fs::write(&archive, oci_archive(&[(IMAGE, &img)])).expect("write archive");
    let images = ImageService::open(&data).expect("image service");
    images.import_archive(&archive).await.expect("import");
    let rt = runtime(&data);
    Env {
        _dir: dir,
        data,
        rt,
    }
}

pub fn runtime(data: &Path) -> Runtime {
    let images = ImageService::open(data).expect("image service");
    let shim = ShimCommand {
        program: PathBuf::from(env!("CARGO_BIN_EXE_rkube-shim")),
        args: vec![],
    };
    Runtime::open(images, shim).expect("runtime")
}

pub fn pod(name: &str, data: &Path) -> PodSandboxConfig {
    PodSandboxConfig {
        name: name.into(),
        namespace: "default".into(),
        uid: format!("uid-{name}-{}", std::process::id()),
        hostname: name.into(),
        log_directory: data.join("logs").join(name),
        ..Default::default()
    }
}

pub fn ctr(name: &str, script: &str) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        image: IMAGE.into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        log_path: PathBuf::from(format!("{name}/0.log")),
        ..Default::default()
    }
}

pub async fn run(rt: &Runtime, sandbox: &str, cfg: ContainerConfig) -> String {
    let id = rt.create_container(sandbox, cfg).await.expect("create");
    rt.start_container(&id).await.expect("start");
    id
}

pub async fn wait_exit(rt: &Runtime, id: &str, within: Duration) -> rkube_runtime::ContainerStatus {
    let deadline = Instant::now() + within;
    loop {
        let s = rt.container_status(id).await.expect("status");
        if s.state == ContainerState::Exited {
            return s;
        }
        assert!(Instant::now() < deadline, "container still {:?}", s.state);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The log's text without the CRI prefixes.
pub fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until the container's log holds `text` (a script says it is ready).
pub async fn wait_log(rt: &Runtime, id: &str, text: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let s = rt.container_status(id).await.expect("status");
        if log_text(&s.log_path).contains(text) {
            return;
        }
        assert!(Instant::now() < deadline, "no {text:?} in the log of {id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! Test helpers: real images built from Debian's static busybox, OCI and docker archives
//! written by hand, Debian's `docker-registry` on a free loopback port, a small push client,
//! and overlayfs mounts of pulled images.

#![allow(dead_code)]

pub mod rt;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A layer tarball being built.
pub struct LayerBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    pub fn new() -> Self {
        LayerBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        h
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        let h = Self::header(path, tar::EntryType::Directory, mode, 0);
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn file(mut self, path: &str, mode: u32, data: &[u8]) -> Self {
        let h = Self::header(path, tar::EntryType::Regular, mode, data.len() as u64);
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(path, tar::EntryType::Symlink, 0o777, 0);
        h.set_link_name(target).unwrap();
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(path, tar::EntryType::Link, 0o755, 0);
        h.set_link_name(target).unwrap();
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

/// A busybox root filesystem: `/bin/busybox` from Debian's busybox-static and symlinks for
/// its applets, plus the usual directories.
pub fn busybox_layer() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static installed");
    let mut l = LayerBuilder::new()
        .dir("bin/", 0o755)
        .dir("etc/", 0o755)
        .dir("tmp/", 0o1777)
        .dir("root/", 0o700)
        .file("bin/busybox", 0o755, &busybox);
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            l = l.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    l.file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        .file("etc/group", 0o644, b"root:x:0:\n")
        .finish()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// A blob with its digest and media type.
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: sha256(&data),
            data,
        }
    }

    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

/// A single-platform image: configuration, gzip layers, manifest.
#[derive(Clone, Debug)]
pub struct TestImage {
    pub config: Blob,
    pub layers: Vec<Blob>,
    /// Uncompressed layer tars (what docker archives hold).
    pub tars: Vec<Vec<u8>>,
    pub manifest: Blob,
}

impl TestImage {
    /// An OCI image of `tars` (gzip-compressed) for `arch`.
    pub fn oci(tars: Vec<Vec<u8>>, arch: &str) -> TestImage {
        Self::build(tars, arch, OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP)
    }

    /// The same as a Docker schema 2 image.
    pub fn docker(tars: Vec<Vec<u8>>, arch: &str) -> TestImage {
        Self::build(
            tars,
            arch,
            DOCKER_MANIFEST,
            DOCKER_CONFIG,
            DOCKER_LAYER_GZIP,
        )
    }

    fn build(tars: Vec<Vec<u8>>, arch: &str, mt: &str, ct: &str, lt: &str) -> TestImage {
        let diff_ids: Vec<String> = tars.iter().map(|t| sha256(t)).collect();
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {
                "Env": ["PATH=/bin"],
                "Cmd": ["/bin/sh"],
                "WorkingDir": "/",
                "User": "0:0",
                "Labels": {"test": arch},
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = Blob::new(ct, serde_json::to_vec(&config).unwrap());
        let layers: Vec<Blob> = tars.iter().map(|t| Blob::new(lt, gzip(t))).collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(mt, serde_json::to_vec(&manifest).unwrap());
        TestImage {
            config,
            layers,
            tars,
            manifest,
        }
    }

    pub fn id(&self) -> String {
        self.config.digest.clone()
    }
}

/// An OCI image index over `images` (with their platforms).
pub fn index(images: &[(&TestImage, &str)]) -> Blob {
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|(img, arch)| {
            let mut d = img.manifest.descriptor();
            d["platform"] = json!({"architecture": arch, "os": "linux"});
            d
        })
        .collect();
    let ix = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    Blob::new(OCI_INDEX, serde_json::to_vec(&ix).unwrap())
}

fn tar_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).unwrap();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// An OCI image layout in a tar (as `docker save` ≥ 25 or `ctr export` write), naming each
/// image with containerd's annotation.
pub fn oci_archive(images: &[(&str, &TestImage)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    tar_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let mut manifests = Vec::new();
    let mut written = std::collections::HashSet::new();
    for (name, img) in images {
        let mut d = img.manifest.descriptor();
        d["annotations"] = json!({
            "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": name.rsplit(':').next().unwrap(),
        });
        manifests.push(d);
        for blob in [&img.manifest, &img.config].into_iter().chain(&img.layers) {
            if written.insert(blob.digest.clone()) {
                let hex = blob.digest.strip_prefix("sha256:").unwrap();
                tar_file(&mut b, &format!("blobs/sha256/{hex}"), &blob.data);
            }
        }
    }
    let ix = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    tar_file(&mut b, "index.json", &serde_json::to_vec(&ix).unwrap());
    b.into_inner().unwrap()
}

/// A docker-archive tarball (as `docker save` < 25 writes): `manifest.json` last, layers as
/// uncompressed `<n>/layer.tar`, the configuration as `<hex>.json`.
pub fn docker_archive(images: &[(&[&str], &TestImage)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut entries = Vec::new();
    for (i, (tags, img)) in images.iter().enumerate() {
        let cfg_name = format!(
            "{}.json",
            img.config.digest.strip_prefix("sha256:").unwrap()
        );
        tar_file(&mut b, &cfg_name, &img.config.data);
        let mut layer_names = Vec::new();
        for (j, t) in img.tars.iter().enumerate() {
            let n = format!("{i}{j}/layer.tar");
            tar_file(&mut b, &format!("{i}{j}/VERSION"), b"1.0");
            tar_file(&mut b, &format!("{i}{j}/json"), b"{}");
            tar_file(&mut b, &n, t);
            layer_names.push(n);
        }
        entries.push(json!({"Config": cfg_name, "RepoTags": tags, "Layers": layer_names}));
    }
    tar_file(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&entries).unwrap(),
    );
    b.into_inner().unwrap()
}

/// Debian's docker-registry serving on a free 127.0.0.1 port from a temporary directory.
pub struct Registry {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
    /// Basic-auth credentials the push helper sends.
    pub auth: Option<(String, String)>,
    /// A bearer token the push helper sends (token-auth registries).
    pub bearer: Option<String>,
    /// Serving HTTPS (with a certificate the helpers do not check).
    pub https: bool,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Registry {
    /// Starts a registry; with `auth`, it requires those basic-auth credentials.
    pub async fn start(auth: Option<(&str, &str)>) -> Registry {
        Self::start_with(auth, "", None).await
    }

    /// Starts a registry serving HTTPS; `http_tls` is the `tls:` block under `http:`.
    pub async fn start_https(http_tls: &str) -> Registry {
        Self::start_inner(None, http_tls, None, true).await
    }

    /// Starts a registry with `extra` appended to its configuration (e.g. an `auth:`
    /// section), pushing with `bearer` when given.
    pub async fn start_with(
        auth: Option<(&str, &str)>,
        extra: &str,
        bearer: Option<String>,
    ) -> Registry {
        Self::start_inner(auth, extra, bearer, false).await
    }

    async fn start_inner(
        auth: Option<(&str, &str)>,
        extra: &str,
        bearer: Option<String>,
        https: bool,
    ) -> Registry {
        // reqwest is built without a default TLS provider in this workspace.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::Builder::new()
            .prefix("rkube-registry-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: rkube-test-secret\n",
            storage.display()
        );
        if let Some((user, pass)) = auth {
            let hash = bcrypt::hash(pass, 4).unwrap();
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: rkube-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        config.push_str(extra);
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut reg = Registry {
            port,
            dir,
            child,
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
            bearer,
            https,
        };
        let client = Self::client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{}/v2/", reg.url())).send().await {
                if r.status().is_success() || r.status() == 401 {
                    break;
                }
            }
            if let Ok(Some(status)) = reg.child.try_wait() {
                panic!("docker-registry exited ({status}): {}", reg.log());
            }
            assert!(
                Instant::now() < deadline,
                "registry not ready: {}",
                reg.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        reg
    }

    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap()
    }

    /// `127.0.0.1:<port>`: the domain of references to this registry.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where the registry's filesystem driver keeps a blob's bytes.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn req(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match (&self.auth, &self.bearer) {
            (_, Some(t)) => rb.bearer_auth(t),
            (Some((u, p)), None) => rb.basic_auth(u, Some(p)),
            (None, None) => rb,
        }
    }

    /// Uploads a blob (monolithic: POST for an upload URL, PUT with the digest).
    pub async fn push_blob(&self, repo: &str, blob: &Blob) {
        let c = Self::client();
        let r = self
            .req(c.post(format!("{}/v2/{repo}/blobs/uploads/", self.url())))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "start upload: {}", r.text().await.unwrap());
        let loc = r
            .headers()
            .get("location")
            .expect("upload location")
            .to_str()
            .unwrap()
            .to_string();
        let loc = if loc.starts_with('/') {
            format!("{}{loc}", self.url())
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = self
            .req(c.put(format!("{loc}{sep}digest={}", blob.digest)))
            .header("content-type", "application/octet-stream")
            .body(blob.data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            201,
            "upload {}: {}",
            blob.digest,
            r.text().await.unwrap()
        );
    }

    /// Uploads a manifest or index under `reference` (a tag or its digest).
    pub async fn push_manifest(&self, repo: &str, reference: &str, m: &Blob) {
        let c = Self::client();
        let r = self
            .req(c.put(format!("{}/v2/{repo}/manifests/{reference}", self.url())))
            .header("content-type", &m.media_type)
            .body(m.data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "put manifest: {}", r.text().await.unwrap());
        // Read it back as a client would: the registry only serves OCI manifests to clients
        // that accept them.
        let r = self
            .req(c.get(format!("{}/v2/{repo}/manifests/{}", self.url(), m.digest)))
            .header("accept", &m.media_type)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), m.data.as_slice());
    }

    /// Pushes an image's blobs and manifest, tagged `tag`.
    pub async fn push_image(&self, repo: &str, tag: &str, img: &TestImage) {
        for l in &img.layers {
            self.push_blob(repo, l).await;
        }
        self.push_blob(repo, &img.config).await;
        self.push_manifest(repo, tag, &img.manifest).await;
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An overlayfs mount of lowerdirs (with a scratch upper), unmounted on drop.
pub struct Mounted {
    pub dir: tempfile::TempDir,
}

impl Mounted {
    pub fn new(lowerdirs: &[PathBuf]) -> Mounted {
        let dir = tempfile::Builder::new()
            .prefix("rkube-rootfs-")
            .tempdir()
            .unwrap();
        for d in ["upper", "work", "merged"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let lower: Vec<String> = lowerdirs.iter().map(|p| p.display().to_string()).collect();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            dir.path().join("upper").display(),
            dir.path().join("work").display()
        );
        let out = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(dir.path().join("merged"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount overlay: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mounted { dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("merged")
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.root()).output();
    }
}

/// Runs `argv` chrooted into `root`; returns stdout.
pub fn chroot(root: &Path, argv: &[&str]) -> String {
    let out = Command::new("/usr/sbin/chroot")
        .arg(root)
        .args(argv)
        .env_clear()
        .env("PATH", "/bin")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chroot {argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh data dir.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rkube-images-")
        .tempdir()
        .unwrap()
}

/// Progress events, recorded.
#[derive(Default)]
pub struct Recorder(pub std::sync::Mutex<Vec<rkube_runtime::image::PullEvent>>);

impl rkube_runtime::image::PullProgress for Recorder {
    fn event(&self, e: rkube_runtime::image::PullEvent) {
        self.0.lock().unwrap().push(e);
    }
}

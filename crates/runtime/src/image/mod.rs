//! The node's image store, with a public API shaped like CRI's `ImageService`:
//! [`ImageService::pull_image`], [`list_images`](ImageService::list_images),
//! [`image_status`](ImageService::image_status), [`remove_image`](ImageService::remove_image),
//! [`image_fs_info`](ImageService::image_fs_info); plus archive import, garbage collection,
//! and leases that give the container runtime an image's layers as overlayfs lowerdirs.
//!
//! On disk, under `<data-dir>/agent/`:
//!
//! ```text
//! content/blobs/sha256/<hex>   manifests, configurations, compressed layers (content.rs)
//! snapshots/<chain-id hex>/fs  unpacked layers in overlayfs lower-layer form (snapshot.rs)
//! images.json                  image index: ids, names, layers, config (store.rs)
//! images/*.tar                 archives imported when the agent starts (import.rs)
//! ```
//!
//! Module map: `reference` (Docker name normalisation), `registries` (`registries.yaml`),
//! `pull` (registries via oci-client), `import` (OCI and docker archives), `unpack` (layer
//! tars → directories), `content`/`snapshot`/`store` (what is on disk), `progress`.

mod content;
mod digest;
mod error;
mod import;
mod layers;
mod manifest;
mod progress;
mod pull;
mod reference;
mod registries;
mod snapshot;
mod store;
mod sys;
mod unpack;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use digest::Digest;
pub use error::{ImageError, Result};
pub use import::{ImportReport, ARCHIVE_SUFFIXES};
pub use manifest::{ImageConfig, Platform};
pub use progress::{
    human as human_bytes, LayerStatus, NoProgress, PullEvent, PullProgress, TerminalProgress,
};
pub use reference::Reference;
pub use registries::{AuthConfig, Registries};
pub use store::{GcPolicy, GcReport, PruneReport};

use pull::blocking;
use store::{ImageRecord, Store};

/// An image as CRI's `Image` message describes it, plus what the runtime needs to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `sha256:<hex>` of the image configuration.
    pub id: String,
    /// `domain/path:tag`.
    pub repo_tags: Vec<String>,
    /// `domain/path@sha256:…` as the registry named it.
    pub repo_digests: Vec<String>,
    /// Bytes of content (compressed layers, configuration, manifest).
    pub size: u64,
    /// The image's user as a uid, when it is numeric (`1000`, `1000:1000`).
    pub uid: Option<i64>,
    /// The image's user when it is a name (`nginx`, `nginx:nginx`).
    pub username: String,
    pub pinned: bool,
    /// How to run it: entrypoint, cmd, env, working dir, user, …
    pub config: ImageConfig,
    pub platform: Platform,
    /// The manifest digest.
    pub manifest_digest: String,
    /// Number of layers.
    pub layer_count: usize,
    /// Unix seconds when stored, and when last pulled, imported or leased.
    pub created: u64,
    pub last_used: u64,
}

impl Image {
    fn from_record(r: &ImageRecord) -> Image {
        let user = r.config.user.split(':').next().unwrap_or("");
        let (uid, username) = match user.parse::<i64>() {
            Ok(n) => (Some(n), String::new()),
            Err(_) => (None, user.to_string()),
        };
        Image {
            id: r.id.to_string(),
            repo_tags: r.repo_tags.clone(),
            repo_digests: r.repo_digests.clone(),
            size: r.size,
            uid,
            username,
            pinned: r.pinned,
            config: r.config.clone(),
            platform: r.platform.clone(),
            manifest_digest: r.manifest_digest.to_string(),
            layer_count: r.layers.len(),
            created: r.created,
            last_used: r.last_used,
        }
    }
}

/// An image's root filesystem as overlayfs lower directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    pub image: Image,
    /// Unpacked layers, **topmost first** (the order of overlayfs' `lowerdir=`).
    pub lowerdirs: Vec<PathBuf>,
}

/// Usage of the filesystem holding the image store (CRI's `ImageFsInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsUsage {
    /// Bytes the store's content and snapshots occupy.
    pub used_bytes: u64,
    pub capacity_bytes: u64,
    pub available_bytes: u64,
    pub inodes_total: u64,
    pub inodes_free: u64,
}

/// Settings of an [`ImageService`].
#[derive(Debug, Clone)]
pub struct ImageServiceConfig {
    /// The data dir (`/var/lib/rkube`).
    pub data_dir: PathBuf,
    /// `registries.yaml` (default `<data_dir>/registries.yaml`; missing means defaults).
    pub registries_file: Option<PathBuf>,
    /// The platform picked from multi-platform images (default linux and this machine's
    /// architecture).
    pub platform: Platform,
    /// Layers downloaded at once per pull.
    pub max_concurrent_downloads: usize,
}

impl ImageServiceConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ImageServiceConfig {
            data_dir: data_dir.into(),
            registries_file: None,
            platform: Platform::host(),
            max_concurrent_downloads: 3,
        }
    }
}

/// The image service. Cheap to clone; every method is safe to call concurrently, also from
/// other processes on the same data dir (`rkube image …` next to a running agent).
#[derive(Clone)]
pub struct ImageService {
    /// Pulls in flight by reference: concurrent pulls of one image (many pods starting at
    /// once) run one after the other, so the later ones find everything in place.
    inflight: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    store: Arc<Store>,
    registries: Arc<Registries>,
    platform: Platform,
    concurrency: usize,
    data_dir: PathBuf,
}

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("data_dir", &self.data_dir)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl ImageService {
    /// Opens the store under `<data_dir>/agent` with default settings.
    pub fn open(data_dir: impl Into<PathBuf>) -> Result<ImageService> {
        ImageService::with_config(ImageServiceConfig::new(data_dir))
    }

    /// Opens the store with `config` (creating directories; reading `registries.yaml`).
    pub fn with_config(config: ImageServiceConfig) -> Result<ImageService> {
        let store = Store::open(&config.data_dir)?;
        let reg_path = config
            .registries_file
            .clone()
            .unwrap_or_else(|| config.data_dir.join("registries.yaml"));
        let registries = Registries::load(&reg_path)?;
        Ok(ImageService {
            inflight: Arc::default(),
            store: Arc::new(store),
            registries: Arc::new(registries),
            platform: config.platform,
            concurrency: config.max_concurrent_downloads.max(1),
            data_dir: config.data_dir,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// CRI `PullImage`: pulls `image` (any Docker-style reference) with optional
    /// credentials and returns the image id.
    pub async fn pull_image(&self, image: &str, auth: Option<&AuthConfig>) -> Result<String> {
        self.pull_image_with_progress(image, auth, &NoProgress)
            .await
    }

    /// [`pull_image`](Self::pull_image) reporting progress to `progress`.
    pub async fn pull_image_with_progress(
        &self,
        image: &str,
        auth: Option<&AuthConfig>,
        progress: &dyn PullProgress,
    ) -> Result<String> {
        let reference = Reference::parse(image)?;
        let key = reference.to_string();
        let slot = {
            let mut m = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(key.clone()).or_default().clone()
        };
        let result = {
            let _turn = slot.lock().await;
            let ctx = pull::PullContext {
                store: &self.store,
                registries: &self.registries,
                platform: &self.platform,
                progress,
                concurrency: self.concurrency,
            };
            pull::pull(&ctx, &reference, auth).await
        };
        {
            let mut m = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            // Ours and the map's: nobody else is waiting.
            if Arc::strong_count(&slot) <= 2 {
                m.remove(&key);
            }
        }
        Ok(result?.id.to_string())
    }

    /// CRI `ListImages`, optionally only images matching `filter` (a name or id).
    pub async fn list_images(&self, filter: Option<&str>) -> Result<Vec<Image>> {
        let store = self.store.clone();
        let filter = filter.map(str::to_string);
        blocking(move || {
            let idx = store.read()?;
            let mut out: Vec<Image> = match filter {
                Some(f) => idx
                    .resolve(&f)?
                    .into_iter()
                    .map(Image::from_record)
                    .collect(),
                None => idx.images.values().map(Image::from_record).collect(),
            };
            out.sort_by(|a, b| a.repo_tags.cmp(&b.repo_tags).then(a.id.cmp(&b.id)));
            Ok(out)
        })
        .await
    }

    /// CRI `ImageStatus`: the image `image` names (reference, id or id prefix), if present.
    pub async fn image_status(&self, image: &str) -> Result<Option<Image>> {
        let store = self.store.clone();
        let image = image.to_string();
        blocking(move || Ok(store.read()?.resolve(&image)?.map(Image::from_record))).await
    }

    /// CRI `RemoveImage`: removes the image (all its names) and whatever content only it
    /// used. Returns the removed image; `Ok(None)` if there was none (CRI callers treat that
    /// as success).
    pub async fn remove_image(&self, image: &str) -> Result<Option<Image>> {
        let store = self.store.clone();
        let image = image.to_string();
        blocking(move || Ok(store.remove(&image)?.as_ref().map(Image::from_record))).await
    }

    /// CRI `ImageFsInfo`.
    pub async fn image_fs_info(&self) -> Result<FsUsage> {
        let store = self.store.clone();
        blocking(move || {
            let s = store.fs_stat()?;
            Ok(FsUsage {
                used_bytes: store.used_bytes(),
                capacity_bytes: s.capacity,
                available_bytes: s.available,
                inodes_total: s.inodes,
                inodes_free: s.inodes_free,
            })
        })
        .await
    }

    /// Imports an OCI archive or docker-archive tarball (optionally gzip/zstd-compressed).
    pub async fn import_archive(&self, path: impl AsRef<Path>) -> Result<Vec<Image>> {
        let store = self.store.clone();
        let path = path.as_ref().to_path_buf();
        let platform = self.platform.clone();
        blocking(move || {
            Ok(import::import_archive(&store, &path, &platform)?
                .iter()
                .map(Image::from_record)
                .collect())
        })
        .await
    }

    /// Imports every archive in `dir` that is new or changed since it was last imported.
    pub async fn import_dir(&self, dir: impl AsRef<Path>) -> Result<ImportReport> {
        let store = self.store.clone();
        let dir = dir.as_ref().to_path_buf();
        let platform = self.platform.clone();
        blocking(move || import::import_dir(&store, &dir, &platform)).await
    }

    /// What the agent calls when it starts: imports `<data-dir>/agent/images/*.tar` (and
    /// compressed variants), then prunes content left over by interrupted pulls.
    pub async fn import_agent_images(&self) -> Result<ImportReport> {
        let dir = self.store.agent_dir().join("images");
        let report = self.import_dir(&dir).await?;
        self.prune().await?;
        Ok(report)
    }

    /// Removes blobs and snapshots no image or lease uses (skipped while a pull or import
    /// is in flight).
    pub async fn prune(&self) -> Result<PruneReport> {
        let store = self.store.clone();
        blocking(move || store.prune()).await
    }

    /// Removes unused images, least recently used first, when the filesystem is fuller
    /// than `policy.high_percent`, until it is below `policy.low_percent`. `in_use` names
    /// images containers use (names or ids); leased and pinned images are kept too.
    pub async fn garbage_collect(
        &self,
        policy: &GcPolicy,
        in_use: &HashSet<String>,
    ) -> Result<GcReport> {
        let store = self.store.clone();
        let policy = policy.clone();
        let in_use = in_use.clone();
        blocking(move || store.garbage_collect(&policy, &in_use)).await
    }

    /// Pins or unpins an image (pinned images are never garbage-collected; CRI's `pinned`,
    /// used for the sandbox image).
    pub async fn set_pinned(&self, image: &str, pinned: bool) -> Result<()> {
        let store = self.store.clone();
        let image = image.to_string();
        blocking(move || store.set_pinned(&image, pinned)).await
    }

    /// Gives `holder` (e.g. a container id) the image's layers as overlayfs lowerdirs and
    /// keeps them on disk until [`release`](Self::release), even if the image is removed.
    /// A holder has one lease; leasing again replaces it.
    pub async fn lease(&self, holder: &str, image: &str) -> Result<Rootfs> {
        let store = self.store.clone();
        let holder = holder.to_string();
        let image = image.to_string();
        blocking(move || {
            let r = store.lease(&holder, &image)?;
            let lowerdirs = r
                .layers
                .iter()
                .rev()
                .map(|l| store.snapshots.fs_dir(&l.chain_id))
                .collect();
            Ok(Rootfs {
                image: Image::from_record(&r),
                lowerdirs,
            })
        })
        .await
    }

    /// Drops `holder`'s lease and removes layers nothing uses any more.
    pub async fn release(&self, holder: &str) -> Result<()> {
        let store = self.store.clone();
        let holder = holder.to_string();
        blocking(move || store.release(&holder)).await
    }

    /// The directory holding the unpacked layers (`<data-dir>/agent/snapshots`); lowerdirs
    /// are `<this>/<chain-id hex>/fs`, so a mount helper may `chdir` here and pass short
    /// relative lowerdirs when many layers would exceed the mount option size.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.store.snapshots.root().to_path_buf()
    }
}

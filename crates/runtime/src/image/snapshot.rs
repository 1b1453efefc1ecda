//! Unpacked layers under `<data-dir>/agent/snapshots/<chain-id hex>/`: `fs/` holds the
//! layer's files in overlayfs' lower-layer form (see [`super::unpack`]), `snapshot.json`
//! what it is. A layer is unpacked once per chain id and shared by every image whose stack
//! starts with the same layers. Snapshots appear atomically (unpacked into a temporary
//! directory, then renamed) and disappear atomically (renamed away, then deleted).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::error::{ImageError, IoContext, Result};
use super::sys;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);
const META: &str = "snapshot.json";
const TMP_PREFIX: &str = ".tmp-";

/// What a snapshot holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// The snapshot below, if any.
    pub parent: Option<Digest>,
    /// Bytes of uncompressed tar the layer was.
    pub size: u64,
    /// Unix seconds when it was unpacked.
    pub created: u64,
}

/// The snapshot directory.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    root: PathBuf,
}

impl SnapshotStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<SnapshotStore> {
        let root = root.into();
        fs::create_dir_all(&root).ctx("create directory", &root)?;
        // Layers are read through overlayfs with the mounter's (root's) credentials; other
        // users have no business here (containerd's snapshotter directory is 0700 too).
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).ctx("chmod", &root)?;
        Ok(SnapshotStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<hex>`.
    pub fn dir(&self, chain_id: &Digest) -> PathBuf {
        self.root.join(chain_id.hex())
    }

    /// `<root>/<hex>/fs`: the directory to give overlayfs as a lowerdir.
    pub fn fs_dir(&self, chain_id: &Digest) -> PathBuf {
        self.dir(chain_id).join("fs")
    }

    /// Whether the snapshot is complete (its metadata is written last, before the rename).
    pub fn exists(&self, chain_id: &Digest) -> bool {
        self.dir(chain_id).join(META).is_file()
    }

    /// Marks the snapshot as recently used.
    pub fn touch(&self, chain_id: &Digest) {
        let _ = sys::touch(&self.dir(chain_id));
    }

    /// A fresh temporary directory with an empty `fs/` to unpack into.
    pub fn prepare(&self) -> Result<PreparedSnapshot> {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = self
            .root
            .join(format!("{TMP_PREFIX}{}-{n}", std::process::id()));
        let fs_dir = dir.join("fs");
        fs::create_dir_all(&fs_dir).ctx("create directory", &fs_dir)?;
        Ok(PreparedSnapshot {
            dir,
            committed: false,
        })
    }

    /// Writes the metadata, flushes the filesystem and renames the temporary directory to
    /// its chain id. If another process got there first, ours is discarded.
    pub fn commit(&self, mut prepared: PreparedSnapshot, info: &SnapshotInfo) -> Result<()> {
        let meta = prepared.dir.join(META);
        let data = serde_json::to_vec_pretty(info)
            .map_err(|e| ImageError::Internal(format!("encoding snapshot metadata: {e}")))?;
        fs::write(&meta, data).ctx("write", &meta)?;
        sys::syncfs(&prepared.dir).ctx("sync", &prepared.dir)?;
        let dest = self.dir(&info.chain_id);
        match fs::rename(&prepared.dir, &dest) {
            Ok(()) => {
                prepared.committed = true;
                Ok(())
            }
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY))
                    && self.exists(&info.chain_id) =>
            {
                Ok(()) // unpacked concurrently; `prepared` is removed on drop
            }
            Err(e) => Err(ImageError::io("rename", dest, e)),
        }
    }

    /// Removes a snapshot; absent is fine.
    pub fn remove(&self, chain_id: &Digest) -> Result<()> {
        let dir = self.dir(chain_id);
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let doomed = self
            .root
            .join(format!("{TMP_PREFIX}{}-rm-{n}", std::process::id()));
        match fs::rename(&dir, &doomed) {
            Ok(()) => fs::remove_dir_all(&doomed).ctx("remove", &doomed),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::io("rename", dir, e)),
        }
    }

    /// Chain ids of every snapshot directory.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        let rd = fs::read_dir(&self.root).ctx("read directory", &self.root)?;
        for e in rd {
            let e = e.ctx("read directory", &self.root)?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Ok(d) = Digest::parse(&format!("sha256:{name}")) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Removes temporary directories left by processes that no longer exist.
    pub fn clean_tmp(&self) {
        let Ok(rd) = fs::read_dir(&self.root) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TMP_PREFIX)) else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_none_or(|p| p != std::process::id() && !sys::pid_alive(p)) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A snapshot being unpacked; removed on drop unless committed.
pub struct PreparedSnapshot {
    dir: PathBuf,
    committed: bool,
}

impl PreparedSnapshot {
    /// Where to unpack.
    pub fn fs_dir(&self) -> PathBuf {
        self.dir.join("fs")
    }
}

impl Drop for PreparedSnapshot {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

//! The image store: what images exist (a small JSON index), the content and snapshots they
//! use, listing, lookup by name or id, removal, leases, and garbage collection.
//!
//! The index, `<data-dir>/agent/images.json`, maps image ids (configuration digests) to
//! their records: names, manifest digest, layers (blob digest, diff id, chain id), the
//! runtime configuration. It is rewritten atomically (temporary file, fsync, rename, fsync of
//! the directory) under an exclusive `flock`, so `rkube image` commands and a running agent
//! can share a data dir.
//!
//! Content and snapshots no image (or lease) refers to are removed by a *prune*. Pulls and
//! imports hold a shared lock on `content/.gc.lock` while they stage content not yet
//! recorded in the index; a prune takes it exclusively and is skipped (left to the next one)
//! while any is running, so it never removes what an in-flight pull just wrote.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::content::ContentStore;
use super::digest::Digest;
use super::error::{ImageError, IoContext, Result};
use super::manifest::{ImageConfig, Platform};
use super::reference::Reference;
use super::snapshot::SnapshotStore;
use super::sys::{self, FileLock};

const INDEX_VERSION: u32 = 1;

/// One layer of an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    /// The blob's digest (compressed, as distributed).
    pub digest: Digest,
    pub media_type: String,
    /// The blob's size.
    pub size: u64,
    /// The uncompressed tar's digest.
    pub diff_id: Digest,
    /// The snapshot holding this layer unpacked (over the ones below).
    pub chain_id: Digest,
}

/// An image as the store records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    /// The image id: its configuration's digest.
    pub id: Digest,
    /// The platform manifest.
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub manifest_size: u64,
    /// The index the manifest was chosen from, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    pub config_size: u64,
    /// `domain/path:tag` names.
    pub repo_tags: Vec<String>,
    /// `domain/path@digest` names (the digest a registry served for the name).
    pub repo_digests: Vec<String>,
    /// Bottom layer first.
    pub layers: Vec<LayerRecord>,
    pub platform: Platform,
    #[serde(default)]
    pub config: ImageConfig,
    /// Content bytes: manifest, configuration and layer blobs.
    pub size: u64,
    /// Unix seconds when the image was stored.
    pub created: u64,
    /// Unix seconds when the image was last pulled, imported or leased.
    pub last_used: u64,
    /// Pinned images are never garbage-collected.
    #[serde(default)]
    pub pinned: bool,
}

impl ImageRecord {
    /// Blobs the image needs kept.
    fn blobs(&self) -> impl Iterator<Item = &Digest> {
        [&self.id, &self.manifest_digest]
            .into_iter()
            .chain(self.index_digest.iter())
            .chain(self.layers.iter().map(|l| &l.digest))
    }
}

/// A holder's claim on an image's snapshots (a container using them as its lowerdirs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lease {
    pub image: Digest,
    pub chain_ids: Vec<Digest>,
    pub created: u64,
}

/// When an archive file was imported (to skip it at the next agent start if unchanged).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArchiveStamp {
    pub size: u64,
    pub mtime: i64,
    pub images: Vec<Digest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct IndexFile {
    pub version: u32,
    #[serde(default)]
    pub images: BTreeMap<Digest, ImageRecord>,
    #[serde(default)]
    pub leases: BTreeMap<String, Lease>,
    #[serde(default)]
    pub archives: BTreeMap<String, ArchiveStamp>,
}

impl IndexFile {
    /// Finds an image by id (`sha256:…` or its hex), name (`busybox`, `a/b:t`,
    /// `a/b@sha256:…`), or unique id prefix (at least 4 hex digits).
    pub fn resolve(&self, name: &str) -> Result<Option<&ImageRecord>> {
        if let Ok(d) = Digest::parse(name) {
            return Ok(self.images.get(&d));
        }
        if name.len() == 64 {
            if let Ok(d) = Digest::parse(&format!("sha256:{name}")) {
                return Ok(self.images.get(&d));
            }
        }
        if let Ok(r) = Reference::parse(name) {
            let found = if let Some(d) = r.digest() {
                let want = r.digested_name(d);
                self.images.values().find(|i| {
                    i.repo_digests.contains(&want)
                        || (&i.id == d)
                        || ((&i.manifest_digest == d || i.index_digest.as_ref() == Some(d))
                            && i.repo_tags.iter().chain(&i.repo_digests).any(|n| {
                                n.starts_with(&format!("{}:", r.name()))
                                    || n.starts_with(&format!("{}@", r.name()))
                            }))
                })
            } else if let Some(t) = r.tagged_name() {
                self.images.values().find(|i| i.repo_tags.contains(&t))
            } else {
                None
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        if prefix.len() >= 4
            && prefix
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            let mut matches = self
                .images
                .values()
                .filter(|i| i.id.hex().starts_with(prefix));
            let first = matches.next();
            if matches.next().is_some() {
                return Err(ImageError::Ambiguous(name.to_string()));
            }
            return Ok(first);
        }
        Ok(None)
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub blobs_removed: usize,
    pub snapshots_removed: usize,
    /// False when an in-flight pull or import made the prune wait for a later one.
    pub ran: bool,
}

/// The store's synchronous core (the async service runs it on blocking threads).
#[derive(Debug)]
pub struct Store {
    agent_dir: PathBuf,
    pub content: ContentStore,
    pub snapshots: SnapshotStore,
    index_path: PathBuf,
    lock_path: PathBuf,
    gc_lock_path: PathBuf,
}

impl Store {
    /// Opens (creating) the store under `<data_dir>/agent`.
    pub fn open(data_dir: &Path) -> Result<Store> {
        let agent_dir = data_dir.join("agent");
        let content = ContentStore::open(agent_dir.join("content"))?;
        let snapshots = SnapshotStore::open(agent_dir.join("snapshots"))?;
        let store = Store {
            index_path: agent_dir.join("images.json"),
            lock_path: agent_dir.join("images.lock"),
            gc_lock_path: agent_dir.join("content").join(".gc.lock"),
            agent_dir,
            content,
            snapshots,
        };
        // Fail early on an unreadable index rather than at the first pull.
        store.read()?;
        Ok(store)
    }

    pub fn agent_dir(&self) -> &Path {
        &self.agent_dir
    }

    /// Reads the index (a missing file is an empty index). Readers need no lock: the file
    /// is only ever replaced whole.
    pub fn read(&self) -> Result<IndexFile> {
        match fs::read(&self.index_path) {
            Ok(data) => {
                let idx: IndexFile =
                    serde_json::from_slice(&data).map_err(|e| ImageError::CorruptIndex {
                        path: self.index_path.clone(),
                        reason: e.to_string(),
                    })?;
                if idx.version > INDEX_VERSION {
                    return Err(ImageError::CorruptIndex {
                        path: self.index_path.clone(),
                        reason: format!(
                            "written by a newer rkube (format {}, this one reads {INDEX_VERSION})",
                            idx.version
                        ),
                    });
                }
                Ok(idx)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IndexFile {
                version: INDEX_VERSION,
                ..IndexFile::default()
            }),
            Err(e) => Err(ImageError::io("read", &self.index_path, e)),
        }
    }

    /// Read-modify-write of the index under its lock. The index is written only when `f`
    /// succeeds.
    pub fn update<T>(&self, f: impl FnOnce(&mut IndexFile) -> Result<T>) -> Result<T> {
        let _lock = FileLock::exclusive(&self.lock_path).ctx("lock", &self.lock_path)?;
        let mut idx = self.read()?;
        let before = serde_json::to_vec(&idx).ok();
        let out = f(&mut idx)?;
        idx.version = INDEX_VERSION;
        let data = serde_json::to_vec_pretty(&idx)
            .map_err(|e| ImageError::Internal(format!("encoding image index: {e}")))?;
        if before.as_deref() != serde_json::to_vec(&idx).ok().as_deref() {
            self.write_atomically(&data)?;
        }
        Ok(out)
    }

    fn write_atomically(&self, data: &[u8]) -> Result<()> {
        let tmp = self
            .agent_dir
            .join(format!(".images.json.{}.tmp", std::process::id()));
        let mut f = fs::File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(data).ctx("write", &tmp)?;
        f.sync_all().ctx("sync", &tmp)?;
        drop(f);
        fs::rename(&tmp, &self.index_path).ctx("rename", &self.index_path)?;
        let dir = fs::File::open(&self.agent_dir).ctx("open", &self.agent_dir)?;
        dir.sync_all().ctx("sync", &self.agent_dir)?;
        Ok(())
    }

    /// Held (shared) while staging content not yet in the index.
    pub fn staging_lock(&self) -> Result<FileLock> {
        FileLock::shared(&self.gc_lock_path).ctx("lock", &self.gc_lock_path)
    }

    /// Marks that a failed pull or import left content for a prune to remove.
    fn prune_pending_path(&self) -> PathBuf {
        self.agent_dir.join(".prune-pending")
    }

    /// Called when a pull or import has ended and released its staging lock. After a
    /// failure, what it staged (blobs, snapshots, partial downloads) is removed at once by
    /// a prune, which keeps whatever an image or lease still uses (layers shared with other
    /// images). While another pull or import is staging, the prune cannot run without
    /// risking that one's content, so a marker leaves it to whichever ends next.
    pub fn staging_done(&self, failed: bool) {
        let pending = self.prune_pending_path();
        if failed {
            if let Err(e) = fs::write(&pending, b"") {
                tracing::warn!(path = %pending.display(), "mark prune pending: {e}");
            }
        }
        if !pending.exists() {
            return;
        }
        if let Err(e) = self.prune() {
            tracing::warn!("prune after a failed pull or import: {e}");
        }
    }

    /// Records an image (merging names if it exists). Names move: a tag that named another
    /// image now names this one only.
    pub fn commit_image(&self, mut record: ImageRecord) -> Result<ImageRecord> {
        self.update(|idx| {
            for other in idx.images.values_mut() {
                if other.id != record.id {
                    other.repo_tags.retain(|t| !record.repo_tags.contains(t));
                }
            }
            if let Some(existing) = idx.images.get(&record.id) {
                // The same image (same configuration, so the same layers by diff id) seen
                // again, maybe through another manifest: keep the content already recorded
                // (the new manifest's blobs, if different, are pruned later) and add names.
                let mut merged = existing.clone();
                for t in &record.repo_tags {
                    if !merged.repo_tags.contains(t) {
                        merged.repo_tags.push(t.clone());
                    }
                }
                for d in &record.repo_digests {
                    if !merged.repo_digests.contains(d) {
                        merged.repo_digests.push(d.clone());
                    }
                }
                merged.last_used = record.last_used;
                record = merged;
            }
            record.repo_tags.sort();
            record.repo_digests.sort();
            idx.images.insert(record.id.clone(), record.clone());
            Ok(record)
        })
    }

    /// Removes an image (all its names, as CRI's RemoveImage does) and prunes what only it
    /// used. `Ok(None)` when no image matches.
    pub fn remove(&self, name: &str) -> Result<Option<ImageRecord>> {
        let removed = self.update(|idx| {
            let Some(id) = idx.resolve(name)?.map(|i| i.id.clone()) else {
                return Ok(None);
            };
            Ok(idx.images.remove(&id))
        })?;
        if removed.is_some() {
            self.prune()?;
        }
        Ok(removed)
    }

    /// Sets or clears an image's pin.
    pub fn set_pinned(&self, name: &str, pinned: bool) -> Result<()> {
        self.update(|idx| {
            let id = idx
                .resolve(name)?
                .map(|i| i.id.clone())
                .ok_or_else(|| ImageError::NotFound(name.to_string()))?;
            if let Some(i) = idx.images.get_mut(&id) {
                i.pinned = pinned;
            }
            Ok(())
        })
    }

    /// Leases an image's snapshots to `holder` (replacing its previous lease) and returns
    /// the image.
    pub fn lease(&self, holder: &str, name: &str) -> Result<ImageRecord> {
        self.update(|idx| {
            let id = idx
                .resolve(name)?
                .map(|i| i.id.clone())
                .ok_or_else(|| ImageError::NotFound(name.to_string()))?;
            let img = idx
                .images
                .get_mut(&id)
                .ok_or_else(|| ImageError::NotFound(name.to_string()))?;
            img.last_used = now();
            let img = img.clone();
            idx.leases.insert(
                holder.to_string(),
                Lease {
                    image: img.id.clone(),
                    chain_ids: img.layers.iter().map(|l| l.chain_id.clone()).collect(),
                    created: now(),
                },
            );
            Ok(img)
        })
    }

    /// Drops `holder`'s lease (absent is fine) and prunes.
    pub fn release(&self, holder: &str) -> Result<()> {
        let had = self.update(|idx| Ok(idx.leases.remove(holder).is_some()))?;
        if had {
            self.prune()?;
        }
        Ok(())
    }

    /// Removes blobs and snapshots that no image and no lease refers to, unless a pull or
    /// import is staging content (then the next prune does it).
    pub fn prune(&self) -> Result<PruneReport> {
        let Some(_gc) =
            FileLock::try_exclusive(&self.gc_lock_path).ctx("lock", &self.gc_lock_path)?
        else {
            tracing::debug!("prune skipped: a pull or import is in progress");
            return Ok(PruneReport::default());
        };
        let _lock = FileLock::exclusive(&self.lock_path).ctx("lock", &self.lock_path)?;
        // Nobody is staging now: whatever a failed attempt left goes in this prune.
        let _ = fs::remove_file(self.prune_pending_path());
        let idx = self.read()?;
        let mut blobs: HashSet<&Digest> = HashSet::new();
        let mut snaps: HashSet<&Digest> = HashSet::new();
        for i in idx.images.values() {
            blobs.extend(i.blobs());
            snaps.extend(i.layers.iter().map(|l| &l.chain_id));
        }
        for l in idx.leases.values() {
            snaps.extend(l.chain_ids.iter());
        }
        let mut report = PruneReport {
            ran: true,
            ..PruneReport::default()
        };
        for (d, _) in self.content.list()? {
            if !blobs.contains(&d) {
                self.content.delete(&d)?;
                report.blobs_removed += 1;
            }
        }
        for c in self.snapshots.list()? {
            if !snaps.contains(&c) {
                self.snapshots.remove(&c)?;
                report.snapshots_removed += 1;
            }
        }
        self.content.clean_ingest();
        self.snapshots.clean_tmp();
        if report.blobs_removed + report.snapshots_removed > 0 {
            tracing::info!(
                blobs = report.blobs_removed,
                snapshots = report.snapshots_removed,
                "pruned unused image content"
            );
        }
        Ok(report)
    }

    /// Disk use of the filesystem holding the store.
    pub fn fs_stat(&self) -> Result<sys::FsStat> {
        sys::statvfs(&self.agent_dir).ctx("statfs", &self.agent_dir)
    }

    /// Bytes used by the store's content and snapshots.
    pub fn used_bytes(&self) -> u64 {
        super::unpack::disk_usage(self.content.root())
            + super::unpack::disk_usage(self.snapshots.root())
    }

    /// Image garbage collection as the kubelet does it: when the filesystem is more than
    /// `policy.high_percent` full, remove unused images (not in `in_use`, not leased, not
    /// pinned, older than `min_age_secs`), least recently used first, until it is below
    /// `policy.low_percent`.
    pub fn garbage_collect(&self, policy: &GcPolicy, in_use: &HashSet<String>) -> Result<GcReport> {
        let mut report = GcReport::default();
        let usage = |s: &sys::FsStat| {
            if s.capacity == 0 {
                0.0
            } else {
                100.0 * (s.capacity - s.available.min(s.capacity)) as f64 / s.capacity as f64
            }
        };
        let stat = self.fs_stat()?;
        report.usage_before = usage(&stat);
        report.usage_after = report.usage_before;
        if report.usage_before < f64::from(policy.high_percent) {
            return Ok(report);
        }
        let idx = self.read()?;
        let leased: BTreeSet<&Digest> = idx.leases.values().map(|l| &l.image).collect();
        let used_ids: BTreeSet<Digest> = in_use
            .iter()
            .filter_map(|n| idx.resolve(n).ok().flatten().map(|i| i.id.clone()))
            .collect();
        let cutoff = now().saturating_sub(policy.min_age_secs);
        let mut candidates: Vec<&ImageRecord> = idx
            .images
            .values()
            .filter(|i| {
                !i.pinned
                    && !leased.contains(&i.id)
                    && !used_ids.contains(&i.id)
                    && i.last_used <= cutoff
            })
            .collect();
        candidates.sort_by_key(|i| (i.last_used, i.created));
        for img in candidates {
            if report.usage_after < f64::from(policy.low_percent) {
                break;
            }
            let id = img.id.to_string();
            let removed = self.update(|idx| {
                // Still unused? (The index may have changed since it was read.)
                if idx.leases.values().any(|l| l.image == img.id) {
                    return Ok(false);
                }
                Ok(idx.images.remove(&img.id).is_some())
            })?;
            if removed {
                tracing::info!(image = %id, names = ?img.repo_tags, "garbage-collecting unused image");
                report.removed.push(id);
                self.prune()?;
                report.usage_after = usage(&self.fs_stat()?);
            }
        }
        Ok(report)
    }
}

/// Thresholds for [`Store::garbage_collect`] (the kubelet's defaults).
#[derive(Debug, Clone)]
pub struct GcPolicy {
    pub high_percent: u8,
    pub low_percent: u8,
    pub min_age_secs: u64,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            high_percent: 85,
            low_percent: 80,
            min_age_secs: 120,
        }
    }
}

/// What garbage collection did.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Ids of removed images.
    pub removed: Vec<String>,
    /// Filesystem use (percent) before and after.
    pub usage_before: f64,
    pub usage_after: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn record(id: char, tags: &[&str]) -> ImageRecord {
        ImageRecord {
            id: d(id),
            manifest_digest: d('f'),
            manifest_media_type: String::new(),
            manifest_size: 1,
            index_digest: None,
            config_size: 1,
            repo_tags: tags.iter().map(|s| s.to_string()).collect(),
            repo_digests: vec![],
            layers: vec![],
            platform: Platform::linux_amd64(),
            config: ImageConfig::default(),
            size: 2,
            created: 1,
            last_used: 1,
            pinned: false,
        }
    }

    #[test]
    fn index_round_trip_tags_move_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.commit_image(record('a', &["docker.io/library/busybox:latest"]))
            .unwrap();
        s.commit_image(record(
            'b',
            &["docker.io/library/busybox:latest", "x.io/y:1"],
        ))
        .unwrap();
        let idx = s.read().unwrap();
        assert!(idx.images[&d('a')].repo_tags.is_empty());
        assert_eq!(idx.resolve("busybox").unwrap().unwrap().id, d('b'));
        assert_eq!(idx.resolve("x.io/y:1").unwrap().unwrap().id, d('b'));
        assert_eq!(idx.resolve("bbbb").unwrap().unwrap().id, d('b'));
        assert_eq!(
            idx.resolve(&d('a').to_string()).unwrap().unwrap().id,
            d('a')
        );
        assert_eq!(idx.resolve(d('a').hex()).unwrap().unwrap().id, d('a'));
        assert!(idx.resolve("nothing").unwrap().is_none());
        assert!(idx.resolve("abc").unwrap().is_none());
        // A re-commit keeps old names.
        s.commit_image(record('b', &["x.io/z:2"])).unwrap();
        let idx = s.read().unwrap();
        assert_eq!(idx.images[&d('b')].repo_tags.len(), 3);
        // Removing.
        assert!(s.remove("x.io/z:2").unwrap().is_some());
        assert!(s.remove("x.io/z:2").unwrap().is_none());
        assert_eq!(s.read().unwrap().images.len(), 1);
    }

    #[test]
    fn ambiguous_prefix() {
        let mut idx = IndexFile::default();
        let a = Digest::parse(&format!("sha256:abcd{}", "0".repeat(60))).unwrap();
        let b = Digest::parse(&format!("sha256:abcd{}", "1".repeat(60))).unwrap();
        for x in [&a, &b] {
            let mut r = record('a', &[]);
            r.id = x.clone();
            idx.images.insert(x.clone(), r);
        }
        assert!(matches!(idx.resolve("abcd"), Err(ImageError::Ambiguous(_))));
        assert_eq!(idx.resolve("abcd0").unwrap().unwrap().id, a);
    }

    #[test]
    fn corrupt_index_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("agent")).unwrap();
        fs::write(dir.path().join("agent/images.json"), b"{not json").unwrap();
        assert!(matches!(
            Store::open(dir.path()),
            Err(ImageError::CorruptIndex { .. })
        ));
    }
}

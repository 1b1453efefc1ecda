//! Turning a manifest + configuration whose blobs are in the content store into snapshots
//! and an [`ImageRecord`]: the step pulls and imports share.

use super::digest::Digest;
use super::error::{ImageError, Result};
use super::manifest::{chain_ids, ConfigFile, Manifest, Platform};
use super::snapshot::SnapshotInfo;
use super::store::{now, ImageRecord, LayerRecord, Store};
use super::unpack;

/// The layers of `manifest` paired with `config`'s diff ids and their chain ids.
pub fn layer_records(
    what: &str,
    manifest: &Manifest,
    config: &ConfigFile,
) -> Result<Vec<LayerRecord>> {
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::BadManifest {
            what: what.to_string(),
            reason: format!(
                "manifest has {} layers but the configuration lists {} diff ids",
                manifest.layers.len(),
                diff_ids.len()
            ),
        });
    }
    let chains = chain_ids(diff_ids);
    Ok(manifest
        .layers
        .iter()
        .zip(diff_ids.iter().zip(chains))
        .map(|(l, (diff_id, chain_id))| LayerRecord {
            digest: l.digest.clone(),
            media_type: l.media_type.clone(),
            size: l.size,
            diff_id: diff_id.clone(),
            chain_id,
        })
        .collect())
}

/// Unpacks layer `index` of `layers` into its snapshot unless that exists (the layers below
/// must be unpacked already). Checks the uncompressed digest against the diff id. Returns
/// whether it unpacked anything.
pub fn unpack_one(store: &Store, layers: &[LayerRecord], index: usize) -> Result<bool> {
    let layer = layers
        .get(index)
        .ok_or_else(|| ImageError::Internal(format!("no layer {index}")))?;
    if store.snapshots.exists(&layer.chain_id) {
        store.snapshots.touch(&layer.chain_id);
        return Ok(false);
    }
    let parents: Vec<_> = layers[..index]
        .iter()
        .rev()
        .map(|l| store.snapshots.fs_dir(&l.chain_id))
        .collect();
    let what = format!("layer {}", layer.digest);
    let prepared = store.snapshots.prepare()?;
    let blob = store.content.path(&layer.digest);
    let applied = unpack::apply_layer_file(&blob, &prepared.fs_dir(), &parents, &what)?;
    if applied.diff_id != layer.diff_id {
        return Err(ImageError::DigestMismatch {
            what: format!("uncompressed {what} (diff id)"),
            expected: layer.diff_id.to_string(),
            actual: applied.diff_id.to_string(),
        });
    }
    store.snapshots.commit(
        prepared,
        &SnapshotInfo {
            chain_id: layer.chain_id.clone(),
            diff_id: layer.diff_id.clone(),
            parent: index.checked_sub(1).map(|p| layers[p].chain_id.clone()),
            size: applied.tar_size,
            created: now(),
        },
    )?;
    tracing::debug!(layer = %layer.digest, chain_id = %layer.chain_id, "unpacked layer");
    Ok(true)
}

/// Everything known about an image once its content is stored, as a record to commit.
pub struct NewImage<'a> {
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub manifest_size: u64,
    pub index_digest: Option<Digest>,
    pub manifest: &'a Manifest,
    pub config: &'a ConfigFile,
    pub layers: Vec<LayerRecord>,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
}

impl NewImage<'_> {
    pub fn into_record(self) -> ImageRecord {
        let t = now();
        let size = self.manifest_size
            + self.manifest.config.size
            + self.manifest.layers.iter().map(|l| l.size).sum::<u64>();
        ImageRecord {
            id: self.manifest.config.digest.clone(),
            manifest_digest: self.manifest_digest,
            manifest_media_type: self.manifest_media_type,
            manifest_size: self.manifest_size,
            index_digest: self.index_digest,
            config_size: self.manifest.config.size,
            repo_tags: self.repo_tags,
            repo_digests: self.repo_digests,
            layers: self.layers,
            platform: Platform {
                architecture: self.config.architecture.clone(),
                os: self.config.os.clone(),
                variant: self.config.variant.clone(),
            },
            config: self.config.config.clone().unwrap_or_default(),
            size,
            created: t,
            last_used: t,
            pinned: false,
        }
    }
}

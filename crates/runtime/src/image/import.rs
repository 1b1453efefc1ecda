//! Importing image archives: OCI image layouts in a tar (`index.json`, `oci-layout`,
//! `blobs/<alg>/<hex>`, as `docker save` ≥ 25, `skopeo copy oci-archive:` or
//! `ctr export` write them) and docker-archive tarballs (`manifest.json` with `Config`,
//! `RepoTags`, `Layers`, as older `docker save` writes them). Archives may be gzip- or
//! zstd-compressed.
//!
//! The archive is read once, front to back: every blob-like file goes straight into the
//! content store (hashed on the way; files under `blobs/` must match their names), the
//! small metadata files are kept in memory, and the images are assembled after the last
//! entry. Names come from `io.containerd.image.name` (or a full-reference
//! `org.opencontainers.image.ref.name`) in OCI layouts, and `RepoTags` in docker archives;
//! they are normalised (`busybox:latest` → `docker.io/library/busybox:latest`).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::digest::Digest;
use super::error::{ImageError, IoContext, Result};
use super::layers::{layer_records, unpack_one, NewImage};
use super::manifest::{self, ConfigFile, Descriptor, LayerKind, Manifest, Parsed, Platform};
use super::reference::Reference;
use super::store::{ArchiveStamp, ImageRecord, Store};
use super::unpack::{self, Compression};

const METADATA_FILES: &[&str] = &["index.json", "manifest.json", "oci-layout", "repositories"];
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// File name endings of archives `import_dir` picks up.
pub const ARCHIVE_SUFFIXES: &[&str] =
    &[".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".tzst"];

#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// What one pass over an archive collected.
struct Scanned {
    /// Archive path → digest of the file (stored in the content store).
    files: HashMap<String, (Digest, u64)>,
    /// Metadata files by name.
    metadata: HashMap<String, Vec<u8>>,
}

/// Imports one archive; returns the images it held.
pub fn import_archive(store: &Store, path: &Path, platform: &Platform) -> Result<Vec<ImageRecord>> {
    let staging = store.staging_lock()?;
    let result = import_staged(store, path, platform);
    drop(staging);
    // Nothing half-made stays behind a failure.
    store.staging_done(result.is_err());
    result
}

fn import_staged(store: &Store, path: &Path, platform: &Platform) -> Result<Vec<ImageRecord>> {
    let bad = |reason: String| ImageError::BadArchive {
        path: path.to_path_buf(),
        reason,
    };
    let scanned = scan(store, path)?;
    let images = if let Some(index) = scanned.metadata.get("index.json") {
        import_oci(store, path, platform, &scanned, index)?
    } else if let Some(m) = scanned.metadata.get("manifest.json") {
        import_docker(store, path, &scanned, m)?
    } else {
        return Err(bad(
            "neither index.json (OCI layout) nor manifest.json (docker archive) found".into(),
        ));
    };
    if images.is_empty() {
        return Err(bad("no images in the archive".into()));
    }
    Ok(images)
}

fn scan(store: &Store, path: &Path) -> Result<Scanned> {
    let bad = |reason: String| ImageError::BadArchive {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).ctx("open", path)?;
    let reader = unpack::decompress(file).map_err(|e| bad(e.to_string()))?;
    let mut archive = tar::Archive::new(reader);
    let mut files: HashMap<String, (Digest, u64)> = HashMap::new();
    let mut metadata = HashMap::new();
    let mut links: Vec<(String, String)> = Vec::new();
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(format!("reading tar: {e}")))?;
        let raw = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let name = unpack::clean(&raw).to_string_lossy().into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if METADATA_FILES.contains(&name.as_str()) {
                    let mut data = Vec::new();
                    (&mut entry)
                        .take(manifest::MAX_METADATA_SIZE + 1)
                        .read_to_end(&mut data)
                        .map_err(|e| bad(format!("{name}: {e}")))?;
                    if data.len() as u64 > manifest::MAX_METADATA_SIZE {
                        return Err(bad(format!("{name} is too large")));
                    }
                    metadata.insert(name, data);
                } else if is_blob_like(&name) {
                    let expected = digest_from_blob_path(&name);
                    let size = entry.size();
                    let what = format!("{name} in {}", path.display());
                    let mut w = store
                        .content
                        .writer(&what, expected.as_ref().map(|d| (d, Some(size))))?;
                    io::copy(&mut entry, &mut w).map_err(|e| bad(format!("{name}: {e}")))?;
                    w.flush().map_err(|e| bad(format!("{name}: {e}")))?;
                    let c = w.commit()?;
                    files.insert(name, (c.digest, c.size));
                }
            }
            tar::EntryType::Symlink => {
                if let Some(t) = entry.link_name().ok().flatten() {
                    let parent = Path::new(&name).parent().unwrap_or(Path::new(""));
                    let target = unpack::clean(&parent.join(t))
                        .to_string_lossy()
                        .into_owned();
                    links.push((name, target));
                }
            }
            tar::EntryType::Link => {
                if let Some(t) = entry.link_name().ok().flatten() {
                    links.push((name, unpack::clean(&t).to_string_lossy().into_owned()));
                }
            }
            _ => {}
        }
    }
    // Links (older `docker save` links duplicate layers) name the file they point to.
    for _ in 0..8 {
        let mut changed = false;
        for (name, target) in &links {
            if !files.contains_key(name) {
                if let Some(v) = files.get(target).cloned() {
                    files.insert(name.clone(), v);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    Ok(Scanned { files, metadata })
}

/// Files worth storing: OCI blobs, layer tarballs, configuration JSON.
fn is_blob_like(name: &str) -> bool {
    name.starts_with("blobs/")
        || name.ends_with(".json")
        || ARCHIVE_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// `blobs/sha256/<hex>` → the digest it must have.
fn digest_from_blob_path(name: &str) -> Option<Digest> {
    let rest = name.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

/// A name from an OCI descriptor's annotations, if it is a full reference.
fn name_from_annotations(a: &BTreeMap<String, String>) -> Option<Reference> {
    if let Some(n) = a.get(ANNOTATION_CONTAINERD_NAME) {
        if let Ok(r) = Reference::parse(n) {
            return Some(r);
        }
    }
    let n = a.get(ANNOTATION_REF_NAME)?;
    // A bare tag (`latest`) names no repository.
    if !n.contains(['/', ':', '@']) {
        return None;
    }
    Reference::parse(n).ok()
}

fn import_oci(
    store: &Store,
    path: &Path,
    platform: &Platform,
    scanned: &Scanned,
    index_json: &[u8],
) -> Result<Vec<ImageRecord>> {
    let bad = |reason: String| ImageError::BadArchive {
        path: path.to_path_buf(),
        reason,
    };
    let index = match manifest::parse("index.json", Some(manifest::OCI_INDEX), index_json)? {
        Parsed::Index(i) => i,
        Parsed::Manifest(_) => return Err(bad("index.json is not an image index".into())),
    };
    // Names docker's manifest.json gives, by configuration digest (docker ≥ 25 writes both).
    let mut docker_names: HashMap<Digest, Vec<String>> = HashMap::new();
    if let Some(m) = scanned.metadata.get("manifest.json") {
        if let Ok(entries) = serde_json::from_slice::<Vec<DockerManifestEntry>>(m) {
            for e in entries {
                if let Some((d, _)) = scanned.files.get(
                    &unpack::clean(Path::new(&e.config))
                        .to_string_lossy()
                        .into_owned(),
                ) {
                    docker_names
                        .entry(d.clone())
                        .or_default()
                        .extend(e.repo_tags.unwrap_or_default());
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for top in &index.manifests {
        let name = name_from_annotations(&top.annotations);
        // Walk down to a platform manifest.
        let mut desc = top.clone();
        let mut index_digest = None;
        let mut chosen = None;
        for _ in 0..4 {
            let bytes = read_blob(store, path, &desc)?;
            match manifest::parse(
                &format!("{} in {}", desc.digest, path.display()),
                Some(&desc.media_type),
                &bytes,
            )? {
                Parsed::Manifest(m) => {
                    chosen = Some((desc.clone(), m, bytes.len() as u64));
                    break;
                }
                Parsed::Index(ix) => {
                    index_digest.get_or_insert_with(|| desc.digest.clone());
                    // Only platforms whose manifest is in the archive can be imported.
                    let present = manifest::Index {
                        manifests: ix
                            .manifests
                            .iter()
                            .filter(|d| store.content.exists(&d.digest))
                            .cloned()
                            .collect(),
                        ..ix.clone()
                    };
                    match manifest::select_platform(&present, platform) {
                        Some(d) => desc = d.clone(),
                        None => break,
                    }
                }
            }
        }
        let Some((mdesc, m, msize)) = chosen else {
            skipped.push(top.digest.to_string());
            continue;
        };
        let config = read_config(store, path, &m)?;
        let mut tags: Vec<String> = name.iter().filter_map(Reference::tagged_name).collect();
        let mut digests: Vec<String> = name.iter().map(|r| r.digested_name(&top.digest)).collect();
        if tags.is_empty() && digests.is_empty() {
            for n in docker_names.get(&m.config.digest).into_iter().flatten() {
                if let Ok(r) = Reference::parse(n) {
                    tags.extend(r.tagged_name());
                }
            }
        }
        tags.sort();
        tags.dedup();
        digests.sort();
        digests.dedup();
        let record = assemble(
            store,
            path,
            NewImageParts {
                manifest_digest: mdesc.digest.clone(),
                manifest_media_type: m
                    .media_type
                    .clone()
                    .unwrap_or_else(|| manifest::OCI_MANIFEST.to_string()),
                manifest_size: msize,
                index_digest,
                manifest: &m,
                config: &config,
                repo_tags: tags,
                repo_digests: digests,
            },
        )?;
        out.push(record);
    }
    if out.is_empty() && !skipped.is_empty() {
        return Err(ImageError::NoMatchingPlatform {
            reference: path.display().to_string(),
            platform: platform.to_string(),
            available: "none in the archive".into(),
        });
    }
    Ok(out)
}

fn import_docker(
    store: &Store,
    path: &Path,
    scanned: &Scanned,
    manifest_json: &[u8],
) -> Result<Vec<ImageRecord>> {
    let bad = |reason: String| ImageError::BadArchive {
        path: path.to_path_buf(),
        reason,
    };
    let entries: Vec<DockerManifestEntry> =
        serde_json::from_slice(manifest_json).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let lookup = |p: &str| -> Result<(Digest, u64)> {
        let key = unpack::clean(Path::new(p)).to_string_lossy().into_owned();
        scanned.files.get(&key).cloned().ok_or_else(|| {
            bad(format!(
                "{p}, named in manifest.json, is not in the archive"
            ))
        })
    };
    let mut out = Vec::new();
    for e in entries {
        let (config_digest, config_size) = lookup(&e.config)?;
        let mut layers = Vec::new();
        for l in &e.layers {
            let (d, size) = lookup(l)?;
            let kind = sniff_layer(store, &d)?;
            layers.push(Descriptor::new(kind.oci_media_type(), d, size));
        }
        let m = Manifest {
            schema_version: 2,
            media_type: Some(manifest::OCI_MANIFEST.to_string()),
            config: Descriptor::new(manifest::OCI_CONFIG, config_digest, config_size),
            layers,
            annotations: BTreeMap::new(),
        };
        // The archive has no manifest; store the one it implies, so the image is whole.
        let mbytes = serde_json::to_vec(&m)
            .map_err(|e| ImageError::Internal(format!("encoding manifest: {e}")))?;
        let mdigest = store.content.write_bytes("manifest", &mbytes, None)?;
        let config = read_config(store, path, &m)?;
        let mut tags = Vec::new();
        for t in e.repo_tags.unwrap_or_default() {
            let r =
                Reference::parse(&t).map_err(|err| bad(format!("RepoTags entry {t:?}: {err}")))?;
            tags.extend(r.tagged_name());
        }
        let record = assemble(
            store,
            path,
            NewImageParts {
                manifest_digest: mdigest,
                manifest_media_type: manifest::OCI_MANIFEST.to_string(),
                manifest_size: mbytes.len() as u64,
                index_digest: None,
                manifest: &m,
                config: &config,
                repo_tags: tags,
                repo_digests: Vec::new(),
            },
        )?;
        out.push(record);
    }
    Ok(out)
}

struct NewImageParts<'a> {
    manifest_digest: Digest,
    manifest_media_type: String,
    manifest_size: u64,
    index_digest: Option<Digest>,
    manifest: &'a Manifest,
    config: &'a ConfigFile,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
}

/// Checks the layers are present, unpacks them, and records the image.
fn assemble(store: &Store, path: &Path, p: NewImageParts<'_>) -> Result<ImageRecord> {
    let what = format!("{} in {}", p.manifest_digest, path.display());
    let layers = layer_records(&what, p.manifest, p.config)?;
    for (i, l) in layers.iter().enumerate() {
        if !store.snapshots.exists(&l.chain_id) && !store.content.exists(&l.digest) {
            return Err(ImageError::BadArchive {
                path: path.to_path_buf(),
                reason: format!("layer {} is not in the archive", l.digest),
            });
        }
        unpack_one(store, &layers, i)?;
    }
    let record = NewImage {
        manifest_digest: p.manifest_digest,
        manifest_media_type: p.manifest_media_type,
        manifest_size: p.manifest_size,
        index_digest: p.index_digest,
        manifest: p.manifest,
        config: p.config,
        layers,
        repo_tags: p.repo_tags,
        repo_digests: p.repo_digests,
    }
    .into_record();
    let record = store.commit_image(record)?;
    tracing::info!(archive = %path.display(), id = %record.id, names = ?record.repo_tags, "imported image");
    Ok(record)
}

fn read_blob(store: &Store, path: &Path, d: &Descriptor) -> Result<Vec<u8>> {
    if !store.content.exists(&d.digest) {
        return Err(ImageError::BadArchive {
            path: path.to_path_buf(),
            reason: format!("blob {} is not in the archive", d.digest),
        });
    }
    store
        .content
        .read_small(&d.digest, manifest::MAX_METADATA_SIZE)
}

fn read_config(store: &Store, path: &Path, m: &Manifest) -> Result<ConfigFile> {
    let bytes = read_blob(store, path, &m.config)?;
    ConfigFile::parse(
        &format!("configuration {} in {}", m.config.digest, path.display()),
        &bytes,
    )
}

/// A docker-archive layer's compression, from its first bytes.
fn sniff_layer(store: &Store, d: &Digest) -> Result<LayerKind> {
    let mut f = store.content.open_blob(d)?;
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        let r = f.read(&mut head[n..]).ctx("read", store.content.path(d))?;
        if r == 0 {
            break;
        }
        n += r;
    }
    match Compression::detect(&head[..n]) {
        Ok(Compression::Gzip) => Ok(LayerKind::Gzip),
        Ok(Compression::Zstd) => Ok(LayerKind::Zstd),
        Ok(Compression::None) => Ok(LayerKind::Tar),
        Err(msg) => Err(ImageError::Unpack {
            layer: d.to_string(),
            reason: msg.into(),
        }),
    }
}

/// Result of importing a directory of archives.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: Vec<(PathBuf, Vec<ImageRecord>)>,
    /// Archives unchanged since they were last imported (and whose images are still there).
    pub unchanged: Vec<PathBuf>,
    pub failed: Vec<(PathBuf, ImageError)>,
}

/// Imports every archive in `dir` (see [`ARCHIVE_SUFFIXES`]), skipping those imported
/// before with the same size and modification time whose images are all still present. A
/// missing directory imports nothing. One bad archive does not stop the others.
pub fn import_dir(store: &Store, dir: &Path, platform: &Platform) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(ImageError::io("read directory", dir, e)),
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| ARCHIVE_SUFFIXES.iter().any(|s| n.ends_with(s)))
                && p.is_file()
        })
        .collect();
    paths.sort();
    // Forget archives that are gone from the directory.
    let present: Vec<String> = paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    store.update(|idx| {
        idx.archives
            .retain(|k, _| Path::new(k).parent() != Some(dir) || present.contains(k));
        Ok(())
    })?;
    for p in paths {
        let meta = std::fs::metadata(&p).ctx("stat", &p)?;
        let key = p.to_string_lossy().into_owned();
        let idx = store.read()?;
        if let Some(stamp) = idx.archives.get(&key) {
            if stamp.size == meta.len()
                && stamp.mtime == meta.mtime()
                && stamp.images.iter().all(|i| idx.images.contains_key(i))
            {
                report.unchanged.push(p);
                continue;
            }
        }
        match import_archive(store, &p, platform) {
            Ok(images) => {
                let stamp = ArchiveStamp {
                    size: meta.len(),
                    mtime: meta.mtime(),
                    images: images.iter().map(|i| i.id.clone()).collect(),
                };
                store.update(|idx| {
                    idx.archives.insert(key.clone(), stamp);
                    Ok(())
                })?;
                report.imported.push((p, images));
            }
            Err(e) => {
                tracing::warn!(archive = %p.display(), error = %e, "image archive not imported");
                report.failed.push((p, e));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert!(is_blob_like("blobs/sha256/abc"));
        assert!(is_blob_like("abc/layer.tar"));
        assert!(is_blob_like("abc.json"));
        assert!(!is_blob_like("abc/json"));
        assert!(!is_blob_like("abc/VERSION"));
        let hex = "a".repeat(64);
        assert_eq!(
            digest_from_blob_path(&format!("blobs/sha256/{hex}")).map(|d| d.to_string()),
            Some(format!("sha256:{hex}"))
        );
        assert!(digest_from_blob_path("blobs/sha256/xyz").is_none());
        let mut a = BTreeMap::new();
        a.insert(ANNOTATION_REF_NAME.to_string(), "latest".to_string());
        assert!(name_from_annotations(&a).is_none());
        a.insert(ANNOTATION_REF_NAME.to_string(), "busybox:1".to_string());
        assert_eq!(
            name_from_annotations(&a).unwrap().to_string(),
            "docker.io/library/busybox:1"
        );
        a.insert(
            ANNOTATION_CONTAINERD_NAME.to_string(),
            "example.com/x:2".to_string(),
        );
        assert_eq!(
            name_from_annotations(&a).unwrap().to_string(),
            "example.com/x:2"
        );
    }
}

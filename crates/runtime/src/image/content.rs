//! The content store: blobs (manifests, configurations, compressed layers) by digest under
//! `<data-dir>/agent/content/blobs/<algorithm>/<hex>`.
//!
//! Blobs are written to `ingest/` while being hashed, then checked against the digest (and
//! size) they were announced with, synced, and renamed into place: a blob under its digest's
//! name always has that digest, also after a crash. Writing a blob that is already present
//! only refreshes its modification time.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::digest::{Algorithm, Digest, HashingWriter};
use super::error::{ImageError, IoContext, Result};
use super::sys;

static INGEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The blob store.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<ContentStore> {
        let root = root.into();
        for d in ["blobs/sha256", "blobs/sha512", "ingest"] {
            let p = root.join(d);
            fs::create_dir_all(&p).ctx("create directory", &p)?;
        }
        // Private images' content is for root only (as containerd's content store).
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).ctx("chmod", &root)?;
        Ok(ContentStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `d` lives (whether or not it is present).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Marks a present blob as recently used.
    pub fn touch(&self, d: &Digest) {
        let _ = sys::touch(&self.path(d));
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ImageError::NotFound(format!("blob {d}"))
            } else {
                ImageError::io("open", p, e)
            }
        })
    }

    /// Reads a small blob (manifest, configuration) whole, refusing blobs over `max` bytes,
    /// and checks its digest again: a blob corrupted on disk is not trusted.
    pub fn read_small(&self, d: &Digest, max: u64) -> Result<Vec<u8>> {
        let f = self.open_blob(d)?;
        let mut data = Vec::new();
        f.take(max + 1)
            .read_to_end(&mut data)
            .ctx("read", self.path(d))?;
        if data.len() as u64 > max {
            return Err(ImageError::BadManifest {
                what: format!("blob {d}"),
                reason: format!("larger than {max} bytes"),
            });
        }
        let mut h = super::digest::Hasher::new(d.algorithm());
        h.update(&data);
        let actual = h.finish();
        if &actual != d {
            return Err(ImageError::DigestMismatch {
                what: format!("stored blob {}", self.path(d).display()),
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(data)
    }

    /// Starts writing a blob. With `expected`, the content must hash to that digest (and
    /// have that size, when given) or [`BlobWriter::commit`] fails and nothing is stored;
    /// content that grows past the expected size fails as soon as it does.
    pub fn writer(
        &self,
        what: &str,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<BlobWriter> {
        let n = INGEST_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join("ingest")
            .join(format!("{}-{n}", std::process::id()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx("create", &tmp)?;
        let algorithm = expected.map_or(Algorithm::Sha256, |(d, _)| d.algorithm());
        Ok(BlobWriter {
            out: Some(HashingWriter::new(
                BufWriter::with_capacity(1 << 17, file),
                algorithm,
            )),
            tmp,
            store: self.clone(),
            what: what.to_string(),
            expected: expected.map(|(d, s)| (d.clone(), s)),
        })
    }

    /// Stores `data` (checked against `expected` when given) and returns its digest.
    pub fn write_bytes(
        &self,
        what: &str,
        data: &[u8],
        expected: Option<&Digest>,
    ) -> Result<Digest> {
        let mut w = self.writer(what, expected.map(|d| (d, Some(data.len() as u64))))?;
        w.write_all(data).ctx("write", &w.tmp)?;
        Ok(w.commit()?.digest)
    }

    /// Removes a blob; absent blobs are not an error.
    pub fn delete(&self, d: &Digest) -> Result<()> {
        let p = self.path(d);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::io("remove", p, e)),
        }
    }

    /// Every blob present, with its size and modification time.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join("blobs").join(alg.as_str());
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ImageError::io("read directory", dir, e)),
            };
            for e in rd {
                let e = e.ctx("read directory", &dir)?;
                let name = e.file_name();
                let Some(name) = name.to_str() else { continue };
                let Ok(d) = Digest::parse(&format!("{}:{name}", alg.as_str())) else {
                    continue;
                };
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((d, size));
            }
        }
        Ok(out)
    }

    /// Removes partial writes left by processes that no longer exist.
    pub fn clean_ingest(&self) {
        let dir = self.root.join("ingest");
        let Ok(rd) = fs::read_dir(&dir) else { return };
        for e in rd.flatten() {
            let name = e.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            if pid.is_none_or(|p| p != std::process::id() && !sys::pid_alive(p)) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// The result of committing a blob.
#[derive(Debug, Clone)]
pub struct Committed {
    pub digest: Digest,
    pub size: u64,
}

/// A blob being written; dropped without [`commit`](BlobWriter::commit), it leaves nothing.
pub struct BlobWriter {
    out: Option<HashingWriter<BufWriter<File>>>,
    tmp: PathBuf,
    store: ContentStore,
    what: String,
    expected: Option<(Digest, Option<u64>)>,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.out.as_ref().map_or(0, |o| o.count())
    }

    /// Checks the content, syncs it and moves it into place.
    pub fn commit(mut self) -> Result<Committed> {
        let out = self
            .out
            .take()
            .ok_or_else(|| ImageError::Internal("blob writer used after commit".into()))?;
        let (buf, digest, size) = out.into_parts();
        let file = buf
            .into_inner()
            .map_err(|e| ImageError::io("write", &self.tmp, e.into_error()))?;
        if let Some((want, want_size)) = &self.expected {
            if let Some(s) = want_size {
                if *s != size {
                    return Err(ImageError::SizeMismatch {
                        what: self.what.clone(),
                        expected: *s,
                        actual: size,
                    });
                }
            }
            if *want != digest {
                return Err(ImageError::DigestMismatch {
                    what: self.what.clone(),
                    expected: want.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let dest = self.store.path(&digest);
        if dest.is_file() {
            self.store.touch(&digest);
            return Ok(Committed { digest, size });
        }
        file.sync_all().ctx("sync", &self.tmp)?;
        drop(file);
        fs::rename(&self.tmp, &dest).ctx("rename", &dest)?;
        Ok(Committed { digest, size })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer used after commit"))?;
        if let Some((_, Some(limit))) = &self.expected {
            if out.count() + buf.len() as u64 > *limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is larger than its descriptor's {limit} bytes",
                        self.what
                    ),
                ));
            }
        }
        out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful commit the temporary file has been renamed away (or is a
        // duplicate); either way it goes.
        let _ = fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_verify_and_dedupe() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let d = cs.write_bytes("x", b"hello", None).unwrap();
        assert_eq!(d, Digest::sha256_of(b"hello"));
        assert!(cs.exists(&d));
        assert_eq!(cs.read_small(&d, 100).unwrap(), b"hello");
        // Same content again: present already.
        let mut w = cs.writer("x", Some((&d, Some(5)))).unwrap();
        w.write_all(b"hello").unwrap();
        assert_eq!(w.commit().unwrap().digest, d);
        // Wrong content for the announced digest: refused, nothing left behind.
        let mut w = cs.writer("y", Some((&d, None))).unwrap();
        w.write_all(b"HELLO").unwrap();
        let e = w.commit().unwrap_err();
        assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
        // Too long: fails while writing.
        let mut w = cs.writer("z", Some((&d, Some(5)))).unwrap();
        assert!(w.write_all(b"hello world").is_err());
        drop(w);
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
        assert_eq!(cs.list().unwrap().len(), 1);
        // A blob corrupted on disk is detected when read.
        fs::write(cs.path(&d), b"jello").unwrap();
        assert!(matches!(
            cs.read_small(&d, 100),
            Err(ImageError::DigestMismatch { .. })
        ));
        cs.delete(&d).unwrap();
        cs.delete(&d).unwrap();
        assert!(!cs.exists(&d));
    }
}

//! Applying a layer (a tar stream, plain, gzip or zstd) to an empty directory in the form
//! overlayfs reads as a lower layer: OCI whiteouts (`.wh.<name>`) become 0/0 character
//! devices, opaque markers (`.wh..wh..opq`) become `trusted.overlay.opaque=y` on the
//! directory. Modes, ownership, times, extended attributes, device nodes, fifos, symlinks and
//! hardlinks are preserved (ownership, devices and `trusted.*` attributes need root).
//!
//! No entry can write outside the directory: paths are cleaned (`..` stops at the root) and
//! symlinks met on the way are resolved inside the directory, as if it were `/`, the way
//! containerd's `fs.RootPath` does. The uncompressed stream is hashed as it is read, so the
//! caller can check it against the image's diff id; nothing is held in memory but one buffer.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::digest::{Algorithm, Digest, HashingReader};
use super::error::{ImageError, Result};
use super::sys;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const MAX_SYMLINK_HOPS: u32 = 255;

/// What applying a layer found.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The digest of the uncompressed tar stream (the layer's diff id).
    pub diff_id: Digest,
    /// Bytes of uncompressed tar.
    pub tar_size: u64,
}

/// The compression of a layer stream, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Sniffs the magic number; anything that is not gzip, zstd, xz or bzip2 is taken as tar.
    pub fn detect(head: &[u8]) -> std::result::Result<Compression, &'static str> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Ok(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Ok(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Err("xz-compressed layers are not supported")
        } else if head.starts_with(b"BZh") {
            Err("bzip2-compressed layers are not supported")
        } else {
            Ok(Compression::None)
        }
    }
}

/// Wraps `r` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(1 << 16, r);
    let head = br.fill_buf()?;
    match Compression::detect(head) {
        Ok(Compression::Gzip) => Ok(Box::new(flate2::bufread::MultiGzDecoder::new(br))),
        Ok(Compression::Zstd) => Ok(Box::new(ZstdReader::new(br))),
        Ok(Compression::None) => Ok(Box::new(br)),
        Err(msg) => Err(io::Error::new(io::ErrorKind::InvalidData, msg)),
    }
}

/// Applies the layer read from `layer` (compressed or not) to `dest`, an empty directory.
/// `parents` are the directories of the layers below, topmost first: hardlinks to files that
/// only exist there are satisfied by copying the file up. `what` names the layer in errors.
pub fn apply_layer(
    layer: impl Read,
    dest: &Path,
    parents: &[PathBuf],
    what: &str,
) -> Result<Applied> {
    let err = |reason: String| ImageError::Unpack {
        layer: what.to_string(),
        reason,
    };
    let stream = decompress(layer).map_err(|e| err(e.to_string()))?;
    let hashing = HashingReader::new(stream, Algorithm::Sha256);
    let mut archive = tar::Archive::new(hashing);
    let mut applier = Applier {
        root: dest.to_path_buf(),
        parents,
        is_root: sys::euid() == 0,
        dirs: Vec::new(),
    };
    let entries = archive.entries().map_err(|e| err(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| err(format!("reading tar: {e}")))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        applier
            .apply(&mut entry)
            .map_err(|e| err(format!("{name}: {e}")))?;
    }
    applier.finish().map_err(|e| err(e.to_string()))?;
    let (diff_id, tar_size) = archive
        .into_inner()
        .finish()
        .map_err(|e| err(format!("reading tar: {e}")))?;
    Ok(Applied { diff_id, tar_size })
}

/// Metadata of one entry, from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Applier<'a> {
    root: PathBuf,
    parents: &'a [PathBuf],
    is_root: bool,
    /// Directories whose mode and times are set last (writing into them changes mtime).
    dirs: Vec<(PathBuf, Meta)>,
}

impl Applier<'_> {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> io::Result<()> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let rel = clean(&entry.path()?);
        let meta = read_meta(entry)?;
        let Some(base) = rel.file_name().map(|b| b.to_string_lossy().into_owned()) else {
            // The root itself ("./"): take its attributes.
            if kind.is_dir() {
                self.set_owner_xattrs(&self.root.clone(), &meta, false)?;
                self.dirs.push((self.root.clone(), meta));
            }
            return Ok(());
        };
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();

        if let Some(whited_out) = base.strip_prefix(WHITEOUT_PREFIX) {
            let parent = self.ensure_dir(&parent_rel)?;
            if base == OPAQUE_MARKER {
                return self.xattr(&parent, OVERLAY_OPAQUE_XATTR, b"y", false);
            }
            if whited_out.starts_with(WHITEOUT_PREFIX) || whited_out.is_empty() {
                // Other AUFS metadata (`.wh..wh.plnk` hardlink directories): meaningless here.
                return Ok(());
            }
            let target = parent.join(whited_out);
            remove_any(&target)?;
            sys::mknod(&target, libc::S_IFCHR, 0, 0)?;
            return Ok(());
        }

        let parent = self.ensure_dir(&parent_rel)?;
        let path = parent.join(&base);
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_any(&path)?;
                        fs::create_dir(&path)?;
                    }
                    Err(_) => fs::create_dir(&path)?,
                }
                self.set_owner_xattrs(&path, &meta, false)?;
                self.dirs.push((path, meta));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                remove_any(&path)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                io::copy(entry, &mut f)?;
                drop(f);
                self.finish_file(&path, &meta)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| io::Error::other("symlink without a target"))?;
                remove_any(&path)?;
                symlink(&*target, &path)?;
                self.set_owner_xattrs(&path, &meta, true)?;
                sys::lutimes(&path, meta.mtime, meta.mtime)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| io::Error::other("hardlink without a target"))?;
                let target_rel = clean(&target);
                if target_rel.as_os_str().is_empty() {
                    return Err(io::Error::other("hardlink to the root"));
                }
                let source = self.hardlink_source(&target_rel)?;
                if source == path {
                    return Ok(());
                }
                remove_any(&path)?;
                fs::hard_link(&source, &path)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ty = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                if !self.is_root && ty != libc::S_IFIFO {
                    tracing::debug!(path = %path.display(), "not root: skipping device node");
                    return Ok(());
                }
                let major = entry.header().device_major()?.unwrap_or(0);
                let minor = entry.header().device_minor()?.unwrap_or(0);
                remove_any(&path)?;
                sys::mknod(&path, ty | (meta.mode & 0o7777), major, minor)?;
                self.finish_file(&path, &meta)?;
            }
            other => {
                tracing::debug!(path = %path.display(), kind = ?other, "skipping tar entry of unsupported type");
            }
        }
        Ok(())
    }

    /// Ownership, extended attributes, mode (after chown, which clears set-id bits), times.
    fn finish_file(&self, path: &Path, meta: &Meta) -> io::Result<()> {
        self.set_owner_xattrs(path, meta, false)?;
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode & 0o7777))?;
        sys::lutimes(path, meta.mtime, meta.mtime)
    }

    fn set_owner_xattrs(&self, path: &Path, meta: &Meta, is_symlink: bool) -> io::Result<()> {
        if self.is_root {
            std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))?;
        }
        for (k, v) in &meta.xattrs {
            self.xattr(path, k, v, is_symlink)?;
        }
        Ok(())
    }

    fn xattr(&self, path: &Path, name: &str, value: &[u8], is_symlink: bool) -> io::Result<()> {
        match sys::lsetxattr(path, name, value) {
            Ok(()) => Ok(()),
            Err(e) => {
                let errno = e.raw_os_error();
                let tolerable = errno == Some(libc::ENOTSUP)
                    || (is_symlink && errno == Some(libc::EPERM))
                    || (!self.is_root && errno == Some(libc::EPERM));
                if tolerable {
                    tracing::debug!(path = %path.display(), name, error = %e, "extended attribute not set");
                    Ok(())
                } else {
                    Err(io::Error::new(
                        e.kind(),
                        format!("setting xattr {name}: {e}"),
                    ))
                }
            }
        }
    }

    /// Resolves the directory `rel` inside the root, creating what is missing. A directory
    /// created only because something inside it changed takes the attributes it has in the
    /// layers below (as containerd does), else 0755 root: the upper directory's attributes
    /// are the ones overlayfs shows.
    fn ensure_dir(&self, rel: &Path) -> io::Result<PathBuf> {
        let dir = resolve_in_root(&self.root, rel, true)?;
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => return Ok(dir),
            Ok(_) => {
                return Err(io::Error::other(format!(
                    "{} is not a directory",
                    rel.display()
                )))
            }
            Err(_) => {}
        }
        let inside = dir
            .strip_prefix(&self.root)
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let mut cur = self.root.clone();
        let mut cur_rel = PathBuf::new();
        for c in inside.components() {
            cur.push(c);
            cur_rel.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => {
                    return Err(io::Error::other(format!(
                        "{} is not a directory",
                        cur_rel.display()
                    )))
                }
                Err(_) => {}
            }
            fs::create_dir(&cur)?;
            let lower = self.parents.iter().find_map(|p| {
                let cand = resolve_in_root(p, &cur_rel, true).ok()?;
                fs::symlink_metadata(&cand).ok().filter(|m| m.is_dir())
            });
            match lower {
                Some(m) => {
                    if self.is_root {
                        std::os::unix::fs::lchown(&cur, Some(m.uid()), Some(m.gid()))?;
                    }
                    fs::set_permissions(&cur, fs::Permissions::from_mode(m.mode() & 0o7777))?;
                    sys::lutimes(
                        &cur,
                        (m.atime(), m.atime_nsec()),
                        (m.mtime(), m.mtime_nsec()),
                    )?;
                }
                None => fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))?,
            }
        }
        Ok(dir)
    }

    /// The file a hardlink points at: in this layer, or copied up from the topmost parent
    /// layer that has it (a whiteout there means it was deleted).
    fn hardlink_source(&self, target_rel: &Path) -> io::Result<PathBuf> {
        let parent_rel = target_rel.parent().unwrap_or(Path::new(""));
        let base = target_rel
            .file_name()
            .ok_or_else(|| io::Error::other("bad hardlink target"))?;
        let here = resolve_in_root(&self.root, parent_rel, true)?.join(base);
        if fs::symlink_metadata(&here).is_ok() {
            return Ok(here);
        }
        for p in self.parents {
            let candidate = resolve_in_root(p, parent_rel, true)?.join(base);
            let Ok(m) = fs::symlink_metadata(&candidate) else {
                continue;
            };
            if m.file_type().is_char_device() && m.rdev() == 0 {
                break; // whited out
            }
            if !m.is_file() {
                break;
            }
            // Copy up, then link to the copy.
            let dir = self.ensure_dir(parent_rel)?;
            let dest = dir.join(base);
            fs::copy(&candidate, &dest)?;
            if self.is_root {
                std::os::unix::fs::lchown(&dest, Some(m.uid()), Some(m.gid()))?;
            }
            fs::set_permissions(&dest, fs::Permissions::from_mode(m.mode() & 0o7777))?;
            sys::lutimes(
                &dest,
                (m.atime(), m.atime_nsec()),
                (m.mtime(), m.mtime_nsec()),
            )?;
            return Ok(dest);
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("hardlink target {} not found", target_rel.display()),
        ))
    }

    /// Directory modes and times, deepest first.
    fn finish(&mut self) -> io::Result<()> {
        for (path, meta) in self.dirs.drain(..).rev() {
            fs::set_permissions(&path, fs::Permissions::from_mode(meta.mode & 0o7777))?;
            sys::lutimes(&path, meta.mtime, meta.mtime)?;
        }
        Ok(())
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    let mode = h.mode().unwrap_or(0o644);
    let mut uid = h.uid().unwrap_or(0);
    let mut gid = h.gid().unwrap_or(0);
    let mut mtime = (h.mtime().unwrap_or(0) as i64, 0i64);
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let text = std::str::from_utf8(value).unwrap_or("");
            match key {
                "uid" => uid = text.parse().unwrap_or(uid),
                "gid" => gid = text.parse().unwrap_or(gid),
                "mtime" => {
                    if let Some(t) = parse_pax_time(text) {
                        mtime = t;
                    }
                }
                k => {
                    if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                        // A layer must not set overlayfs' own attributes: they would change
                        // what the lower layers show.
                        if !name.starts_with("trusted.overlay.") {
                            xattrs.push((name.to_string(), value.to_vec()));
                        }
                    }
                }
            }
        }
    }
    let to_u32 = |v: u64| u32::try_from(v).map_err(|_| io::Error::other("uid/gid out of range"));
    Ok(Meta {
        mode,
        uid: to_u32(uid)?,
        gid: to_u32(gid)?,
        mtime,
        xattrs,
    })
}

/// PAX times are decimal seconds with an optional fraction.
fn parse_pax_time(s: &str) -> Option<(i64, i64)> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nanos = format!("{digits:0<9}").parse().ok()?;
        if secs < 0 && nanos > 0 {
            return Some((secs - 1, 1_000_000_000 - nanos));
        }
    }
    Some((secs, nanos))
}

/// Lexically cleans an archive path into a relative path: no root, no `.`, and `..` that
/// cannot climb above the root.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Resolves `rel` inside `root` as if `root` were `/`: `..` stops at the root, and symlinks
/// in every component but the last (and the last too when `follow_last`) are followed with
/// absolute targets taken relative to `root`. The result is always under `root`.
pub fn resolve_in_root(root: &Path, rel: &Path, follow_last: bool) -> io::Result<PathBuf> {
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, rel);
    let mut out = PathBuf::new();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            out.pop();
            continue;
        }
        let candidate = out.join(&c);
        if !pending.is_empty() || follow_last {
            let full = root.join(&candidate);
            if let Ok(m) = fs::symlink_metadata(&full) {
                if m.file_type().is_symlink() {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(io::Error::other(format!(
                            "too many levels of symbolic links resolving {}",
                            rel.display()
                        )));
                    }
                    let target = fs::read_link(&full)?;
                    if target.is_absolute() {
                        out = PathBuf::new();
                    }
                    push_components(&mut pending, &target);
                    continue;
                }
            }
        }
        out = candidate;
    }
    Ok(root.join(out))
}

/// Pushes `p`'s components onto a stack so that the first component is popped first.
fn push_components(stack: &mut Vec<OsString>, p: &Path) {
    let comps: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    stack.extend(comps.into_iter().rev());
}

/// Removes whatever is at `p` (not following symlinks); nothing there is fine.
fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A zstd decoder for streams of several frames (and skippable frames), which
/// `ruzstd::StreamingDecoder` alone does not read past.
pub struct ZstdReader<R: BufRead> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdReader<R> {
    pub fn new(source: R) -> Self {
        ZstdReader {
            source,
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.source.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                match self.decoder.reset(&mut self.source) {
                    Ok(()) => self.in_frame = true,
                    Err(FrameDecoderError::ReadFrameHeaderError(
                        ReadFrameHeaderError::SkipFrame { length, .. },
                    )) => {
                        io::copy(
                            &mut (&mut self.source).take(u64::from(length)),
                            &mut io::sink(),
                        )?;
                        continue;
                    }
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
            }
            while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                let need = buf.len() - self.decoder.can_collect();
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(need))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.decoder.is_finished() && self.decoder.can_collect() == 0 {
                self.in_frame = false;
            }
        }
    }
}

/// Bytes used by the files under `dir` (allocated blocks), not following symlinks.
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = std::collections::HashSet::new();
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

/// Opens a blob file and applies it (convenience for callers holding a path).
pub fn apply_layer_file(
    blob: &Path,
    dest: &Path,
    parents: &[PathBuf],
    what: &str,
) -> Result<Applied> {
    let f = File::open(blob).map_err(|e| ImageError::io("open", blob, e))?;
    apply_layer(f, dest, parents, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        h
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let h = header(path, tar::EntryType::Regular, 0o644, data.len() as u64);
        b.append(&h, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, target: &str) {
        let mut h = header(path, kind, 0o777, 0);
        h.set_link_name(target).unwrap();
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }

    fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
        let h = header(path, tar::EntryType::Directory, mode, 0);
        b.append(&h, &[][..]).unwrap();
    }

    #[test]
    fn cleaning_and_scoped_resolution() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(
            clean(Path::new("../../etc/passwd")),
            PathBuf::from("etc/passwd")
        );
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("/etc", r.join("abs")).unwrap();
        symlink("../../../..", r.join("up")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        assert_eq!(
            resolve_in_root(r, Path::new("lib/x"), false).unwrap(),
            r.join("usr/lib/x")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("abs/passwd"), false).unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("up/etc/shadow"), false).unwrap(),
            r.join("etc/shadow")
        );
        // The last component is not followed unless asked.
        assert_eq!(
            resolve_in_root(r, Path::new("lib"), false).unwrap(),
            r.join("lib")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("lib"), true).unwrap(),
            r.join("usr/lib")
        );
        assert!(resolve_in_root(r, Path::new("loop1/x"), false).is_err());
    }

    #[test]
    fn no_escape_through_symlinks_or_dotdot() {
        let outside = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        link(
            &mut b,
            "evil",
            tar::EntryType::Symlink,
            outside.path().to_str().unwrap(),
        );
        file(&mut b, "evil/pwned", b"x");
        link(
            &mut b,
            "rel",
            tar::EntryType::Symlink,
            "../../../../../../..",
        );
        file(&mut b, "rel/tmp/pwned2", b"x");
        // `..` in a raw header name (the builder refuses to write one).
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..16].copy_from_slice(b"../../dotdot.txt");
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        link(
            &mut b,
            "hl",
            tar::EntryType::Link,
            "../../../../etc/hostname",
        );
        let data = b.into_inner().unwrap();
        let r = apply_layer(&data[..], dest.path(), &[], "test");
        // The hardlink target does not exist inside the root: an error, not an escape.
        assert!(r.is_err());
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        assert!(dest
            .path()
            .join(outside.path().strip_prefix("/").unwrap())
            .join("pwned")
            .exists());
        assert!(dest.path().join("tmp/pwned2").exists());
        assert!(dest.path().join("dotdot.txt").exists());
    }

    #[test]
    fn files_links_modes_and_digest() {
        let dest = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        dir(&mut b, "bin/", 0o755);
        let mut h = header("bin/tool", tar::EntryType::Regular, 0o4755, 5);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_cksum();
        b.append(&h, &b"tool\n"[..]).unwrap();
        link(&mut b, "bin/sh", tar::EntryType::Symlink, "tool");
        link(&mut b, "bin/hard", tar::EntryType::Link, "bin/tool");
        dir(&mut b, "ro/", 0o555);
        file(&mut b, "ro/inside", b"in");
        file(&mut b, "deep/implicit/parent", b"p");
        file(&mut b, "dup", b"first");
        file(&mut b, "dup", b"second");
        let data = b.into_inner().unwrap();
        let want = Digest::sha256_of(&data);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();

        let applied = apply_layer(&gz[..], dest.path(), &[], "test").unwrap();
        assert_eq!(applied.diff_id, want);
        assert_eq!(applied.tar_size, data.len() as u64);
        let d = dest.path();
        assert_eq!(fs::read(d.join("bin/tool")).unwrap(), b"tool\n");
        assert_eq!(
            fs::read_link(d.join("bin/sh")).unwrap(),
            PathBuf::from("tool")
        );
        let m = fs::metadata(d.join("bin/tool")).unwrap();
        assert_eq!(m.ino(), fs::metadata(d.join("bin/hard")).unwrap().ino());
        assert_eq!(m.mtime(), 1_600_000_000);
        if sys::euid() == 0 {
            assert_eq!(m.mode() & 0o7777, 0o4755);
            assert_eq!((m.uid(), m.gid()), (1000, 1000));
        }
        assert_eq!(fs::metadata(d.join("ro")).unwrap().mode() & 0o777, 0o555);
        assert_eq!(fs::metadata(d.join("ro")).unwrap().mtime(), 1_600_000_000);
        assert_eq!(fs::read(d.join("deep/implicit/parent")).unwrap(), b"p");
        assert_eq!(fs::read(d.join("dup")).unwrap(), b"second");
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        if sys::euid() != 0 {
            eprintln!("skipped: needs root for whiteout devices and trusted xattrs");
            return;
        }
        let dest = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        dir(&mut b, "etc/", 0o755);
        file(&mut b, "etc/.wh.removed", b"");
        dir(&mut b, "opaque/", 0o755);
        file(&mut b, "opaque/.wh..wh..opq", b"");
        file(&mut b, "opaque/kept", b"k");
        let data = b.into_inner().unwrap();
        apply_layer(&data[..], dest.path(), &[], "test").unwrap();
        let m = fs::symlink_metadata(dest.path().join("etc/removed")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), 0);
        assert!(!dest.path().join("etc/.wh.removed").exists());
        assert_eq!(
            sys::lgetxattr(&dest.path().join("opaque"), OVERLAY_OPAQUE_XATTR).unwrap(),
            Some(b"y".to_vec())
        );
        assert!(dest.path().join("opaque/kept").exists());
    }

    #[test]
    fn hardlink_to_lower_layer_is_copied_up() {
        let lower = tempfile::tempdir().unwrap();
        fs::create_dir(lower.path().join("bin")).unwrap();
        fs::write(lower.path().join("bin/busybox"), b"bb").unwrap();
        let dest = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        link(&mut b, "bin/ls", tar::EntryType::Link, "bin/busybox");
        let data = b.into_inner().unwrap();
        apply_layer(
            &data[..],
            dest.path(),
            &[lower.path().to_path_buf()],
            "test",
        )
        .unwrap();
        assert_eq!(fs::read(dest.path().join("bin/ls")).unwrap(), b"bb");
        assert_eq!(fs::read(dest.path().join("bin/busybox")).unwrap(), b"bb");
    }

    #[test]
    fn zstd_multi_frame_and_compression_detection() {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "a", b"aaaa");
        let data = b.into_inner().unwrap();
        // Two frames: the tar split in the middle, each half compressed on its own.
        let (x, y) = data.split_at(700);
        let mut z =
            ruzstd::encoding::compress_to_vec(x, ruzstd::encoding::CompressionLevel::Fastest);
        // A skippable frame between them.
        z.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        z.extend(ruzstd::encoding::compress_to_vec(
            y,
            ruzstd::encoding::CompressionLevel::Fastest,
        ));
        let mut out = Vec::new();
        decompress(&z[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let dest = tempfile::tempdir().unwrap();
        let applied = apply_layer(&z[..], dest.path(), &[], "test").unwrap();
        assert_eq!(applied.diff_id, Digest::sha256_of(&data));
        assert!(decompress(&[0xfd, b'7', b'z', b'X', b'Z', 0, 1][..]).is_err());
        assert_eq!(parse_pax_time("12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time("-1.5"), Some((-2, 500_000_000)));
    }
}

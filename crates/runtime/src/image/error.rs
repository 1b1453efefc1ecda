//! The image service's errors. Each says what was being done and to what, so that a message
//! read in a pod event or on a terminal is enough to act on.

use std::path::PathBuf;

/// Errors from the image service.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// An image reference that is not a valid name (`busybox`, `registry:5000/a/b:tag@sha256:…`).
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    /// A digest string that is not `algorithm:hex` of a supported algorithm.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },

    /// Content whose digest is not the one it was asked for or announced as.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    /// Content longer or shorter than its descriptor says.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },

    /// No image in the store matches.
    #[error("image {0:?} not found")]
    NotFound(String),

    /// More than one image matches a short id.
    #[error("image id prefix {0:?} is ambiguous")]
    Ambiguous(String),

    /// The registry refused our credentials (or wanted some).
    #[error("pulling {reference}: unauthorized at {endpoint}: {message}")]
    Unauthorized {
        reference: String,
        endpoint: String,
        message: String,
    },

    /// The registry has no such manifest or blob.
    #[error("pulling {reference}: not found at {endpoint}: {message}")]
    RegistryNotFound {
        reference: String,
        endpoint: String,
        message: String,
    },

    /// Any other failure talking to a registry.
    #[error("pulling {reference} from {endpoint}: {message}")]
    Registry {
        reference: String,
        endpoint: String,
        message: String,
    },

    /// A manifest, index or configuration we cannot use.
    #[error("{what}: {reason}")]
    BadManifest { what: String, reason: String },

    /// An index without an entry for our platform.
    #[error("{reference}: no manifest for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        reference: String,
        platform: String,
        available: String,
    },

    /// An archive (OCI layout or docker-archive) that cannot be imported.
    #[error("importing {path}: {reason}")]
    BadArchive { path: PathBuf, reason: String },

    /// A layer tarball that cannot be applied.
    #[error("unpacking layer {layer}: {reason}")]
    Unpack { layer: String, reason: String },

    /// `registries.yaml` that does not parse or says something we cannot do.
    #[error("{path}: {reason}")]
    RegistriesConfig { path: PathBuf, reason: String },

    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The image index file does not parse.
    #[error("image index {path} is corrupt: {reason}")]
    CorruptIndex { path: PathBuf, reason: String },

    /// A blocking task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ImageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Whether the error means the image (or a blob of it) does not exist where it was looked
    /// for, as opposed to a failure while getting it.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ImageError::NotFound(_) | ImageError::RegistryNotFound { .. }
        )
    }
}

/// `Result` with [`ImageError`].
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// Attaches a path and an operation name to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<std::path::Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<std::path::Path>) -> Result<T> {
        self.map_err(|e| ImageError::io(op, path.as_ref(), e))
    }
}

use crate::Revision;

/// Store errors. Each condition the API maps to its own HTTP status is its own variant.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },

    #[error("key {key:?} not found")]
    NotFound { key: String },

    /// The guard of an update or delete did not match.
    #[error("key {key:?} was modified: expected mod revision {expected}, found {actual}")]
    Conflict {
        key: String,
        expected: Revision,
        actual: Revision,
    },

    /// The requested revision's history has been compacted away (the API's 410 Gone).
    #[error("revision {requested} has been compacted; the oldest available is {compacted}")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },

    /// A read at a revision that has not happened yet.
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },

    #[error("value of key {key:?} is {size} bytes, over the limit of {limit} bytes")]
    ValueTooLarge {
        key: String,
        size: usize,
        limit: usize,
    },

    #[error("invalid continue token: {0}")]
    InvalidContinue(String),

    /// The database file exists but is not a healthy rkube store.
    #[error("store file {path} is not a usable rkube store: {reason}")]
    Corrupt { path: String, reason: String },

    /// Another process holds the store.
    #[error("store {path} is in use by another process (lock held)")]
    Locked { path: String },

    #[error("store is shut down")]
    Closed,

    #[error("{context}: {source}")]
    Backend {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    pub(crate) fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

//! A revisioned key-value store shaped like etcd's data model.
//!
//! Every write gets the next global revision; each key carries the revision that created it,
//! the revision that last modified it and a per-key version. Updates and deletes can be guarded
//! by the expected mod revision (optimistic concurrency), watches deliver every event after a
//! revision in order, and compaction drops history older than a revision.
//!
//! The API server maps `resourceVersion` to the mod revision and relies on exactly these
//! semantics, so both backends — the embedded [`RedbStore`] (one file, group commit) and
//! [`EtcdStore`] (etcd v3) — pass one conformance suite (`tests/conformance.rs`).

mod continue_token;
mod error;
mod etcd;
pub mod etcd_process;
mod redb_backend;
mod watch;

use async_trait::async_trait;

pub use continue_token::ContinueToken;
pub use error::{Result, StoreError};
pub use etcd::EtcdStore;
pub use redb_backend::{RedbOptions, RedbStore};
pub use watch::WatchStream;

/// A store revision. Matches etcd's signed 64-bit revision; the first write is revision 1
/// on an empty embedded store.
pub type Revision = i64;

/// Largest value a write accepts: etcd's default request limit, which Kubernetes sizes objects
/// against.
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;

/// One key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that created this incarnation of the key.
    pub create_revision: Revision,
    /// Revision of the write that produced this value.
    pub mod_revision: Revision,
    /// Number of writes to this incarnation of the key (1 after create).
    pub version: i64,
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A create (`kv.create_revision == kv.mod_revision`) or an update.
    Put,
    /// A delete; `kv.value` is empty and `kv.mod_revision` is the delete's revision.
    Delete,
}

/// One change, as delivered by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    /// The value before this change, for updates and deletes.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision at which this event happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }

    /// True for the write that created the key.
    pub fn is_create(&self) -> bool {
        self.kind == EventKind::Put && self.kv.create_revision == self.kv.mod_revision
    }
}

/// Options of [`Store::list`].
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// At most this many items; `None` or `Some(0)` means all.
    pub limit: Option<usize>,
    /// Resume a paginated list; the token pins the revision of the first page.
    pub continue_token: Option<String>,
    /// Read at this revision instead of the current one (ignored with a continue token).
    pub revision: Option<Revision>,
}

/// The result of [`Store::list`].
#[derive(Clone, Debug, Default)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// The revision the list was read at.
    pub revision: Revision,
    /// Set when more items remain; pass it back in [`ListOptions::continue_token`].
    pub continue_token: Option<String>,
    /// How many items remain after this page, when known.
    pub remaining: Option<i64>,
}

/// The result of a delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// The value that was deleted.
    pub prev: KeyValue,
    /// The revision of the delete.
    pub revision: Revision,
}

/// The revisioned key-value store. Object-safe so roles can hold an `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The revision of the latest committed write.
    async fn current_revision(&self) -> Result<Revision>;

    /// The current value of `key`.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Keys starting with `prefix`, in key order.
    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult>;

    /// Creates `key`; fails with [`StoreError::AlreadyExists`] if it is present.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue>;

    /// Replaces the value of an existing key. With `expected` set, fails with
    /// [`StoreError::Conflict`] unless the key's mod revision equals it.
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Revision>,
    ) -> Result<KeyValue>;

    /// Deletes an existing key, guarded like [`Store::update`].
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted>;

    /// Every event under `prefix` with a revision greater than `after`, in order, then live
    /// events as they happen. `after` older than the compacted revision fails with
    /// [`StoreError::Compacted`].
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// Drops history before `revision`: lists and watches from older revisions then fail
    /// with [`StoreError::Compacted`].
    async fn compact(&self, revision: Revision) -> Result<()>;
}

/// Refuses values over [`MAX_VALUE_BYTES`]; shared by both backends.
pub(crate) fn check_value_size(key: &str, value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::ValueTooLarge {
            key: key.to_string(),
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

/// The smallest key greater than every key starting with `prefix` (etcd's range end).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff (or the prefix was empty): the range is open-ended; etcd spells that
    // as "\0".
    vec![0]
}

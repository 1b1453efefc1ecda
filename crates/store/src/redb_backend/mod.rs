//! The embedded backend: one redb file, a single writer thread with group commit, MVCC reads
//! from any thread.

mod reads;
mod record;
mod tables;
mod watcher;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, TableHandle};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::info;

use crate::{
    check_value_size, Deleted, KeyValue, ListOptions, ListResult, Result, Revision, Store,
    StoreError, WatchStream,
};
use tables::{
    meta, storage, FORMAT_VERSION, INDEX, META, META_COMPACTED, META_FORMAT, META_REVISION, REVS,
};
use writer::{Op, Outcome, Request, Shared};

/// Tuning of the embedded store.
#[derive(Clone, Debug)]
pub struct RedbOptions {
    /// Page cache size in bytes.
    pub cache_bytes: usize,
}

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions {
            cache_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The embedded store. Cheap to clone; all clones share one database and writer thread.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    path: PathBuf,
    shared: Arc<Shared>,
    writes: mpsc::Sender<Request>,
}

impl RedbStore {
    /// Opens (creating if needed) the store file at `path`. Fails with
    /// [`StoreError::Locked`] if another process has it open and with
    /// [`StoreError::Corrupt`] if the file is not a healthy rkube store.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, RedbOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, opts: RedbOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::backend(format!("create {}", dir.display()), e))?;
        }
        let db = Database::builder()
            .set_cache_size(opts.cache_bytes)
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                    path: shown.clone(),
                },
                redb::DatabaseError::Storage(redb::StorageError::Io(io))
                    if !matches!(
                        io.kind(),
                        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                    ) =>
                {
                    StoreError::backend(format!("open {shown}"), io)
                }
                other => StoreError::Corrupt {
                    path: shown.clone(),
                    reason: other.to_string(),
                },
            })?;
        let (revision, compacted) = init(&db, &shown)?;
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            revision: AtomicI64::new(revision),
            compacted: AtomicI64::new(compacted),
            events,
        });
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel(writer::MAX_BATCH * 4);
        let (wdb, wshared) = (db.clone(), shared.clone());
        std::thread::Builder::new()
            .name("rkube-store-writer".into())
            .spawn(move || writer::run(wdb, wshared, rx))
            .map_err(|e| StoreError::backend("spawn store writer", e))?;
        info!(path = %shown, revision, compacted, "opened embedded store");
        Ok(RedbStore {
            inner: Arc::new(Inner {
                db,
                path,
                shared,
                writes: tx,
            }),
        })
    }

    /// The file backing this store.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The oldest revision still readable.
    pub fn compacted_revision(&self) -> Revision {
        self.inner.shared.compacted.load(Ordering::Acquire)
    }

    async fn submit(&self, op: Op) -> Result<Outcome> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .writes
            .send(Request { op, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.inner.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::backend("store read task", e))?
    }
}

/// Creates the tables of a new file, or checks that an existing file is an rkube store.
fn init(db: &Database, shown: &str) -> Result<(Revision, Revision)> {
    let read = db
        .begin_read()
        .map_err(|e| storage("begin read")(e.into()))?;
    let names: Vec<String> = read
        .list_tables()
        .map_err(|e| storage("list tables")(e.into()))?
        .map(|t| t.name().to_string())
        .collect();
    drop(read);
    let corrupt = |reason: String| StoreError::Corrupt {
        path: shown.to_string(),
        reason,
    };
    if names.is_empty() {
        let txn = db
            .begin_write()
            .map_err(|e| storage("begin write")(e.into()))?;
        {
            let mut m = txn
                .open_table(META)
                .map_err(|e| storage("create tables")(e.into()))?;
            m.insert(META_FORMAT, FORMAT_VERSION)
                .map_err(|e| storage("create tables")(e.into()))?;
            m.insert(META_REVISION, 0)
                .map_err(|e| storage("create tables")(e.into()))?;
            m.insert(META_COMPACTED, 0)
                .map_err(|e| storage("create tables")(e.into()))?;
            txn.open_table(REVS)
                .map_err(|e| storage("create tables")(e.into()))?;
            txn.open_table(INDEX)
                .map_err(|e| storage("create tables")(e.into()))?;
        }
        txn.commit()
            .map_err(|e| storage("create tables")(e.into()))?;
        return Ok((0, 0));
    }
    for want in [META.name(), REVS.name(), INDEX.name()] {
        if !names.iter().any(|n| n == want) {
            return Err(corrupt(format!(
                "missing table {want:?}: this is a redb file of another program (tables: {})",
                names.join(", ")
            )));
        }
    }
    let read = db
        .begin_read()
        .map_err(|e| storage("begin read")(e.into()))?;
    let m = read
        .open_table(META)
        .map_err(|e| corrupt(format!("meta table: {e}")))?;
    let format = meta(&m, META_FORMAT)?;
    if format != FORMAT_VERSION {
        return Err(corrupt(format!("unsupported format version {format}")));
    }
    let revision = meta(&m, META_REVISION)?;
    let compacted = meta(&m, META_COMPACTED)?;
    // The newest history record must be the recorded revision: anything else means the file
    // was changed behind our back.
    let revs = read
        .open_table(REVS)
        .map_err(|e| corrupt(format!("revs table: {e}")))?;
    let last = revs
        .last()
        .map_err(|e| storage("read revisions")(e.into()))?
        .map(|(k, _)| k.value())
        .unwrap_or(0);
    // (Every write appends a record at its revision; compaction keeps those at or above its
    // point.)
    if last != revision {
        return Err(corrupt(format!(
            "history ends at revision {last} but the store records revision {revision}"
        )));
    }
    Ok((revision, compacted))
}

#[async_trait]
impl Store for RedbStore {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.inner.shared.revision.load(Ordering::Acquire))
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        reads::get(&self.inner.db, key)
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let prefix = prefix.to_string();
        self.blocking(move |db| reads::list(db, &prefix, &opts))
            .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        check_value_size(key, &value)?;
        match self
            .submit(Op::Create {
                key: key.to_string(),
                value,
            })
            .await?
        {
            Outcome::Put(kv) => Ok(kv),
            _ => Err(StoreError::backend(
                "create",
                std::io::Error::other("unexpected reply"),
            )),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Option<Revision>,
    ) -> Result<KeyValue> {
        check_value_size(key, &value)?;
        match self
            .submit(Op::Update {
                key: key.to_string(),
                value,
                expected,
            })
            .await?
        {
            Outcome::Put(kv) => Ok(kv),
            _ => Err(StoreError::backend(
                "update",
                std::io::Error::other("unexpected reply"),
            )),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        match self
            .submit(Op::Delete {
                key: key.to_string(),
                expected,
            })
            .await?
        {
            Outcome::Deleted(d) => Ok(d),
            _ => Err(StoreError::backend(
                "delete",
                std::io::Error::other("unexpected reply"),
            )),
        }
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        watcher::start(
            self.inner.db.clone(),
            self.inner.shared.clone(),
            prefix.to_string(),
            after,
        )
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.submit(Op::Compact { revision }).await.map(|_| ())
    }
}

//! The single writer thread: group commit.
//!
//! Writers send their operation over a bounded channel and wait for the reply. The thread
//! takes every operation that is waiting (up to [`MAX_BATCH`]), applies them in one redb write
//! transaction — each gets its own revision and its own success or failure — commits with one
//! fsync, and only then answers and publishes the events. Concurrent writers therefore share
//! fsyncs, and no writer hears "done" before its write is durable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use redb::{Database, ReadableTable};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, error};

use super::record::Record;
use super::tables::{meta, read_record, storage, INDEX, META, META_COMPACTED, META_REVISION, REVS};
use crate::{Deleted, Event, EventKind, KeyValue, Revision, StoreError};

pub(crate) const MAX_BATCH: usize = 1024;

pub(crate) enum Op {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Option<Revision>,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

pub(crate) enum Outcome {
    Put(KeyValue),
    Deleted(Deleted),
    Compacted,
}

pub(crate) struct Request {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

pub(crate) struct Shared {
    pub revision: AtomicI64,
    pub compacted: AtomicI64,
    pub events: broadcast::Sender<Arc<Vec<Event>>>,
}

pub(crate) fn run(db: Arc<Database>, shared: Arc<Shared>, mut rx: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let n = batch.len();
        match apply_batch(&db, &mut batch) {
            Ok((results, events, revision, compacted)) => {
                shared.revision.store(revision, Ordering::Release);
                shared.compacted.store(compacted, Ordering::Release);
                if !events.is_empty() {
                    // No receivers is fine: nobody is watching.
                    let _ = shared.events.send(Arc::new(events));
                }
                for (req, res) in batch.drain(..).zip(results) {
                    let _ = req.reply.send(res);
                }
                debug!(ops = n, revision, "group commit");
            }
            Err(e) => {
                error!(error = %e, ops = n, "store commit failed; batch not applied");
                let msg = e.to_string();
                for req in batch.drain(..) {
                    let _ = req.reply.send(Err(StoreError::backend(
                        "commit",
                        std::io::Error::other(msg.clone()),
                    )));
                }
            }
        }
    }
    debug!("store writer stopped");
}

type BatchResult = (
    Vec<Result<Outcome, StoreError>>,
    Vec<Event>,
    Revision,
    Revision,
);

fn apply_batch(db: &Database, batch: &mut [Request]) -> Result<BatchResult, StoreError> {
    let txn = db
        .begin_write()
        .map_err(|e| storage("begin write")(e.into()))?;
    let mut results = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    let (revision, compacted);
    {
        let mut meta_t = txn
            .open_table(META)
            .map_err(|e| storage("open meta")(e.into()))?;
        let mut revs = txn
            .open_table(REVS)
            .map_err(|e| storage("open revs")(e.into()))?;
        let mut index = txn
            .open_table(INDEX)
            .map_err(|e| storage("open index")(e.into()))?;
        let mut rev = meta(&meta_t, META_REVISION)?;
        let mut compact_rev = meta(&meta_t, META_COMPACTED)?;
        for req in batch.iter_mut() {
            let op = std::mem::replace(&mut req.op, Op::Compact { revision: 0 });
            let res = match op {
                Op::Create { key, value } => {
                    if index
                        .get(key.as_str())
                        .map_err(|e| storage("read index")(e.into()))?
                        .is_some()
                    {
                        Err(StoreError::AlreadyExists { key })
                    } else {
                        rev += 1;
                        let rec = Record {
                            tombstone: false,
                            create_rev: rev,
                            version: 1,
                            // A re-created key starts a new chain; reads at older revisions find the
                            // earlier incarnation through its tombstone (see `list_at`).
                            prev_rev: 0,
                            key,
                            value,
                        };
                        write(&mut revs, &mut index, rev, &rec)?;
                        let kv = rec.into_kv(rev);
                        events.push(Event {
                            kind: EventKind::Put,
                            kv: kv.clone(),
                            prev: None,
                        });
                        Ok(Outcome::Put(kv))
                    }
                }
                Op::Update {
                    key,
                    value,
                    expected,
                } => match guard(&index, &key, expected)? {
                    Err(e) => Err(e),
                    Ok((create_rev, mod_rev, version)) => {
                        let prev = read_record(&revs, mod_rev)?.map(|r| r.into_kv(mod_rev));
                        rev += 1;
                        let rec = Record {
                            tombstone: false,
                            create_rev,
                            version: version + 1,
                            prev_rev: mod_rev,
                            key,
                            value,
                        };
                        write(&mut revs, &mut index, rev, &rec)?;
                        let kv = rec.into_kv(rev);
                        events.push(Event {
                            kind: EventKind::Put,
                            kv: kv.clone(),
                            prev,
                        });
                        Ok(Outcome::Put(kv))
                    }
                },
                Op::Delete { key, expected } => match guard(&index, &key, expected)? {
                    Err(e) => Err(e),
                    Ok((_, mod_rev, _)) => {
                        let prev = read_record(&revs, mod_rev)?
                            .map(|r| r.into_kv(mod_rev))
                            .ok_or_else(|| StoreError::Corrupt {
                                path: String::new(),
                                reason: format!("index points at missing revision {mod_rev}"),
                            })?;
                        rev += 1;
                        let rec = Record {
                            tombstone: true,
                            create_rev: 0,
                            version: 0,
                            prev_rev: mod_rev,
                            key: key.clone(),
                            value: Vec::new(),
                        };
                        revs.insert(rev, rec.encode().as_slice())
                            .map_err(|e| storage("write revision")(e.into()))?;
                        index
                            .remove(key.as_str())
                            .map_err(|e| storage("write index")(e.into()))?;
                        events.push(Event {
                            kind: EventKind::Delete,
                            kv: rec.into_kv(rev),
                            prev: Some(prev.clone()),
                        });
                        Ok(Outcome::Deleted(Deleted {
                            prev,
                            revision: rev,
                        }))
                    }
                },
                Op::Compact { revision } => {
                    if revision > rev {
                        Err(StoreError::FutureRevision {
                            requested: revision,
                            current: rev,
                        })
                    } else if revision <= compact_rev {
                        Ok(Outcome::Compacted)
                    } else {
                        compact(&mut revs, revision)?;
                        compact_rev = revision;
                        Ok(Outcome::Compacted)
                    }
                }
            };
            results.push(res);
        }
        meta_t
            .insert(META_REVISION, rev)
            .map_err(|e| storage("write meta")(e.into()))?;
        meta_t
            .insert(META_COMPACTED, compact_rev)
            .map_err(|e| storage("write meta")(e.into()))?;
        revision = rev;
        compacted = compact_rev;
    }
    txn.commit().map_err(|e| storage("commit")(e.into()))?;
    Ok((results, events, revision, compacted))
}

fn write(
    revs: &mut redb::Table<i64, &[u8]>,
    index: &mut redb::Table<&str, (i64, i64, i64)>,
    rev: Revision,
    rec: &Record,
) -> Result<(), StoreError> {
    revs.insert(rev, rec.encode().as_slice())
        .map_err(|e| storage("write revision")(e.into()))?;
    index
        .insert(rec.key.as_str(), (rec.create_rev, rev, rec.version))
        .map_err(|e| storage("write index")(e.into()))?;
    Ok(())
}

/// Checks that `key` exists and, with `expected`, that its mod revision matches.
#[allow(clippy::type_complexity)]
fn guard(
    index: &redb::Table<&str, (i64, i64, i64)>,
    key: &str,
    expected: Option<Revision>,
) -> Result<Result<(i64, i64, i64), StoreError>, StoreError> {
    let cur = index
        .get(key)
        .map_err(|e| storage("read index")(e.into()))?
        .map(|v| v.value());
    Ok(match cur {
        None => Err(StoreError::NotFound {
            key: key.to_string(),
        }),
        Some((_, m, _)) if expected.is_some_and(|e| e != m) => Err(StoreError::Conflict {
            key: key.to_string(),
            expected: expected.unwrap_or_default(),
            actual: m,
        }),
        Some(v) => Ok(v),
    })
}

/// Removes history older than `revision` that no read at `revision` or later can need: every
/// record superseded at or before `revision`, and tombstones older than it.
fn compact(revs: &mut redb::Table<i64, &[u8]>, revision: Revision) -> Result<(), StoreError> {
    // Newest record at or before `revision` per key.
    let mut newest: HashMap<String, (Revision, bool)> = HashMap::new();
    let mut all = Vec::new();
    for item in revs
        .range(..=revision)
        .map_err(|e| storage("scan revisions")(e.into()))?
    {
        let (k, v) = item.map_err(|e| storage("scan revisions")(e.into()))?;
        let rev = k.value();
        let raw = v.value();
        let tomb = raw.first().is_some_and(|f| f & 1 != 0);
        let Some(key) = Record::decode_key(raw) else {
            return Err(StoreError::Corrupt {
                path: String::new(),
                reason: format!("record at revision {rev} has no readable key"),
            });
        };
        newest.insert(key.to_string(), (rev, tomb));
        all.push((rev, key.to_string()));
    }
    let mut removed = 0usize;
    for (rev, key) in all {
        if rev >= revision {
            continue;
        }
        let keep = matches!(newest.get(&key), Some(&(r, tomb)) if r == rev && !tomb);
        if !keep {
            revs.remove(rev).map_err(|e| storage("compact")(e.into()))?;
            removed += 1;
        }
    }
    debug!(revision, removed, "compacted");
    Ok(())
}

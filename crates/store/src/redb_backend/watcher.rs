//! Watches on the embedded store: replay history from the file, then follow the writer's
//! broadcast of committed events. A watcher that falls behind the broadcast catches up from
//! the file again, so no event is ever skipped.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redb::Database;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tracing::debug;

use super::record::Record;
use super::tables::{event_for, meta, storage, META, META_COMPACTED, META_REVISION, REVS};
use super::writer::Shared;
use crate::{Event, Revision, StoreError, WatchStream};

/// Events read from the file per blocking step while catching up.
const REPLAY_CHUNK: i64 = 512;

pub(crate) fn start(
    db: Arc<Database>,
    shared: Arc<Shared>,
    prefix: String,
    after: Revision,
) -> Result<WatchStream, StoreError> {
    let compacted = shared.compacted.load(Ordering::Acquire);
    if after < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            compacted,
        });
    }
    // Subscribe before reading the file so nothing committed in between is missed.
    let live = shared.events.subscribe();
    let (tx, stream) = WatchStream::channel();
    tokio::spawn(async move {
        let mut w = Watcher {
            db,
            prefix,
            last: after,
            tx,
        };
        if let Err(e) = w.follow(live).await {
            let _ = w.tx.send(Err(e)).await;
        }
    });
    Ok(stream)
}

struct Watcher {
    db: Arc<Database>,
    prefix: String,
    /// Revision of the last event considered (delivered or filtered out).
    last: Revision,
    tx: mpsc::Sender<Result<Event, StoreError>>,
}

impl Watcher {
    async fn follow(
        &mut self,
        mut live: tokio::sync::broadcast::Receiver<Arc<Vec<Event>>>,
    ) -> Result<(), StoreError> {
        if !self.catch_up().await? {
            return Ok(());
        }
        loop {
            let batch = tokio::select! {
                b = live.recv() => b,
                _ = self.tx.closed() => return Ok(()),
            };
            match batch {
                Ok(events) => {
                    for ev in events.iter() {
                        if ev.revision() <= self.last {
                            continue;
                        }
                        if ev.revision() > self.last + 1 {
                            // A gap (a batch we never saw): read it from the file.
                            if !self.catch_up().await? {
                                return Ok(());
                            }
                            if ev.revision() <= self.last {
                                continue;
                            }
                        }
                        self.last = ev.revision();
                        if ev.kv.key.starts_with(&self.prefix)
                            && self.tx.send(Ok(ev.clone())).await.is_err()
                        {
                            return Ok(());
                        }
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    debug!(skipped = n, prefix = %self.prefix, "watcher lagged; replaying from the store");
                    if !self.catch_up().await? {
                        return Ok(());
                    }
                }
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }

    /// Delivers every stored event after `self.last` up to the current revision. Returns false
    /// when the consumer went away.
    async fn catch_up(&mut self) -> Result<bool, StoreError> {
        loop {
            let (db, prefix, from) = (self.db.clone(), self.prefix.clone(), self.last);
            let (events, upto, current) =
                tokio::task::spawn_blocking(move || replay(&db, &prefix, from))
                    .await
                    .map_err(|e| StoreError::backend("watch replay task", e))??;
            for ev in events {
                if self.tx.send(Ok(ev)).await.is_err() {
                    return Ok(false);
                }
            }
            self.last = upto;
            if upto >= current {
                return Ok(true);
            }
        }
    }
}

/// Events under `prefix` in `(from, from + REPLAY_CHUNK]`, the last revision covered and the
/// current revision.
fn replay(
    db: &Database,
    prefix: &str,
    from: Revision,
) -> Result<(Vec<Event>, Revision, Revision), StoreError> {
    let txn = db
        .begin_read()
        .map_err(|e| storage("begin read")(e.into()))?;
    let (current, compacted) = {
        let m = txn
            .open_table(META)
            .map_err(|e| storage("open meta")(e.into()))?;
        (meta(&m, META_REVISION)?, meta(&m, META_COMPACTED)?)
    };
    if from < compacted {
        return Err(StoreError::Compacted {
            requested: from,
            compacted,
        });
    }
    let upto = current.min(from.saturating_add(REPLAY_CHUNK));
    let revs = txn
        .open_table(REVS)
        .map_err(|e| storage("open revs")(e.into()))?;
    let mut events = Vec::new();
    if upto > from {
        for entry in revs
            .range(from + 1..=upto)
            .map_err(|e| storage("scan revisions")(e.into()))?
        {
            let (r, raw) = entry.map_err(|e| storage("scan revisions")(e.into()))?;
            let raw = raw.value();
            if !Record::decode_key(raw).is_some_and(|k| k.starts_with(prefix)) {
                continue;
            }
            let rev = r.value();
            let rec = Record::decode(rev, raw)?;
            events.push(event_for(&revs, rev, rec)?);
        }
    }
    Ok((events, upto, current))
}

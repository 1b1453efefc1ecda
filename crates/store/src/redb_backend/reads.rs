//! Reads: get, and list at the current or an older revision. Each runs in one read
//! transaction, so it sees one consistent revision.

use std::collections::BTreeMap;

use redb::{Database, ReadTransaction};

use super::record::Record;
use super::tables::{
    meta, read_record, storage, value_at, INDEX, META, META_COMPACTED, META_REVISION, REVS,
};
use crate::continue_token::{next_token, ContinueToken};
use crate::{KeyValue, ListOptions, ListResult, Revision, StoreError};

pub(crate) fn get(db: &Database, key: &str) -> Result<Option<KeyValue>, StoreError> {
    let txn = db
        .begin_read()
        .map_err(|e| storage("begin read")(e.into()))?;
    let index = txn
        .open_table(INDEX)
        .map_err(|e| storage("open index")(e.into()))?;
    let Some((_, m, _)) = index
        .get(key)
        .map_err(|e| storage("read index")(e.into()))?
        .map(|v| v.value())
    else {
        return Ok(None);
    };
    let revs = txn
        .open_table(REVS)
        .map_err(|e| storage("open revs")(e.into()))?;
    match read_record(&revs, m)? {
        Some(rec) => Ok(Some(rec.into_kv(m))),
        None => Err(StoreError::Corrupt {
            path: String::new(),
            reason: format!("index of {key:?} points at missing revision {m}"),
        }),
    }
}

pub(crate) fn list(
    db: &Database,
    prefix: &str,
    opts: &ListOptions,
) -> Result<ListResult, StoreError> {
    let txn = db
        .begin_read()
        .map_err(|e| storage("begin read")(e.into()))?;
    let (current, compacted) = {
        let m = txn
            .open_table(META)
            .map_err(|e| storage("open meta")(e.into()))?;
        (meta(&m, META_REVISION)?, meta(&m, META_COMPACTED)?)
    };
    let (start, at) = match &opts.continue_token {
        Some(t) => {
            let t = ContinueToken::decode(t)?;
            (t.start_key(prefix), Some(t.revision))
        }
        None => (prefix.to_string(), opts.revision.filter(|r| *r > 0)),
    };
    let limit = opts.limit.filter(|l| *l > 0);
    match at {
        Some(r) if r < compacted => Err(StoreError::Compacted {
            requested: r,
            compacted,
        }),
        Some(r) if r > current => Err(StoreError::FutureRevision {
            requested: r,
            current,
        }),
        Some(r) if r < current => list_at(&txn, prefix, &start, r, current, limit),
        _ => list_current(&txn, prefix, &start, current, limit),
    }
}

fn list_current(
    txn: &ReadTransaction,
    prefix: &str,
    start: &str,
    current: Revision,
    limit: Option<usize>,
) -> Result<ListResult, StoreError> {
    let index = txn
        .open_table(INDEX)
        .map_err(|e| storage("open index")(e.into()))?;
    let revs = txn
        .open_table(REVS)
        .map_err(|e| storage("open revs")(e.into()))?;
    let mut items = Vec::new();
    let mut remaining = 0i64;
    for entry in index
        .range(start..)
        .map_err(|e| storage("scan index")(e.into()))?
    {
        let (k, v) = entry.map_err(|e| storage("scan index")(e.into()))?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            continue;
        }
        let (_, m, _) = v.value();
        let rec = read_record(&revs, m)?.ok_or_else(|| StoreError::Corrupt {
            path: String::new(),
            reason: format!("index of {key:?} points at missing revision {m}"),
        })?;
        items.push(rec.into_kv(m));
    }
    Ok(page(prefix, items, remaining, current))
}

/// A list at an older revision: live keys whose newest write is later are walked back through
/// their history, and keys deleted since are found through their tombstones.
fn list_at(
    txn: &ReadTransaction,
    prefix: &str,
    start: &str,
    at: Revision,
    current: Revision,
    limit: Option<usize>,
) -> Result<ListResult, StoreError> {
    let index = txn
        .open_table(INDEX)
        .map_err(|e| storage("open index")(e.into()))?;
    let revs = txn
        .open_table(REVS)
        .map_err(|e| storage("open revs")(e.into()))?;
    let mut found: BTreeMap<String, KeyValue> = BTreeMap::new();
    for entry in index
        .range(start..)
        .map_err(|e| storage("scan index")(e.into()))?
    {
        let (k, v) = entry.map_err(|e| storage("scan index")(e.into()))?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        let (_, m, _) = v.value();
        if let Some(kv) = value_at(&revs, m, at)? {
            found.insert(key.to_string(), kv);
        }
    }
    for entry in revs
        .range(at + 1..=current)
        .map_err(|e| storage("scan revisions")(e.into()))?
    {
        let (r, raw) = entry.map_err(|e| storage("scan revisions")(e.into()))?;
        let raw = raw.value();
        let Some(key) = Record::decode_key(raw) else {
            continue;
        };
        if !key.starts_with(prefix) || key < start || found.contains_key(key) {
            continue;
        }
        if raw.first().is_some_and(|f| f & 1 != 0) {
            if let Some(kv) = value_at(&revs, r.value(), at)? {
                found.insert(key.to_string(), kv);
            }
        }
    }
    let total = found.len();
    let take = limit.unwrap_or(total).min(total);
    let items: Vec<KeyValue> = found.into_values().take(take).collect();
    Ok(page(prefix, items, (total - take) as i64, at))
}

fn page(prefix: &str, items: Vec<KeyValue>, remaining: i64, revision: Revision) -> ListResult {
    let continue_token = match items.last() {
        Some(last) if remaining > 0 => Some(next_token(prefix, &last.key, revision)),
        _ => None,
    };
    ListResult {
        items,
        revision,
        continue_token,
        remaining: (remaining > 0).then_some(remaining),
    }
}

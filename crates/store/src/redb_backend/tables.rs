//! Table layout and read helpers shared by the reader paths and the writer thread.
//!
//! * `REVS`: revision → [`Record`]: the history log, one record per write (etcd's layout).
//! * `INDEX`: key → (create_rev, mod_rev, version) of the live keys.
//! * `META`: format version, current revision, compacted revision.

use redb::{ReadableTable, TableDefinition};

use super::record::Record;
use crate::{Event, EventKind, KeyValue, Revision, StoreError};

pub(crate) const META: TableDefinition<&str, i64> = TableDefinition::new("rkube_meta");
pub(crate) const REVS: TableDefinition<i64, &[u8]> = TableDefinition::new("rkube_revs");
pub(crate) const INDEX: TableDefinition<&str, (i64, i64, i64)> =
    TableDefinition::new("rkube_index");

pub(crate) const META_FORMAT: &str = "format";
pub(crate) const META_REVISION: &str = "revision";
pub(crate) const META_COMPACTED: &str = "compacted";
pub(crate) const FORMAT_VERSION: i64 = 1;

pub(crate) fn storage(context: &'static str) -> impl Fn(redb::Error) -> StoreError {
    move |e| StoreError::backend(context, e)
}

pub(crate) fn meta<T: ReadableTable<&'static str, i64>>(
    t: &T,
    name: &str,
) -> Result<i64, StoreError> {
    Ok(t.get(name)
        .map_err(|e| storage("read meta")(e.into()))?
        .map(|v| v.value())
        .unwrap_or(0))
}

pub(crate) fn read_record<T: ReadableTable<i64, &'static [u8]>>(
    revs: &T,
    rev: Revision,
) -> Result<Option<Record>, StoreError> {
    match revs
        .get(rev)
        .map_err(|e| storage("read revision")(e.into()))?
    {
        Some(raw) => Record::decode(rev, raw.value()).map(Some),
        None => Ok(None),
    }
}

/// The live value of `key` as of `at`, walking the key's history back from `from_rev` (its
/// newest record). `None` if the key did not exist at `at`.
pub(crate) fn value_at<T: ReadableTable<i64, &'static [u8]>>(
    revs: &T,
    from_rev: Revision,
    at: Revision,
) -> Result<Option<KeyValue>, StoreError> {
    let mut rev = from_rev;
    loop {
        if rev == 0 {
            return Ok(None);
        }
        let Some(rec) = read_record(revs, rev)? else {
            // History before the compaction point is gone; callers check the compacted
            // revision first, so this means the key had no version at `at`.
            return Ok(None);
        };
        if rev <= at {
            return Ok(if rec.tombstone {
                None
            } else {
                Some(rec.into_kv(rev))
            });
        }
        rev = rec.prev_rev;
    }
}

/// The watch event for the record written at `rev`.
pub(crate) fn event_for<T: ReadableTable<i64, &'static [u8]>>(
    revs: &T,
    rev: Revision,
    rec: Record,
) -> Result<Event, StoreError> {
    let prev = if rec.prev_rev != 0 {
        match read_record(revs, rec.prev_rev)? {
            Some(p) if !p.tombstone => Some(p.into_kv(rec.prev_rev)),
            _ => None,
        }
    } else {
        None
    };
    let kind = if rec.tombstone {
        EventKind::Delete
    } else {
        EventKind::Put
    };
    Ok(Event {
        kind,
        kv: rec.into_kv(rev),
        prev,
    })
}

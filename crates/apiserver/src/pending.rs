//! Writes in flight from this server, handed to the watch cache.
//!
//! Every write comes back to the cache through the store's watch as bytes, which the cache
//! would decode into the very object the request handler already holds. Decoding is one of
//! a write's largest costs, so before writing, the handler registers its object under the
//! key together with the exact bytes it stores; the cache takes the object when an event
//! with those bytes arrives. Equal bytes decode to an equal object, so whichever write the
//! event belongs to, the object taken is the one decoding would give.
//!
//! The handler and the cache race after the store commits (the event and the reply leave
//! the store together); whichever comes first sets the resourceVersion and shares the
//! object, and the second one removes the entry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use crate::object::set_resource_version;

enum Slot {
    /// Registered before the write; nobody has used it yet.
    Held(Value),
    /// The cache applied the write's event first: the handler picks the object up.
    Cached(Arc<Value>),
    /// The handler finished first: the cache takes the object when the event arrives.
    Finished(Arc<Value>),
}

struct Entry {
    bytes: Vec<u8>,
    slot: Slot,
}

#[derive(Default)]
pub struct Pending {
    writes: Mutex<HashMap<String, Entry>>,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `obj`, about to be stored at `key` as `bytes`. Gives the object back when
    /// another write to the key is in flight (then this one is decoded as usual).
    /// `applied` is the cache's revision: an entry finished at or before it is stale (its
    /// event was never seen, e.g. across a reload) and is replaced.
    pub fn register<'a>(
        &'a self,
        key: &'a str,
        bytes: &[u8],
        obj: Value,
        applied: i64,
    ) -> Result<Registered<'a>, Value> {
        let mut writes = self.lock();
        if let Some(e) = writes.get(key) {
            let stale = matches!(&e.slot, Slot::Finished(o) if rv_of(o) <= applied);
            if !stale {
                return Err(obj);
            }
        }
        writes.insert(
            key.to_string(),
            Entry {
                bytes: bytes.to_vec(),
                slot: Slot::Held(obj),
            },
        );
        Ok(Registered {
            pending: self,
            key,
            open: true,
        })
    }

    fn finish(&self, key: &str, rv: i64) -> Option<Arc<Value>> {
        let mut writes = self.lock();
        let entry = writes.remove(key)?;
        match entry.slot {
            Slot::Held(mut obj) => {
                set_resource_version(&mut obj, rv);
                let obj = Arc::new(obj);
                writes.insert(
                    key.to_string(),
                    Entry {
                        bytes: entry.bytes,
                        slot: Slot::Finished(obj.clone()),
                    },
                );
                Some(obj)
            }
            Slot::Cached(obj) if rv_of(&obj) == rv => Some(obj),
            // Equal bytes written by someone else at another revision took the object.
            Slot::Cached(obj) | Slot::Finished(obj) => {
                let mut own = (*obj).clone();
                set_resource_version(&mut own, rv);
                Some(Arc::new(own))
            }
        }
    }

    fn cancel(&self, key: &str) -> Option<Value> {
        match self.lock().remove(key)?.slot {
            Slot::Held(obj) => Some(obj),
            Slot::Cached(obj) | Slot::Finished(obj) => Some((*obj).clone()),
        }
    }

    fn forget(&self, key: &str) {
        let mut writes = self.lock();
        if !matches!(writes.get(key).map(|e| &e.slot), Some(Slot::Finished(_))) {
            writes.remove(key);
        }
    }

    /// For the cache: the object an event storing `bytes` at `key`, revision `rv`, carries,
    /// when a write from this server registered it.
    pub fn take(&self, key: &str, bytes: &[u8], rv: i64) -> Option<Arc<Value>> {
        let mut writes = self.lock();
        let entry = writes.get_mut(key)?;
        if entry.bytes != bytes {
            return None;
        }
        match &mut entry.slot {
            Slot::Held(obj) => {
                let mut obj = std::mem::take(obj);
                set_resource_version(&mut obj, rv);
                let obj = Arc::new(obj);
                entry.slot = Slot::Cached(obj.clone());
                Some(obj)
            }
            Slot::Finished(obj) if rv_of(obj) == rv => {
                let obj = obj.clone();
                writes.remove(key);
                Some(obj)
            }
            _ => None,
        }
    }

    /// After a reload the cache starts over: finished writes it never saw are dropped.
    pub fn clear_finished(&self) {
        self.lock()
            .retain(|_, e| !matches!(e.slot, Slot::Finished(_)));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Stores `obj` at `key`: created when `expected` is `None`, else updated over that
/// revision. `storage` is its storage-version form when that differs from `obj` (then the
/// cache decodes the event as usual). On success, the object with its resourceVersion; on
/// failure, the store's error and the object back.
pub async fn write(
    store: &dyn rkube_store::Store,
    cache: &crate::cache::Cache,
    key: &str,
    obj: Value,
    storage: Option<&Value>,
    expected: Option<rkube_store::Revision>,
) -> Result<Arc<Value>, (rkube_store::StoreError, Value)> {
    let bytes = crate::object::to_stored(storage.unwrap_or(&obj));
    // A field the store does not keep would make the decoded object differ.
    let exact =
        storage.is_none() && crate::object::meta(&obj).is_none_or(|m| !m.contains_key("selfLink"));
    let registered = if exact {
        cache.pending.register(key, &bytes, obj, cache.revision())
    } else {
        Err(obj)
    };
    let stored = match expected {
        None => store.create(key, bytes).await,
        Some(rev) => store.update(key, bytes, Some(rev)).await,
    };
    match (stored, registered) {
        (Ok(kv), Ok(r)) => r.finish(kv.mod_revision).ok_or_else(|| {
            let e = rkube_store::StoreError::Backend {
                context: format!("write of {key}"),
                source: "the registered object vanished".into(),
            };
            (e, Value::Null)
        }),
        (Ok(kv), Err(mut obj)) => {
            set_resource_version(&mut obj, kv.mod_revision);
            Ok(Arc::new(obj))
        }
        (Err(e), Ok(r)) => Err((e, r.cancel().unwrap_or_default())),
        (Err(e), Err(obj)) => Err((e, obj)),
    }
}

/// A registered write; dropped unfinished (the request was abandoned), it unregisters.
pub struct Registered<'a> {
    pending: &'a Pending,
    key: &'a str,
    open: bool,
}

impl Registered<'_> {
    /// The write was stored at `rv`: the object with its resourceVersion, shared with the
    /// cache.
    pub fn finish(mut self, rv: i64) -> Option<Arc<Value>> {
        self.open = false;
        self.pending.finish(self.key, rv)
    }

    /// The write failed: the object back.
    pub fn cancel(mut self) -> Option<Value> {
        self.open = false;
        self.pending.cancel(self.key)
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if self.open {
            self.pending.forget(self.key);
        }
    }
}

fn rv_of(obj: &Value) -> i64 {
    crate::object::meta_str(obj, "resourceVersion")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({"kind": "Pod", "metadata": {"name": "a"}, "spec": {"x": 1}})
    }

    #[test]
    fn handler_first_then_cache() {
        let p = Pending::default();
        let w = p.register("k", b"B", obj(), 0).unwrap();
        let mine = w.finish(7).unwrap();
        assert_eq!(rv_of(&mine), 7);
        let cached = p.take("k", b"B", 7).unwrap();
        assert!(Arc::ptr_eq(&mine, &cached));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn cache_first_then_handler() {
        let p = Pending::default();
        let w = p.register("k", b"B", obj(), 0).unwrap();
        let cached = p.take("k", b"B", 9).unwrap();
        assert_eq!(rv_of(&cached), 9);
        let mine = w.finish(9).unwrap();
        assert!(Arc::ptr_eq(&mine, &cached));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn other_bytes_are_decoded_and_a_second_writer_is_not_registered() {
        let p = Pending::default();
        let w = p.register("k", b"B", obj(), 0).unwrap();
        assert!(p.take("k", b"other", 3).is_none());
        assert!(p.register("k", b"C", obj(), 0).is_err());
        assert_eq!(w.cancel(), Some(obj()));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn an_abandoned_write_unregisters() {
        let p = Pending::default();
        drop(p.register("k", b"B", obj(), 0).unwrap());
        assert_eq!(p.len(), 0);
        let w = p.register("k", b"B", obj(), 0).unwrap();
        p.take("k", b"B", 2).unwrap();
        drop(w);
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn stale_finished_entries_are_replaced() {
        let p = Pending::default();
        p.register("k", b"B", obj(), 0).unwrap().finish(5).unwrap();
        // Not stale while the cache is before 5.
        assert!(p.register("k", b"C", obj(), 4).is_err());
        // The cache is past 5 without having seen the event: the entry is stale.
        let w = p.register("k", b"C", obj(), 6).unwrap();
        assert!(p.take("k", b"C", 8).is_some());
        p.clear_finished();
        assert_eq!(w.finish(8).map(|o| rv_of(&o)), Some(8));
    }

    /// Through a real store and cache: the cache holds the writer's object itself, equal
    /// to what decoding the stored bytes gives.
    #[tokio::test]
    async fn the_cache_keeps_the_written_object() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn rkube_store::Store> =
            Arc::new(rkube_store::RedbStore::open(dir.path().join("db")).unwrap());
        let cancel = tokio_util::sync::CancellationToken::new();
        let cache = crate::cache::Cache::start(store.clone(), cancel.clone())
            .await
            .unwrap();
        let key = "/registry/pods/default/a";
        let created = write(&*store, &cache, key, obj(), None, None)
            .await
            .unwrap();
        let rv = rv_of(&created);
        // (A second write to a key before the cache has seen the first is decoded.)
        cache
            .wait_for(rv, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&cache.get(key).unwrap(), &created));
        let mut next = (*created).clone();
        next["spec"]["x"] = json!(2);
        let updated = write(&*store, &cache, key, next, None, Some(rv))
            .await
            .unwrap();
        cache
            .wait_for(rv_of(&updated), std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let cached = cache.get(key).unwrap();
        assert!(Arc::ptr_eq(&cached, &updated));
        let kv = store.get(key).await.unwrap().unwrap();
        let decoded = crate::object::from_stored(&kv.value, kv.mod_revision).unwrap();
        assert_eq!(*cached, decoded);
        // A failed write gives the object back and leaves nothing registered.
        let (e, back) = write(&*store, &cache, key, obj(), None, None)
            .await
            .unwrap_err();
        assert!(matches!(e, rkube_store::StoreError::AlreadyExists { .. }));
        assert_eq!(back, obj());
        assert_eq!(cache.pending.len(), 0);
        cancel.cancel();
    }

    #[test]
    fn equal_bytes_from_another_revision_get_their_own_copy() {
        let p = Pending::default();
        let w = p.register("k", b"B", obj(), 0).unwrap();
        let cached = p.take("k", b"B", 4).unwrap();
        let mine = w.finish(6).unwrap();
        assert_eq!(rv_of(&cached), 4);
        assert_eq!(rv_of(&mine), 6);
    }
}

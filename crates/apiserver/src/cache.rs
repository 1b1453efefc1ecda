//! The watch cache: every object under `/registry/` in memory, kept current by one store
//! watch, with a window of recent events. Lists and watches are served from here; the store
//! sees writes (and single-object reads).
//!
//! One watch over the whole registry (rather than one per resource) means the cache's
//! revision advances with every write anywhere, so "wait until the cache has seen the store's
//! current revision" is a cheap way to serve consistent lists from memory.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;
use std::time::Duration;

use rkube_store::{EventKind, ListOptions, Store, StoreError};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::object::from_stored;

pub const REGISTRY_PREFIX: &str = "/registry/";
/// Recent events kept for watches that resume from a resourceVersion.
const HISTORY: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct CacheEvent {
    pub kind: EventType,
    pub key: String,
    pub rv: i64,
    /// The new object, or for deletes the last state (with the delete's resourceVersion).
    pub object: Arc<Value>,
    /// The object before this change.
    pub prev: Option<Arc<Value>>,
    /// `object` as JSON, encoded once for every watcher that sends it as it is.
    encoded: OnceLock<Bytes>,
}

impl CacheEvent {
    pub fn new(
        kind: EventType,
        key: String,
        rv: i64,
        object: Arc<Value>,
        prev: Option<Arc<Value>>,
    ) -> CacheEvent {
        CacheEvent {
            kind,
            key,
            rv,
            object,
            prev,
            encoded: OnceLock::new(),
        }
    }

    /// The object's JSON: a watch event goes to several watchers (scheduler, controllers,
    /// agents), and encoding it once instead of once per watcher is most of a write's cost.
    pub fn object_json(&self) -> &Bytes {
        self.encoded
            .get_or_init(|| Bytes::from(serde_json::to_vec(&*self.object).unwrap_or_default()))
    }
}

struct State {
    objects: BTreeMap<String, Arc<Value>>,
    rv: i64,
    history: VecDeque<Arc<CacheEvent>>,
    /// Watches from a resourceVersion at or after this one can be served from `history`.
    floor: i64,
}

pub struct Cache {
    store: Arc<dyn Store>,
    state: RwLock<State>,
    events: broadcast::Sender<Arc<CacheEvent>>,
    progress: tokio::sync::watch::Sender<i64>,
    /// Objects this server is writing, taken instead of decoding their events.
    pub(crate) pending: crate::pending::Pending,
}

/// What a list from the cache returns.
pub struct Snapshot {
    pub items: Vec<Arc<Value>>,
    pub rv: i64,
}

/// A watch's start: the events after the requested revision, then the live feed.
pub struct Subscription {
    pub backlog: Vec<Arc<CacheEvent>>,
    pub live: broadcast::Receiver<Arc<CacheEvent>>,
    pub rv: i64,
}

#[derive(Debug)]
pub enum CacheError {
    /// The requested revision is older than the cache's window (410 Gone).
    TooOld { requested: i64, oldest: i64 },
    /// The cache did not reach the revision in time (504).
    NotFresh { requested: i64, current: i64 },
}

impl Cache {
    /// Loads everything and starts following the store.
    pub async fn start(
        store: Arc<dyn Store>,
        cancel: CancellationToken,
    ) -> Result<Arc<Cache>, StoreError> {
        let (objects, rv) = load(&*store).await?;
        info!(objects = objects.len(), revision = rv, "watch cache loaded");
        let (events, _) = broadcast::channel(4096);
        let (progress, _) = tokio::sync::watch::channel(rv);
        let cache = Arc::new(Cache {
            store,
            state: RwLock::new(State {
                objects,
                rv,
                history: VecDeque::new(),
                floor: rv,
            }),
            events,
            progress,
            pending: Default::default(),
        });
        let c = cache.clone();
        tokio::spawn(async move { c.follow(cancel).await });
        Ok(cache)
    }

    async fn follow(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            let from = self.revision();
            let mut watch = match self.store.watch(REGISTRY_PREFIX, from).await {
                Ok(w) => w,
                Err(StoreError::Compacted { .. }) => {
                    self.reload().await;
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "watch cache: store watch failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = cancel.cancelled() => return,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    n = watch.next() => n,
                    _ = cancel.cancelled() => return,
                };
                match next {
                    Some(Ok(ev)) => self.apply(ev),
                    Some(Err(StoreError::Compacted { .. })) => {
                        self.reload().await;
                        break;
                    }
                    Some(Err(e)) => {
                        warn!(error = %e, "watch cache: store watch error; resuming");
                        break;
                    }
                    None => {
                        debug!("watch cache: store watch ended; resuming");
                        break;
                    }
                }
            }
        }
    }

    /// After losing history: reload everything; older watchers will get 410.
    async fn reload(&self) {
        loop {
            match load(&*self.store).await {
                Ok((objects, rv)) => {
                    if let Ok(mut st) = self.state.write() {
                        st.objects = objects;
                        st.rv = rv;
                        st.history.clear();
                        st.floor = rv;
                    }
                    self.pending.clear_finished();
                    self.progress.send_replace(rv);
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "watch cache reload failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn apply(&self, ev: rkube_store::Event) {
        let rv = ev.revision();
        let key = ev.kv.key.clone();
        let event = {
            let Ok(mut st) = self.state.write() else {
                return;
            };
            let prev = st.objects.get(&key).cloned();
            let event = match ev.kind {
                EventKind::Put => {
                    let hinted = self.pending.take(&key, &ev.kv.value, rv);
                    let obj = match hinted
                        .map(Ok)
                        .unwrap_or_else(|| from_stored(&ev.kv.value, rv).map(Arc::new))
                    {
                        Ok(v) => v,
                        Err(e) => {
                            warn!(%key, error = %e, "undecodable object in store; skipped");
                            st.rv = rv;
                            return;
                        }
                    };
                    st.objects.insert(key.clone(), obj.clone());
                    let kind = if prev.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    CacheEvent::new(kind, key, rv, obj, prev)
                }
                EventKind::Delete => {
                    st.objects.remove(&key);
                    let Some(last) = prev.clone() else {
                        st.rv = rv;
                        return;
                    };
                    let mut obj = (*last).clone();
                    crate::object::set_resource_version(&mut obj, rv);
                    CacheEvent::new(EventType::Deleted, key, rv, Arc::new(obj), prev)
                }
            };
            let event = Arc::new(event);
            st.rv = rv;
            st.history.push_back(event.clone());
            if st.history.len() > HISTORY {
                if let Some(old) = st.history.pop_front() {
                    st.floor = old.rv;
                }
            }
            event
        };
        let _ = self.events.send(event);
        self.progress.send_replace(rv);
    }

    pub fn revision(&self) -> i64 {
        self.state.read().map(|s| s.rv).unwrap_or(0)
    }

    /// Waits until the cache has seen revision `rv`.
    pub async fn wait_for(&self, rv: i64, timeout: Duration) -> Result<(), CacheError> {
        let mut rx = self.progress.subscribe();
        let wait = async {
            loop {
                if *rx.borrow_and_update() >= rv {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(()) if self.revision() >= rv => Ok(()),
            _ => Err(CacheError::NotFresh {
                requested: rv,
                current: self.revision(),
            }),
        }
    }

    /// Waits until the cache has seen every write the store has acknowledged.
    pub async fn wait_fresh(&self) -> Result<(), CacheError> {
        let target = self.store.current_revision().await.unwrap_or(0);
        self.wait_for(target, Duration::from_secs(3)).await
    }

    /// Objects under `prefix` that `keep` accepts.
    pub fn list(&self, prefix: &str, keep: &dyn Fn(&Value) -> bool) -> Snapshot {
        let Ok(st) = self.state.read() else {
            return Snapshot {
                items: Vec::new(),
                rv: 0,
            };
        };
        let items = st
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, v)| keep(v))
            .map(|(_, v)| v.clone())
            .collect();
        Snapshot { items, rv: st.rv }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        self.state.read().ok()?.objects.get(key).cloned()
    }

    /// Starts a watch after `rv` (`None`: from now, with the current objects under `prefix`
    /// as synthetic ADDED events).
    pub fn subscribe(&self, prefix: &str, rv: Option<i64>) -> Result<Subscription, CacheError> {
        let st = self.state.read().map_err(|_| CacheError::TooOld {
            requested: 0,
            oldest: 0,
        })?;
        let live = self.events.subscribe();
        let backlog = match rv {
            None => st
                .objects
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| {
                    Arc::new(CacheEvent::new(
                        EventType::Added,
                        k.clone(),
                        st.rv,
                        v.clone(),
                        None,
                    ))
                })
                .collect(),
            Some(rv) if rv < st.floor => {
                return Err(CacheError::TooOld {
                    requested: rv,
                    oldest: st.floor,
                })
            }
            Some(rv) => st
                .history
                .iter()
                .filter(|e| e.rv > rv && e.key.starts_with(prefix))
                .cloned()
                .collect(),
        };
        Ok(Subscription {
            backlog,
            live,
            rv: st.rv,
        })
    }
}

async fn load(store: &dyn Store) -> Result<(BTreeMap<String, Arc<Value>>, i64), StoreError> {
    let mut objects = BTreeMap::new();
    let mut opts = ListOptions {
        limit: Some(10_000),
        ..Default::default()
    };
    loop {
        let page = store.list(REGISTRY_PREFIX, opts.clone()).await?;
        for kv in page.items {
            match from_stored(&kv.value, kv.mod_revision) {
                Ok(v) => {
                    objects.insert(kv.key, Arc::new(v));
                }
                Err(e) => warn!(key = %kv.key, error = %e, "undecodable object in store; skipped"),
            }
        }
        match page.continue_token {
            Some(t) => opts.continue_token = Some(t),
            None => return Ok((objects, page.revision)),
        }
    }
}

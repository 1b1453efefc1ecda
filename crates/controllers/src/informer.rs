//! Shared informers: one watch per resource type keeps an in-memory cache of every object
//! and tells registered handlers about each change as `(old, new)`, as client-go's shared
//! informers do. Controllers read the cache (never the API) when deciding, and react to
//! handler calls by queueing keys. The cache is updated before handlers run, so a reconcile
//! triggered by an event sees at least that event's state.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::StreamExt;
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

type Objects<K> = HashMap<String, HashMap<String, Arc<K>>>;

/// The cached objects of one type, by namespace ("" for cluster-scoped) and name.
pub struct Cache<K> {
    objects: RwLock<Objects<K>>,
    synced: watch::Sender<bool>,
}

impl<K> Cache<K> {
    fn new() -> Self {
        Cache {
            objects: RwLock::new(HashMap::new()),
            synced: watch::channel(false).0,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Objects<K>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Objects<K>> {
        self.objects.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.read()
            .get(namespace)
            .and_then(|m| m.get(name))
            .cloned()
    }

    /// Every object in `namespace`.
    pub fn list(&self, namespace: &str) -> Vec<Arc<K>> {
        self.read()
            .get(namespace)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every object of the type.
    pub fn list_all(&self) -> Vec<Arc<K>> {
        self.read()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.read().values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until the first complete list has arrived (client-go's `WaitForCacheSync`):
    /// deciding on a partial cache would, for example, create pods that already exist.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }
}

/// Called with `(None, Some(new))` for an addition, `(Some(old), Some(new))` for an update,
/// `(Some(last), None)` for a deletion.
pub type Handler<K> = Box<dyn Fn(Option<&K>, Option<&K>) + Send + Sync>;

/// One watched type: its cache and the handlers to call. Register handlers, then
/// [`Informer::spawn`].
pub struct Informer<K> {
    api: Api<K>,
    config: watcher::Config,
    cache: Arc<Cache<K>>,
    handlers: Vec<Handler<K>>,
}

fn namespace_of<K: Resource>(o: &K) -> String {
    o.meta().namespace.clone().unwrap_or_default()
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    pub fn new(api: Api<K>) -> Self {
        Self::with_fields(api, None)
    }

    /// An informer on the objects a field selector (e.g. `metadata.name=x`) picks.
    pub fn with_fields(api: Api<K>, fields: Option<&str>) -> Self {
        let mut config = watcher::Config::default();
        if let Some(f) = fields {
            config = config.fields(f);
        }
        Informer {
            api,
            config,
            cache: Arc::new(Cache::new()),
            handlers: Vec::new(),
        }
    }

    pub fn cache(&self) -> Arc<Cache<K>> {
        self.cache.clone()
    }

    pub fn on(&mut self, handler: Handler<K>) {
        self.handlers.push(handler);
    }

    /// Runs the watch until `cancel` fires.
    pub fn spawn(self, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(cancel))
    }

    async fn run(self, cancel: CancellationToken) {
        let kind = K::kind(&Default::default()).to_string();
        let mut stream = watcher(self.api.clone(), self.config.clone())
            .default_backoff()
            .boxed();
        let mut relist: Option<Objects<K>> = None;
        loop {
            let ev = tokio::select! {
                e = stream.next() => e,
                _ = cancel.cancelled() => return,
            };
            match ev {
                Some(Ok(watcher::Event::Apply(o))) => {
                    let (ns, name) = (namespace_of(&o), o.name_any());
                    let o = Arc::new(o);
                    let old = self
                        .cache
                        .write()
                        .entry(ns)
                        .or_default()
                        .insert(name, o.clone());
                    self.notify(old.as_deref(), Some(&o));
                }
                Some(Ok(watcher::Event::Delete(o))) => {
                    let (ns, name) = (namespace_of(&o), o.name_any());
                    {
                        let mut w = self.cache.write();
                        if let Some(m) = w.get_mut(&ns) {
                            m.remove(&name);
                            if m.is_empty() {
                                w.remove(&ns);
                            }
                        }
                    }
                    self.notify(Some(&o), None);
                }
                Some(Ok(watcher::Event::Init)) => relist = Some(HashMap::new()),
                Some(Ok(watcher::Event::InitApply(o))) => {
                    if let Some(buf) = relist.as_mut() {
                        buf.entry(namespace_of(&o))
                            .or_default()
                            .insert(o.name_any(), Arc::new(o));
                    }
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    let fresh = relist.take().unwrap_or_default();
                    self.replace(fresh);
                    if !self.cache.is_synced() {
                        info!(kind = %kind, objects = self.cache.len(), "informer synced");
                    }
                    self.cache.synced.send_replace(true);
                }
                Some(Err(e)) => debug!(kind = %kind, error = %e, "watch error; retrying"),
                None => return,
            }
        }
    }

    /// Swaps in a complete list, telling handlers what changed while the watch was down.
    fn replace(&self, fresh: Objects<K>) {
        let old = std::mem::replace(&mut *self.cache.write(), fresh.clone());
        for (ns, objs) in &fresh {
            for (name, o) in objs {
                let before = old.get(ns).and_then(|m| m.get(name));
                let unchanged = before.is_some_and(|b| {
                    b.meta().resource_version.is_some()
                        && b.meta().resource_version == o.meta().resource_version
                });
                if !unchanged {
                    self.notify(before.map(|b| b.as_ref()), Some(o));
                }
            }
        }
        for (ns, objs) in &old {
            for (name, o) in objs {
                if fresh.get(ns).is_none_or(|m| !m.contains_key(name)) {
                    self.notify(Some(o), None);
                }
            }
        }
    }

    fn notify(&self, old: Option<&K>, new: Option<&K>) {
        for h in &self.handlers {
            h(old, new);
        }
    }
}

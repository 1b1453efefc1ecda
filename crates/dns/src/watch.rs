//! Watch streams that keep the [`Index`] current. Each (re-)list is applied as one replacement
//! so objects deleted while a watch was down disappear; every later event is applied on its own.

use std::fmt::Debug;
use std::sync::{Arc, PoisonError, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::index::{self, Index, Key};

/// A watched kind and how it maps into the index.
trait Indexed:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    type Item: Send;
    const WHAT: &'static str;
    fn convert(&self) -> Option<Self::Item>;
    fn apply(idx: &mut Index, item: Self::Item);
    fn delete(&self, idx: &mut Index);
    fn replace(idx: &mut Index, items: Vec<Self::Item>);
}

fn key_of<K: Resource>(obj: &K) -> Option<Key> {
    let meta = obj.meta();
    Some((
        meta.namespace.as_deref()?.to_ascii_lowercase(),
        meta.name.as_deref()?.to_ascii_lowercase(),
    ))
}

impl Indexed for Service {
    type Item = (Key, index::Service);
    const WHAT: &'static str = "services";
    fn convert(&self) -> Option<Self::Item> {
        index::service_from(self)
    }
    fn apply(idx: &mut Index, (k, s): Self::Item) {
        idx.upsert_service(k, s);
    }
    fn delete(&self, idx: &mut Index) {
        if let Some(k) = key_of(self) {
            idx.remove_service(&k);
        }
    }
    fn replace(idx: &mut Index, items: Vec<Self::Item>) {
        idx.replace_services(items);
    }
}

impl Indexed for EndpointSlice {
    type Item = (Key, index::Slice);
    const WHAT: &'static str = "endpointslices";
    fn convert(&self) -> Option<Self::Item> {
        index::slice_from(self)
    }
    fn apply(idx: &mut Index, (k, s): Self::Item) {
        idx.upsert_slice(k, s);
    }
    fn delete(&self, idx: &mut Index) {
        if let Some(k) = key_of(self) {
            idx.remove_slice(&k);
        }
    }
    fn replace(idx: &mut Index, items: Vec<Self::Item>) {
        idx.replace_slices(items);
    }
}

impl Indexed for Namespace {
    type Item = String;
    const WHAT: &'static str = "namespaces";
    fn convert(&self) -> Option<String> {
        self.metadata.name.clone()
    }
    fn apply(idx: &mut Index, name: String) {
        idx.upsert_namespace(&name);
    }
    fn delete(&self, idx: &mut Index) {
        if let Some(n) = &self.metadata.name {
            idx.remove_namespace(n);
        }
    }
    fn replace(idx: &mut Index, items: Vec<String>) {
        idx.replace_namespaces(items);
    }
}

/// Starts the three watches; they stop with `cancel`.
pub(crate) fn spawn_all(
    client: &Client,
    index: &Arc<RwLock<Index>>,
    cancel: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(watch(
            Api::<Service>::all(client.clone()),
            index.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch(
            Api::<EndpointSlice>::all(client.clone()),
            index.clone(),
            cancel.clone(),
        )),
        tokio::spawn(watch(
            Api::<Namespace>::all(client.clone()),
            index.clone(),
            cancel.clone(),
        )),
    ]
}

async fn watch<K: Indexed>(api: Api<K>, index: Arc<RwLock<Index>>, cancel: CancellationToken) {
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut pending: Vec<K::Item> = Vec::new();
    let write = || index.write().unwrap_or_else(PoisonError::into_inner);
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            ev = stream.next() => ev,
        };
        match event {
            None => {
                tracing::warn!(what = K::WHAT, "watch stream ended");
                return;
            }
            Some(Err(e)) => tracing::warn!(what = K::WHAT, error = %e, "watch failed; retrying"),
            Some(Ok(Event::Init)) => pending.clear(),
            Some(Ok(Event::InitApply(obj))) => pending.extend(obj.convert()),
            Some(Ok(Event::InitDone)) => {
                let items = std::mem::take(&mut pending);
                let count = items.len();
                K::replace(&mut write(), items);
                tracing::info!(what = K::WHAT, count, "dns index listed");
            }
            // An object that no longer converts (say, a slice lost its service label) must
            // drop whatever it contributed before.
            Some(Ok(Event::Apply(obj))) => match obj.convert() {
                Some(item) => K::apply(&mut write(), item),
                None => obj.delete(&mut write()),
            },
            Some(Ok(Event::Delete(obj))) => obj.delete(&mut write()),
        }
    }
}

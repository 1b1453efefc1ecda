//! Reflectors over the objects the table depends on, and the rebuild loop: any change wakes
//! it, a short delay coalesces bursts, then a new table and certificate map are swapped in.

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::build::{self, Objects};
use crate::proxy::SharedTable;
use crate::status::{self, StatusWriter};
use crate::tls::CertStore;
use crate::IngressConfig;

/// How long the first table waits for all caches before serving what it has.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

fn spawn_reflector<K>(
    api: Api<K>,
    cfg: watcher::Config,
    notify: Arc<Notify>,
    cancel: CancellationToken,
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, cfg)).default_backoff();
    let kind = K::kind(&K::DynamicType::default()).to_string();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                ev = stream.next() => match ev {
                    Some(Ok(_)) => notify.notify_one(),
                    Some(Err(e)) => tracing::warn!(%kind, error = %e, "ingress watch error"),
                    None => return,
                },
            }
        }
    });
    reader
}

struct Stores {
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    secrets: Store<Secret>,
}

impl Stores {
    async fn wait(&self) {
        let all = async {
            let _ = self.ingresses.wait_until_ready().await;
            let _ = self.classes.wait_until_ready().await;
            let _ = self.services.wait_until_ready().await;
            let _ = self.slices.wait_until_ready().await;
            let _ = self.secrets.wait_until_ready().await;
        };
        if tokio::time::timeout(SYNC_TIMEOUT, all).await.is_err() {
            tracing::warn!(
                "ingress caches not synced after {SYNC_TIMEOUT:?}; serving partial state"
            );
        }
    }

    fn objects(&self) -> Objects {
        Objects {
            ingresses: self.ingresses.state(),
            classes: self.classes.state(),
            services: self.services.state(),
            slices: self.slices.state(),
            secrets: self.secrets.state(),
        }
    }
}

pub(crate) async fn run(
    client: kube::Client,
    cfg: &IngressConfig,
    table: SharedTable,
    certs: Arc<CertStore>,
    cancel: CancellationToken,
) {
    let notify = Arc::new(Notify::new());
    let wc = watcher::Config::default;
    let stores = Stores {
        ingresses: spawn_reflector(
            Api::all(client.clone()),
            wc(),
            notify.clone(),
            cancel.clone(),
        ),
        classes: spawn_reflector(
            Api::all(client.clone()),
            wc(),
            notify.clone(),
            cancel.clone(),
        ),
        services: spawn_reflector(
            Api::all(client.clone()),
            wc(),
            notify.clone(),
            cancel.clone(),
        ),
        slices: spawn_reflector(
            Api::all(client.clone()),
            wc(),
            notify.clone(),
            cancel.clone(),
        ),
        // Only TLS Secrets: the rest are none of our business (and can be large).
        secrets: spawn_reflector(
            Api::all(client.clone()),
            wc().fields("type=kubernetes.io/tls"),
            notify.clone(),
            cancel.clone(),
        ),
    };
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = stores.wait() => {}
    }
    let writer = StatusWriter::new(client.clone(), cfg.node_ips.clone());
    let mut reported: HashSet<build::Rejection> = HashSet::new();
    let mut warned: HashSet<String> = HashSet::new();
    loop {
        let built = build::build(&stores.objects());
        table.store(Arc::new(built.table));
        certs.swap(built.certs);
        tracing::debug!(served = built.served.len(), "ingress table swapped");
        let now: HashSet<String> = built.warnings.into_iter().collect();
        for w in now.difference(&warned) {
            tracing::warn!(warning = %w, "ingress configuration problem");
        }
        warned = now;
        let rejected: HashSet<_> = built.rejected.into_iter().collect();
        for r in rejected.difference(&reported) {
            tracing::warn!(ingress = %format!("{}/{}", r.namespace, r.name), reason = %r.reason,
                "Ingress rejected: not served");
            status::reject_event(&client, r).await;
        }
        reported = rejected;
        let served: HashSet<(String, String)> = built.served.into_iter().collect();
        let retry = !writer.reconcile(&stores.ingresses.state(), &served).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = notify.notified() => {}
            // Status writes that failed (conflicts) are retried without waiting for a change.
            _ = tokio::time::sleep(Duration::from_secs(1)), if retry => {}
        }
        tokio::time::sleep(cfg.debounce).await;
    }
}

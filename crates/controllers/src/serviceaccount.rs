//! The service accounts controller (upstream's `serviceaccounts-controller`): every active
//! namespace has a ServiceAccount named `default` — pods that name no service account run
//! as it, and admission refuses pods whose service account is missing. It is created with a
//! new namespace and recreated whenever it is deleted.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{error_message, is_already_exists};

/// The accounts every namespace gets.
const MANAGED: [&str; 1] = ["default"];
const WORKERS: usize = 2;

pub struct ServiceAccountController {
    client: Client,
    namespaces: Arc<Cache<Namespace>>,
    accounts: Arc<Cache<ServiceAccount>>,
    queue: Arc<WorkQueue>,
}

impl ServiceAccountController {
    pub fn new(
        client: Client,
        ns_informer: &mut Informer<Namespace>,
        sa_informer: &mut Informer<ServiceAccount>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(ServiceAccountController {
            client,
            namespaces: ns_informer.cache(),
            accounts: sa_informer.cache(),
            queue: WorkQueue::new(cancel),
        });
        let q = this.queue.clone();
        ns_informer.on(Box::new(move |_old, new| {
            if let Some(ns) = new {
                q.add(ns.name_any());
            }
        }));
        let q = this.queue.clone();
        sa_informer.on(Box::new(move |old, new| {
            // Only a deletion of a managed account needs action.
            if let (Some(sa), None) = (old, new) {
                if MANAGED.contains(&sa.name_any().as_str()) {
                    q.add(sa.namespace().unwrap_or_default());
                }
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async { self.namespaces.wait_synced().await; self.accounts.wait_synced().await } => {}
            _ = cancel.cancelled() => return,
        }
        info!("serviceaccount controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "serviceaccount", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    /// Creates the managed accounts missing from an active namespace.
    pub async fn sync(&self, namespace: &str) -> Result<(), kube::Error> {
        let Some(ns) = self.namespaces.get("", namespace) else {
            return Ok(());
        };
        let active = ns.metadata.deletion_timestamp.is_none()
            && ns
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Active")
                == "Active";
        if !active {
            return Ok(());
        }
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        for name in MANAGED {
            if self.accounts.get(namespace, name).is_some() {
                continue;
            }
            let sa = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: Some(namespace.to_string()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match api.create(&PostParams::default(), &sa).await {
                Ok(_) => info!(namespace, name, "created service account"),
                Err(e) if is_already_exists(&e) => {}
                // The namespace started terminating after our cache saw it.
                Err(e) if error_message(&e).contains("being terminated") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

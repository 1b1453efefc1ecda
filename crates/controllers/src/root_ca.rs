//! The root CA publisher (upstream's `root-ca-cert-publisher`): every active namespace has a
//! ConfigMap `kube-root-ca.crt` holding the cluster CA, which service account token volumes
//! project as `ca.crt` so in-cluster clients can verify the API server. It is created with
//! a namespace, and put back when deleted or changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;
use crate::util::{error_message, is_already_exists, is_not_found};

pub const NAME: &str = "kube-root-ca.crt";
const KEY: &str = "ca.crt";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
const WORKERS: usize = 2;

pub struct RootCaController {
    client: Client,
    namespaces: Arc<Cache<Namespace>>,
    maps: Arc<Cache<ConfigMap>>,
    queue: Arc<WorkQueue>,
    ca: tokio::sync::OnceCell<String>,
}

impl RootCaController {
    pub fn new(
        client: Client,
        ns_informer: &mut Informer<Namespace>,
        cm_informer: &mut Informer<ConfigMap>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(RootCaController {
            client,
            namespaces: ns_informer.cache(),
            maps: cm_informer.cache(),
            queue: WorkQueue::new(cancel),
            ca: tokio::sync::OnceCell::new(),
        });
        let q = this.queue.clone();
        ns_informer.on(Box::new(move |_old, new| {
            if let Some(ns) = new {
                q.add(ns.name_any());
            }
        }));
        let q = this.queue.clone();
        cm_informer.on(Box::new(move |old, new| {
            if let Some(cm) = new.or(old) {
                if cm.name_any() == NAME {
                    q.add(cm.namespace().unwrap_or_default());
                }
            }
        }));
        this
    }

    /// The ConfigMaps informer this controller needs: only `kube-root-ca.crt`.
    pub fn informer(client: &Client) -> Informer<ConfigMap> {
        Informer::with_fields(
            Api::all(client.clone()),
            Some(&format!("metadata.name={NAME}")),
        )
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async { self.namespaces.wait_synced().await; self.maps.wait_synced().await } => {}
            _ = cancel.cancelled() => return,
        }
        info!("root CA publisher started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "root-ca", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    /// The cluster CA, as the API server serves it to nodes joining.
    async fn ca(&self) -> Result<&String, kube::Error> {
        self.ca
            .get_or_try_init(|| async {
                let req = http::Request::get("/cacerts")
                    .body(Vec::new())
                    .map_err(kube::Error::HttpError)?;
                self.client.request_text(req).await
            })
            .await
    }

    pub async fn sync(&self, namespace: &str) -> Result<(), kube::Error> {
        let Some(ns) = self.namespaces.get("", namespace) else {
            return Ok(());
        };
        if ns.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let ca = self.ca().await?.clone();
        let data = BTreeMap::from([(KEY.to_string(), ca)]);
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        match self.maps.get(namespace, NAME) {
            Some(cm) if cm.data.as_ref() == Some(&data) => Ok(()),
            Some(cm) => {
                let mut fixed = (*cm).clone();
                fixed.data = Some(data);
                fixed.binary_data = None;
                match api.replace(NAME, &PostParams::default(), &fixed).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_not_found(&e) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            None => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(NAME.into()),
                        namespace: Some(namespace.into()),
                        annotations: Some(BTreeMap::from([(
                            "kubernetes.io/description".to_string(),
                            DESCRIPTION.to_string(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(data),
                    ..Default::default()
                };
                match api.create(&PostParams::default(), &cm).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_already_exists(&e) => Ok(()),
                    Err(e) if error_message(&e).contains("being terminated") => Ok(()),
                    Err(e) => {
                        warn!(namespace, "creating {NAME}: {e}");
                        Err(e)
                    }
                }
            }
        }
    }
}

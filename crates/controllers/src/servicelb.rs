//! ServiceLB (k3s's klipper-lb role, without its DaemonSet): a Service of type LoadBalancer
//! with no `loadBalancerClass` gets the InternalIPs of the Ready nodes as
//! `status.loadBalancer.ingress`; every agent's proxy then accepts the Service's ports on
//! its node's address. Leaving type LoadBalancer clears the status again.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::informer::{Cache, Informer};
use crate::queue::WorkQueue;

const WORKERS: usize = 1;

pub struct ServiceLbController {
    client: Client,
    services: Arc<Cache<Service>>,
    nodes: Arc<Cache<Node>>,
    queue: Arc<WorkQueue>,
}

impl ServiceLbController {
    pub fn new(
        client: Client,
        svc_informer: &mut Informer<Service>,
        node_informer: &mut Informer<Node>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let this = Arc::new(ServiceLbController {
            client,
            services: svc_informer.cache(),
            nodes: node_informer.cache(),
            queue: WorkQueue::new(cancel),
        });
        let q = this.queue.clone();
        svc_informer.on(Box::new(move |_old, new| {
            if let Some(s) = new {
                q.add(format!(
                    "{}/{}",
                    s.namespace().unwrap_or_default(),
                    s.name_any()
                ));
            }
        }));
        // A node becoming Ready or not changes every LoadBalancer's addresses.
        let (q, services) = (this.queue.clone(), this.services.clone());
        node_informer.on(Box::new(move |old, new| {
            let before = old.and_then(node_address);
            let after = new.and_then(node_address);
            if before == after {
                return;
            }
            for s in services.list_all() {
                if is_served(&s) {
                    q.add(format!(
                        "{}/{}",
                        s.namespace().unwrap_or_default(),
                        s.name_any()
                    ));
                }
            }
        }));
        this
    }

    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tokio::select! {
            _ = async { self.services.wait_synced().await; self.nodes.wait_synced().await } => {}
            _ = cancel.cancelled() => return,
        }
        info!("servicelb controller started");
        let this = self.clone();
        self.queue
            .run_workers(WORKERS, "servicelb", move |key| {
                let c = this.clone();
                async move { c.sync(&key).await }
            })
            .await;
    }

    /// Writes the ingress addresses a Service should have, if they differ.
    pub async fn sync(&self, key: &str) -> Result<(), kube::Error> {
        let (ns, name) = key.split_once('/').unwrap_or(("", key));
        let Some(svc) = self.services.get(ns, name) else {
            return Ok(());
        };
        let want: Vec<String> = if is_served(&svc) {
            let mut ips: Vec<String> = self
                .nodes
                .list_all()
                .iter()
                .filter_map(|n| node_address(n))
                .collect();
            ips.sort();
            ips.dedup();
            ips
        } else {
            Vec::new()
        };
        let have: Vec<String> = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|i| i.iter().filter_map(|x| x.ip.clone()).collect())
            .unwrap_or_default();
        if want == have {
            return Ok(());
        }
        let ingress: Vec<_> = want
            .iter()
            .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
            .collect();
        let patch = json!({"status": {"loadBalancer": {"ingress": ingress}}});
        let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        info!(namespace = ns, name, ingress = ?want, "load balancer addresses updated");
        Ok(())
    }
}

/// LoadBalancer Services that no other implementation claimed.
fn is_served(s: &Service) -> bool {
    s.spec.as_ref().is_some_and(|sp| {
        sp.type_.as_deref() == Some("LoadBalancer") && sp.load_balancer_class.is_none()
    })
}

/// A Ready node's InternalIP.
fn node_address(n: &Node) -> Option<String> {
    let st = n.status.as_ref()?;
    let ready = st
        .conditions
        .as_ref()?
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if !ready {
        return None;
    }
    st.addresses
        .as_ref()?
        .iter()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
}

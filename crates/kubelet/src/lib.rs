//! The node agent: registers the Node, renews its Lease, runs one worker per pod that converges
//! runtime state to the pod spec, and reports status — an API client like every other
//! component, talking to the runtime through the CRI-shaped [`RuntimeService`].
//!
//! Layout: [`node`] (registration, status, lease), [`pods`] (the pod informer and the
//! dispatch to workers), [`worker`] (one pod's sync loop), [`spec`] (pod spec → runtime
//! container config), [`status`] (runtime state → pod status), [`events`].

pub mod events;
mod eviction;
mod grpc_probe;
pub mod hostports;
pub mod images;
pub mod network;
pub mod node;
pub mod pods;
pub mod probes;
pub mod server;
mod service_env;
pub mod simulate;
pub mod spec;
mod startup;
pub mod status;
pub mod time;
mod token;
pub mod volumes;
pub mod worker;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rkube_runtime::{Runtime, RuntimeService};
use tokio_util::sync::CancellationToken;

/// What the agent is told at start.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_name: String,
    pub node_ip: IpAddr,
    /// `<data-dir>` (the agent's state is under `<data-dir>/agent`).
    pub data_dir: PathBuf,
    pub cluster_dns: IpAddr,
    pub cluster_domain: String,
    /// Labels to add to the Node (roles, …).
    pub node_labels: Vec<(String, String)>,
    /// The kubelet server's port (10250) and certificates; no server without them.
    pub server_port: u16,
    pub server_tls: Option<server::ServerTls>,
    /// The cluster's pod range (`10.42.0.0/16`); with it the agent runs the pod network on
    /// its node's podCIDR and the service proxy.
    pub cluster_cidr: Option<String>,
}

impl Config {
    /// `agent/logs/<ns>_<pod>_<uid>`: where a pod's container logs live.
    pub fn pod_log_dir(&self, namespace: &str, name: &str, uid: &str) -> PathBuf {
        self.data_dir
            .join("agent/logs")
            .join(format!("{namespace}_{name}_{uid}"))
    }

    /// `agent/pods/<uid>`: a pod's volumes and files.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.data_dir.join("agent/pods").join(uid)
    }
}

/// The pod network, as the agent sees it (the network crate implements it; CNI-shaped).
#[async_trait::async_trait]
pub trait PodNetwork: Send + Sync {
    /// Connects the sandbox's network namespace and returns the pod's IP.
    async fn setup(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        netns: &std::path::Path,
    ) -> anyhow::Result<String>;
    /// Releases the pod's address and interfaces.
    async fn teardown(&self, namespace: &str, name: &str, uid: &str, netns: &std::path::Path);
}

/// Everything a pod worker needs, shared.
pub struct Agent {
    pub config: Config,
    pub client: kube::Client,
    pub runtime: Arc<dyn RuntimeService>,
    pub images: rkube_runtime::image::ImageService,
    pub events: events::Recorder,
    /// Set once the pod network is up (the pod loop starts after it).
    pub network: std::sync::OnceLock<Arc<dyn PodNetwork>>,
}

fn pod_names(pod: &k8s_openapi::api::core::v1::Pod) -> (&str, &str, &str) {
    (
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or(""),
        pod.metadata.uid.as_deref().unwrap_or(""),
    )
}

impl Agent {
    /// Sets up the pod's network; `None` without a pod network (the pod has only `lo`).
    pub async fn network_setup(
        &self,
        pod: &k8s_openapi::api::core::v1::Pod,
        sandbox: &str,
    ) -> Option<String> {
        let net = self.network.get()?;
        let (ns, name, uid) = pod_names(pod);
        match net
            .setup(ns, name, uid, &self.runtime.pod_sandbox_netns(sandbox))
            .await
        {
            Ok(ip) => Some(ip),
            Err(e) => {
                tracing::warn!(pod = %format!("{ns}/{name}"), "pod network setup: {e:#}");
                None
            }
        }
    }

    pub async fn network_teardown(&self, pod: &k8s_openapi::api::core::v1::Pod, sandbox: &str) {
        if let Some(net) = self.network.get() {
            let (ns, name, uid) = pod_names(pod);
            net.teardown(ns, name, uid, &self.runtime.pod_sandbox_netns(sandbox))
                .await;
        }
    }
}

/// Runs the agent until `cancel` fires: imports `agent/images/*.tar`, registers the node,
/// and starts syncing pods.
pub async fn run(
    client: kube::Client,
    runtime: Runtime,
    config: Config,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let images = runtime.images().clone();
    match images.import_agent_images().await {
        Ok(report) => tracing::info!(?report, "imported agent/images"),
        Err(e) => tracing::warn!("importing agent/images: {e}"),
    }
    let agent_cidr: Option<ipnet::Ipv4Net> = match &config.cluster_cidr {
        Some(c) => Some(
            c.parse()
                .map_err(|e| anyhow::anyhow!("invalid cluster CIDR {c:?}: {e}"))?,
        ),
        None => None,
    };
    let agent = Arc::new(Agent {
        events: events::Recorder::new(client.clone(), &config.node_name),
        config,
        client,
        images,
        runtime: Arc::new(runtime),
        network: std::sync::OnceLock::new(),
    });
    node::register(&agent).await?;
    if let Some(cidr) = agent_cidr {
        let net = network::start(&agent, cidr, cancel.clone()).await?;
        let _ = agent.network.set(net);
    }
    let node_task = tokio::spawn(node::run(agent.clone(), cancel.clone()));
    let pods_task = tokio::spawn(pods::run(agent.clone(), cancel.clone()));
    tokio::spawn(images::gc_loop(agent.clone(), cancel.clone()));
    if let Some(tls) = agent.config.server_tls.clone() {
        let listen = std::net::SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            agent.config.server_port,
        );
        let agent = agent.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = server::run(agent, listen, tls, cancel).await {
                tracing::error!("kubelet server: {e:#}");
            }
        });
    }
    cancel.cancelled().await;
    let _ = tokio::join!(node_task, pods_task);
    Ok(())
}

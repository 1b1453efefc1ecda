//! The node's networking, run by the agent: the pod network on the node's `spec.podCIDR`
//! (bridge, veth, host-local IPAM), routes to every other node's podCIDR, and the service
//! proxy fed from Services and EndpointSlices — what flannel and kube-proxy do on a k3s node.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ipnet::{IpNet, Ipv4Net};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, ResourceExt};
use rkube_network::proxy::model as pm;
use rkube_network::proxy::{Proxier, ProxierConfig};
use rkube_network::{BridgeConfig, BridgeNetwork};
use tokio_util::sync::CancellationToken;

use crate::{Agent, PodNetwork};

/// [`PodNetwork`] over the bridge network.
pub struct Bridge(pub BridgeNetwork);

#[async_trait::async_trait]
impl PodNetwork for Bridge {
    async fn setup(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        netns: &Path,
    ) -> anyhow::Result<String> {
        Ok(self.0.setup(namespace, name, uid, netns).await?.to_string())
    }
    async fn teardown(&self, namespace: &str, name: &str, uid: &str, netns: &Path) {
        if let Err(e) = self.0.teardown(namespace, name, uid, netns).await {
            tracing::warn!(pod = %format!("{namespace}/{name}"), "pod network teardown: {e:#}");
        }
    }
}

/// Waits for the node's podCIDR, brings up the bridge, and starts route and proxy sync.
pub async fn start(
    agent: &Arc<Agent>,
    cluster_cidr: Ipv4Net,
    cancel: CancellationToken,
) -> anyhow::Result<Arc<dyn PodNetwork>> {
    let nodes: Api<Node> = Api::all(agent.client.clone());
    let name = agent.config.node_name.clone();
    let mut waited = Duration::ZERO;
    let pod_cidr = loop {
        let node = nodes.get(&name).await?;
        if let Some(c) = node.spec.and_then(|s| s.pod_cidr) {
            break c.parse::<Ipv4Net>()?;
        }
        if waited > Duration::from_secs(60) {
            anyhow::bail!("node {name} got no podCIDR from the controller manager in 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    };
    let mut cfg = BridgeConfig::new(pod_cidr, cluster_cidr, &agent.config.data_dir);
    if let IpAddr::V4(ip) = agent.config.node_ip {
        cfg.node_ip = Some(ip);
    }
    let bridge = BridgeNetwork::new(cfg)?;
    bridge.ensure_host().await?;
    tracing::info!(node = %name, %pod_cidr, "pod network ready");
    tokio::spawn(sync_routes(agent.clone(), bridge.clone(), cancel.clone()));
    start_dns(agent, cancel.clone()).await;
    tokio::spawn(crate::hostports::run(agent.clone(), cancel.clone()));
    tokio::spawn(run_proxy(agent.clone(), cluster_cidr, cancel));
    Ok(Arc::new(Bridge(bridge)))
}

/// Keeps a route to every other node's podCIDR.
async fn sync_routes(agent: Arc<Agent>, bridge: BridgeNetwork, cancel: CancellationToken) {
    let api: Api<Node> = Api::all(agent.client.clone());
    let (reader, writer) = reflector::store();
    let mut stream = reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects()
        .boxed();
    let mut last: Vec<(IpNet, IpAddr)> = Vec::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            ev = stream.next() => if ev.is_none() { return },
        }
        let mut peers: Vec<(IpNet, IpAddr)> = reader
            .state()
            .iter()
            .filter(|n| n.name_any() != agent.config.node_name)
            .filter_map(|n| {
                let cidr: IpNet = n.spec.as_ref()?.pod_cidr.as_ref()?.parse().ok()?;
                let ip: IpAddr = n
                    .status
                    .as_ref()?
                    .addresses
                    .as_ref()?
                    .iter()
                    .find(|a| a.type_ == "InternalIP")?
                    .address
                    .parse()
                    .ok()?;
                Some((cidr, ip))
            })
            .collect();
        peers.sort();
        if peers != last {
            match bridge.sync_routes(&peers).await {
                Ok(stats) => tracing::debug!(?stats, "routes synced"),
                Err(e) => tracing::warn!("sync routes: {e:#}"),
            }
            last = peers;
        }
    }
}

fn v4s(ips: impl IntoIterator<Item = String>) -> Vec<Ipv4Addr> {
    ips.into_iter().filter_map(|s| s.parse().ok()).collect()
}

/// The proxy's view of a Service (None for ExternalName and headless ones).
pub fn model_service(s: &Service) -> Option<pm::Service> {
    // Answered on every node by the agent itself (cluster DNS), never proxied.
    if s.annotations()
        .get(rkube_dns::NODE_LOCAL_ANNOTATION)
        .map(String::as_str)
        == Some("true")
    {
        return None;
    }
    let spec = s.spec.as_ref()?;
    let service_type = match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "NodePort" => pm::ServiceType::NodePort,
        "LoadBalancer" => pm::ServiceType::LoadBalancer,
        "ExternalName" => return None,
        _ => pm::ServiceType::ClusterIp,
    };
    let policy = |p: Option<&str>| match p {
        Some("Local") => pm::TrafficPolicy::Local,
        _ => pm::TrafficPolicy::Cluster,
    };
    let cluster_ips = v4s(spec
        .cluster_ips
        .clone()
        .or_else(|| spec.cluster_ip.clone().map(|c| vec![c]))
        .unwrap_or_default());
    Some(pm::Service {
        namespace: s.namespace().unwrap_or_default(),
        name: s.name_any(),
        service_type,
        cluster_ips,
        ports: spec
            .ports
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                Some(pm::ServicePort {
                    name: p.name.unwrap_or_default(),
                    protocol: pm::Protocol::from_api(p.protocol.as_deref().unwrap_or("TCP"))?,
                    port: u16::try_from(p.port).ok()?,
                    node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
                })
            })
            .collect(),
        external_ips: v4s(spec.external_ips.clone().unwrap_or_default()),
        load_balancer_ips: v4s(s
            .status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| i.ip)),
        external_traffic_policy: policy(spec.external_traffic_policy.as_deref()),
        internal_traffic_policy: policy(spec.internal_traffic_policy.as_deref()),
        session_affinity_timeout: (spec.session_affinity.as_deref() == Some("ClientIP")).then(
            || {
                spec.session_affinity_config
                    .as_ref()
                    .and_then(|c| c.client_ip.as_ref())
                    .and_then(|c| c.timeout_seconds)
                    .map(|t| t.max(1) as u32)
                    .unwrap_or(10800)
            },
        ),
    })
}

/// The proxy's view of an EndpointSlice.
pub fn model_slice(s: &EndpointSlice) -> Option<pm::EndpointSlice> {
    if s.address_type != "IPv4" {
        return None;
    }
    let service_name = s.labels().get("kubernetes.io/service-name")?.clone();
    Some(pm::EndpointSlice {
        namespace: s.namespace().unwrap_or_default(),
        service_name,
        ports: s
            .ports
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                Some(pm::EndpointPort {
                    name: p.name.unwrap_or_default(),
                    protocol: pm::Protocol::from_api(p.protocol.as_deref().unwrap_or("TCP"))?,
                    port: u16::try_from(p.port?).ok()?,
                })
            })
            .collect(),
        endpoints: s
            .endpoints
            .iter()
            .flat_map(|e| {
                let c = e.conditions.clone().unwrap_or_default();
                let ready = c.ready.unwrap_or(true);
                let node = e.node_name.clone();
                e.addresses.iter().filter_map(move |a| {
                    Some(pm::Endpoint {
                        ip: a.parse().ok()?,
                        node_name: node.clone(),
                        ready,
                        serving: c.serving.unwrap_or(ready),
                        terminating: c.terminating.unwrap_or(false),
                    })
                })
            })
            .collect(),
    })
}

/// kube-proxy: Services and EndpointSlices in, nftables out, coalescing bursts of changes.
async fn run_proxy(agent: Arc<Agent>, cluster_cidr: Ipv4Net, cancel: CancellationToken) {
    let (svc_reader, svc_writer) = reflector::store::<Service>();
    let (eps_reader, eps_writer) = reflector::store::<EndpointSlice>();
    let mut svc_stream = reflector(
        svc_writer,
        watcher(
            Api::<Service>::all(agent.client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects()
    .boxed();
    let mut eps_stream = reflector(
        eps_writer,
        watcher(
            Api::<EndpointSlice>::all(agent.client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects()
    .boxed();
    let mut proxier = Proxier::new(ProxierConfig::new(
        agent.config.node_name.clone(),
        Some(cluster_cidr),
    ));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let svc_tx = tx.clone();
    tokio::spawn(async move {
        while svc_stream.next().await.is_some() {
            let _ = svc_tx.try_send(());
        }
    });
    tokio::spawn(async move {
        while eps_stream.next().await.is_some() {
            let _ = tx.try_send(());
        }
    });
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            got = rx.recv() => if got.is_none() { return },
        }
        // Let a burst of changes settle into one transaction.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while rx.try_recv().is_ok() {}
        let services: Vec<pm::Service> = svc_reader
            .state()
            .iter()
            .filter_map(|s| model_service(s))
            .collect();
        let mut slices: BTreeMap<String, pm::EndpointSlice> = BTreeMap::new();
        for s in eps_reader.state() {
            if let Some(m) = model_slice(&s) {
                slices.insert(
                    format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any()),
                    m,
                );
            }
        }
        let slices: Vec<pm::EndpointSlice> = slices.into_values().collect();
        let result = tokio::task::block_in_place(|| proxier.sync(&services, &slices));
        match result {
            Ok(stats) => tracing::debug!(?stats, "service proxy synced"),
            Err(e) => tracing::warn!(node = %agent.config.node_name, "service proxy sync: {e:#}"),
        }
    }
}

/// Puts the cluster DNS address on the node's loopback and serves DNS there, so pods reach
/// a DNS server on their own node at `--cluster-dns`.
async fn start_dns(agent: &Arc<Agent>, cancel: CancellationToken) {
    let IpAddr::V4(ip) = agent.config.cluster_dns else {
        return;
    };
    let added = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut nl = rkube_network::nl::Netlink::open()?;
        let lo = nl
            .link_index("lo")?
            .ok_or_else(|| anyhow::anyhow!("no loopback device"))?;
        let want = Ipv4Net::new(ip, 32)?;
        if !nl.addresses(lo)?.contains(&want) {
            nl.add_address(lo, want)?;
        }
        Ok(())
    })
    .await;
    match added {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!("cluster DNS address {ip} on lo: {e:#}");
            return;
        }
        Err(e) => {
            tracing::warn!("cluster DNS address task: {e}");
            return;
        }
    }
    let cfg = rkube_dns::DnsConfig::new(
        vec![std::net::SocketAddr::new(IpAddr::V4(ip), 53)],
        agent.config.cluster_domain.clone(),
    );
    match rkube_dns::DnsServer::bind(agent.client.clone(), cfg).await {
        Ok(server) => {
            tracing::info!(%ip, "cluster DNS serving");
            tokio::spawn(async move {
                if let Err(e) = server.serve(cancel).await {
                    tracing::warn!("cluster DNS: {e:#}");
                }
            });
        }
        Err(e) => tracing::warn!("cluster DNS on {ip}:53: {e:#}"),
    }
}

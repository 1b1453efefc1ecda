//! Cluster DNS: answers `<svc>.<ns>.svc.<domain>` from Services and EndpointSlices and
//! forwards everything else to the node's upstream resolvers.
//!
//! The behaviour is CoreDNS's `kubernetes` plugin (with `pods insecure` and
//! `fallthrough in-addr.arpa ip6.arpa`) in front of its `forward` and `cache` plugins, i.e.
//! the default Corefile every Kubernetes distribution ships:
//!
//! - A/AAAA for Services (cluster IPs; ready endpoint IPs for headless ones), endpoint
//!   hostnames, SRV for ports, CNAME for ExternalName, PTR for cluster addresses, dashed pod
//!   names, and NXDOMAIN + SOA for every other name in the zone (search-path expansions are
//!   answered from memory, never forwarded);
//! - everything else goes to the upstreams with a TTL-honouring cache.
//!
//! Records come from watches on Services, EndpointSlices and Namespaces (the client needs
//! list/watch on all three); a query never calls the API server.

mod cluster;
mod config;
mod forward;
mod index;
mod names;
mod server;
mod service;
mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

pub use config::{parse_resolv_conf, upstreams_from_resolv_conf, DnsConfig};
pub use service::{ensure_service, NODE_LOCAL_ANNOTATION};

/// A bound, not yet serving, DNS server. Binding first lets callers learn the ports chosen
/// for `:0` listen addresses (tests) and fail early on an address that is not available.
pub struct DnsServer {
    client: kube::Client,
    handler: Arc<server::Handler>,
    udp: Vec<Arc<UdpSocket>>,
    tcp: Vec<TcpListener>,
}

impl DnsServer {
    /// Binds UDP and TCP on every `cfg.listen` address (TCP on the port UDP got).
    pub async fn bind(client: kube::Client, cfg: DnsConfig) -> anyhow::Result<Self> {
        let zone = cluster::Zone::new(&cfg.cluster_domain, cfg.ttl)?;
        // Forwarding to ourselves would loop every unknown name until the timeout.
        let upstreams: Vec<SocketAddr> = cfg
            .upstreams
            .iter()
            .filter(|u| !cfg.listen.contains(u))
            .copied()
            .collect();
        if upstreams.is_empty() {
            tracing::warn!("no upstream resolvers: names outside the cluster domain get SERVFAIL");
        }
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for addr in &cfg.listen {
            // Port 0 asks for any port: the UDP socket picks one, and TCP must get the same.
            // That TCP port may be in use already (an outgoing connection's ephemeral port),
            // so a few other picks are tried before giving up.
            let tries = if addr.port() == 0 { 16 } else { 1 };
            let mut attempt = 0;
            let (sock, listener) = loop {
                attempt += 1;
                let sock = UdpSocket::bind(addr)
                    .await
                    .with_context(|| format!("binding DNS UDP {addr}"))?;
                let bound = sock.local_addr()?;
                match TcpListener::bind(bound).await {
                    Ok(l) => break (sock, l),
                    Err(e) if attempt < tries && e.kind() == std::io::ErrorKind::AddrInUse => {
                        continue
                    }
                    Err(e) => {
                        return Err(e).with_context(|| format!("binding DNS TCP {bound}"));
                    }
                }
            };
            udp.push(Arc::new(sock));
            tcp.push(listener);
        }
        let handler = Arc::new(server::Handler {
            index: Arc::new(RwLock::new(index::Index::default())),
            zone,
            forwarder: forward::Forwarder::new(upstreams, cfg.upstream_timeout, cfg.cache_size),
        });
        Ok(DnsServer {
            client,
            handler,
            udp,
            tcp,
        })
    }

    /// The addresses actually bound (UDP and TCP share each one).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Watches the API and answers queries until `cancel` fires.
    pub async fn serve(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let addrs = self.local_addrs();
        let mut tasks = watch::spawn_all(&self.client, &self.handler.index, &cancel);
        for sock in self.udp {
            tasks.push(tokio::spawn(server::serve_udp(
                sock,
                self.handler.clone(),
                cancel.clone(),
            )));
        }
        for listener in self.tcp {
            tasks.push(tokio::spawn(server::serve_tcp(
                listener,
                self.handler.clone(),
                cancel.clone(),
            )));
        }
        tracing::info!(?addrs, zone = %self.handler.zone.name, "cluster DNS serving");
        cancel.cancelled().await;
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "dns task failed");
            }
        }
        Ok(())
    }
}

/// Serves cluster DNS on `cfg.listen` until `cancel` fires.
pub async fn run(
    client: kube::Client,
    cfg: DnsConfig,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    DnsServer::bind(client, cfg).await?.serve(cancel).await
}

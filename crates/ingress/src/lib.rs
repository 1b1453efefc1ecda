//! The ingress controller: an HTTP/HTTPS reverse proxy on every node routing by Ingress rules
//! straight to ready endpoints.
//!
//! - [`build`] turns API objects into a [`model::RoutingTable`] and a certificate map (pure);
//! - [`proxy::Proxy`] serves HTTP/1.1, HTTP/2 and upgrades from a swappable table;
//! - [`tls::CertStore`] picks certificates by SNI;
//! - [`run`] wires both to reflectors of the API server and keeps Ingress status current.

pub mod annotations;
pub mod build;
pub mod model;
pub mod proxy;
pub mod ratelimit;
pub mod status;
pub mod tls;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

pub use proxy::{Proxy, SharedTable};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Configuration of the node's ingress controller.
#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// Run at all (the agent's `--disable ingress` turns this off).
    pub enabled: bool,
    /// Plain HTTP listener; `None` disables it.
    pub http: Option<SocketAddr>,
    /// HTTPS listener; `None` disables it.
    pub https: Option<SocketAddr>,
    /// This node's addresses, added to `status.loadBalancer.ingress` of served Ingresses.
    pub node_ips: Vec<String>,
    /// Create the default IngressClass `rkube` if missing.
    pub ensure_ingress_class: bool,
    /// Coalescing delay between an API change and the table rebuild.
    pub debounce: Duration,
}

impl Default for IngressConfig {
    fn default() -> Self {
        IngressConfig {
            enabled: true,
            http: Some(SocketAddr::from(([0, 0, 0, 0], 80))),
            https: Some(SocketAddr::from(([0, 0, 0, 0], 443))),
            node_ips: Vec::new(),
            ensure_ingress_class: true,
            debounce: Duration::from_millis(50),
        }
    }
}

/// Runs the controller until `cancel`: binds the listeners, watches Ingresses, IngressClasses,
/// Services, EndpointSlices and TLS Secrets, and swaps in a new table on every change.
pub async fn run(
    client: kube::Client,
    cfg: IngressConfig,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    if !cfg.enabled || (cfg.http.is_none() && cfg.https.is_none()) {
        tracing::info!("ingress controller disabled");
        return Ok(());
    }
    let certs = Arc::new(tls::CertStore::new()?);
    let table: SharedTable = Arc::new(ArcSwap::from_pointee(model::RoutingTable::default()));
    let proxy = Proxy::new(table.clone(), cfg.https.map(|a| a.port()));
    let mut tasks = tokio::task::JoinSet::new();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = Vec::new();
    if let Some(addr) = cfg.http {
        threads.extend(
            proxy
                .serve_workers(addr, None, cancel.clone(), workers)
                .map_err(|source| Error::Bind { addr, source })?,
        );
        tracing::info!(%addr, workers, "ingress HTTP listening");
    }
    if let Some(addr) = cfg.https {
        let server_cfg = certs.server_config()?;
        threads.extend(
            proxy
                .serve_workers(addr, Some(server_cfg), cancel.clone(), workers)
                .map_err(|source| Error::Bind { addr, source })?,
        );
        tracing::info!(%addr, workers, "ingress HTTPS listening");
    }
    if cfg.ensure_ingress_class {
        let (cl, c) = (client.clone(), cancel.clone());
        tasks.spawn(async move { status::ensure_ingress_class(cl, c).await });
    }
    watch::run(client, &cfg, table, certs, cancel.clone()).await;
    cancel.cancel();
    while tasks.join_next().await.is_some() {}
    // The workers drain their connections (bounded) and end.
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
    Ok(())
}

//! The agent's client-side load balancer (as k3s's): the node agent talks to
//! `https://127.0.0.1:<port>`, and each connection goes to the first server that accepts
//! it, starting with the last one that worked. When a server dies its connections break,
//! clients reconnect, and the next server takes them. TLS passes through untouched (every
//! server's certificate names 127.0.0.1).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Servers as `host:port`, from `https://host:port` URLs.
pub fn server_addresses(urls: &[String]) -> anyhow::Result<Vec<String>> {
    urls.iter()
        .map(|u| {
            let url = crate::join::Url::parse(u)?;
            Ok(if url.host.contains(':') {
                format!("[{}]:{}", url.host, url.port)
            } else {
                format!("{}:{}", url.host, url.port)
            })
        })
        .collect()
}

/// Listens on 127.0.0.1 (an ephemeral port) and forwards to `servers`; returns the address.
pub async fn start(servers: Vec<String>, cancel: CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    let servers = Arc::new(servers);
    let current = Arc::new(AtomicUsize::new(0));
    info!(%local, servers = ?servers, "API server load balancer listening");
    tokio::spawn(async move {
        loop {
            let (client, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        warn!("load balancer accept: {e}");
                        continue;
                    }
                },
                _ = cancel.cancelled() => return,
            };
            let (servers, current) = (servers.clone(), current.clone());
            tokio::spawn(async move {
                let Some(mut upstream) = connect(&servers, &current).await else {
                    return;
                };
                let mut client = client;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    Ok(local)
}

async fn connect(servers: &[String], current: &AtomicUsize) -> Option<TcpStream> {
    let start = current.load(Ordering::Relaxed);
    for i in 0..servers.len() {
        let idx = (start + i) % servers.len();
        let addr = &servers[idx];
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                if idx != start {
                    info!(server = %addr, "load balancer switched server");
                    current.store(idx, Ordering::Relaxed);
                }
                let _ = s.set_nodelay(true);
                return Some(s);
            }
            Ok(Err(e)) => debug!(server = %addr, "connect: {e}"),
            Err(_) => debug!(server = %addr, "connect: timed out"),
        }
    }
    warn!(servers = ?servers, "no API server reachable");
    None
}

//! The HTTP(S) listeners: HTTP/1.1 and HTTP/2 (ALPN on TLS, prior knowledge in clear text),
//! upgrades passed through. Routing reads an [`ArcSwap`]'d table, so swaps never block or
//! drop requests in flight.

pub mod body;
mod front;
mod h1;
mod handler;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::model::RoutingTable;
use crate::ratelimit::Limiter;

/// Time a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stopping listener waits for its open connections to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The table handle shared by the watch layer (writer) and the proxy (reader).
pub type SharedTable = Arc<ArcSwap<RoutingTable>>;

pub(crate) struct Inner {
    table: SharedTable,
    limiter: Limiter,
    upstreams: upstream::Upstreams,
    /// Port put into ssl-redirect locations (omitted when 443).
    https_port: Option<u16>,
}

/// The reverse proxy. Cheap to clone; clones share table, limits and upstream connections.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

impl Proxy {
    pub fn new(table: SharedTable, https_port: Option<u16>) -> Self {
        Proxy {
            inner: Arc::new(Inner {
                table,
                limiter: Limiter::default(),
                upstreams: upstream::Upstreams::new(),
                https_port,
            }),
        }
    }

    /// A proxy over a fixed table (tests, benchmarks); swap through the returned handle.
    pub fn from_table(table: RoutingTable, https_port: Option<u16>) -> (Self, SharedTable) {
        let shared = Arc::new(ArcSwap::from_pointee(table));
        (Self::new(shared.clone(), https_port), shared)
    }

    /// Serves `addr` on `workers` threads until `cancel`, each with a single-threaded
    /// runtime and a listening socket of its own (SO_REUSEPORT spreads connections): as
    /// nginx's worker processes do, a connection lives on one thread from accept to close,
    /// with no work stealing or cross-thread wake-ups, and the data plane does not compete
    /// with the agent's other tasks for a runtime. Returns once every worker listens;
    /// the threads end after `cancel`, when their connections have drained (10 s at most).
    pub fn serve_workers(
        &self,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        cancel: CancellationToken,
        workers: usize,
    ) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
        let mut handles = Vec::new();
        // Port 0: the first worker picks the port, the others join it.
        let mut addr = addr;
        for i in 0..workers.max(1) {
            let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<SocketAddr>>();
            let (proxy, tls, stop) = (self.clone(), tls.clone(), cancel.clone());
            let h = std::thread::Builder::new()
                .name(format!("ingress-{}-{i}", addr.port()))
                .spawn(move || {
                    // Sockets and timers only: no process or signal driver to poll per park.
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_io()
                        .enable_time()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    rt.block_on(async move {
                        let listener = match reuseport_listener(addr) {
                            Ok(l) => l,
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                return;
                            }
                        };
                        let _ = tx.send(listener.local_addr());
                        proxy.serve(listener, tls, stop).await;
                    });
                })?;
            match rx.recv() {
                Ok(Ok(bound)) => {
                    addr = bound;
                    handles.push(h);
                }
                Ok(Err(e)) => {
                    cancel.cancel();
                    return Err(e);
                }
                Err(_) => {
                    cancel.cancel();
                    return Err(std::io::Error::other("ingress worker thread died"));
                }
            }
        }
        Ok(handles)
    }

    /// Serves `listener` until `cancel`, terminating TLS with `tls` when given. Connections
    /// already open finish their requests (graceful shutdown) after cancellation; this
    /// returns when they are done, or after 10 s.
    pub async fn serve(
        &self,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        cancel: CancellationToken,
    ) {
        let open = Arc::new(());
        self.accept_loop(listener, tls, cancel, &open).await;
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        while Arc::strong_count(&open) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn accept_loop(
        &self,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        cancel: CancellationToken,
        open: &Arc<()>,
    ) {
        let local_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        loop {
            let (stream, peer) = tokio::select! {
                _ = cancel.cancelled() => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let inner = self.inner.clone();
            let cancel = cancel.clone();
            let acceptor = acceptor.clone();
            let open = open.clone();
            tokio::spawn(async move {
                let _open = open;
                let https = acceptor.is_some();
                let conn = handler::Conn {
                    peer,
                    local_port,
                    https,
                };
                match acceptor {
                    None => front::serve(inner, stream, conn, cancel).await,
                    Some(acc) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acc.accept(stream)).await {
                            Ok(Ok(s)) => serve_conn(inner, TokioIo::new(s), conn, cancel).await,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    }
                }
            });
        }
    }
}

async fn serve_conn<I>(inner: Arc<Inner>, io: I, conn: handler::Conn, cancel: CancellationToken)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let inner = inner.clone();
        let upgrade = handler::is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
        async move {
            Ok::<_, std::convert::Infallible>(handler::handle(inner, req, conn, upgrade).await)
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let c = builder.serve_connection_with_upgrades(io, svc);
    tokio::pin!(c);
    let res = tokio::select! {
        r = c.as_mut() => r,
        _ = cancel.cancelled() => {
            c.as_mut().graceful_shutdown();
            c.await
        }
    };
    if let Err(e) = res {
        tracing::debug!(peer = %conn.peer, error = %e, "client connection ended");
    }
}

/// A listening socket that shares `addr` with the other workers' sockets.
fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Binds a listener (helper for callers that only have an address).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

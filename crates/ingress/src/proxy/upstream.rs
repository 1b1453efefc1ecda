//! Connections to endpoints: HTTP/1.1 (plain or TLS), kept alive and reused per endpoint.
//! Our own small pool rather than hyper-util's client because the proxy picks the endpoint
//! itself (round robin, affinity, retry on another one when a connect fails).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

use super::body::ProxyBody;

/// Connections kept per endpoint, busy ones included; more are closed after use.
const MAX_PER_ENDPOINT: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub addr: SocketAddr,
    pub tls: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect to {0}: timed out")]
    Timeout(SocketAddr),
    #[error("connect to {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("TLS to {0}: {1}")]
    Tls(SocketAddr, std::io::Error),
    #[error("HTTP handshake with {0}: {1}")]
    Handshake(SocketAddr, hyper::Error),
}

pub type Sender = http1::SendRequest<ProxyBody>;

/// A fresh connection's I/O, driven by the task of the request that opened it rather than
/// by a task of its own: with endpoints that close after every response (busybox httpd, many
/// small servers) that saves a spawn and two cross-task wake-ups per request. The request's
/// response body keeps driving it; if the endpoint keeps the connection alive, it is handed
/// to a task of its own and pooled when the response ends (see `body::Upstream`).
pub type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct Upstreams {
    /// Live connections per endpoint. A connection stays listed while it serves a response
    /// and is handed out again only once hyper reports it ready.
    conns: Mutex<HashMap<Key, Vec<Sender>>>,
    tls: tokio_rustls::TlsConnector,
}

impl Upstreams {
    pub fn new() -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                    .with_no_client_auth()
            });
        let cfg = match cfg {
            Ok(c) => c,
            // The ring provider supports the default versions; unreachable in practice.
            Err(e) => {
                tracing::error!(error = %e, "building upstream TLS config");
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        Upstreams {
            conns: Mutex::new(HashMap::new()),
            tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
        }
    }

    /// An idle connection to `key`, dropping dead ones on the way.
    pub fn checkout(&self, key: Key) -> Option<Sender> {
        let mut m = self.conns.lock().ok()?;
        let list = m.get_mut(&key)?;
        list.retain(|s| !s.is_closed());
        let i = list.iter().position(|s| s.is_ready())?;
        Some(list.swap_remove(i))
    }

    /// Returns a connection once its request was sent; it becomes reusable when hyper has
    /// finished the response.
    pub fn checkin(&self, key: Key, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut m) = self.conns.lock() {
            let list = m.entry(key).or_default();
            if list.len() < MAX_PER_ENDPOINT {
                list.push(sender);
            }
        }
    }

    /// A TCP connection to `addr`. Nagle only delays a second small write while the first
    /// is unacknowledged: a request without a body goes out in one write, so the option (a
    /// syscall per connection) is only set when a body follows.
    pub async fn connect_tcp(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        with_body: bool,
    ) -> Result<TcpStream, ConnectError> {
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnectError::Timeout(addr)),
            Ok(Err(e)) => return Err(ConnectError::Io(addr, e)),
            Ok(Ok(s)) => s,
        };
        if with_body {
            let _ = tcp.set_nodelay(true);
        }
        Ok(tcp)
    }

    /// Opens a new connection (not pooled until checked in). With `inline`, the connection's
    /// [`Driver`] is returned for the caller to poll; otherwise it runs on a task of its own
    /// (with HTTP upgrades enabled).
    pub async fn connect(
        &self,
        key: Key,
        timeout: Duration,
        inline: bool,
        with_body: bool,
    ) -> Result<(Sender, Option<Driver>), ConnectError> {
        let addr = key.addr;
        let tcp = NoShutdown(self.connect_tcp(addr, timeout, with_body).await?);
        if key.tls {
            // Like nginx's default (proxy_ssl_verify off): encrypt, do not authenticate.
            let name = ServerName::IpAddress(addr.ip().into());
            let tls = tokio::time::timeout(timeout, self.tls.connect(name, tcp))
                .await
                .map_err(|_| ConnectError::Timeout(addr))?
                .map_err(|e| ConnectError::Tls(addr, e))?;
            handshake(addr, TokioIo::new(tls), inline).await
        } else {
            handshake(addr, TokioIo::new(tcp), inline).await
        }
    }
}

impl Default for Upstreams {
    fn default() -> Self {
        Self::new()
    }
}

async fn handshake<T>(
    addr: SocketAddr,
    io: T,
    inline: bool,
) -> Result<(Sender, Option<Driver>), ConnectError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|e| ConnectError::Handshake(addr, e))?;
    if inline {
        let driver: Driver = Box::pin(async move {
            if let Err(e) = conn.await {
                tracing::debug!(upstream = %addr, error = %e, "upstream connection ended");
            }
        });
        return Ok((sender, Some(driver)));
    }
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(upstream = %addr, error = %e, "upstream connection ended");
        }
    });
    Ok((sender, None))
}

/// An upstream socket whose write-side shutdown is a no-op. hyper shuts a connection's
/// write side before dropping it; for an HTTP/1 exchange that is over, the close that
/// follows sends the FIN anyway, so the `shutdown(2)` only cost a syscall per request.
struct NoShutdown(TcpStream);

impl tokio::io::AsyncRead for NoShutdown {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for NoShutdown {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

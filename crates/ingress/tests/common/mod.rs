//! Test fixtures: loopback backends (small hyper servers), the proxy on ephemeral ports over a
//! table built from hand-written API objects, and a client that can speak TLS/h2.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rkube_ingress::build::{self, Objects};
use rkube_ingress::tls::CertStore;
use rkube_ingress::{Proxy, SharedTable};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub mod cluster;

pub type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).boxed()
}

static ACCEPTED: std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// How many connections the backend called `name` has accepted.
pub fn accepted(name: &'static str) -> usize {
    ACCEPTED
        .lock()
        .map(|m| m.get(name).copied().unwrap_or(0))
        .unwrap_or(0)
}

/// A backend answering with JSON `{backend, path, method, headers, body_len}`; `/stream`
/// sends 5 chunks 300 ms apart, `/sleep` answers after 3 s, `/ws` upgrades and echoes.
pub async fn backend(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            if let Ok(mut m) = ACCEPTED.lock() {
                *m.entry(name).or_default() += 1;
            }
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle_backend(name, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

async fn handle_backend(
    name: &'static str,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/ws" {
        let up = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(u) = up.await {
                let mut io = TokioIo::new(u);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        return Ok(Response::builder()
            .status(101)
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .body(full(""))
            .unwrap());
    }
    if path == "/stream" {
        let s = futures::stream::unfold(0u32, |i| async move {
            if i == 5 {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(format!("chunk{i}\n")))),
                i + 1,
            ))
        });
        return Ok(Response::new(StreamBody::new(s).boxed()));
    }
    if path == "/sleep" {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let method = req.method().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
        .collect();
    let body_len = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(usize::MAX);
    let v = json!({"backend": name, "path": pq, "method": method, "headers": headers,
                   "body_len": body_len});
    Ok(Response::new(full(v.to_string())))
}

/// A loopback port with nothing listening.
pub async fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

pub fn svc(name: &str, port: i32) -> Value {
    json!({"metadata": {"name": name, "namespace": "ns"},
           "spec": {"ports": [{"name": "http", "port": port}]}})
}

/// One EndpointSlice per endpoint (they differ in port on loopback).
pub fn slices(svc: &str, eps: &[SocketAddr]) -> Vec<Value> {
    eps.iter()
        .enumerate()
        .map(|(i, e)| {
            json!({
                "metadata": {"name": format!("{svc}-{i}"), "namespace": "ns",
                             "labels": {"kubernetes.io/service-name": svc}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": e.port()}],
                "endpoints": [{"addresses": [e.ip().to_string()], "conditions": {"ready": true}}],
            })
        })
        .collect()
}

/// An Ingress in `ns` with the given annotations and spec.
pub fn ingress(name: &str, annotations: Value, spec: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "ns", "annotations": annotations},
           "spec": spec})
}

/// A single-path rule.
pub fn rule(host: Option<&str>, path: &str, path_type: &str, svc: &str) -> Value {
    let mut r = json!({"http": {"paths": [{"path": path, "pathType": path_type,
        "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}});
    if let Some(h) = host {
        r["host"] = json!(h);
    }
    r
}

pub fn tls_secret(name: &str, host: &str) -> (Value, String) {
    use base64::Engine as _;
    let (c, k) = rkube_ingress::tls::self_signed_pem(&[host]).unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    (
        json!({"metadata": {"name": name, "namespace": "ns"}, "type": "kubernetes.io/tls",
               "data": {"tls.crt": b64(&c), "tls.key": b64(&k)}}),
        c,
    )
}

#[derive(Default, Clone)]
pub struct World {
    pub services: Vec<Value>,
    pub slices: Vec<Value>,
    pub ingresses: Vec<Value>,
    pub secrets: Vec<Value>,
}

impl World {
    pub fn backend(mut self, svc_name: &str, eps: &[SocketAddr]) -> Self {
        self.services.push(svc(svc_name, 80));
        self.slices.extend(slices(svc_name, eps));
        self
    }

    pub fn ingress(mut self, v: Value) -> Self {
        self.ingresses.push(v);
        self
    }

    pub fn objects(&self) -> Objects {
        fn conv<T: serde::de::DeserializeOwned>(v: &[Value]) -> Vec<Arc<T>> {
            v.iter()
                .map(|v| Arc::new(serde_json::from_value(v.clone()).unwrap()))
                .collect()
        }
        Objects {
            ingresses: conv(&self.ingresses),
            classes: vec![],
            services: conv(&self.services),
            slices: conv(&self.slices),
            secrets: conv(&self.secrets),
        }
    }
}

pub struct Harness {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub table: SharedTable,
    pub certs: Arc<CertStore>,
    pub cancel: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Harness {
    pub async fn start(world: &World) -> Harness {
        init_tracing();
        let http_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let https_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (http, https) = (http_l.local_addr().unwrap(), https_l.local_addr().unwrap());
        let certs = Arc::new(CertStore::new().unwrap());
        let (proxy, table) = Proxy::from_table(
            rkube_ingress::model::RoutingTable::default(),
            Some(https.port()),
        );
        let cancel = CancellationToken::new();
        let h = Harness {
            http,
            https,
            table,
            certs: certs.clone(),
            cancel: cancel.clone(),
        };
        h.apply(world);
        let tls = certs.server_config().unwrap();
        let (p, c) = (proxy.clone(), cancel.clone());
        tokio::spawn(async move { p.serve(http_l, None, c).await });
        tokio::spawn(async move { proxy.serve(https_l, Some(tls), cancel).await });
        h
    }

    /// Rebuilds from `world` and swaps table and certificates, as the watch layer does.
    pub fn apply(&self, world: &World) {
        let b = build::build(&world.objects());
        assert!(b.rejected.is_empty(), "rejected: {:?}", b.rejected);
        self.table.store(Arc::new(b.table));
        self.certs.swap(b.certs);
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

pub fn req(method: &str, host: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
}

/// One request on a fresh HTTP/1.1 connection.
pub async fn send(addr: SocketAddr, r: Request<Body>) -> Resp {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    collect(tx.send_request(r).await.unwrap()).await
}

pub async fn collect(resp: Response<Incoming>) -> Resp {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Resp {
    send(addr, req("GET", host, path).body(full("")).unwrap()).await
}

pub fn body(s: impl Into<Bytes>) -> Body {
    full(s)
}

/// TLS client that accepts any certificate and reports the one it got plus the ALPN result.
pub async fn tls_connect(
    addr: SocketAddr,
    sni: &str,
    alpn: &[&[u8]],
) -> (
    tokio_rustls::client::TlsStream<TcpStream>,
    Vec<u8>,
    Option<Vec<u8>>,
) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
    let s = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    let (_, session) = s.get_ref();
    let cert = session.peer_certificates().unwrap()[0].to_vec();
    let alpn = session.alpn_protocol().map(|a| a.to_vec());
    (s, cert, alpn)
}

/// h2 client over an established stream.
pub async fn h2_send<S>(io: S, r: Request<Body>) -> Resp
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut tx, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    collect(tx.send_request(r).await.unwrap()).await
}

pub fn pem_to_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Like [`get`], but `None` while the proxy is not (yet) reachable.
pub async fn try_get(addr: SocketAddr, host: &str, path: &str) -> Option<Resp> {
    let s = TcpStream::connect(addr).await.ok()?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .ok()?;
    tokio::spawn(conn);
    let r = req("GET", host, path).body(full("")).ok()?;
    Some(collect(tx.send_request(r).await.ok()?).await)
}

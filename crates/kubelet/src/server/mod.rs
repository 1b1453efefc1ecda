//! The kubelet's HTTPS server (:10250): container logs and exec for the API server, which
//! proxies `kubectl logs` and `kubectl exec` here. Clients must present a certificate signed
//! by the cluster CA, and only the API server's and admins' are served ([`authn`]).

pub mod authn;
pub mod exec;
pub mod logs;
pub mod portforward;
pub mod stats;
pub mod websocket;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rkube_runtime::{ContainerState, ContainerStatus};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use crate::Agent;

type Body = BoxBody<Bytes, Infallible>;

/// The server's certificate and the CA its clients must be signed by (PEM).
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
    pub client_ca_pem: String,
}

fn tls_config(tls: &ServerTls) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(tls.client_ca_pem.as_bytes()) {
        roots.add(c?)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()?;
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes()).collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes())?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves until `cancel` fires.
pub async fn run(
    agent: Arc<Agent>,
    listen: SocketAddr,
    tls: ServerTls,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let config = Arc::new(tls_config(&tls)?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "kubelet server listening");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let sampler = Arc::new(stats::Sampler::default());
    tokio::spawn(stats::run(
        agent.clone(),
        sampler.clone(),
        std::time::Duration::from_secs(10),
        cancel.clone(),
    ));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("kubelet accept: {e}");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let agent = agent.clone();
        let sampler = sampler.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                tracing::debug!(%peer, "kubelet TLS handshake failed");
                return;
            };
            let caller = authn::caller(stream.get_ref().1.peer_certificates());
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let agent = agent.clone();
                let sampler = sampler.clone();
                let caller = caller.clone();
                async move {
                    match caller {
                        Some(c) if authn::allowed(&c) => {
                            Ok::<_, Infallible>(route(agent, sampler, req).await)
                        }
                        c => {
                            let user = c.map(|c| c.name).unwrap_or_default();
                            let msg = authn::forbidden(&user, req.method(), req.uri().path());
                            Ok(text(StatusCode::FORBIDDEN, msg))
                        }
                    }
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pod's containers named `name`, newest attempt first.
async fn find_containers(agent: &Agent, ns: &str, pod: &str, name: &str) -> Vec<ContainerStatus> {
    let Ok(sandboxes) = agent.runtime.list_pod_sandboxes().await else {
        return Vec::new();
    };
    let uids: Vec<String> = sandboxes
        .into_iter()
        .filter(|s| s.config.namespace == ns && s.config.name == pod)
        .map(|s| s.config.uid)
        .collect();
    let mut found: Vec<ContainerStatus> = agent
        .runtime
        .list_containers()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            c.name == name
                && c.labels
                    .get("io.kubernetes.pod.uid")
                    .is_some_and(|u| uids.contains(u))
        })
        .collect();
    found.sort_by_key(|c| std::cmp::Reverse((c.created_at.clone(), c.attempt)));
    found
}

async fn route(
    agent: Arc<Agent>,
    sampler: Arc<stats::Sampler>,
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let query = query_pairs(req.uri().query());
    match parts.as_slice() {
        ["healthz"] => text(StatusCode::OK, "ok"),
        ["stats", "summary"] => {
            let doc = stats::summary(&agent, &sampler).await;
            let mut r = Response::new(Full::new(Bytes::from(doc.to_string())).boxed());
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            r
        }
        ["containerLogs", ns, pod, container] => {
            container_logs(&agent, ns, pod, container, &query).await
        }
        ["exec", ns, pod, container] => exec(&agent, req, ns, pod, container, &query, false).await,
        ["attach", ns, pod, container] => exec(&agent, req, ns, pod, container, &query, true).await,
        ["portForward", ns, pod] => port_forward(&agent, req, ns, pod).await,
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

async fn container_logs(
    agent: &Arc<Agent>,
    ns: &str,
    pod: &str,
    container: &str,
    query: &[(String, String)],
) -> Response<Body> {
    let opts = logs::LogOptions::parse(query);
    let found = find_containers(agent, ns, pod, container).await;
    let chosen = if opts.previous {
        match found.get(1) {
            Some(c) => c.clone(),
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                    ),
                )
            }
        }
    } else {
        match found.first() {
            Some(c) => c.clone(),
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"),
                )
            }
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let agent = agent.clone();
    let id = chosen.id.clone();
    let path = chosen.log_path.clone();
    tokio::spawn(async move {
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = running.clone();
        let watcher_agent = agent.clone();
        let watch = tokio::spawn(async move {
            loop {
                let state = watcher_agent
                    .runtime
                    .container_status(&id)
                    .await
                    .map(|s| s.state);
                if !matches!(
                    state,
                    Ok(ContainerState::Running) | Ok(ContainerState::Created)
                ) {
                    flag.store(false, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        });
        logs::stream(&path, opts, tx, || {
            running.load(std::sync::atomic::Ordering::SeqCst)
        })
        .await;
        watch.abort();
    });
    let stream = tokio_stream_from(rx);
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> impl futures::Stream<Item = Result<hyper::body::Frame<Bytes>, Infallible>> {
    futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    })
}

async fn exec(
    agent: &Arc<Agent>,
    mut req: Request<Incoming>,
    ns: &str,
    pod: &str,
    container: &str,
    query: &[(String, String)],
    attach: bool,
) -> Response<Body> {
    let opts = exec::ExecOptions::parse(query);
    if opts.command.is_empty() && !attach {
        return text(
            StatusCode::BAD_REQUEST,
            "you must specify at least 1 command",
        );
    }
    let header = |k: &str| {
        req.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let upgrade = header("upgrade");
    let running = find_containers(agent, ns, pod, container)
        .await
        .into_iter()
        .find(|c| c.state == ContainerState::Running);
    let Some(target) = running else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("unable to upgrade connection: container not found (\"{container}\")"),
        );
    };
    let make_target = || -> Result<exec::Target, String> {
        if attach {
            agent
                .runtime
                .attach_socket(&target.id)
                .map(exec::Target::Attach)
                .map_err(|e| e.to_string())
        } else {
            Ok(exec::Target::Exec(
                agent.runtime.exec_command(&target.id, &opts.command),
            ))
        }
    };
    let stream_target = match make_target() {
        Ok(t) => t,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("unable to upgrade connection: {e}"),
            )
        }
    };
    if upgrade.eq_ignore_ascii_case("SPDY/3.1") {
        let offered: Vec<String> = req
            .headers()
            .get_all("x-stream-protocol-version")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_string()))
            .collect();
        if !offered.iter().any(|p| p == "v4.channel.k8s.io") {
            return text(
                StatusCode::FORBIDDEN,
                format!("unable to upgrade: no supported stream protocol in {offered:?} (v4.channel.k8s.io)"),
            );
        }
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    exec::spdy_session(TokioIo::new(upgraded), stream_target, opts).await
                }
                Err(e) => tracing::debug!("exec upgrade: {e}"),
            }
        });
        let mut r = Response::new(Full::new(Bytes::new()).boxed());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(
            http::header::UPGRADE,
            http::HeaderValue::from_static("SPDY/3.1"),
        );
        h.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("Upgrade"),
        );
        h.insert(
            "x-stream-protocol-version",
            http::HeaderValue::from_static("v4.channel.k8s.io"),
        );
        return r;
    }
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return text(
            StatusCode::BAD_REQUEST,
            "exec needs an upgrade to WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1",
        );
    }
    let offered = header("sec-websocket-protocol");
    let protocol = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
        .into_iter()
        .find(|p| offered.split(',').any(|o| o.trim() == *p));
    let Some(protocol) = protocol else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("unsupported subprotocols {offered:?}"),
        );
    };
    let accept = websocket::accept_key(&header("sec-websocket-key"));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let v5 = protocol.starts_with("v5");
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => exec::session(TokioIo::new(upgraded), stream_target, opts, v5).await,
            Err(e) => tracing::debug!("exec upgrade: {e}"),
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()).boxed());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    h.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    h.insert(
        "sec-websocket-protocol",
        http::HeaderValue::from_static(protocol),
    );
    r
}

fn switching(headers: &[(&'static str, String)]) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()).boxed());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (k, v) in headers {
        if let Ok(v) = http::HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

async fn port_forward(
    agent: &Arc<Agent>,
    mut req: Request<Incoming>,
    ns: &str,
    pod: &str,
) -> Response<Body> {
    let sandbox = agent
        .runtime
        .list_pod_sandboxes()
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|s| {
            s.config.namespace == ns
                && s.config.name == pod
                && s.state == rkube_runtime::SandboxState::Ready
        });
    let Some(sandbox) = sandbox else {
        return text(
            StatusCode::NOT_FOUND,
            format!("pod {ns}/{pod} is not running on this node"),
        );
    };
    let netns = agent.runtime.pod_sandbox_netns(&sandbox.id);
    let uid = sandbox.config.uid.clone();
    let pod = pod.to_string();
    let header = |k: &str| {
        req.headers()
            .get_all(k)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_string()))
            .collect::<Vec<_>>()
    };
    let upgrade = header("upgrade").join(",");
    if upgrade.eq_ignore_ascii_case("websocket") {
        const PROTO: &str = "SPDY/3.1+portforward.k8s.io";
        if !header("sec-websocket-protocol").iter().any(|p| p == PROTO) {
            return text(
                StatusCode::BAD_REQUEST,
                format!("port-forward over WebSocket needs subprotocol {PROTO}"),
            );
        }
        let accept = websocket::accept_key(
            header("sec-websocket-key")
                .first()
                .map(String::as_str)
                .unwrap_or(""),
        );
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(up) => portforward::websocket_session(TokioIo::new(up), netns, pod, uid).await,
                Err(e) => tracing::debug!("port-forward upgrade: {e}"),
            }
        });
        return switching(&[
            ("upgrade", "websocket".into()),
            ("connection", "Upgrade".into()),
            ("sec-websocket-accept", accept),
            ("sec-websocket-protocol", PROTO.into()),
        ]);
    }
    if upgrade.eq_ignore_ascii_case("SPDY/3.1") {
        if !header("x-stream-protocol-version")
            .iter()
            .any(|p| p == "portforward.k8s.io")
        {
            return text(
                StatusCode::FORBIDDEN,
                "unable to upgrade: no portforward.k8s.io stream protocol offered",
            );
        }
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(up) => portforward::spdy_session(TokioIo::new(up), netns, pod, uid).await,
                Err(e) => tracing::debug!("port-forward upgrade: {e}"),
            }
        });
        return switching(&[
            ("upgrade", "SPDY/3.1".into()),
            ("connection", "Upgrade".into()),
            ("x-stream-protocol-version", "portforward.k8s.io".into()),
        ]);
    }
    text(
        StatusCode::BAD_REQUEST,
        "port-forward needs an upgrade to SPDY/3.1 or WebSocket",
    )
}

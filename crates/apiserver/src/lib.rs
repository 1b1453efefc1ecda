//! The Kubernetes REST API over HTTPS.
//!
//! The API server is the only component that touches the store (`rkube-store`); every other
//! role is a client of this API, also inside one `rkube server` process. Requests flow:
//! TLS (client certificate) → authentication → routing → decode → admission (defaults,
//! validation) → store → encode (JSON or Table). Lists and watches are served from the watch
//! cache ([`cache`]).

mod admission;
mod alloc;
mod apply;
mod auth;
mod authz;
mod bootstrap;
pub mod cache;
mod compactor;
mod crd;
mod crd_schema;
mod defaults;
mod discovery;
mod disruption;
mod fields;
mod http;
mod immutable;
pub mod join;
mod limitrange;
mod masterleases;
mod metrics;
mod nodeproxy;
mod object;
pub mod openapi;
mod patch;
mod pending;
pub mod pki;
mod priority;
pub mod protobuf;
mod quota;
mod request;
pub mod resources;
mod rest;
mod satoken;
mod serviceaccount;
mod table;
mod versions;
mod watch;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ::http::{Method, Response, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rkube_apimachinery::registry::ResourceInfo;
use rkube_apimachinery::status::ApiError;
use rkube_store::Store;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

pub use alloc::Cidr;
pub use auth::User;

use crate::http::{error_response, json_response, raw_response, Body};
use crate::request::{route, Query, Route};

/// Largest request body (upstream's limit): larger ones get 413.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How the API server is set up.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where the CA and certificates live (`<data-dir>/server/tls`).
    pub tls_dir: PathBuf,
    /// Admin kubeconfigs to write (`<data-dir>/kubeconfig`, `--write-kubeconfig`).
    pub kubeconfigs: Vec<PathBuf>,
    pub node_ips: Vec<IpAddr>,
    pub cluster_domain: String,
    pub service_cidr: Cidr,
}

/// A running API server's shared state.
pub struct ApiServer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cache: Arc<cache::Cache>,
    config: Config,
    allocator: Mutex<alloc::Allocator>,
    server_address: String,
    pub(crate) resources: Arc<resources::Resources>,
    /// The OpenAPI documents, built in the background at start (they take a moment).
    openapi: Arc<tokio::sync::OnceCell<Arc<openapi::OpenApi>>>,
    /// TLS client settings for calls to kubelets (logs, exec, attach, port-forward).
    pub(crate) kubelet_tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) pki: pki::Pki,
    pub(crate) quota_locks: quota::Locks,
    /// Set by [`Started::enable_join`]: agents may then join with a token.
    pub(crate) join: std::sync::OnceLock<join::JoinConfig>,
    /// Issues and checks service account tokens.
    pub(crate) sa_tokens: satoken::Signer,
}

/// The served built-in resources and their subresources, for the OpenAPI documents.
fn openapi_resources() -> Vec<openapi::ResourceType> {
    let mut out = Vec::new();
    for r in rkube_apimachinery::registry::builtin() {
        out.push(openapi::ResourceType::new(
            r.group,
            r.version,
            r.kind,
            r.plural,
            r.namespaced,
            r.verbs,
        ));
        for s in r.subresources {
            out.push(openapi::ResourceType::new(
                r.group,
                r.version,
                s.kind,
                &format!("{}/{}", r.plural, s.name),
                r.namespaced,
                s.verbs,
            ));
        }
    }
    out
}

/// What [`start`] hands back.
pub struct Started {
    pub server: Arc<ApiServer>,
    pub pki: pki::Pki,
    /// The URL clients use, e.g. `https://127.0.0.1:6443`.
    pub url: String,
    pub task: tokio::task::JoinHandle<()>,
}

impl Started {
    /// Lets agents join with tokens kept in `cfg.token_dir`.
    pub fn enable_join(&self, cfg: join::JoinConfig) {
        let _ = self.server.join.set(cfg);
    }

    /// A kubeconfig (YAML) for an in-process component or a test: a fresh client certificate
    /// for `user` in `groups`, signed by the cluster CA. Components reach the API server over
    /// HTTPS like any other client.
    pub fn component_kubeconfig(&self, user: &str, groups: &[&str]) -> anyhow_free::Result<String> {
        use base64::Engine;
        let (cert, key) = self.pki.issue_client_cert(user, groups)?;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        Ok(format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: {user:?}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: local\n  context: {{cluster: local, user: {user:?}}}\ncurrent-context: local\n",
            self.url,
            b64(self.pki.ca_cert_pem()),
            b64(&cert),
            b64(&key),
        ))
    }
}

/// Prepares certificates, bootstraps the cluster's built-in objects, and starts serving.
pub async fn start(
    config: Config,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> anyhow_free::Result<Started> {
    let first_service_ip = IpAddr::V4(config.service_cidr.nth(1));
    let pki_cfg = pki::PkiConfig {
        tls_dir: config.tls_dir.clone(),
        node_ips: config.node_ips.clone(),
        cluster_domain: config.cluster_domain.clone(),
        first_service_ip,
        extra_sans: Vec::new(),
    };
    let pki = tokio::task::spawn_blocking(move || pki::ensure(&pki_cfg))
        .await
        .map_err(|e| anyhow_free::Error::msg(format!("certificate task: {e}")))??;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow_free::Error::msg(format!("listen on {}: {e}", config.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| anyhow_free::Error::msg(e.to_string()))?;
    // Listening on every address: the admin kubeconfig points at loopback, as k3s's does.
    let host = match local.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    let url = match host {
        IpAddr::V6(v6) => format!("https://[{v6}]:{}", local.port()),
        IpAddr::V4(v4) => format!("https://{v4}:{}", local.port()),
    };
    for path in &config.kubeconfigs {
        pki::write_kubeconfig(path, &url, &pki, "default")?;
    }
    compactor::start(store.clone(), shutdown.clone());
    let cache = cache::Cache::start(store.clone(), shutdown.clone())
        .await
        .map_err(|e| anyhow_free::Error::msg(format!("watch cache: {e}")))?;
    let server = Arc::new(ApiServer {
        store,
        cache,
        server_address: format!("{host}:{}", local.port()),
        config,
        allocator: Mutex::new(alloc::Allocator::default()),
        resources: Arc::new(resources::Resources::default()),
        openapi: Arc::new(tokio::sync::OnceCell::new()),
        pki: pki.clone(),
        quota_locks: Default::default(),
        join: std::sync::OnceLock::new(),
        sa_tokens: satoken::Signer::new(&pki.ca_key_pkcs8()?).map_err(anyhow_free::Error::msg)?,
        kubelet_tls: match pki.kubelet_client_config() {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::warn!("no kubelet client certificate: {e}");
                None
            }
        },
    });
    let cell = server.openapi.clone();
    tokio::spawn(async move {
        let built =
            tokio::task::spawn_blocking(|| Arc::new(openapi::OpenApi::new(&openapi_resources())))
                .await;
        if let Ok(doc) = built {
            let _ = cell.set(doc);
        }
    });
    crd::start(server.clone(), shutdown.clone()).await;
    bootstrap::run(&server).await?;
    masterleases::start(server.clone(), shutdown.clone());
    alloc::start_repair(server.store.clone(), server.cache.clone(), shutdown.clone());
    let tls = Arc::new(pki.server_config()?);
    let task = tokio::spawn(http::serve(server.clone(), listener, tls, shutdown));
    info!(%url, "API server listening");
    Ok(Started {
        server,
        pki,
        url,
        task,
    })
}

/// Small error type for start-up (the binary wraps it with anyhow).
pub mod anyhow_free {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    pub struct Error(String);

    impl Error {
        pub fn msg(m: impl Into<String>) -> Self {
            Error(m.into())
        }
    }

    impl From<crate::pki::PkiError> for Error {
        fn from(e: crate::pki::PkiError) -> Self {
            Error(e.to_string())
        }
    }

    impl From<rkube_apimachinery::status::ApiError> for Error {
        fn from(e: rkube_apimachinery::status::ApiError) -> Self {
            Error(e.to_string())
        }
    }

    pub type Result<T> = std::result::Result<T, Error>;
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token(headers: &::http::HeaderMap) -> Option<&str> {
    headers
        .get(::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl ApiServer {
    pub(crate) async fn handle(
        self: Arc<Self>,
        req: ::http::Request<Incoming>,
        user: Option<User>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        // Without a client certificate, a bearer token may name the user; a token that
        // names nobody is refused, as upstream's authenticator chain does.
        // The join endpoints (`/v1-rkube/…`) check their own bearer secret.
        let own_auth = path.starts_with("/v1-rkube/");
        let user = match (user, bearer_token(req.headers())) {
            (None, Some(token)) if !own_auth => match satoken::authenticate(&self, token).await {
                Some(u) => Some(u),
                None => return error_response(&ApiError::unauthorized()),
            },
            (user, _) => user,
        };
        if let Some((ns, name, sub)) = nodeproxy::match_path(&path) {
            let resp = match user {
                None => error_response(&ApiError::unauthorized()),
                Some(ref u) => match nodeproxy::authorize(&self, u, &path, &sub) {
                    Ok(()) => nodeproxy::handle(&self, req, &ns, &name, &sub)
                        .await
                        .unwrap_or_else(|e| error_response(&e)),
                    Err(e) => error_response(&e),
                },
            };
            debug!(%method, %path, %peer, status = resp.status().as_u16(), "pod stream");
            return resp;
        }
        // The body is always read (or drained, when too large) before answering: a reply
        // sent while a client is still sending is often lost to it.
        let (parts, body) = req.into_parts();
        let resp = match read_body(body).await {
            Ok(body) => match self
                .dispatch(::http::Request::from_parts(parts, body), user.as_ref())
                .await
            {
                Ok(r) => r,
                Err(e) => error_response(&e),
            },
            Err(e) => error_response(&e),
        };
        debug!(
            %method, %path, %peer,
            user = user.as_ref().map(|u| u.name.as_str()).unwrap_or("-"),
            status = resp.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
        resp
    }

    async fn dispatch(
        &self,
        req: ::http::Request<Bytes>,
        user: Option<&User>,
    ) -> Result<Response<Body>, ApiError> {
        let path = req.uri().path().to_string();
        match path.as_str() {
            "/cacerts" => {
                return Ok(raw_response(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    self.pki.ca_cert_pem().as_bytes().to_vec(),
                ))
            }
            "/v1-rkube/node-certificates" if req.method() == Method::POST => {
                let authz = req
                    .headers()
                    .get(::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                let v = join::handle(self, authz, req.body()).await?;
                return Ok(json_response(StatusCode::OK, &v));
            }
            _ => {}
        }
        if user.is_none() && !auth::is_public(&path) {
            return Err(ApiError::unauthorized());
        }
        let query = Query::parse(req.uri().query());
        let accept = req
            .headers()
            .get(::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_string();
        let ok = |v: &Value| Ok(json_response(StatusCode::OK, v));
        let discovery = |flavor: discovery::Flavor, v: &Value| {
            Ok(raw_response(
                StatusCode::OK,
                flavor.content_type(),
                serde_json::to_vec(v).unwrap_or_default(),
            ))
        };
        match route(&path, &self.resources)? {
            Route::Health => Ok(raw_response(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                b"ok".to_vec(),
            )),
            Route::Version => ok(&discovery::version()),
            Route::CoreRoot => {
                let f = discovery::Flavor::negotiate(&accept);
                discovery(
                    f,
                    &discovery::core_root(f, &self.server_address, &self.resources),
                )
            }
            Route::GroupsRoot => {
                let f = discovery::Flavor::negotiate(&accept);
                discovery(f, &discovery::groups_root(f, &self.resources))
            }
            Route::Group(g) => match discovery::group(&g, &self.resources) {
                Some(v) => ok(&v),
                None => Err(ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
            },
            Route::GroupVersion(g, v) => match discovery::resource_list(&g, &v, &self.resources) {
                Some(v) => ok(&v),
                None => Err(ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
            },
            Route::OpenApiV2 | Route::OpenApiV3Root | Route::OpenApiV3 => {
                let doc = self
                    .openapi
                    .get_or_init(|| async {
                        let built = tokio::task::spawn_blocking(|| {
                            openapi::OpenApi::new(&openapi_resources())
                        })
                        .await;
                        Arc::new(built.unwrap_or_else(|_| openapi::OpenApi::new(&[])))
                    })
                    .await;
                let header = |name| {
                    req.headers()
                        .get(name)
                        .and_then(|v: &::http::HeaderValue| v.to_str().ok())
                };
                let reply = doc.handle(
                    &path,
                    req.uri().query(),
                    header(::http::header::ACCEPT),
                    header(::http::header::IF_NONE_MATCH),
                );
                match reply {
                    Some(r) => {
                        let mut resp = Response::new(crate::http::full(r.body.to_vec()));
                        *resp.status_mut() =
                            StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
                        for (k, v) in r.headers {
                            if let Ok(v) = ::http::HeaderValue::from_str(&v) {
                                resp.headers_mut().insert(k, v);
                            }
                        }
                        Ok(resp)
                    }
                    None => Err(ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    )),
                }
            }
            Route::NotFound => Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )),
            Route::Resource(rr) => {
                let method = req.method().clone();
                let content_type = req
                    .headers()
                    .get(::http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                authz::authorize(self, user, &method, &rr, req.body(), content_type)?;
                if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                    // Writes prune unknown fields against the schemas.
                    self.openapi().await;
                }
                let (parts, body) = req.into_parts();
                let ctx = rest::Ctx::new(self, rr, query, &parts.headers, body);
                rest::handle(ctx, &method).await
            }
        }
    }

    /// The OpenAPI documents, waiting for the start-up build if it is still running.
    pub(crate) async fn openapi(&self) -> &Arc<openapi::OpenApi> {
        self.openapi
            .get_or_init(|| async {
                let built =
                    tokio::task::spawn_blocking(|| openapi::OpenApi::new(&openapi_resources()))
                        .await;
                Arc::new(built.unwrap_or_else(|_| openapi::OpenApi::new(&[])))
            })
            .await
    }

    /// The OpenAPI documents if built (writes wait for them before admission).
    pub(crate) fn openapi_ready(&self) -> Option<&Arc<openapi::OpenApi>> {
        self.openapi.get()
    }

    /// Refuses creates in a namespace that does not exist or is being deleted
    /// (upstream's NamespaceLifecycle admission).
    pub(crate) async fn check_namespace_open(&self, ns: &str) -> Result<(), ApiError> {
        let key = format!("/registry/namespaces/{ns}");
        let kv = self
            .store
            .get(&key)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .ok_or_else(|| ApiError::not_found("", "namespaces", ns))?;
        let obj: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
        Ok(())
    }

    /// Server-side allocations on create (Service IPs and node ports), reserved in the
    /// store unless `dry_run` (see `alloc`).
    pub(crate) async fn allocate(
        &self,
        info: &ResourceInfo,
        obj: &mut Value,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        if !(info.group.is_empty() && info.plural == "services") {
            return Ok(());
        }
        alloc::allocate_service(
            &self.allocator,
            self.store.as_ref(),
            &self.cache,
            self.config.service_cidr,
            obj,
            dry_run,
        )
        .await
    }

    /// Drops a deleted (or never stored) Service's reservations, or with `now` those the
    /// updated Service gave up.
    pub(crate) async fn release(&self, info: &ResourceInfo, obj: &Value, now: Option<&Value>) {
        if info.group.is_empty() && info.plural == "services" {
            alloc::release(self.store.as_ref(), obj, now).await;
        }
    }
}

async fn read_body(mut body: Incoming) -> Result<Bytes, ApiError> {
    // Read frame by frame so an oversized body is still drained (up to a bound): clients
    // that are still sending when the reply comes often miss it otherwise.
    const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(60), body.frame())
            .await
            .map_err(|_| ApiError::timeout("timed out reading the request body"))?;
        let Some(frame) = frame else { break };
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= MAX_BODY_BYTES {
                buf.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                break;
            }
        }
    }
    if total > MAX_BODY_BYTES {
        return Err(ApiError::too_large(
            "Request entity too large: limit is 3145728",
        ));
    }
    Ok(buf.freeze())
}

//! One request: route, apply the Ingress's policies, forward to an endpoint, relay back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::{self, ProxyBody};
use super::h1;
use super::upstream::{Driver, Key, Sender};
use super::Inner;
use crate::annotations::{BackendProtocol, Options};
use crate::model::{self, Route};
use crate::ratelimit::ConnGuard;

/// How many endpoints a request tries when connecting fails (ingress-nginx
/// `proxy-next-upstream-tries` default).
const TRIES: usize = 3;

/// Facts about the client connection.
#[derive(Clone, Copy)]
pub struct Conn {
    pub peer: SocketAddr,
    pub local_port: u16,
    pub https: bool,
}

fn status(code: StatusCode) -> Response<ProxyBody> {
    let reason = code.canonical_reason().unwrap_or("");
    let mut r = Response::new(body::full(format!("{} {reason}\n", code.as_u16())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The request's host: URI authority (HTTP/2, absolute-form) or Host header, lowercase,
/// without port or trailing dot.
fn request_host<B>(req: &Request<B>) -> String {
    let raw = match req.uri().host() {
        Some(h) => h,
        None => match req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
        {
            Some(h) => strip_port(h),
            None => "",
        },
    };
    raw.trim_end_matches('.').to_ascii_lowercase()
}

/// `host[:port]` or `[v6][:port]` without the port.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// Host header value to forward (with port if the client sent one).
fn host_header<B>(req: &Request<B>) -> Option<HeaderValue> {
    req.headers().get(header::HOST).cloned().or_else(|| {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}

pub(super) fn is_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

const HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including those the Connection header names.
fn strip_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in named.iter().chain(HOP.iter()) {
        h.remove(n);
    }
}

fn redirect_needed(opts: &Options, table: &model::RoutingTable, host: &str) -> bool {
    opts.force_ssl_redirect || (opts.ssl_redirect != Some(false) && table.host_has_tls(host))
}

/// Stable cookie value for an endpoint (FNV-1a; only needs to be stable and opaque).
fn affinity_value(addr: &SocketAddr) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in addr.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The request body as the proxy forwards it: any body of `Bytes` (hyper's for connections
/// hyper serves, an empty one from the plain HTTP/1.1 front end).
pub trait ClientBody: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static {}

impl<B> ClientBody for B
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
    B::Error: Into<body::BoxError>,
{
}

/// Answers one request. `client_upgrade` is the client side of an HTTP upgrade the request
/// asks for (hyper's connections only).
pub async fn handle<B>(
    inner: Arc<Inner>,
    req: Request<B>,
    conn: Conn,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response<ProxyBody>
where
    B: ClientBody,
    B::Error: Into<body::BoxError>,
{
    let host = request_host(&req);
    // Hold this table version for the whole request; swaps affect only later requests.
    let table = inner.table.load_full();
    let Some(route) = table.lookup(&host, req.uri().path()) else {
        return status(StatusCode::NOT_FOUND);
    };
    let opts = &route.ingress.options;
    let ip = conn.peer.ip().to_canonical();

    if let Some(limit) = opts.body_size {
        let len = req.body().size_hint().exact().or(req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()));
        if len.is_some_and(|n: u64| n > limit) {
            return status(StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
    if !conn.https && redirect_needed(opts, &table, &host) {
        return redirect(&inner, &req, &host);
    }
    let scope = &route.ingress.key;
    if !inner.limiter.allow(
        scope,
        ip,
        opts.limit_rps,
        opts.limit_rpm,
        opts.limit_burst_multiplier,
    ) {
        tracing::debug!(ingress = %scope, client = %ip, "rate limited");
        return status(StatusCode::TOO_MANY_REQUESTS);
    }
    let guard = match opts.limit_connections {
        Some(n) => match inner.limiter.connection(scope, ip, n) {
            Some(g) => Some(g),
            None => return status(StatusCode::TOO_MANY_REQUESTS),
        },
        None => None,
    };
    if let Some(wl) = &opts.whitelist {
        if !wl.iter().any(|n| n.contains(&ip)) {
            tracing::debug!(ingress = %scope, client = %ip, "source not in whitelist");
            return status(StatusCode::FORBIDDEN);
        }
    }
    if route.backend.endpoints.is_empty() {
        tracing::debug!(backend = %route.backend.name, "no ready endpoints");
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    forward(&inner, req, route, conn, &host, guard, client_upgrade).await
}

fn redirect<B>(inner: &Inner, req: &Request<B>, host: &str) -> Response<ProxyBody> {
    let port = match inner.https_port {
        Some(443) | None => String::new(),
        Some(p) => format!(":{p}"),
    };
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut r = status(StatusCode::PERMANENT_REDIRECT);
    match HeaderValue::from_str(&format!("https://{host}{port}{pq}")) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => status(StatusCode::BAD_REQUEST),
    }
}

/// The upstream request: origin-form URI (rewritten), hop-by-hop headers replaced, the
/// X-Forwarded-* set as ingress-nginx does (not trusting what the client sent).
fn upstream_request<B>(
    req: Request<B>,
    route: &Route,
    conn: Conn,
    host: &str,
    exceeded: &Arc<AtomicBool>,
) -> Result<Request<ProxyBody>, StatusCode>
where
    B: ClientBody,
    B::Error: Into<body::BoxError>,
{
    let opts = &route.ingress.options;
    let upgrade = is_upgrade(req.headers());
    let mut path = req.uri().path().to_string();
    if let Some(target) = &opts.rewrite_target {
        path = model::rewrite(&route.path, target, &path).unwrap_or(path);
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let uri: Uri = pq.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
    let host_value = host_header(&req);
    let (parts, incoming) = req.into_parts();
    let upgrade_proto = parts.headers.get(header::UPGRADE).cloned();
    let mut headers = parts.headers;
    strip_hop(&mut headers);
    if let (true, Some(p)) = (upgrade, upgrade_proto) {
        headers.insert(header::UPGRADE, p);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    if let Some(h) = &host_value {
        headers.insert(header::HOST, h.clone());
    }
    let ip = conn.peer.ip().to_canonical().to_string();
    let set = |headers: &mut HeaderMap, name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    let proto = if conn.https { "https" } else { "http" };
    set(&mut headers, "x-real-ip", &ip);
    set(&mut headers, "x-forwarded-for", &ip);
    set(&mut headers, "x-forwarded-proto", proto);
    set(&mut headers, "x-forwarded-scheme", proto);
    set(&mut headers, "x-forwarded-host", host);
    set(
        &mut headers,
        "x-forwarded-port",
        &conn.local_port.to_string(),
    );
    let body = if incoming.is_end_stream() {
        body::empty()
    } else {
        match opts.body_size {
            Some(limit) => body::Limited::new(incoming, limit, exceeded.clone()).boxed_unsync(),
            None => incoming.map_err(Into::into).boxed_unsync(),
        }
    };
    let mut out = Request::new(body);
    *out.method_mut() = parts.method;
    *out.uri_mut() = uri;
    *out.version_mut() = Version::HTTP_11;
    *out.headers_mut() = headers;
    Ok(out)
}

async fn forward<B>(
    inner: &Arc<Inner>,
    req: Request<B>,
    route: &Route,
    conn: Conn,
    host: &str,
    guard: Option<ConnGuard>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response<ProxyBody>
where
    B: ClientBody,
    B::Error: Into<body::BoxError>,
{
    let opts = &route.ingress.options;
    let backend = &route.backend;
    let upgrade = client_upgrade.is_some() && is_upgrade(req.headers());
    // Affinity: the endpoint named by the cookie if it still exists, else round robin.
    let affinity = opts.affinity.as_ref();
    let sticky = affinity
        .and_then(|a| cookie(req.headers(), &a.cookie_name))
        .and_then(|v| {
            backend
                .endpoints
                .iter()
                .position(|e| affinity_value(e) == v)
        });
    let start = sticky.unwrap_or_else(|| backend.next_index());
    let exceeded = Arc::new(AtomicBool::new(false));
    let mut up_req = match upstream_request(req, route, conn, host, &exceeded) {
        Ok(r) => r,
        Err(code) => return status(code),
    };
    let tls = opts.backend_protocol == BackendProtocol::Https;
    // Upgraded connections stream both ways after the handshake.
    let with_body = upgrade || !up_req.body().is_end_stream();
    let n = backend.endpoints.len();
    if !with_body && !tls {
        let (parts, _) = up_req.into_parts();
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let head = h1::request_head(&parts.method, target, &parts.headers);
        let head_request = parts.method == http::Method::HEAD;
        let picked = |attempt: usize| (start + attempt) % n;
        let mut last_err = String::new();
        for attempt in 0..n.min(TRIES) {
            let addr = backend.endpoints[picked(attempt)];
            let key = Key { addr, tls: false };
            match lean_exchange(inner, key, &head, head_request, opts).await {
                Ok(resp) => {
                    let set_cookie = affinity
                        .filter(|_| sticky != Some(picked(attempt)))
                        .map(|a| (a, affinity_value(&addr)));
                    return respond(resp, None, set_cookie, route, guard, opts);
                }
                Err(Lean::ConnectFailed(e)) => {
                    tracing::warn!(backend = %backend.name, error = %e, "endpoint failed, trying next");
                    last_err = e;
                }
                Err(Lean::Failed(code)) => return status(code),
            }
        }
        tracing::warn!(backend = %backend.name, error = %last_err, "no endpoint reachable");
        return status(StatusCode::BAD_GATEWAY);
    }
    let mut last_err = String::new();
    for attempt in 0..n.min(TRIES) {
        let addr = backend.endpoints[(start + attempt) % n];
        let key = Key { addr, tls };
        // Upgraded connections are consumed by the tunnel: never reuse one for them.
        let pooled = if upgrade {
            None
        } else {
            inner.upstreams.checkout(key)
        };
        let (sender, driver) = match pooled {
            Some(s) => (s, None),
            None => match inner
                .upstreams
                .connect(key, opts.connect_timeout, !upgrade, with_body)
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(backend = %backend.name, error = %e, "endpoint failed, trying next");
                    last_err = e.to_string();
                    continue;
                }
            },
        };
        match send(inner, key, sender, driver, up_req, opts, upgrade).await {
            Sent::Response(resp, reuse) => {
                let set_cookie = affinity
                    .filter(|_| sticky != Some((start + attempt) % n))
                    .map(|a| (a, affinity_value(&addr)));
                return respond_hyper(resp, reuse, set_cookie, route, client_upgrade, guard, opts);
            }
            Sent::Unsent(r) => {
                // A pooled connection closed by the endpoint meanwhile; the request was
                // not written, so it can go to a fresh connection.
                up_req = r;
                match inner
                    .upstreams
                    .connect(key, opts.connect_timeout, !upgrade, with_body)
                    .await
                {
                    Ok((s, d)) => match send(inner, key, s, d, up_req, opts, upgrade).await {
                        Sent::Response(resp, reuse) => {
                            return respond_hyper(
                                resp,
                                reuse,
                                None,
                                route,
                                client_upgrade,
                                guard,
                                opts,
                            )
                        }
                        Sent::Unsent(_) => return status(StatusCode::BAD_GATEWAY),
                        Sent::Failed(code) => return status(code),
                    },
                    Err(e) => {
                        tracing::warn!(backend = %backend.name, error = %e, "reconnect failed");
                        return status(StatusCode::BAD_GATEWAY);
                    }
                }
            }
            Sent::Failed(code) => {
                if exceeded.load(Ordering::Acquire) {
                    return status(StatusCode::PAYLOAD_TOO_LARGE);
                }
                return status(code);
            }
        }
    }
    tracing::warn!(backend = %backend.name, error = %last_err, "no endpoint reachable");
    status(StatusCode::BAD_GATEWAY)
}

enum Sent {
    /// The response, and the connection's driver when the request's task drives it.
    Response(Response<Incoming>, Option<body::Reuse>),
    Unsent(Request<ProxyBody>),
    Failed(StatusCode),
}

async fn send(
    inner: &Arc<Inner>,
    key: Key,
    mut sender: Sender,
    mut driver: Option<Driver>,
    req: Request<ProxyBody>,
    opts: &Options,
    upgrade: bool,
) -> Sent {
    if driven(&mut driver, sender.ready()).await.is_err() {
        return Sent::Unsent(req);
    }
    let fut = sender.try_send_request(req);
    let deadline = opts.send_timeout + opts.read_timeout;
    match tokio::time::timeout(deadline, driven(&mut driver, fut)).await {
        Err(_) => {
            tracing::warn!(upstream = %key.addr, "upstream timed out");
            Sent::Failed(StatusCode::GATEWAY_TIMEOUT)
        }
        Ok(Ok(resp)) => match driver {
            Some(driver) => {
                let inner = inner.clone();
                let reuse = body::Reuse::new(
                    driver,
                    Box::new(move |driver| {
                        tokio::spawn(driver);
                        inner.upstreams.checkin(key, sender);
                    }),
                );
                Sent::Response(resp, Some(reuse))
            }
            None => {
                if !upgrade {
                    inner.upstreams.checkin(key, sender);
                }
                Sent::Response(resp, None)
            }
        },
        Ok(Err(mut e)) => match e.take_message() {
            Some(r) => Sent::Unsent(r),
            None => {
                tracing::warn!(upstream = %key.addr, error = %e.error(), "upstream request failed");
                Sent::Failed(StatusCode::BAD_GATEWAY)
            }
        },
    }
}

/// Awaits `fut` while also driving the connection's I/O when this task owns it. The
/// driver ending (the endpoint closed) does not end the wait: `fut` then fails by itself.
async fn driven<F: std::future::Future>(driver: &mut Option<Driver>, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Some(d) = driver.as_mut() {
            if d.as_mut().poll(cx).is_ready() {
                *driver = None;
            }
        }
        fut.as_mut().poll(cx)
    })
    .await
}

enum Lean {
    /// No connection to this endpoint: the next one may be tried.
    ConnectFailed(String),
    Failed(StatusCode),
}

/// A body-less request over the lean HTTP/1.1 path: a kept-alive connection if this worker
/// has one (a fresh one when the endpoint had closed it), else a new connection.
async fn lean_exchange(
    inner: &Arc<Inner>,
    key: Key,
    head: &[u8],
    head_request: bool,
    opts: &Options,
) -> Result<Response<h1::ResponseBody>, Lean> {
    let deadline = opts.send_timeout + opts.read_timeout;
    let mut pooled = h1::checkout(key);
    loop {
        let conn = match pooled.take() {
            Some(c) => c,
            None => match inner
                .upstreams
                .connect_tcp(key.addr, opts.connect_timeout, false)
                .await
            {
                Ok(s) => h1::Conn::new(s),
                Err(e) => return Err(Lean::ConnectFailed(e.to_string())),
            },
        };
        let reused = conn.reused();
        match tokio::time::timeout(deadline, h1::exchange(conn, key, head, head_request)).await {
            Ok(Ok(resp)) => return Ok(resp),
            // The endpoint closed a kept-alive connection as the request went out.
            Ok(Err(h1::ExchangeError::Closed)) if reused => continue,
            Ok(Err(e)) => {
                tracing::warn!(upstream = %key.addr, error = %e, "upstream request failed");
                return Err(Lean::Failed(StatusCode::BAD_GATEWAY));
            }
            Err(_) => {
                tracing::warn!(upstream = %key.addr, "upstream timed out");
                return Err(Lean::Failed(StatusCode::GATEWAY_TIMEOUT));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn respond_hyper(
    mut resp: Response<Incoming>,
    reuse: Option<body::Reuse>,
    set_cookie: Option<(&crate::annotations::Affinity, String)>,
    route: &Route,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    guard: Option<ConnGuard>,
    opts: &Options,
) -> Response<ProxyBody> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client) = client_upgrade else {
            return status(StatusCode::BAD_GATEWAY);
        };
        let upstream = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let _guard = guard;
            match tokio::try_join!(client, upstream) {
                Ok((c, u)) => {
                    let mut c = hyper_util::rt::TokioIo::new(c);
                    let mut u = hyper_util::rt::TokioIo::new(u);
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut u).await;
                }
                Err(e) => tracing::debug!(error = %e, "upgrade failed"),
            }
        });
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, body::empty());
    }
    respond(resp, reuse, set_cookie, route, guard, opts)
}

/// The client's response: hop-by-hop headers dropped, the affinity cookie set, the body
/// relayed under the read timeout.
fn respond<B>(
    resp: Response<B>,
    reuse: Option<body::Reuse>,
    set_cookie: Option<(&crate::annotations::Affinity, String)>,
    route: &Route,
    guard: Option<ConnGuard>,
    opts: &Options,
) -> Response<ProxyBody>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + 'static,
    B::Error: Into<body::BoxError>,
{
    let (mut parts, incoming) = resp.into_parts();
    strip_hop(&mut parts.headers);
    if let Some((a, value)) = set_cookie {
        let path = a.cookie_path.clone().unwrap_or_else(|| match &route.path {
            // A regex is no cookie path; ingress-nginx falls back to "/" as well.
            model::PathMatch::Regex { .. } => "/".to_string(),
            p if p.as_str().is_empty() => "/".to_string(),
            p => p.as_str().to_string(),
        });
        let mut c = format!("{}={value}; Path={path}; HttpOnly", a.cookie_name);
        if let Some(age) = a.max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if let Ok(v) = HeaderValue::from_str(&c) {
            parts.headers.append(header::SET_COOKIE, v);
        }
    }
    let body = body::Upstream::new(incoming, opts.read_timeout, guard, reuse).boxed_unsync();
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_ports_case_and_trailing_dots() {
        let host = |h: &str| {
            let req = Request::builder()
                .uri("/")
                .header("host", h)
                .body(())
                .unwrap();
            request_host(&req)
        };
        assert_eq!(host("Foo.COM:8080"), "foo.com");
        assert_eq!(host("foo.com."), "foo.com");
        assert_eq!(host("[::1]:80"), "[::1]");
        assert_eq!(host("[::1]"), "[::1]");
        assert_eq!(host("bar"), "bar");
        let req = Request::builder()
            .uri("http://Abs.com:1/x")
            .body(())
            .unwrap();
        assert_eq!(request_host(&req), "abs.com");
    }
}

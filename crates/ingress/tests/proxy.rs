//! The proxy end to end on loopback: real backends, real clients, a table built from objects.

mod common;

use std::time::Duration;

use common::*;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn routes_by_host_and_path_with_404_default() {
    let (a, b) = (backend("a").await, backend("b").await);
    let w = World::default()
        .backend("sa", &[a])
        .backend("sb", &[b])
        .ingress(ingress(
            "i",
            json!({}),
            json!({"rules": [
                rule(Some("foo.com"), "/", "Prefix", "sa"),
                rule(Some("foo.com"), "/exact", "Exact", "sb"),
                rule(Some("*.bar.com"), "/", "Prefix", "sb"),
            ]}),
        ));
    let h = Harness::start(&w).await;
    let backend_of = |r: Resp| r.json()["backend"].as_str().unwrap().to_string();
    assert_eq!(backend_of(get(h.http, "foo.com", "/x").await), "a");
    assert_eq!(backend_of(get(h.http, "FOO.com:80", "/exact").await), "b");
    assert_eq!(backend_of(get(h.http, "foo.com", "/exact/more").await), "a");
    assert_eq!(backend_of(get(h.http, "x.bar.com", "/").await), "b");
    let r = get(h.http, "x.y.bar.com", "/").await;
    assert_eq!(r.status, 404);
    assert_eq!(get(h.http, "nope.com", "/").await.status, 404);
}

#[tokio::test]
async fn keep_alive_endpoints_serve_many_requests_on_one_connection() {
    let a = backend("keepalive").await;
    let w = World::default().backend("sa", &[a]).ingress(ingress(
        "i",
        json!({}),
        json!({"rules": [rule(None, "/", "Prefix", "sa")]}),
    ));
    let h = Harness::start(&w).await;
    for i in 0..5 {
        let r = get(h.http, "foo.com", &format!("/n{i}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["path"], format!("/n{i}"));
    }
    // The first request's connection was driven by its own task, then pooled.
    assert_eq!(accepted("keepalive"), 1);
}

#[tokio::test]
async fn no_endpoints_is_503_and_dead_endpoint_is_retried() {
    let (a, dead) = (backend("a").await, dead_port().await);
    let w = World::default()
        .backend("empty", &[])
        .backend("flaky", &[dead, a])
        .ingress(ingress(
            "i",
            json!({}),
            json!({"rules": [rule(Some("e.com"), "/", "Prefix", "empty"),
                             rule(Some("f.com"), "/", "Prefix", "flaky")]}),
        ));
    let h = Harness::start(&w).await;
    assert_eq!(get(h.http, "e.com", "/").await.status, 503);
    // Round robin starts on each endpoint in turn; every request must still succeed.
    for _ in 0..6 {
        let r = get(h.http, "f.com", "/").await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let w = World::default().backend("flaky", &[dead]).ingress(ingress(
        "i",
        json!({}),
        json!({"rules": [rule(Some("f.com"), "/", "Prefix", "flaky")]}),
    ));
    h.apply(&w);
    assert_eq!(get(h.http, "f.com", "/").await.status, 502);
}

#[tokio::test]
async fn forwarded_headers_are_set_not_trusted() {
    let a = backend("a").await;
    let w = World::default().backend("sa", &[a]).ingress(ingress(
        "i",
        json!({}),
        json!({"rules": [rule(Some("foo.com"), "/", "Prefix", "sa")]}),
    ));
    let h = Harness::start(&w).await;
    let r = send(
        h.http,
        req("GET", "foo.com", "/p?q=1")
            .header("x-forwarded-for", "6.6.6.6")
            .header("connection", "close, x-secret")
            .header("x-secret", "hop")
            .body(body(""))
            .unwrap(),
    )
    .await;
    let j = r.json();
    let hd = &j["headers"];
    assert_eq!(j["path"], "/p?q=1");
    assert_eq!(hd["x-forwarded-for"], "127.0.0.1");
    assert_eq!(hd["x-real-ip"], "127.0.0.1");
    assert_eq!(hd["x-forwarded-proto"], "http");
    assert_eq!(hd["x-forwarded-host"], "foo.com");
    assert_eq!(hd["x-forwarded-port"], h.http.port().to_string());
    assert_eq!(hd["host"], "foo.com");
    assert!(
        hd.get("x-secret").is_none(),
        "hop-by-hop header leaked: {hd}"
    );
}

#[tokio::test]
async fn rewrite_target_with_captures() {
    let a = backend("a").await;
    let w = World::default().backend("sa", &[a]).ingress(ingress(
        "i",
        json!({"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}),
        json!({"rules": [rule(Some("foo.com"), "/api(/|$)(.*)", "ImplementationSpecific", "sa")]}),
    ));
    let h = Harness::start(&w).await;
    assert_eq!(
        get(h.http, "foo.com", "/api/v1/x?y=2").await.json()["path"],
        "/v1/x?y=2"
    );
    assert_eq!(get(h.http, "foo.com", "/api").await.json()["path"], "/");
    assert_eq!(get(h.http, "foo.com", "/apiv1").await.status, 404);
}

#[tokio::test]
async fn ssl_redirects() {
    let a = backend("a").await;
    let (secret, _) = tls_secret("cert", "secure.com");
    let mut w = World::default().backend("sa", &[a]);
    w.secrets.push(secret);
    let w = w
        .ingress(ingress(
            "tls",
            json!({}),
            json!({"tls": [{"hosts": ["secure.com"], "secretName": "cert"}],
                   "rules": [rule(Some("secure.com"), "/", "Prefix", "sa")]}),
        ))
        .ingress(ingress(
            "off",
            json!({"nginx.ingress.kubernetes.io/ssl-redirect": "false"}),
            json!({"tls": [{"hosts": ["lax.com"]}],
                   "rules": [rule(Some("lax.com"), "/", "Prefix", "sa")]}),
        ))
        .ingress(ingress(
            "force",
            json!({"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}),
            json!({"rules": [rule(Some("forced.com"), "/", "Prefix", "sa")]}),
        ))
        .ingress(ingress(
            "plain",
            json!({}),
            json!({"rules": [rule(Some("plain.com"), "/", "Prefix", "sa")]}),
        ));
    let h = Harness::start(&w).await;
    let r = get(h.http, "secure.com", "/a?b=c").await;
    assert_eq!(r.status, 308);
    assert_eq!(
        r.headers["location"],
        format!("https://secure.com:{}/a?b=c", h.https.port())
    );
    assert_eq!(get(h.http, "forced.com", "/").await.status, 308);
    assert_eq!(get(h.http, "lax.com", "/").await.status, 200);
    assert_eq!(get(h.http, "plain.com", "/").await.status, 200);
    // Over HTTPS the same host is proxied.
    let (s, _, _) = tls_connect(h.https, "secure.com", &[b"http/1.1"]).await;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let r = collect(
        tx.send_request(req("GET", "secure.com", "/").body(body("")).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-forwarded-proto"], "https");
}

#[tokio::test]
async fn rate_and_connection_limits_answer_429() {
    let a = backend("a").await;
    let w = World::default()
        .backend("sa", &[a])
        .ingress(ingress(
            "rps",
            json!({"nginx.ingress.kubernetes.io/limit-rps": "2",
                   "nginx.ingress.kubernetes.io/limit-burst-multiplier": "1"}),
            json!({"rules": [rule(Some("rps.com"), "/", "Prefix", "sa")]}),
        ))
        .ingress(ingress(
            "alias",
            json!({"nginx.ingress.kubernetes.io/rate-limit": "1",
                   "nginx.ingress.kubernetes.io/limit-burst-multiplier": "1"}),
            json!({"rules": [rule(Some("alias.com"), "/", "Prefix", "sa")]}),
        ))
        .ingress(ingress(
            "conn",
            json!({"nginx.ingress.kubernetes.io/limit-connections": "1"}),
            json!({"rules": [rule(Some("conn.com"), "/", "Prefix", "sa")]}),
        ));
    let h = Harness::start(&w).await;
    let mut codes = vec![];
    for _ in 0..5 {
        codes.push(get(h.http, "rps.com", "/").await.status);
    }
    assert_eq!(&codes[..2], &[200, 200], "{codes:?}");
    assert!(codes[2..].contains(&429), "{codes:?}");
    assert_eq!(get(h.http, "alias.com", "/").await.status, 200);
    assert_eq!(get(h.http, "alias.com", "/").await.status, 429);
    // Tokens refill: after a second the limit admits requests again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(h.http, "alias.com", "/").await.status, 200);

    // A streaming response holds the only connection slot until it ends.
    let s = tokio::net::TcpStream::connect(h.http).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let held = tx
        .send_request(req("GET", "conn.com", "/stream").body(body("")).unwrap())
        .await
        .unwrap();
    assert_eq!(held.status(), 200);
    assert_eq!(get(h.http, "conn.com", "/").await.status, 429);
    held.into_body().collect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(get(h.http, "conn.com", "/").await.status, 200);
}

#[tokio::test]
async fn body_size_413_and_whitelist_403() {
    let a = backend("a").await;
    let w = World::default()
        .backend("sa", &[a])
        .ingress(ingress(
            "small",
            json!({"nginx.ingress.kubernetes.io/proxy-body-size": "1k"}),
            json!({"rules": [rule(Some("small.com"), "/", "Prefix", "sa")]}),
        ))
        .ingress(ingress(
            "deny",
            json!({"nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8"}),
            json!({"rules": [rule(Some("deny.com"), "/", "Prefix", "sa")]}),
        ))
        .ingress(ingress(
            "allow",
            json!({"nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8,127.0.0.1/32"}),
            json!({"rules": [rule(Some("allow.com"), "/", "Prefix", "sa")]}),
        ));
    let h = Harness::start(&w).await;
    let post = |n: usize| {
        req("POST", "small.com", "/")
            .body(body(vec![b'x'; n]))
            .unwrap()
    };
    assert_eq!(send(h.http, post(2048)).await.status, 413);
    let ok = send(h.http, post(512)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["body_len"], 512);
    // Chunked upload without Content-Length: caught while streaming.
    let chunks = futures::stream::iter((0..4).map(|_| {
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(bytes::Bytes::from(vec![
            b'y';
            600
        ])))
    }));
    let streamed = req("POST", "small.com", "/")
        .body(http_body_util::StreamBody::new(chunks).boxed())
        .unwrap();
    assert_eq!(send(h.http, streamed).await.status, 413);
    assert_eq!(get(h.http, "deny.com", "/").await.status, 403);
    assert_eq!(get(h.http, "allow.com", "/").await.status, 200);
}

#[tokio::test]
async fn read_timeout_is_504() {
    let a = backend("a").await;
    let w = World::default().backend("sa", &[a]).ingress(ingress(
        "i",
        json!({"nginx.ingress.kubernetes.io/proxy-read-timeout": "1",
               "nginx.ingress.kubernetes.io/proxy-send-timeout": "1"}),
        json!({"rules": [rule(Some("slow.com"), "/", "Prefix", "sa")]}),
    ));
    let h = Harness::start(&w).await;
    let t = std::time::Instant::now();
    assert_eq!(get(h.http, "slow.com", "/sleep").await.status, 504);
    assert!(t.elapsed() < Duration::from_millis(2900));
}

#[tokio::test]
async fn cookie_affinity_sticks() {
    let (a, b) = (backend("a").await, backend("b").await);
    let w = World::default().backend("sab", &[a, b]).ingress(ingress(
        "i",
        json!({"nginx.ingress.kubernetes.io/affinity": "cookie"}),
        json!({"rules": [rule(Some("s.com"), "/", "Prefix", "sab")]}),
    ));
    let h = Harness::start(&w).await;
    let first = get(h.http, "s.com", "/").await;
    let cookie = first.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("INGRESSCOOKIE="), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let who = first.json()["backend"].clone();
    for _ in 0..6 {
        let r = send(
            h.http,
            req("GET", "s.com", "/")
                .header("cookie", &pair)
                .body(body(""))
                .unwrap(),
        )
        .await;
        assert_eq!(r.json()["backend"], who);
        assert!(r.headers.get("set-cookie").is_none());
    }
    // Without the cookie, round robin reaches both.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        seen.insert(get(h.http, "s.com", "/").await.json()["backend"].to_string());
    }
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn websocket_upgrade_passes_through() {
    let a = backend("a").await;
    let w = World::default().backend("sa", &[a]).ingress(ingress(
        "i",
        json!({}),
        json!({"rules": [rule(Some("ws.com"), "/", "Prefix", "sa")]}),
    ));
    let h = Harness::start(&w).await;
    let mut s = tokio::net::TcpStream::connect(h.http).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: ws.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    for msg in [&b"hello"[..], b"again"] {
        s.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, msg);
    }
}

#[tokio::test]
async fn table_swap_keeps_streaming_request() {
    let a = backend("a").await;
    let w = World::default().backend("sa", &[a]).ingress(ingress(
        "i",
        json!({}),
        json!({"rules": [rule(Some("st.com"), "/", "Prefix", "sa")]}),
    ));
    let h = Harness::start(&w).await;
    let s = tokio::net::TcpStream::connect(h.http).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = tx
        .send_request(req("GET", "st.com", "/stream").body(body("")).unwrap())
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"chunk0\n");
    // Remove the Ingress and the endpoints mid-stream.
    h.apply(&World::default());
    assert_eq!(get(h.http, "st.com", "/").await.status, 404);
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"chunk1\nchunk2\nchunk3\nchunk4\n");
}

#[tokio::test]
async fn tls_by_sni_default_cert_swap_and_h2() {
    let a = backend("a").await;
    let (secret, pem) = tls_secret("cert", "secure.com");
    let mut w = World::default().backend("sa", &[a]).ingress(ingress(
        "i",
        json!({}),
        json!({"tls": [{"hosts": ["secure.com"], "secretName": "cert"}],
               "rules": [rule(Some("secure.com"), "/", "Prefix", "sa")]}),
    ));
    w.secrets.push(secret);
    let h = Harness::start(&w).await;
    let (_, cert, _) = tls_connect(h.https, "secure.com", &[]).await;
    assert_eq!(cert, pem_to_der(&pem));
    let (_, other, _) = tls_connect(h.https, "other.com", &[]).await;
    assert_ne!(other, cert, "unknown SNI must get the default certificate");

    // h2 negotiated by ALPN, proxied to the HTTP/1.1 backend.
    let (s, _, alpn) = tls_connect(h.https, "secure.com", &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let r = h2_send(
        s,
        http::Request::builder()
            .uri("https://secure.com/h2")
            .body(body(""))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["host"], "secure.com");
    assert_eq!(r.json()["path"], "/h2");

    // New Secret content: new handshakes get the new certificate, without restart.
    let (secret2, pem2) = tls_secret("cert", "secure.com");
    w.secrets = vec![secret2];
    h.apply(&w);
    let (_, cert2, _) = tls_connect(h.https, "secure.com", &[]).await;
    assert_eq!(cert2, pem_to_der(&pem2));
    assert_ne!(cert2, cert);
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let a = backend("a").await;
    let w = World::default().backend("sa", &[a]).ingress(ingress(
        "i",
        json!({}),
        json!({"rules": [rule(Some("c.com"), "/", "Prefix", "sa")]}),
    ));
    let h = Harness::start(&w).await;
    let s = tokio::net::TcpStream::connect(h.http).await.unwrap();
    let r = h2_send(
        s,
        http::Request::builder()
            .uri("http://c.com/x")
            .body(body(""))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["backend"], "a");
}

//! Requests without a body go over the proxy's own HTTP/1.1 exchange: every framing an
//! endpoint may answer with, and kept-alive connections the endpoint closes, against a
//! scripted raw-TCP endpoint.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one request head; None at end of stream.
async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// An endpoint answering by path with raw bytes. `/drop-second`: the second request on a
/// connection is read and the connection closed without an answer (an endpoint closing an
/// idle kept-alive connection just as a request arrives).
async fn scripted() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut served = 0;
                while let Some(head) = read_head(&mut s).await {
                    served += 1;
                    let line = head.lines().next().unwrap_or("").to_string();
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    let reply: &[u8] = match path.as_str() {
                        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
                        "/close" => b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
                        "/continue" => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                        "/head" => b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n",
                        "/empty" => b"HTTP/1.1 204 No Content\r\n\r\n",
                        "/short" => b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
                        "/garbage" => b"NOT HTTP AT ALL\r\n\r\n",
                        "/drop-second" if served == 2 => return,
                        _ => b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nsame",
                    };
                    if s.write_all(reply).await.is_err() {
                        return;
                    }
                    if ["/close", "/short", "/garbage"].contains(&path.as_str()) {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Every host and path to endpoint `ep`.
fn every_host_to(ep: SocketAddr) -> World {
    World::default().backend("s", &[ep]).ingress(ingress(
        "i",
        json!({}),
        json!({"rules": [rule(None, "/", "Prefix", "s")]}),
    ))
}

#[tokio::test]
async fn every_response_framing_is_relayed() {
    let (ep, _) = scripted().await;
    let h = Harness::start(&every_host_to(ep)).await;
    let r = get(h.http, "a.com", "/chunked").await;
    assert_eq!((r.status, r.body.as_str()), (200, "hello world"));
    let r = get(h.http, "a.com", "/close").await;
    assert_eq!((r.status, r.body.as_str()), (200, "until the end"));
    let r = get(h.http, "a.com", "/continue").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    let r = send(
        h.http,
        req("HEAD", "a.com", "/head").body(body("")).unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-length"], "10");
    let r = get(h.http, "a.com", "/empty").await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    // A body-less POST still reaches the endpoint and gets its answer.
    let r = send(h.http, req("POST", "a.com", "/x").body(body("")).unwrap()).await;
    assert_eq!((r.status, r.body.as_str()), (200, "same"));
    assert_eq!(get(h.http, "a.com", "/garbage").await.status, 502);
}

#[tokio::test]
async fn a_truncated_body_is_not_passed_off_as_complete() {
    let (ep, _) = scripted().await;
    let h = Harness::start(&every_host_to(ep)).await;
    let s = TcpStream::connect(h.http).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    // The client sees the failure: no response at all, or a body that breaks off.
    use http_body_util::BodyExt;
    if let Ok(resp) = tx
        .send_request(req("GET", "a.com", "/short").body(body("")).unwrap())
        .await
    {
        assert_eq!(resp.status(), 200);
        assert!(resp.into_body().collect().await.is_err());
    }
}

#[tokio::test]
async fn kept_alive_connections_are_reused_and_a_closed_one_is_replaced() {
    let (ep, accepted) = scripted().await;
    let h = Harness::start(&every_host_to(ep)).await;
    for _ in 0..3 {
        assert_eq!(get(h.http, "a.com", "/chunked").await.body, "hello world");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one kept-alive connection"
    );
    // The endpoint drops the second request of each connection unanswered: the proxy sends
    // it again on a fresh connection, and the client never sees the failure.
    let (ep2, accepted2) = scripted().await;
    h.apply(&every_host_to(ep2));
    for _ in 0..3 {
        let r = get(h.http, "a.com", "/drop-second").await;
        assert_eq!((r.status, r.body.as_str()), (200, "same"));
    }
    // A: 1st answered, 2nd dropped; B: 2nd answered, 3rd dropped; C: 3rd answered.
    assert_eq!(accepted2.load(Ordering::SeqCst), 3);
}

/// Reads from `s` until `done` holds for what arrived (or the peer closes).
async fn read_until(s: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !done(&String::from_utf8_lossy(&got)) {
        match tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("timed out; got {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn raw_clients_pipelining_http10_and_a_body_midway() {
    let (ep, _) = scripted().await;
    let a = backend("front").await;
    let w = World::default()
        .backend("s", &[ep])
        .backend("j", &[a])
        .ingress(ingress(
            "i",
            json!({}),
            json!({"rules": [rule(Some("s.com"), "/", "Prefix", "s"),
                             rule(Some("j.com"), "/", "Prefix", "j")]}),
        ));
    let h = Harness::start(&w).await;

    // Two pipelined requests in one write: two answers, in order, on one connection.
    let mut c = TcpStream::connect(h.http).await.unwrap();
    c.write_all(
        b"GET /x HTTP/1.1\r\nHost: s.com\r\n\r\nGET /chunked HTTP/1.1\r\nHost: s.com\r\n\r\n",
    )
    .await
    .unwrap();
    let got = read_until(&mut c, |t| t.ends_with("0\r\n\r\n")).await;
    let same = got.find("same").expect("first answer");
    let hello = got.find("hello").expect("second answer");
    assert!(same < hello, "{got}");
    assert!(got.contains("transfer-encoding: chunked"), "{got}");

    // Then a request with a body on the same connection: served (by hyper) all the same.
    c.write_all(b"POST /up HTTP/1.1\r\nHost: j.com\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let got = read_until(&mut c, |t| t.contains("\"body_len\":5")).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");

    // HTTP/1.0 without keep-alive: the answer says close and the connection ends.
    let mut c = TcpStream::connect(h.http).await.unwrap();
    c.write_all(b"GET /chunked HTTP/1.0\r\nHost: s.com\r\n\r\n")
        .await
        .unwrap();
    let got = read_until(&mut c, |_| false).await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.contains("connection: close"), "{got}");
    assert!(
        !got.contains("chunked"),
        "no chunked framing for HTTP/1.0: {got}"
    );
    assert!(got.ends_with("hello world"), "{got}");

    // HEAD: the head with the endpoint's length, no body, and the connection stays usable.
    let mut c = TcpStream::connect(h.http).await.unwrap();
    c.write_all(
        b"HEAD /head HTTP/1.1\r\nHost: s.com\r\n\r\nGET /x HTTP/1.1\r\nHost: s.com\r\n\r\n",
    )
    .await
    .unwrap();
    let got = read_until(&mut c, |t| t.ends_with("same")).await;
    assert!(got.contains("content-length: 10\r\n"), "{got}");
    assert_eq!(got.matches("HTTP/1.1 200").count(), 2, "{got}");

    // A local answer (no route) carries its length and a date.
    let mut c = TcpStream::connect(h.http).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: nope.com\r\n\r\n")
        .await
        .unwrap();
    let got = read_until(&mut c, |t| t.ends_with("Not Found\n")).await;
    assert!(got.starts_with("HTTP/1.1 404 Not Found\r\n"), "{got}");
    assert!(
        got.contains("content-length: 14\r\n") && got.contains("date: "),
        "{got}"
    );
}

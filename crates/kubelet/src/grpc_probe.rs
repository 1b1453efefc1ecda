//! gRPC probes: one `grpc.health.v1.Health/Check` call over plaintext HTTP/2, as upstream's
//! prober makes it (no TLS, `service` from the probe), with upstream's result messages.
//!
//! The health protocol is two one-field protobuf messages, so they are encoded by hand
//! rather than pulling a gRPC stack into the agent.

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::probes::Outcome;

/// `grpc.health.v1.HealthCheckResponse.ServingStatus` names, by number.
fn status_name(n: u64) -> String {
    match n {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => n.to_string(),
    }
}

/// `HealthCheckRequest { service = 1 }` in a gRPC length-prefixed frame.
pub(crate) fn request_frame(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a);
        put_varint(&mut msg, service.len() as u64);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    frame
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.first()?;
        *buf = &buf[1..];
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The `status` field of a framed `HealthCheckResponse` (absent means 0, UNKNOWN).
pub(crate) fn response_status(frame: &[u8]) -> Option<u64> {
    if frame.len() < 5 || frame[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    let mut msg = frame.get(5..5 + len)?;
    let mut status = 0;
    while !msg.is_empty() {
        let key = get_varint(&mut msg)?;
        match key & 7 {
            0 => {
                let v = get_varint(&mut msg)?;
                if key >> 3 == 1 {
                    status = v;
                }
            }
            2 => {
                let n = get_varint(&mut msg)? as usize;
                msg = msg.get(n..)?;
            }
            5 => msg = msg.get(4..)?,
            1 => msg = msg.get(8..)?,
            _ => return None,
        }
    }
    Some(status)
}

/// Probes `host:port` from inside `netns` (the socket is made there; the call itself then
/// runs on the agent's runtime).
pub async fn probe(
    netns: Option<PathBuf>,
    host: String,
    port: u16,
    service: String,
    timeout: Duration,
) -> Outcome {
    let addr = crate::probes::hostport(&host, port);
    let connect_failed = |e: String| {
        Outcome::Failure(format!(
            "timeout: failed to connect service {addr:?} within {}s: {e}",
            timeout.as_secs()
        ))
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let h = host.clone();
    crate::probes::on_netns_thread(netns, move || {
        let _ = tx.send(crate::probes::connect(&h, port, timeout));
    });
    let tcp: TcpStream = match rx.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return connect_failed(e),
        Err(_) => return connect_failed("probe thread failed".into()),
    };
    if let Err(e) = tcp.set_nonblocking(true) {
        return connect_failed(e.to_string());
    }
    let tcp = match tokio::net::TcpStream::from_std(tcp) {
        Ok(s) => s,
        Err(e) => return connect_failed(e.to_string()),
    };
    match tokio::time::timeout(timeout, check(tcp, &addr, &service)).await {
        Ok(Ok(1)) => Outcome::Success,
        Ok(Ok(status)) => Outcome::Failure(format!(
            "service unhealthy (responded with {:?})",
            status_name(status)
        )),
        Ok(Err(RpcError::Unimplemented(m))) => Outcome::Failure(format!(
            "this server does not implement the grpc health protocol (grpc.health.v1.Health): {m}"
        )),
        Ok(Err(RpcError::Other(m))) => {
            Outcome::Failure(format!("error: health rpc probe failed: {m}"))
        }
        Err(_) => Outcome::Failure(format!(
            "timeout: health rpc did not complete within {}s",
            timeout.as_secs()
        )),
    }
}

enum RpcError {
    Unimplemented(String),
    Other(String),
}

async fn check(tcp: tokio::net::TcpStream, addr: &str, service: &str) -> Result<u64, RpcError> {
    let other = |e: &dyn std::fmt::Display| RpcError::Other(e.to_string());
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(|e| other(&e))?;
    let conn = tokio::spawn(conn);
    let req = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", "kube-probe/1.33")
        .body(Full::new(Bytes::from(request_frame(service))))
        .map_err(|e| other(&e))?;
    let result = async {
        let resp = sender.send_request(req).await.map_err(|e| other(&e))?;
        // Trailers-only responses carry grpc-status in the headers.
        let head_status = resp.headers().get("grpc-status").cloned();
        let head_message = resp.headers().get("grpc-message").cloned();
        let collected = resp.into_body().collect().await.map_err(|e| other(&e))?;
        let trailers = collected.trailers().cloned();
        let mut body = collected.to_bytes();
        let status = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status").cloned())
            .or(head_status);
        let message = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-message").cloned())
            .or(head_message);
        let code = status
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(2);
        let message = message
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        match code {
            0 => {}
            12 => {
                return Err(RpcError::Unimplemented(format!(
                    "rpc error: code = Unimplemented desc = {message}"
                )))
            }
            c => {
                return Err(RpcError::Other(format!(
                    "rpc error: code = {} desc = {message}",
                    code_name(c)
                )))
            }
        }
        let frame = body.copy_to_bytes(body.remaining());
        response_status(&frame)
            .ok_or_else(|| RpcError::Other("malformed HealthCheckResponse".into()))
    }
    .await;
    conn.abort();
    result
}

fn code_name(c: u32) -> &'static str {
    match c {
        1 => "Canceled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        13 => "Internal",
        14 => "Unavailable",
        16 => "Unauthenticated",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Incoming;
    use hyper::service::service_fn;

    /// A real HTTP/2 server speaking the gRPC health protocol: `healthy` answers SERVING for
    /// service "", NOT_SERVING for "db", and Unimplemented for anything but Check.
    async fn health_server() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = service_fn(|req: http::Request<Incoming>| async move {
                        let path = req.uri().path().to_string();
                        let body = req.into_body().collect().await?.to_bytes();
                        let mut trailers = http::HeaderMap::new();
                        if path != "/grpc.health.v1.Health/Check" {
                            trailers.insert("grpc-status", "12".parse().expect("hv"));
                            let resp = http::Response::builder()
                                .header("content-type", "application/grpc")
                                .header("grpc-status", "12")
                                .body(Full::new(Bytes::new()))
                                .expect("resp");
                            return Ok::<_, hyper::Error>(resp);
                        }
                        let status: u8 = if body.as_ref() == request_frame("").as_slice() {
                            1
                        } else {
                            2
                        };
                        let frame = vec![0, 0, 0, 0, 2, 0x08, status];
                        let resp = http::Response::builder()
                            .header("content-type", "application/grpc")
                            .header("grpc-status", "0")
                            .body(Full::new(Bytes::from(frame)))
                            .expect("resp");
                        Ok(resp)
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        port
    }

    #[test]
    fn frames_round_trip() {
        assert_eq!(request_frame(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            request_frame("db"),
            vec![0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
        assert_eq!(response_status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(response_status(&[0, 0, 0, 0, 0]), Some(0));
        assert_eq!(response_status(&[0, 0, 0, 0, 9, 0x08]), None);
        assert_eq!(response_status(&[]), None);
    }

    #[tokio::test]
    async fn grpc_probe_reports_serving_and_not_serving() {
        let port = health_server().await;
        let t = Duration::from_secs(2);
        let ok = probe(None, "127.0.0.1".into(), port, String::new(), t).await;
        assert_eq!(ok, Outcome::Success);
        let bad = probe(None, "127.0.0.1".into(), port, "db".into(), t).await;
        assert_eq!(
            bad,
            Outcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into())
        );
    }

    #[tokio::test]
    async fn grpc_probe_on_a_closed_port_fails_to_connect() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let r = probe(
            None,
            "127.0.0.1".into(),
            port,
            String::new(),
            Duration::from_secs(1),
        )
        .await;
        match r {
            Outcome::Failure(m) => {
                assert!(m.starts_with("timeout: failed to connect service"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}

//! `port-forward` (`portforward.k8s.io`): over SPDY/3.1, and over SPDY inside WebSocket
//! binary messages (`SPDY/3.1+portforward.k8s.io`, kubectl ≥1.31). Each local connection
//! is a pair of streams (`streamtype` error and data, same `requestid`); the data stream is
//! spliced to a TCP connection opened *inside the pod's network namespace* to
//! `127.0.0.1:<port>`, as the kubelet does with the runtime's netns.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::websocket;

/// Connects to `127.0.0.1:port` from inside `netns`; the socket stays in that namespace.
pub async fn connect_in_netns(netns: PathBuf, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let res = (|| -> std::io::Result<std::net::TcpStream> {
            let file = std::fs::File::open(&netns)?;
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)?;
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            s.set_nonblocking(true)?;
            Ok(s)
        })();
        let _ = tx.send(res);
    });
    let std_stream = rx
        .await
        .map_err(|_| std::io::Error::other("port-forward thread failed"))??;
    tokio::net::TcpStream::from_std(std_stream)
}

/// Serves one port-forward session on an upgraded connection speaking SPDY.
pub async fn spdy_session<IO>(io: IO, netns: PathBuf, pod: String, uid: String)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (session, mut incoming) = spdy::Session::server(io);
    let mut errors: HashMap<String, spdy::Stream> = HashMap::new();
    let mut pending_data: HashMap<String, spdy::Stream> = HashMap::new();
    loop {
        let Some(stream) = incoming.recv().await else {
            break;
        };
        let _ = stream.reply(&[], false).await;
        let id = stream.header("requestid").unwrap_or("").to_string();
        let kind = stream.header("streamtype").unwrap_or("").to_string();
        match kind.as_str() {
            "error" => {
                if let Some(data) = pending_data.remove(&id) {
                    spawn_pair(stream, data, netns.clone(), &pod, &uid);
                } else {
                    errors.insert(id, stream);
                }
            }
            "data" => {
                if let Some(err) = errors.remove(&id) {
                    spawn_pair(err, stream, netns.clone(), &pod, &uid);
                } else {
                    pending_data.insert(id, stream);
                }
            }
            _ => {
                let _ = stream.reset(spdy::rst::PROTOCOL_ERROR).await;
            }
        }
    }
    let _ = session.shutdown().await;
}

fn spawn_pair(error: spdy::Stream, mut data: spdy::Stream, netns: PathBuf, pod: &str, uid: &str) {
    let (pod, uid) = (pod.to_string(), uid.to_string());
    tokio::spawn(async move {
        let port: Option<u16> = data.header("port").and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = error.send(b"invalid port header").await;
            let _ = error.close().await;
            let _ = data.close().await;
            return;
        };
        let tcp = match connect_in_netns(netns, port).await {
            Ok(s) => s,
            Err(e) => {
                let msg = format!(
                    "error forwarding port {port} to pod {pod}, uid {uid}: failed to connect to localhost:{port} inside namespace: {e}"
                );
                let _ = error.send(msg.as_bytes()).await;
                let _ = error.close().await;
                let _ = data.close().await;
                return;
            }
        };
        let (mut rd, mut wr) = tcp.into_split();
        let writer = data.writer();
        let up = tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if writer.send(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = writer.close().await;
        });
        while let Some(chunk) = data.recv().await {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
        let _ = up.await;
        let _ = error.close().await;
    });
}

/// Adapts a WebSocket carrying SPDY bytes in binary messages to a byte stream, then serves
/// port-forward over it.
pub async fn websocket_session<IO>(io: IO, netns: PathBuf, pod: String, uid: String)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut ws_rd, ws_wr) = tokio::io::split(io);
    let ws_wr = std::sync::Arc::new(tokio::sync::Mutex::new(ws_wr));
    let (mut pipe_rd, mut pipe_wr) = tokio::io::split(ours);
    let in_wr = ws_wr.clone();
    let inbound = tokio::spawn(async move {
        while let Ok(websocket::Message::Binary(m) | websocket::Message::Text(m)) =
            websocket::read_message(&mut ws_rd, &in_wr).await
        {
            if pipe_wr.write_all(&m).await.is_err() {
                break;
            }
        }
        let _ = pipe_wr.shutdown().await;
    });
    let out_wr = ws_wr.clone();
    let outbound = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match pipe_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut w = out_wr.lock().await;
                    if websocket::write_frame(&mut *w, 0x2, &buf[..n])
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let mut w = out_wr.lock().await;
        let _ = websocket::close(&mut *w).await;
    });
    spdy_session(theirs, netns, pod, uid).await;
    inbound.abort();
    let _ = outbound.await;
}

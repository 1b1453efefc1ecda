//! Client and server sessions talking over an in-memory pipe, plus a raw peer
//! that behaves like Go's spdystream (kubectl): it never sends WINDOW_UPDATE.

use std::time::Duration;

use spdy::frame::{self, Frame, Head};
use spdy::headers::{HeaderDecoder, HeaderEncoder};
use spdy::{rst, Config, Error, PeerFlowControl, Session, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::timeout;

const MIB: usize = 1024 * 1024;
const T: Duration = Duration::from_secs(20);

fn pair(cfg: Config) -> (Session, Session, tokio::sync::mpsc::Receiver<Stream>) {
    let (a, b) = tokio::io::duplex(16 * 1024);
    let (client, _pushed) = Session::with_config(a, true, cfg.clone());
    let (server, accept) = Session::with_config(b, false, cfg);
    (client, server, accept)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

async fn read_all(s: &mut Stream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = s.recv().await {
        out.extend_from_slice(&chunk);
    }
    out
}

/// The kubectl exec shape: error/stdout/stderr streams, each needing a
/// SYN_REPLY, then 1 MiB each way on one stream with strict flow control
/// (so it only completes if both sides return window), FINs, then the
/// client's RST_STREAM(CANCEL) per stream and GOAWAY.
#[tokio::test]
async fn exec_shaped_session_with_bulk_transfer() {
    let cfg = Config {
        peer_flow_control: PeerFlowControl::Enforce,
        ..Config::default()
    };
    let (client, server, mut accept) = pair(cfg);

    let server_task = tokio::spawn(async move {
        let mut streams = Vec::new();
        for _ in 0..3 {
            let s = accept.recv().await.unwrap();
            s.reply(&[], false).await.unwrap();
            streams.push(s);
        }
        let types: Vec<_> = streams
            .iter()
            .map(|s| s.header("streamtype").unwrap().to_string())
            .collect();
        assert_eq!(types, ["error", "stdout", "stderr"]);
        let mut stdout = streams.remove(1);
        // Echo-style: send 1 MiB while receiving 1 MiB on the same stream.
        let w = stdout.writer();
        let (got, sent) = tokio::join!(read_all(&mut stdout), async {
            w.send(&pattern(MIB, 7)).await
        });
        sent.unwrap();
        assert_eq!(got, pattern(MIB, 9));
        stdout.close().await.unwrap();
        for s in &streams {
            s.send(b"{\"status\":\"Success\"}").await.unwrap();
            s.close().await.unwrap();
        }
        // kubectl answers with RST_STREAM(5) on each stream.
        let mut err = streams.remove(0);
        assert_eq!(read_all(&mut err).await, b"");
        timeout(T, async {
            while err.reset_status().is_none() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(err.reset_status(), Some(rst::CANCEL));
        (server, stdout)
    });

    let client_side = async {
        let mut s = Vec::new();
        for t in ["error", "stdout", "stderr"] {
            s.push(
                client
                    .open_stream(&[("streamtype", t)], false)
                    .await
                    .unwrap(),
            );
        }
        for st in &mut s {
            assert_eq!(st.wait_reply().await.unwrap(), vec![]);
        }
        let w = s[1].writer();
        let (got, sent) = tokio::join!(read_all(&mut s[1]), async {
            let r = w.send(&pattern(MIB, 9)).await;
            w.close().await.unwrap();
            r
        });
        sent.unwrap();
        assert_eq!(got.len(), MIB);
        assert_eq!(got, pattern(MIB, 7));
        assert_eq!(read_all(&mut s[0]).await, b"{\"status\":\"Success\"}");
        assert_eq!(read_all(&mut s[2]).await, b"{\"status\":\"Success\"}");
        for st in &s {
            st.reset(rst::CANCEL).await.unwrap();
        }
        client.goaway().await.unwrap();
    };
    timeout(T, client_side).await.unwrap();
    let (server, stdout) = timeout(T, server_task).await.unwrap().unwrap();
    timeout(T, async {
        while !server.peer_went_away() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    drop(stdout);
    // Client hangs up: the server notices.
    drop(client);
    timeout(T, server.closed()).await.unwrap();
    assert!(server.is_closed());
}

#[tokio::test]
async fn ping_both_directions() {
    let (client, server, _accept) = pair(Config::default());
    timeout(T, client.ping()).await.unwrap().unwrap();
    timeout(T, server.ping()).await.unwrap().unwrap();
}

#[tokio::test]
async fn reset_by_server_stops_client() {
    let (client, _server, mut accept) = pair(Config::default());
    let mut c = client
        .open_stream(&[("streamtype", "stdin")], false)
        .await
        .unwrap();
    let s = timeout(T, accept.recv()).await.unwrap().unwrap();
    s.reset(rst::REFUSED_STREAM).await.unwrap();
    assert!(matches!(c.wait_reply().await, Err(Error::Reset(3))));
    assert_eq!(timeout(T, c.recv()).await.unwrap(), None);
    assert!(matches!(c.send(b"x").await, Err(Error::Reset(3))));
    assert!(matches!(s.send(b"x").await, Err(Error::Reset(3))));
}

#[tokio::test]
async fn fin_on_syn_stream_and_half_close() {
    let (client, _server, mut accept) = pair(Config::default());
    // Port-forward's error stream: the client FINs it immediately.
    let mut c = client
        .open_stream(&[("streamtype", "error"), ("port", "80")], true)
        .await
        .unwrap();
    let mut s = timeout(T, accept.recv()).await.unwrap().unwrap();
    assert_eq!(timeout(T, s.recv()).await.unwrap(), None);
    assert!(matches!(c.send(b"x").await, Err(Error::StreamClosed)));
    s.reply(&[], false).await.unwrap();
    s.send(b"bind failed").await.unwrap();
    s.close().await.unwrap();
    assert!(matches!(s.send(b"x").await, Err(Error::StreamClosed)));
    c.wait_reply().await.unwrap();
    assert_eq!(read_all(&mut c).await, b"bind failed");
}

#[tokio::test]
async fn goaway_refuses_new_streams() {
    let (client, server, mut accept) = pair(Config::default());
    let first = client.open_stream(&[("n", "1")], false).await.unwrap();
    let s1 = timeout(T, accept.recv()).await.unwrap().unwrap();
    server.goaway().await.unwrap();
    // The ping round-trip orders us after the GOAWAY.
    timeout(T, client.ping()).await.unwrap().unwrap();
    assert!(client.peer_went_away());
    assert!(matches!(
        client.open_stream(&[], false).await,
        Err(Error::GoingAway)
    ));
    // Existing streams keep working.
    s1.send(b"still here").await.unwrap();
    s1.close().await.unwrap();
    let mut first = first;
    assert_eq!(read_all(&mut first).await, b"still here");
    server.shutdown().await.unwrap();
    timeout(T, client.closed()).await.unwrap();
}

/// A peer speaking raw frames like spdystream: it never returns window.
struct RawPeer {
    io: DuplexStream,
    enc: HeaderEncoder,
    dec: HeaderDecoder,
}

impl RawPeer {
    async fn write(&mut self, f: Frame) {
        let mut buf = bytes::BytesMut::new();
        frame::encode(&f, &mut self.enc, &mut buf).unwrap();
        self.io.write_all(&buf).await.unwrap();
    }

    async fn read(&mut self) -> Frame {
        let mut head = [0u8; 8];
        self.io.read_exact(&mut head).await.unwrap();
        let head = Head::parse(head);
        let mut p = vec![0u8; head.len()];
        self.io.read_exact(&mut p).await.unwrap();
        frame::decode(head, p.into(), &mut self.dec).unwrap()
    }

    /// Counts DATA bytes for stream 1 until FIN or `quiet` passes silently.
    async fn drain_data(&mut self, quiet: Duration) -> (usize, bool) {
        let mut n = 0;
        loop {
            match timeout(quiet, self.read()).await {
                Ok(Frame::Data { data, flags, .. }) => {
                    n += data.len();
                    if flags & frame::FLAG_FIN != 0 {
                        return (n, true);
                    }
                }
                Ok(_) => {}
                Err(_) => return (n, false),
            }
        }
    }
}

async fn raw_setup(cfg: Config) -> (RawPeer, Session, Stream) {
    let (a, b) = tokio::io::duplex(16 * 1024);
    let (server, mut accept) = Session::with_config(b, false, cfg);
    let mut peer = RawPeer {
        io: a,
        enc: HeaderEncoder::new().unwrap(),
        dec: HeaderDecoder::new(),
    };
    peer.write(Frame::SynStream {
        stream_id: 1,
        assoc_id: 0,
        priority: 0,
        flags: 0,
        headers: vec![("streamtype".into(), "stdout".into())],
    })
    .await;
    let s = timeout(T, accept.recv()).await.unwrap().unwrap();
    s.reply(&[], false).await.unwrap();
    assert!(matches!(
        peer.read().await,
        Frame::SynReply { stream_id: 1, .. }
    ));
    (peer, server, s)
}

#[tokio::test]
async fn enforce_mode_never_exceeds_peer_window() {
    let cfg = Config {
        peer_flow_control: PeerFlowControl::Enforce,
        ..Config::default()
    };
    let (mut peer, _server, s) = raw_setup(cfg).await;
    let sender = tokio::spawn(async move { s.send(&pattern(200 * 1024, 1)).await });
    let (n, fin) = peer.drain_data(Duration::from_millis(300)).await;
    assert_eq!((n, fin), (64 * 1024, false));
    assert!(!sender.is_finished());
    // Open the stream and session windows: the rest flows.
    for stream_id in [0, 1] {
        peer.write(Frame::WindowUpdate {
            stream_id,
            delta: 200 * 1024,
        })
        .await;
    }
    let (more, _) = peer.drain_data(Duration::from_millis(300)).await;
    assert_eq!(n + more, 200 * 1024);
    timeout(T, sender).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn auto_mode_serves_peers_without_flow_control() {
    let (mut peer, server, s) = raw_setup(Config::default()).await;
    let sender = tokio::spawn(async move {
        s.send(&pattern(MIB, 3)).await.unwrap();
        s.close().await.unwrap();
        s
    });
    let (n, fin) = peer.drain_data(Duration::from_secs(5)).await;
    assert_eq!((n, fin), (MIB, true));
    let s = timeout(T, sender).await.unwrap().unwrap();
    // The peer ignores our windows too: 1 MiB of stdin without updates.
    let data = pattern(MIB, 5);
    let writer = async {
        for chunk in data.chunks(32 * 1024) {
            peer.write(Frame::Data {
                stream_id: 1,
                flags: 0,
                data: bytes::Bytes::copy_from_slice(chunk),
            })
            .await;
        }
        peer.write(Frame::Data {
            stream_id: 1,
            flags: frame::FLAG_FIN,
            data: bytes::Bytes::new(),
        })
        .await;
        peer
    };
    let mut s = s;
    let (got, mut peer) = timeout(T, async { tokio::join!(read_all(&mut s), writer) })
        .await
        .unwrap();
    assert_eq!(got, data);
    // Server pings are even and the raw peer must echo them.
    let ping = tokio::spawn(async move { server.ping().await });
    loop {
        if let Frame::Ping { id } = peer.read().await {
            assert_eq!(id % 2, 0);
            peer.write(Frame::Ping { id }).await;
            break;
        }
    }
    timeout(T, ping).await.unwrap().unwrap().unwrap();
}

//! The two connection tasks: one reads and dispatches frames, one writes.
//!
//! They are separate so that a peer that stops reading cannot stop us from
//! reading (and vice versa); the reader never waits on the writer because the
//! frames it generates go into `State::control`, which the writer drains first.

use std::sync::{Arc, Weak};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

use crate::frame::{self, goaway, rst, Frame, Head, FLAG_FIN, FLAG_UNIDIRECTIONAL};
use crate::headers::{HeaderDecoder, HeaderEncoder};
use crate::session::{Out, Owner, Shared, StreamState, MAX_CONTROL_QUEUE};
use crate::stream::Stream;
use crate::{Error, Result};

/// Flush the write buffer once it holds this much, even if more is queued.
const WRITE_BATCH: usize = 64 * 1024;

/// Writer task: control frames first, then application frames, batched.
pub(crate) async fn write_loop<IO: AsyncWrite>(
    sh: Arc<Shared>,
    mut wr: WriteHalf<IO>,
    mut rx: mpsc::Receiver<Out>,
) {
    let mut closed = sh.closed.subscribe();
    let mut enc = match HeaderEncoder::new() {
        Ok(e) => e,
        Err(e) => {
            sh.terminate(&e.to_string());
            return;
        }
    };
    let mut buf = BytesMut::with_capacity(WRITE_BATCH);
    let result: Result<()> = async {
        loop {
            // Build a batch without waiting.
            let mut shutdown = false;
            while buf.len() < WRITE_BATCH {
                let ctrl = sh.lock().control.pop_front();
                if let Some(f) = ctrl {
                    frame::encode(&f, &mut enc, &mut buf)?;
                    continue;
                }
                match rx.try_recv() {
                    Ok(Out::Frame(f)) => frame::encode(&f, &mut enc, &mut buf)?,
                    Ok(Out::Shutdown) => {
                        shutdown = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !buf.is_empty() {
                wr.write_all(&buf).await?;
                buf.clear();
                wr.flush().await?;
                continue;
            }
            if shutdown || *closed.borrow() {
                return Ok(());
            }
            tokio::select! {
                biased;
                _ = sh.control_ready.notified() => {}
                out = rx.recv() => match out {
                    Some(Out::Frame(f)) => frame::encode(&f, &mut enc, &mut buf)?,
                    Some(Out::Shutdown) | None => return Ok(()),
                },
                _ = closed.changed() => {}
            }
        }
    }
    .await;
    // Closing our half tells the peer we are done; errors here are moot.
    let _ = wr.shutdown().await;
    match result {
        Ok(()) => tracing::trace!("spdy writer finished"),
        Err(e) => sh.terminate(&format!("write failed: {e}")),
    }
}

/// Reader task: parses frames until EOF, error, or session termination.
pub(crate) async fn read_loop<IO: AsyncRead>(
    sh: Arc<Shared>,
    owner: Weak<Owner>,
    mut rd: ReadHalf<IO>,
    accept: mpsc::Sender<Stream>,
) {
    let mut closed = sh.closed.subscribe();
    let mut dec = HeaderDecoder::new();
    let mut reader = Reader {
        sh: sh.clone(),
        owner,
        accept,
    };
    let why = loop {
        let frame = tokio::select! {
            r = read_frame(&mut rd, &mut dec) => r,
            _ = closed.wait_for(|c| *c) => break "closed".to_string(),
        };
        let res = match frame {
            Ok(Some(f)) => reader.handle(f).await,
            Ok(None) => break "peer closed the connection".to_string(),
            Err(e) => Err(e),
        };
        if let Err(e) = res {
            // Tell the peer why before hanging up (best effort).
            if matches!(e, Error::Protocol(_) | Error::Compression(_)) {
                let last_good = sh.lock().last_peer_stream;
                sh.push_control(Frame::GoAway {
                    last_good,
                    status: goaway::PROTOCOL_ERROR,
                });
                tokio::task::yield_now().await;
            }
            break e.to_string();
        }
    };
    sh.terminate(&why);
}

/// Reads one frame; `Ok(None)` on a clean EOF between frames.
async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    dec: &mut HeaderDecoder,
) -> Result<Option<Frame>> {
    let mut head = [0u8; frame::HEAD_LEN];
    let mut got = 0;
    while got < head.len() {
        let n = rd.read(&mut head[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(Error::Protocol("connection closed inside a frame"));
        }
        got += n;
    }
    let head = Head::parse(head);
    // The 24-bit length already bounds this at 16 MiB.
    let mut payload = vec![0u8; head.len()];
    rd.read_exact(&mut payload).await?;
    frame::decode(head, Bytes::from(payload), dec).map(Some)
}

struct Reader {
    sh: Arc<Shared>,
    owner: Weak<Owner>,
    accept: mpsc::Sender<Stream>,
}

impl Reader {
    fn rst(&self, stream_id: u32, status: u32) {
        let mut st = self.sh.lock();
        if st.control.len() < MAX_CONTROL_QUEUE {
            st.control.push_back(Frame::RstStream { stream_id, status });
        }
        drop(st);
        self.sh.wake_writer();
    }

    async fn handle(&mut self, f: Frame) -> Result<()> {
        match f {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => self.on_data(stream_id, flags, data).await,
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => self.on_syn_stream(stream_id, flags, headers).await,
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            } => {
                let mut st = self.sh.lock();
                match st.streams.get_mut(&stream_id) {
                    Some(s) if !s.replied => {
                        s.replied = true;
                        s.reply = Some(headers);
                        s.remote_fin |= flags & FLAG_FIN != 0;
                        s.notify.notify_one();
                        st.maybe_remove(stream_id);
                    }
                    Some(_) => {
                        drop(st);
                        self.rst(stream_id, rst::STREAM_IN_USE);
                    }
                    None => {
                        drop(st);
                        self.rst(stream_id, rst::INVALID_STREAM);
                    }
                }
                Ok(())
            }
            Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                tracing::trace!(stream_id, ?headers, "spdy HEADERS ignored");
                if flags & FLAG_FIN != 0 {
                    self.remote_fin(stream_id);
                }
                Ok(())
            }
            Frame::RstStream { stream_id, status } => {
                let mut st = self.sh.lock();
                if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.reset.get_or_insert(status);
                    s.notify.notify_one();
                    st.maybe_remove(stream_id);
                }
                drop(st);
                self.sh.window_changed.notify_waiters();
                Ok(())
            }
            Frame::Settings { entries, .. } => {
                let mut st = self.sh.lock();
                for (_, id, value) in entries {
                    if id == frame::SETTINGS_INITIAL_WINDOW_SIZE {
                        // Spec: the change applies to open streams as a delta.
                        let value = i64::from(value & 0x7fff_ffff);
                        let delta = value - st.initial_send_window;
                        st.initial_send_window = value;
                        for s in st.streams.values_mut() {
                            s.send_window += delta;
                        }
                    }
                }
                drop(st);
                self.sh.window_changed.notify_waiters();
                Ok(())
            }
            Frame::Ping { id } => {
                let ours = (id % 2 == 1) == self.sh.is_client;
                let mut st = self.sh.lock();
                if ours {
                    if let Some(tx) = st.pings.remove(&id) {
                        let _ = tx.send(());
                    }
                } else if st.control.len() < MAX_CONTROL_QUEUE {
                    st.control.push_back(Frame::Ping { id });
                    drop(st);
                    self.sh.wake_writer();
                }
                Ok(())
            }
            Frame::GoAway { last_good, status } => {
                tracing::debug!(last_good, status, "spdy GOAWAY received");
                let mut st = self.sh.lock();
                st.goaway_received = true;
                // Streams we opened above last_good were never processed.
                let mine = if self.sh.is_client { 1 } else { 0 };
                for (id, s) in st.streams.iter_mut() {
                    if id % 2 == mine && *id > last_good {
                        s.reset.get_or_insert(rst::REFUSED_STREAM);
                        s.notify.notify_one();
                    }
                }
                Ok(())
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut st = self.sh.lock();
                st.peer_sent_window_update = true;
                if stream_id == 0 {
                    st.session_send_window += i64::from(delta);
                } else if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.send_window += i64::from(delta);
                }
                drop(st);
                self.sh.window_changed.notify_waiters();
                Ok(())
            }
            Frame::Unknown { kind } => {
                tracing::trace!(kind, "ignoring unknown SPDY control frame");
                Ok(())
            }
        }
    }

    fn remote_fin(&self, stream_id: u32) {
        let mut st = self.sh.lock();
        if let Some(s) = st.streams.get_mut(&stream_id) {
            s.remote_fin = true;
            s.notify.notify_one();
            st.maybe_remove(stream_id);
        }
    }

    async fn on_data(&mut self, id: u32, flags: u8, data: Bytes) -> Result<()> {
        let len = data.len();
        loop {
            let space = self.sh.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let mut st = self.sh.lock();
                if st.dead {
                    return Err(Error::SessionClosed);
                }
                let limit = self.sh.config.stream_buffer;
                let Some(s) = st.streams.get_mut(&id) else {
                    // Unknown or forgotten stream: the bytes still count
                    // against the session window, so hand them back.
                    st.give_credit(0, len);
                    drop(st);
                    self.rst(id, rst::INVALID_STREAM);
                    return Ok(());
                };
                if s.remote_fin || s.reset.is_some() {
                    let status = if s.reset.is_some() {
                        None
                    } else {
                        Some(rst::STREAM_ALREADY_CLOSED)
                    };
                    st.give_credit(0, len);
                    drop(st);
                    if let Some(code) = status {
                        self.rst(id, code);
                    }
                    return Ok(());
                }
                if s.detached {
                    s.remote_fin |= flags & FLAG_FIN != 0;
                    st.give_credit(id, len);
                    st.maybe_remove(id);
                    drop(st);
                    self.sh.wake_writer();
                    return Ok(());
                }
                // A peer that honours our 64 KiB window never hits the limit;
                // one that ignores it (spdystream) is slowed by not reading.
                if s.buffered == 0 || s.buffered + len <= limit {
                    if len > 0 {
                        s.buffered += len;
                        s.queue.push_back(data);
                    }
                    if flags & FLAG_FIN != 0 {
                        s.remote_fin = true;
                    }
                    s.notify.notify_one();
                    return Ok(());
                }
            }
            space.await;
        }
    }

    async fn on_syn_stream(
        &mut self,
        id: u32,
        flags: u8,
        headers: crate::headers::Headers,
    ) -> Result<()> {
        let peer_parity = if self.sh.is_client { 0 } else { 1 };
        let notify = {
            let mut st = self.sh.lock();
            if id == 0 || id % 2 != peer_parity || id <= st.last_peer_stream {
                return Err(Error::Protocol("bad SYN_STREAM id"));
            }
            st.last_peer_stream = id;
            if st.goaway_sent || st.streams.len() >= self.sh.config.max_streams {
                drop(st);
                self.rst(id, rst::REFUSED_STREAM);
                return Ok(());
            }
            let mut s = StreamState::new(st.initial_send_window);
            s.remote_fin = flags & FLAG_FIN != 0;
            s.local_fin = flags & FLAG_UNIDIRECTIONAL != 0;
            let notify = s.notify.clone();
            st.streams.insert(id, s);
            notify
        };
        let Some(owner) = self.owner.upgrade() else {
            return Err(Error::SessionClosed);
        };
        tracing::trace!(id, ?headers, "spdy SYN_STREAM");
        let stream = Stream::new(id, headers, notify, owner);
        // Waiting here back-pressures a peer that opens streams faster than
        // the application accepts them.
        if self.accept.send(stream).await.is_err() {
            // Nobody accepts streams; dropping `stream` has already queued
            // RST_STREAM(CANCEL) for it.
            tracing::debug!(id, "stream refused: no acceptor");
        }
        Ok(())
    }
}

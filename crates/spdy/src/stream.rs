//! One SPDY stream as seen by the application.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::frame::{rst, Frame, FLAG_FIN};
use crate::headers::Headers;
use crate::session::{Owner, PeerFlowControl, Shared};
use crate::{Error, Result};

/// Largest DATA frame we send. Small frames keep streams interleaved fairly
/// and keep the writer's queue (64 frames) around 1 MiB.
const MAX_CHUNK: usize = 16 * 1024;

/// A stream opened by either side. When it and every [`StreamWriter`] are
/// dropped before [`Stream::close`], the peer gets RST_STREAM(CANCEL).
pub struct Stream {
    /// Stream id (odd when the client opened it).
    pub id: u32,
    /// Headers of the SYN_STREAM (names lowercase, one entry per value).
    pub headers: Headers,
    notify: Arc<Notify>,
    h: Handle,
}

/// A sending-only handle to a stream, so one task can write (e.g. stdout)
/// while another reads; see [`Stream::writer`]. The stream is reset with
/// CANCEL when the last handle goes away without having closed it.
#[derive(Debug)]
pub struct StreamWriter {
    h: Handle,
}

/// Counts as one user of the stream in `StreamState::handles`.
struct Handle {
    id: u32,
    owner: Arc<Owner>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({})", self.id)
    }
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        if let Some(s) = self.owner.0.lock().streams.get_mut(&self.id) {
            s.handles += 1;
        }
        Self {
            id: self.id,
            owner: self.owner.clone(),
        }
    }
}

impl Drop for Handle {
    /// If the last user never finished sending, the peer is told with
    /// RST_STREAM(CANCEL) so it does not wait forever.
    fn drop(&mut self) {
        let sh = &self.owner.0;
        let mut st = sh.lock();
        let dead = st.dead;
        let Some(s) = st.streams.get_mut(&self.id) else {
            return;
        };
        s.handles = s.handles.saturating_sub(1);
        if s.handles > 0 {
            return;
        }
        s.detached = true;
        if s.reset.is_none() && !s.local_fin && !dead {
            s.reset = Some(rst::CANCEL);
            st.control.push_back(Frame::RstStream {
                stream_id: self.id,
                status: rst::CANCEL,
            });
        }
        st.maybe_remove(self.id);
        drop(st);
        sh.wake_writer();
    }
}

impl StreamWriter {
    /// Stream id.
    pub fn id(&self) -> u32 {
        self.h.id
    }

    /// Same as [`Stream::send`].
    pub async fn send(&self, data: &[u8]) -> Result<()> {
        self.h.send(data).await
    }

    /// Same as [`Stream::close`].
    pub async fn close(&self) -> Result<()> {
        self.h.close().await
    }

    /// Same as [`Stream::reset`].
    pub async fn reset(&self, status: u32) -> Result<()> {
        self.h.reset(status).await
    }
}

impl Clone for StreamWriter {
    fn clone(&self) -> Self {
        Self { h: self.h.clone() }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("id", &self.id)
            .field("headers", &self.headers)
            .finish()
    }
}

impl Stream {
    pub(crate) fn new(id: u32, headers: Headers, notify: Arc<Notify>, owner: Arc<Owner>) -> Self {
        Self {
            id,
            headers,
            notify,
            h: Handle { id, owner },
        }
    }

    fn shared(&self) -> &Shared {
        &self.h.owner.0
    }

    /// A handle for sending from another task while this one receives.
    pub fn writer(&self) -> StreamWriter {
        StreamWriter { h: self.h.clone() }
    }

    /// First value of a header (names are matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Answers the peer's SYN_STREAM. kubectl waits up to 30 s for this on
    /// every stream before failing with "Timeout occurred".
    pub async fn reply(&self, headers: &[(&str, &str)], fin: bool) -> Result<()> {
        {
            let mut st = self.shared().lock();
            let s = st.streams.get_mut(&self.id).ok_or(Error::StreamClosed)?;
            if let Some(code) = s.reset {
                return Err(Error::Reset(code));
            }
            if s.replied {
                return Err(Error::Protocol("SYN_REPLY already sent"));
            }
            s.replied = true;
            if fin {
                s.local_fin = true;
            }
        }
        let headers = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect();
        self.shared()
            .send_out(Frame::SynReply {
                stream_id: self.id,
                flags: if fin { FLAG_FIN } else { 0 },
                headers,
            })
            .await
    }

    /// Waits for the peer's SYN_REPLY to a stream we opened.
    pub async fn wait_reply(&mut self) -> Result<Headers> {
        loop {
            {
                let st = self.shared().lock();
                let s = st.streams.get(&self.id).ok_or(Error::SessionClosed)?;
                if let Some(h) = &s.reply {
                    return Ok(h.clone());
                }
                if let Some(code) = s.reset {
                    return Err(Error::Reset(code));
                }
                if st.dead {
                    return Err(Error::SessionClosed);
                }
            }
            self.notify.notified().await;
        }
    }

    /// Next chunk of data from the peer; `None` after FIN, RST or session end.
    /// Consuming data is what re-opens the peer's window.
    pub async fn recv(&mut self) -> Option<Bytes> {
        loop {
            {
                let sh = self.shared();
                let mut st = sh.lock();
                let s = st.streams.get_mut(&self.id)?;
                if let Some(chunk) = s.queue.pop_front() {
                    s.buffered -= chunk.len();
                    st.give_credit(self.id, chunk.len());
                    let wake = !st.control.is_empty();
                    drop(st);
                    if wake {
                        sh.wake_writer();
                    }
                    sh.space.notify_one();
                    return Some(chunk);
                }
                if s.remote_fin || s.reset.is_some() {
                    return None;
                }
            }
            self.notify.notified().await;
        }
    }

    /// RST status if the stream was reset by either side.
    pub fn reset_status(&self) -> Option<u32> {
        self.shared()
            .lock()
            .streams
            .get(&self.id)
            .and_then(|s| s.reset)
    }

    /// Sends data, splitting it into frames and waiting for window as needed.
    pub async fn send(&self, data: &[u8]) -> Result<()> {
        self.h.send(data).await
    }

    /// Half-closes our side: an empty DATA frame with FLAG_FIN.
    pub async fn close(&self) -> Result<()> {
        self.h.close().await
    }

    /// Aborts the stream in both directions with RST_STREAM(`status`).
    pub async fn reset(&self, status: u32) -> Result<()> {
        self.h.reset(status).await
    }
}

impl Handle {
    fn shared(&self) -> &Shared {
        &self.owner.0
    }

    /// Sends data, splitting it into frames and waiting for window as needed.
    async fn send(&self, data: &[u8]) -> Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            let n = self.reserve(rest.len()).await?;
            let (now, later) = rest.split_at(n);
            rest = later;
            self.shared()
                .send_out(Frame::Data {
                    stream_id: self.id,
                    flags: 0,
                    data: Bytes::copy_from_slice(now),
                })
                .await?;
        }
        Ok(())
    }

    /// Takes up to `want` bytes (at most [`MAX_CHUNK`]) of send window.
    async fn reserve(&self, want: usize) -> Result<usize> {
        let sh = self.shared();
        loop {
            let changed = sh.window_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let grace = {
                let mut st = sh.lock();
                if st.dead {
                    return Err(Error::SessionClosed);
                }
                let ignore = st.ignore_peer_windows;
                let session_window = st.session_send_window;
                let s = st.streams.get_mut(&self.id).ok_or(Error::StreamClosed)?;
                if let Some(code) = s.reset {
                    return Err(Error::Reset(code));
                }
                if s.local_fin {
                    return Err(Error::StreamClosed);
                }
                let want = want.min(MAX_CHUNK) as i64;
                let n = if ignore {
                    want
                } else {
                    want.min(s.send_window).min(session_window)
                };
                if n > 0 {
                    s.send_window -= n;
                    st.session_send_window -= n;
                    return Ok(n as usize);
                }
                match sh.config.peer_flow_control {
                    PeerFlowControl::Auto(g) if !st.peer_sent_window_update => Some(g),
                    _ => None,
                }
            };
            match grace {
                None => changed.await,
                Some(g) => {
                    if tokio::time::timeout(g, changed).await.is_err() {
                        let mut st = sh.lock();
                        if !st.peer_sent_window_update {
                            tracing::debug!(
                                "peer sent no WINDOW_UPDATE; assuming it does no flow control"
                            );
                            st.ignore_peer_windows = true;
                        }
                    }
                }
            }
        }
    }

    /// Half-closes our side: an empty DATA frame with FLAG_FIN.
    async fn close(&self) -> Result<()> {
        {
            let mut st = self.shared().lock();
            let s = st.streams.get_mut(&self.id).ok_or(Error::StreamClosed)?;
            if let Some(code) = s.reset {
                return Err(Error::Reset(code));
            }
            if s.local_fin {
                return Ok(());
            }
            s.local_fin = true;
        }
        self.shared()
            .send_out(Frame::Data {
                stream_id: self.id,
                flags: FLAG_FIN,
                data: Bytes::new(),
            })
            .await
    }

    /// Aborts the stream in both directions with RST_STREAM(`status`).
    async fn reset(&self, status: u32) -> Result<()> {
        {
            let mut st = self.shared().lock();
            let s = st.streams.get_mut(&self.id).ok_or(Error::StreamClosed)?;
            if s.reset.is_some() {
                return Ok(());
            }
            s.reset = Some(status);
            let dropped = std::mem::take(&mut s.queue);
            s.buffered = 0;
            s.notify.notify_one();
            // Return the discarded bytes to the session window only: the
            // stream window no longer matters.
            let n: usize = dropped.iter().map(Bytes::len).sum();
            st.give_credit(self.id, n);
        }
        self.shared().space.notify_one();
        self.shared()
            .send_out(Frame::RstStream {
                stream_id: self.id,
                status,
            })
            .await
    }
}

impl Drop for Stream {
    /// Without a receiver, buffered and further input is discarded (and its
    /// window handed back) instead of piling up.
    fn drop(&mut self) {
        let sh = self.shared();
        let mut st = sh.lock();
        let Some(s) = st.streams.get_mut(&self.id) else {
            return;
        };
        s.detached = true;
        let dropped = std::mem::take(&mut s.queue);
        s.buffered = 0;
        let n: usize = dropped.iter().map(Bytes::len).sum();
        st.give_credit(self.id, n);
        drop(st);
        sh.wake_writer();
        sh.space.notify_one();
    }
}

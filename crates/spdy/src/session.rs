//! Session handle and the state shared between the handle, streams and the
//! connection tasks.
//!
//! Locking: one `std::sync::Mutex<State>` that is never held across an await.
//! Wake-ups go through `Notify`s; every waiter re-checks state in a loop.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::frame::{goaway, Frame, FLAG_FIN};
use crate::headers::Headers;
use crate::stream::Stream;
use crate::{Error, Result};

/// Window every stream and the session start with (SPDY/3.1 default, 64 KiB).
pub const DEFAULT_WINDOW: u32 = 64 * 1024;

/// How to treat the peer's receive windows when we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerFlowControl {
    /// Never exceed the peer's windows; senders wait for WINDOW_UPDATE.
    Enforce,
    /// Enforce windows, but if one runs dry and the peer has never sent a
    /// WINDOW_UPDATE within the grace period, conclude it does no flow control
    /// (Go's spdystream, i.e. kubectl) and stop waiting for the rest of the
    /// session. Without this, any exec output over 64 KiB would hang forever.
    Auto(Duration),
    /// Ignore the peer's windows entirely.
    Ignore,
}

/// Tunables; the defaults suit kubectl.
#[derive(Debug, Clone)]
pub struct Config {
    /// See [`PeerFlowControl`]. Default: `Auto(200ms)`.
    pub peer_flow_control: PeerFlowControl,
    /// Most streams the peer may have open at once; more are refused.
    pub max_streams: usize,
    /// Bytes buffered per stream before the connection reader stops reading
    /// (back-pressure for peers that ignore our windows).
    pub stream_buffer: usize,
    /// Capacity of the channel that hands new peer-initiated streams over.
    pub accept_backlog: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            peer_flow_control: PeerFlowControl::Auto(Duration::from_millis(200)),
            max_streams: 1024,
            stream_buffer: 1024 * 1024,
            accept_backlog: 16,
        }
    }
}

/// Per-stream bookkeeping, owned by [`State`].
pub(crate) struct StreamState {
    /// Wakes the single task blocked in `recv` / `wait_reply` on this stream.
    pub notify: Arc<Notify>,
    pub send_window: i64,
    pub queue: VecDeque<bytes::Bytes>,
    pub buffered: usize,
    /// Bytes handed to the application but not yet returned to the peer.
    pub credit: u32,
    pub remote_fin: bool,
    pub local_fin: bool,
    pub reset: Option<u32>,
    pub reply: Option<Headers>,
    /// The application dropped its `Stream`; incoming data is discarded.
    pub detached: bool,
    /// SYN_REPLY already sent or received (it may only happen once).
    pub replied: bool,
    /// Live `Stream` / `StreamWriter` handles; state is dropped at zero.
    pub handles: usize,
}

impl StreamState {
    pub fn new(send_window: i64) -> Self {
        Self {
            notify: Arc::new(Notify::new()),
            send_window,
            queue: VecDeque::new(),
            buffered: 0,
            credit: 0,
            remote_fin: false,
            local_fin: false,
            reset: None,
            reply: None,
            detached: false,
            replied: false,
            handles: 1,
        }
    }

    fn finished(&self) -> bool {
        self.reset.is_some() || (self.local_fin && self.remote_fin)
    }
}

/// Mutable session state.
pub(crate) struct State {
    pub streams: HashMap<u32, StreamState>,
    pub session_send_window: i64,
    /// Peer's SETTINGS_INITIAL_WINDOW_SIZE, applied to new streams.
    pub initial_send_window: i64,
    pub session_credit: u32,
    pub next_stream_id: u32,
    pub next_ping_id: u32,
    pub last_peer_stream: u32,
    /// Frames produced outside the application (pings, window updates,
    /// resets); the writer sends them before application frames.
    pub control: VecDeque<Frame>,
    pub pings: HashMap<u32, oneshot::Sender<()>>,
    pub peer_sent_window_update: bool,
    pub ignore_peer_windows: bool,
    pub goaway_sent: bool,
    pub goaway_received: bool,
    /// Set once the connection is gone; no frame will be read or written.
    pub dead: bool,
}

/// Control frames queued at once; beyond that peer PINGs are dropped.
pub(crate) const MAX_CONTROL_QUEUE: usize = 256;

impl State {
    /// Returns consumed bytes to the peer once half a window has accumulated,
    /// so the peer never stalls and we do not send an update per frame.
    pub fn give_credit(&mut self, id: u32, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if n == 0 {
            return;
        }
        if let Some(s) = self.streams.get_mut(&id) {
            s.credit = s.credit.saturating_add(n);
            if s.credit >= DEFAULT_WINDOW / 2 && !s.remote_fin && s.reset.is_none() {
                let delta = std::mem::take(&mut s.credit);
                self.control.push_back(Frame::WindowUpdate {
                    stream_id: id,
                    delta,
                });
            }
        }
        self.session_credit = self.session_credit.saturating_add(n);
        if self.session_credit >= DEFAULT_WINDOW / 2 {
            let delta = std::mem::take(&mut self.session_credit);
            self.control.push_back(Frame::WindowUpdate {
                stream_id: 0,
                delta,
            });
        }
    }

    /// Forgets a stream once nobody can use it any more.
    pub fn maybe_remove(&mut self, id: u32) {
        if self
            .streams
            .get(&id)
            .is_some_and(|s| s.handles == 0 && s.finished())
        {
            self.streams.remove(&id);
        }
    }
}

/// Everything the tasks and handles share.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub config: Config,
    pub is_client: bool,
    /// Application frames, in order, for the writer task.
    pub out: mpsc::Sender<Out>,
    /// Wakes the writer when `State::control` gained a frame.
    pub control_ready: Notify,
    /// Wakes senders waiting for window.
    pub window_changed: Notify,
    /// Wakes the reader waiting for buffer space in a stream.
    pub space: Notify,
    /// Becomes `true` when the session is dead.
    pub closed: watch::Sender<bool>,
    /// Serialises stream-id allocation with SYN_STREAM enqueueing, because
    /// ids must reach the wire in increasing order.
    pub open_lock: tokio::sync::Mutex<()>,
}

/// What the application side asks the writer to do.
pub(crate) enum Out {
    Frame(Frame),
    /// Flush, close our write half, and stop writing.
    Shutdown,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the protocol state
        // worse than a dead session, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a control frame for the writer.
    pub fn push_control(&self, frame: Frame) {
        self.lock().control.push_back(frame);
        self.control_ready.notify_one();
    }

    /// Kicks the writer after `State::control` was modified under the lock.
    pub fn wake_writer(&self) {
        self.control_ready.notify_one();
    }

    /// Sends an application frame to the writer in order.
    pub async fn send_out(&self, frame: Frame) -> Result<()> {
        if self.lock().dead {
            return Err(Error::SessionClosed);
        }
        self.out
            .send(Out::Frame(frame))
            .await
            .map_err(|_| Error::SessionClosed)
    }

    /// Marks the session dead and wakes every waiter so nothing hangs.
    pub fn terminate(&self, why: &str) {
        let mut st = self.lock();
        if st.dead {
            return;
        }
        tracing::debug!(reason = why, "spdy session closed");
        st.dead = true;
        for s in st.streams.values_mut() {
            s.remote_fin = true;
            if !s.local_fin && s.reset.is_none() {
                s.local_fin = true;
            }
            s.notify.notify_one();
        }
        st.pings.clear();
        drop(st);
        self.closed.send_replace(true);
        self.window_changed.notify_waiters();
        self.space.notify_one();
        self.control_ready.notify_one();
    }
}

/// Keeps the connection alive while any `Session` or `Stream` handle exists;
/// dropping the last one tears the connection down.
pub(crate) struct Owner(pub Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.terminate("all handles dropped");
    }
}

/// A SPDY/3.1 connection. Cheap to clone; all clones share the connection.
#[derive(Clone)]
pub struct Session {
    owner: Arc<Owner>,
}

impl Session {
    /// Serves an upgraded connection: the peer (kubectl) opens odd-numbered
    /// streams, which arrive on the returned receiver.
    pub fn server<IO>(io: IO) -> (Session, mpsc::Receiver<Stream>)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::with_config(io, false, Config::default())
    }

    /// Drives the client end; streams are opened with [`Session::open_stream`].
    /// The receiver yields streams the server opens, which kubectl never does.
    pub fn client<IO>(io: IO) -> (Session, mpsc::Receiver<Stream>)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::with_config(io, true, Config::default())
    }

    /// Like [`Session::server`] / [`Session::client`] with explicit tunables.
    pub fn with_config<IO>(
        io: IO,
        is_client: bool,
        config: Config,
    ) -> (Session, mpsc::Receiver<Stream>)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (out_tx, out_rx) = mpsc::channel(64);
        let (accept_tx, accept_rx) = mpsc::channel(config.accept_backlog.max(1));
        let ignore = config.peer_flow_control == PeerFlowControl::Ignore;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                streams: HashMap::new(),
                session_send_window: i64::from(DEFAULT_WINDOW),
                initial_send_window: i64::from(DEFAULT_WINDOW),
                session_credit: 0,
                next_stream_id: if is_client { 1 } else { 2 },
                next_ping_id: if is_client { 1 } else { 2 },
                last_peer_stream: 0,
                control: VecDeque::new(),
                pings: HashMap::new(),
                peer_sent_window_update: false,
                ignore_peer_windows: ignore,
                goaway_sent: false,
                goaway_received: false,
                dead: false,
            }),
            config,
            is_client,
            out: out_tx,
            control_ready: Notify::new(),
            window_changed: Notify::new(),
            space: Notify::new(),
            closed: watch::channel(false).0,
            open_lock: tokio::sync::Mutex::new(()),
        });
        let owner = Arc::new(Owner(shared.clone()));
        let weak: Weak<Owner> = Arc::downgrade(&owner);
        let (rd, wr) = tokio::io::split(io);
        tokio::spawn(crate::conn::write_loop(shared.clone(), wr, out_rx));
        tokio::spawn(crate::conn::read_loop(shared, weak, rd, accept_tx));
        (Session { owner }, accept_rx)
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.0
    }

    /// Opens a stream (client side: kubectl's SYN_STREAM). Use
    /// [`Stream::wait_reply`] to wait for the peer's SYN_REPLY.
    pub async fn open_stream(&self, headers: &[(&str, &str)], fin: bool) -> Result<Stream> {
        let sh = self.shared();
        let _order = sh.open_lock.lock().await;
        let (id, notify) = {
            let mut st = sh.lock();
            if st.dead {
                return Err(Error::SessionClosed);
            }
            if st.goaway_received || st.goaway_sent {
                return Err(Error::GoingAway);
            }
            let id = st.next_stream_id;
            if id > 0x7fff_ffff {
                return Err(Error::GoingAway);
            }
            st.next_stream_id += 2;
            let mut s = StreamState::new(st.initial_send_window);
            s.local_fin = fin;
            let notify = s.notify.clone();
            st.streams.insert(id, s);
            (id, notify)
        };
        let owned: Headers = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect();
        let frame = Frame::SynStream {
            stream_id: id,
            assoc_id: 0,
            priority: 0,
            flags: if fin { FLAG_FIN } else { 0 },
            headers: owned.clone(),
        };
        if let Err(e) = sh.send_out(frame).await {
            sh.lock().streams.remove(&id);
            return Err(e);
        }
        Ok(Stream::new(id, owned, notify, self.owner.clone()))
    }

    /// Sends a PING and waits for the echo; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration> {
        let sh = self.shared();
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut st = sh.lock();
            if st.dead {
                return Err(Error::SessionClosed);
            }
            let id = st.next_ping_id;
            st.next_ping_id = st.next_ping_id.wrapping_add(2);
            st.pings.insert(id, tx);
            id
        };
        let start = Instant::now();
        sh.push_control(Frame::Ping { id });
        rx.await.map_err(|_| Error::SessionClosed)?;
        Ok(start.elapsed())
    }

    /// Sends GOAWAY(OK): the peer must not open more streams; existing ones
    /// continue. Further SYN_STREAMs are refused.
    pub async fn goaway(&self) -> Result<()> {
        let sh = self.shared();
        let last_good = {
            let mut st = sh.lock();
            if st.goaway_sent {
                return Ok(());
            }
            st.goaway_sent = true;
            st.last_peer_stream
        };
        sh.send_out(Frame::GoAway {
            last_good,
            status: goaway::OK,
        })
        .await
    }

    /// GOAWAY, then flush everything queued and close our write half. The
    /// session ends when the peer closes its side.
    pub async fn shutdown(&self) -> Result<()> {
        self.goaway().await?;
        self.shared()
            .out
            .send(Out::Shutdown)
            .await
            .map_err(|_| Error::SessionClosed)
    }

    /// True once the connection is gone.
    pub fn is_closed(&self) -> bool {
        *self.shared().closed.borrow()
    }

    /// True once the peer sent GOAWAY.
    pub fn peer_went_away(&self) -> bool {
        self.shared().lock().goaway_received
    }

    /// Resolves when the connection is gone (peer closed, I/O or protocol
    /// error, or [`Session::shutdown`] completed and the peer hung up).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shared().closed.subscribe();
        async move {
            // An error means the sender is gone, which also means closed.
            let _ = rx.wait_for(|c| *c).await;
        }
    }
}

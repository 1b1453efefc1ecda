//! A small SPDY/3.1 implementation for kubectl's `exec`, `attach` and
//! `port-forward` (draft-mbelshe-httpbis-spdy-00 plus the 3.1 session window).
//!
//! kubectl up to 1.29 (and later versions as a fallback) upgrades an HTTP
//! request to `SPDY/3.1` and then opens one SPDY stream per channel
//! (`streamtype: error|stdin|stdout|stderr|resize`, or `error|data` plus a
//! `port` header for port-forward). The server must answer every SYN_STREAM
//! with a SYN_REPLY, move bytes as DATA frames, and end each stream with FIN.
//!
//! [`Session::server`] runs the connection in background tasks and hands every
//! stream the peer opens to the caller as a [`Stream`]. [`Session::client`]
//! drives the other end, which lets rkube test itself without kubectl.
//!
//! Flow control: we grant windows as the application consumes data (so a slow
//! consumer back-pressures the peer) and respect the peer's windows when we
//! send. Go's `moby/spdystream`, which kubectl uses, never sends WINDOW_UPDATE,
//! so by default a peer that has never sent one is assumed not to do flow
//! control once its window runs dry (see [`PeerFlowControl`]).

mod conn;
pub mod dictionary;
pub mod frame;
pub mod headers;
mod session;
mod stream;

pub use frame::{goaway, rst};
pub use headers::Headers;
pub use session::{Config, PeerFlowControl, Session};
pub use stream::{Stream, StreamWriter};

/// Everything that can go wrong on a session or stream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("SPDY protocol error: {0}")]
    Protocol(&'static str),
    #[error("header compression error: {0}")]
    Compression(String),
    #[error("stream was reset (status {0})")]
    Reset(u32),
    #[error("stream is already closed for sending")]
    StreamClosed,
    #[error("session is closed")]
    SessionClosed,
    #[error("session is going away; no new streams")]
    GoingAway,
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

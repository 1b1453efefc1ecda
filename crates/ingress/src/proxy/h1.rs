//! A lean HTTP/1.1 exchange with a plain-text endpoint for requests without a body and
//! without an upgrade — nearly all proxied traffic. hyper's client sets up a connection
//! object, a dispatch channel and a oneshot per request; with endpoints that close after
//! every response that set-up is paid per request. Here the head goes out in one write, the
//! response head is parsed with `httparse` from one buffer, and the body is read straight
//! from the socket with its framing (length, chunked or close) until it ends. Requests with
//! bodies, upgrades and TLS endpoints take hyper's client.

use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::body::BoxError;
use super::upstream::Key;

/// A response head larger than this is refused (nginx answers 502 "upstream sent too big
/// header" past its proxy buffer, 4–8 KiB by default; we allow more).
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// Idle connections kept per endpoint and worker thread.
const MAX_IDLE: usize = 64;
/// An idle connection older than this is closed rather than reused (nginx's
/// `keepalive_timeout` default).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const READ_CHUNK: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The endpoint closed or reset before sending any response byte: a reused connection
    /// it had closed meanwhile; the request may go again on a fresh one.
    #[error("endpoint closed the connection before responding")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("invalid response from endpoint: {0}")]
    Invalid(String),
}

/// The connection, with bytes read past what was consumed.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    reused: bool,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            buf: BytesMut::new(),
            reused: false,
        }
    }

    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Reads more into the buffer; 0 means end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.buf)
    }
}

thread_local! {
    /// Idle keep-alive connections of this worker thread. Each ingress worker is a
    /// single-threaded runtime whose reactor owns its sockets, so a connection stays with the
    /// thread that opened it, as in nginx's per-worker keepalive cache.
    static IDLE: RefCell<HashMap<Key, Vec<(Conn, Instant)>>> = RefCell::new(HashMap::new());
}

/// An idle connection to `key` that the endpoint has not closed (as far as is known).
pub fn checkout(key: Key) -> Option<Conn> {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let list = idle.get_mut(&key)?;
        while let Some((mut conn, since)) = list.pop() {
            if since.elapsed() > IDLE_TIMEOUT {
                continue;
            }
            // Readable while idle means closed (or garbage): either way unusable.
            let mut probe = [0u8; 1];
            match conn.stream.try_read(&mut probe) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    conn.reused = true;
                    return Some(conn);
                }
                _ => continue,
            }
        }
        None
    })
}

fn checkin(key: Key, conn: Conn) {
    if !conn.buf.is_empty() {
        return; // bytes past the response: the framing is not to be trusted
    }
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        let list = idle.entry(key).or_default();
        list.retain(|(_, since)| since.elapsed() <= IDLE_TIMEOUT);
        if list.len() < MAX_IDLE {
            list.push((conn, Instant::now()));
        }
    });
}

/// The request head as sent to the endpoint (HTTP/1.1, header names as given).
pub fn request_head(method: &Method, target: &str, headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + headers.len() * 32);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // A body-less request of a method that usually carries one states its empty body, as
    // hyper's client does, so the endpoint does not wait for one.
    if matches!(method, &Method::POST | &Method::PUT | &Method::PATCH)
        && !headers.contains_key(header::CONTENT_LENGTH)
    {
        out.extend_from_slice(b"content-length: 0\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Sends `head` and reads the response head; the body follows through the returned
/// [`ResponseBody`], which returns the connection to this thread's idle list when the
/// response ends with the connection reusable.
pub async fn exchange(
    mut conn: Conn,
    key: Key,
    head: &[u8],
    head_request: bool,
) -> Result<Response<ResponseBody>, ExchangeError> {
    let reused = conn.reused;
    if let Err(e) = conn.stream.write_all(head).await {
        return Err(if reused {
            ExchangeError::Closed
        } else {
            e.into()
        });
    }
    loop {
        let n = match std::future::poll_fn(|cx| conn.poll_fill(cx)).await {
            Ok(n) => n,
            Err(e) if reused && conn.buf.is_empty() && is_reset(&e) => {
                return Err(ExchangeError::Closed)
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(if conn.buf.is_empty() {
                ExchangeError::Closed
            } else {
                ExchangeError::Invalid("connection closed inside the response head".into())
            });
        }
        while let Some(head) = parse_head(&mut conn.buf, head_request)? {
            if head.informational {
                continue; // 100 Continue, 103 Early Hints: the final response follows
            }
            let framing = head.framing;
            let keep_alive = head.keep_alive && framing != Framing::Close;
            let mut resp = Response::new(ResponseBody {
                conn: Some(conn),
                framing,
                keep_alive,
                key,
            });
            *resp.status_mut() = head.status;
            *resp.version_mut() = head.version;
            *resp.headers_mut() = head.headers;
            let body = resp.body_mut();
            if body.framing.is_done() {
                body.finish();
            }
            return Ok(resp);
        }
        if conn.buf.len() > MAX_HEAD {
            return Err(ExchangeError::Invalid("response head too large".into()));
        }
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
    )
}

struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    framing: Framing,
    keep_alive: bool,
    informational: bool,
}

/// Parses a complete response head at the start of `buf` and takes it out of the buffer:
/// its meaning, or `None` when more bytes are needed. Header values share the head's
/// buffer instead of being copied one by one.
fn parse_head(buf: &mut BytesMut, head_request: bool) -> Result<Option<Head>, ExchangeError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ExchangeError::Invalid(e.to_string())),
    };
    let code = parsed.code.unwrap_or(0);
    let status = StatusCode::from_u16(code)
        .map_err(|_| ExchangeError::Invalid(format!("status code {code}")))?;
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(ExchangeError::Invalid(
            "101 Switching Protocols to a request without an upgrade".into(),
        ));
    }
    let informational = status.is_informational();
    let base = buf.as_ptr() as usize;
    let mut fields = Vec::with_capacity(parsed.headers.len());
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = version == Version::HTTP_10;
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| ExchangeError::Invalid(format!("header name {:?}", h.name)))?;
        let text = std::str::from_utf8(h.value).unwrap_or("");
        if name == header::CONTENT_LENGTH {
            let n = text
                .trim()
                .parse::<u64>()
                .map_err(|_| ExchangeError::Invalid("content-length".into()))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(ExchangeError::Invalid("differing content-lengths".into()));
            }
            content_length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            transfer_encoding = true;
            // Chunked only counts as the final coding.
            chunked = text
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name == header::CONNECTION {
            for token in text.split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && version == Version::HTTP_10 {
                    close = false;
                }
            }
        }
        let start = h.value.as_ptr() as usize - base;
        fields.push((name, start, start + h.value.len()));
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, start, end) in fields {
        let value = HeaderValue::from_maybe_shared(head.slice(start..end))
            .map_err(|_| ExchangeError::Invalid(format!("value of header {name}")))?;
        headers.append(name, value);
    }
    // RFC 9112 §6.3, in order.
    let framing = if head_request
        || informational
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Length(0)
    } else if transfer_encoding {
        if chunked {
            // A length next to chunked is ignored and must not be forwarded.
            headers.remove(header::CONTENT_LENGTH);
            Framing::Chunked(Chunk::Size)
        } else {
            Framing::Close
        }
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    Ok(Some(Head {
        status,
        version,
        headers,
        framing,
        keep_alive: !close,
        informational,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Bytes still to come.
    Length(u64),
    Chunked(Chunk),
    /// Until the endpoint closes.
    Close,
    Done,
}

impl Framing {
    fn is_done(&self) -> bool {
        matches!(self, Framing::Done | Framing::Length(0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to an empty line (trailers are dropped).
    Trailer,
}

#[derive(Debug, thiserror::Error)]
#[error("endpoint response body: {0}")]
pub struct BodyError(String);

/// The response body, read from the endpoint's socket as the client's side asks for it.
pub struct ResponseBody {
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    key: Key,
}

impl ResponseBody {
    /// The response is over: keep the connection for the next request if it can be.
    fn finish(&mut self) {
        self.framing = Framing::Done;
        if let Some(conn) = self.conn.take() {
            if self.keep_alive {
                checkin(self.key, conn);
            }
        }
    }

    fn fail(&mut self, msg: impl Into<String>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.framing = Framing::Done;
        self.conn = None;
        Poll::Ready(Some(Err(BodyError(msg.into()).into())))
    }

    /// Decodes chunked framing from the buffer: `Some(data)` for a piece of chunk data,
    /// `None` when more bytes are needed or the body ended (see `framing`).
    fn decode_chunked(&mut self) -> Result<Option<Bytes>, String> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        loop {
            let Framing::Chunked(state) = self.framing else {
                return Ok(None);
            };
            let buf = &mut conn.buf;
            match state {
                Chunk::Size => {
                    let Some(end) = find_crlf(buf) else {
                        if buf.len() > 4096 {
                            return Err("chunk size line too long".into());
                        }
                        return Ok(None);
                    };
                    let line = &buf[..end];
                    let hex = line
                        .split(|b| *b == b';')
                        .next()
                        .map(|s| s.trim_ascii())
                        .unwrap_or_default();
                    let size = std::str::from_utf8(hex)
                        .ok()
                        .filter(|s| !s.is_empty() && s.len() <= 15)
                        .and_then(|s| u64::from_str_radix(s, 16).ok())
                        .ok_or("invalid chunk size")?;
                    buf.advance(end + 2);
                    self.framing = Framing::Chunked(if size == 0 {
                        Chunk::Trailer
                    } else {
                        Chunk::Data(size)
                    });
                }
                Chunk::Data(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(n).freeze();
                    let left = left - n as u64;
                    self.framing = Framing::Chunked(if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    });
                    return Ok(Some(data));
                }
                Chunk::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err("missing CRLF after chunk data".into());
                    }
                    buf.advance(2);
                    self.framing = Framing::Chunked(Chunk::Size);
                }
                Chunk::Trailer => {
                    let Some(end) = find_crlf(buf) else {
                        if buf.len() > MAX_HEAD {
                            return Err("trailers too large".into());
                        }
                        return Ok(None);
                    };
                    buf.advance(end + 2);
                    if end == 0 {
                        self.finish();
                        return Ok(None);
                    }
                }
            }
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            match this.framing {
                Framing::Done => return Poll::Ready(None),
                Framing::Length(0) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Framing::Length(left) => {
                    let Some(conn) = this.conn.as_mut() else {
                        return Poll::Ready(None);
                    };
                    if !conn.buf.is_empty() {
                        let n = usize::try_from(left)
                            .unwrap_or(usize::MAX)
                            .min(conn.buf.len());
                        let data = conn.buf.split_to(n).freeze();
                        this.framing = Framing::Length(left - n as u64);
                        if this.framing.is_done() {
                            // The server may not poll past a body's last frame.
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    match conn.poll_fill(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(0)) => {
                            return this.fail(format!("closed with {left} bytes still to come"))
                        }
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(e)) => return this.fail(e.to_string()),
                    }
                }
                Framing::Close => {
                    let Some(conn) = this.conn.as_mut() else {
                        return Poll::Ready(None);
                    };
                    if !conn.buf.is_empty() {
                        let data = conn.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    match conn.poll_fill(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(0)) => {
                            this.framing = Framing::Done;
                            this.conn = None;
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(e)) => return this.fail(e.to_string()),
                    }
                }
                Framing::Chunked(_) => {
                    match this.decode_chunked() {
                        Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                        Ok(None) if this.framing.is_done() => return Poll::Ready(None),
                        Ok(None) => {}
                        Err(e) => return this.fail(e),
                    }
                    let Some(conn) = this.conn.as_mut() else {
                        return Poll::Ready(None);
                    };
                    match conn.poll_fill(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(0)) => return this.fail("closed inside a chunked body"),
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(e)) => return this.fail(e.to_string()),
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            Framing::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str, head_request: bool) -> Head {
        let mut buf = BytesMut::from(raw);
        match parse_head(&mut buf, head_request) {
            Ok(Some(h)) => {
                assert!(buf.is_empty());
                h
            }
            Ok(None) => panic!("partial"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", false);
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(5), true));
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", true);
        assert_eq!(h.framing, Framing::Length(0));
        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 9\r\n\r\n",
            false,
        );
        assert_eq!(h.framing, Framing::Chunked(Chunk::Size));
        assert!(h.headers.get(header::CONTENT_LENGTH).is_none());
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false);
        assert_eq!(h.framing, Framing::Close);
        let h = head(
            "HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n",
            false,
        );
        assert_eq!(h.framing, Framing::Length(0));
        let h = head("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", false);
        assert!(!h.keep_alive);
        let h = head(
            "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 1\r\n\r\n",
            false,
        );
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false);
        assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
        assert!(head("HTTP/1.1 100 Continue\r\n\r\n", false).informational);
    }

    #[test]
    fn bad_heads_are_errors() {
        for raw in [
            "HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "garbage\r\n\r\n",
        ] {
            assert!(
                parse_head(&mut BytesMut::from(raw), false).is_err(),
                "{raw}"
            );
        }
        let mut partial = BytesMut::from("HTTP/1.1 200 OK\r\n");
        assert!(matches!(parse_head(&mut partial, false), Ok(None)));
    }

    #[test]
    fn request_head_states_empty_bodies() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("a.com"));
        let get = request_head(&Method::GET, "/x?y", &h);
        assert_eq!(get, b"GET /x?y HTTP/1.1\r\nhost: a.com\r\n\r\n");
        let post = request_head(&Method::POST, "/", &h);
        assert_eq!(
            post,
            b"POST / HTTP/1.1\r\nhost: a.com\r\ncontent-length: 0\r\n\r\n"
        );
    }
}

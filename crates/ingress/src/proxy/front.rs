//! The clear-text HTTP/1.1 front end. Most requests a proxy sees are small heads without a
//! body; for those this loop reads and parses the head with `httparse`, lets the handler
//! answer, and writes the response head and a small body in one write — no per-request
//! dispatcher state, channels or re-encoding as with hyper's server. The first request it
//! does not handle itself (a body, an upgrade, `Expect`, HTTP/2's preface, anything odd or
//! malformed) hands the connection, with the bytes already read, to hyper for the rest of
//! its life, so hyper still owns every protocol corner and every error answer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::body::ProxyBody;
use super::handler::{self, Conn};
use super::Inner;

/// Heads up to this size are parsed here; larger ones go to hyper (which answers 431).
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;
/// A body up to this size is copied behind the head so both leave in one write.
const COALESCE: usize = 16 * 1024;

/// Serves `stream` until the client closes, `cancel` fires between requests, or a request
/// needs hyper.
pub(super) async fn serve(
    inner: Arc<Inner>,
    mut stream: TcpStream,
    conn: Conn,
    cancel: CancellationToken,
) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut out = Vec::with_capacity(2048);
    // Registered once per connection rather than once per idle wait.
    let stop = cancel.clone().cancelled_owned();
    tokio::pin!(stop);
    loop {
        let (req, keep_alive) = loop {
            if !buf.is_empty() {
                match parse(&mut buf) {
                    Parsed::Complete(req, keep_alive) => break (req, keep_alive),
                    Parsed::Partial if buf.len() <= MAX_HEAD => {}
                    Parsed::Partial | Parsed::Hyper => {
                        let io = Rewind::new(buf.freeze(), stream);
                        super::serve_conn(inner, hyper_util::rt::TokioIo::new(io), conn, cancel)
                            .await;
                        return;
                    }
                }
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(4096);
            }
            let read = if buf.is_empty() {
                // Between requests: a stopping proxy closes idle connections.
                tokio::select! {
                    biased;
                    r = stream.read_buf(&mut buf) => r,
                    _ = &mut stop => return,
                }
            } else {
                stream.read_buf(&mut buf).await
            };
            match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let head_request = req.method() == Method::HEAD;
        let http10 = req.version() == Version::HTTP_10;
        let resp = handler::handle(inner.clone(), req, conn, None).await;
        // A stopping proxy answers this request, then closes at the next idle wait.
        match write_response(
            &mut stream,
            &mut out,
            resp,
            head_request,
            http10,
            keep_alive,
        )
        .await
        {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
    }
}

// Short-lived and matched at once: boxing the request would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    /// A head this loop serves (taken out of the buffer): the request, and whether the
    /// client keeps the connection open afterwards.
    Complete(Request<Empty<Bytes>>, bool),
    Partial,
    /// Anything else: hyper's to serve (or refuse).
    Hyper,
}

/// Parses the head at the start of `buf`, taking it out of the buffer when this loop serves
/// it. The URI and header values share the head's buffer rather than being copied.
fn parse(buf: &mut BytesMut) -> Parsed {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut slots);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Hyper,
    };
    let version = match r.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Parsed::Hyper,
    };
    let (Some(method), Some(path)) = (r.method, r.path) else {
        return Parsed::Hyper;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Parsed::Hyper;
    };
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let path_at = (offset(path.as_bytes()), path.len());
    let mut keep_alive = version == Version::HTTP_11;
    let mut fields = Vec::with_capacity(r.headers.len());
    for h in r.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
            return Parsed::Hyper;
        };
        if name == header::CONTENT_LENGTH {
            if h.value.trim_ascii() != b"0" {
                return Parsed::Hyper;
            }
        } else if name == header::TRANSFER_ENCODING
            || name == header::UPGRADE
            || name == header::EXPECT
        {
            return Parsed::Hyper;
        } else if name == header::CONNECTION {
            for token in std::str::from_utf8(h.value).unwrap_or("").split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && version == Version::HTTP_10 {
                    keep_alive = true;
                } else if token.eq_ignore_ascii_case("upgrade") {
                    return Parsed::Hyper;
                }
            }
        }
        let at = offset(h.value);
        fields.push((name, at, at + h.value.len()));
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(fields.len());
    let mut valid = true;
    for (name, start, end) in fields {
        match HeaderValue::from_maybe_shared(head.slice(start..end)) {
            Ok(v) => {
                headers.append(name, v);
            }
            Err(_) => valid = false,
        }
    }
    let uri = Uri::from_maybe_shared(head.slice(path_at.0..path_at.0 + path_at.1));
    let (true, Ok(uri)) = (valid, uri) else {
        // Put the head back for hyper, which answers it with its own error.
        let mut back = BytesMut::with_capacity(head.len() + buf.len());
        back.extend_from_slice(&head);
        back.extend_from_slice(buf);
        *buf = back;
        return Parsed::Hyper;
    };
    let mut req = Request::new(Empty::new());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    Parsed::Complete(req, keep_alive)
}

#[derive(Clone, Copy, PartialEq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    /// HTTP/1.0 client, length unknown: the end of the connection ends the body.
    Close,
}

/// Writes `resp`; true when the connection may serve another request.
async fn write_response(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    resp: Response<ProxyBody>,
    head_request: bool,
    http10: bool,
    mut keep_alive: bool,
) -> std::io::Result<bool> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let framing = if bodiless {
        Framing::None
    } else if let Some(n) = declared {
        Framing::Length(n)
    } else if head_request {
        Framing::None
    } else if let Some(n) = body.size_hint().exact() {
        Framing::Length(n)
    } else if http10 {
        keep_alive = false;
        Framing::Close
    } else {
        Framing::Chunked
    };
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        if name == header::CONNECTION
            || name == header::TRANSFER_ENCODING
            || (name == header::CONTENT_LENGTH && bodiless)
        {
            continue;
        }
        push_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    match framing {
        Framing::Length(n) if declared.is_none() => {
            push_header(out, b"content-length", n.to_string().as_bytes())
        }
        Framing::Chunked => push_header(out, b"transfer-encoding", b"chunked"),
        _ => {}
    }
    if !parts.headers.contains_key(header::DATE) {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        push_header(out, b"date", date.as_bytes());
    }
    if !keep_alive {
        push_header(out, b"connection", b"close");
    } else if http10 {
        push_header(out, b"connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    if head_request || framing == Framing::None {
        // Nothing of the body goes out; dropping it releases the upstream connection.
        drop(body);
        stream.write_all(out).await?;
        return Ok(keep_alive);
    }
    let mut sent: u64 = 0;
    loop {
        if body.is_end_stream() {
            break;
        }
        let Some(frame) = body.frame().await else {
            break;
        };
        let Ok(frame) = frame else {
            // The upstream broke off: so must the client's response.
            if !out.is_empty() {
                stream.write_all(out).await?;
            }
            return Ok(false);
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers are not forwarded
        };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        if let Framing::Length(n) = framing {
            if sent > n {
                // More than declared: the framing is broken; stop here.
                stream.write_all(out).await?;
                return Ok(false);
            }
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        }
        if out.len() + data.len() <= COALESCE {
            out.extend_from_slice(&data);
        } else {
            stream.write_all(out).await?;
            out.clear();
            stream.write_all(&data).await?;
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
        // A body still streaming: what came so far goes out now.
        if !body.is_end_stream() && !out.is_empty() {
            stream.write_all(out).await?;
            out.clear();
        }
    }
    match framing {
        Framing::Chunked => out.extend_from_slice(b"0\r\n\r\n"),
        Framing::Length(n) if sent < n => {
            stream.write_all(out).await?;
            return Ok(false);
        }
        _ => {}
    }
    if !out.is_empty() {
        stream.write_all(out).await?;
    }
    if framing == Framing::Close {
        let _ = stream.shutdown().await;
        return Ok(false);
    }
    Ok(keep_alive)
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A stream that first yields bytes already read from it.
struct Rewind {
    pre: Bytes,
    inner: TcpStream,
}

impl Rewind {
    fn new(pre: Bytes, inner: TcpStream) -> Self {
        Rewind { pre, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre[..n]);
            self.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(raw: &str) -> (Request<Empty<Bytes>>, bool) {
        let mut buf = BytesMut::from(raw);
        match parse(&mut buf) {
            Parsed::Complete(r, k) => {
                assert!(buf.is_empty());
                (r, k)
            }
            Parsed::Partial => panic!("partial: {raw}"),
            Parsed::Hyper => panic!("hyper: {raw}"),
        }
    }

    fn is_hyper(raw: &str) -> bool {
        let mut buf = BytesMut::from(raw);
        let hyper = matches!(parse(&mut buf), Parsed::Hyper);
        // What hyper gets is the whole head, untouched.
        assert_eq!(&buf[..], raw.as_bytes());
        hyper
    }

    #[test]
    fn simple_heads_are_served_here() {
        let (r, keep) = complete("GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            (r.method(), r.uri().path(), keep),
            (&Method::GET, "/a", true)
        );
        assert_eq!(r.headers()["host"], "x");
        let (_, keep) = complete("GET / HTTP/1.0\r\n\r\n");
        assert!(!keep);
        let (_, keep) = complete("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(keep);
        let (_, keep) = complete("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!keep);
        let (r, _) = complete("DELETE /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.method(), Method::DELETE);
        let mut partial = BytesMut::from("GET / HTTP/1.1\r\nHost");
        assert!(matches!(parse(&mut partial), Parsed::Partial));
    }

    #[test]
    fn everything_else_goes_to_hyper() {
        assert!(is_hyper("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"));
        assert!(is_hyper(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(is_hyper(
            "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        ));
        assert!(is_hyper("PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"));
        assert!(is_hyper("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        assert!(is_hyper("GET / HTTP/1.1\r\nbad header\r\n\r\n"));
        assert!(is_hyper("GET / HTTP/1.1\r\nX: \x01\r\n\r\n"));
        // httparse takes it, the URI parser does not: the head goes back untouched.
        assert!(is_hyper(
            "GET http://[bad/x HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n"
        ));
    }
}

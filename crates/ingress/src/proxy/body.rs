//! Body wrappers: the request-size limit for streamed uploads and the response read timeout
//! (nginx `proxy_read_timeout` applies between two reads, not to the whole response).

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use tokio::time::{Instant, Sleep};

use super::upstream::Driver;
use crate::ratelimit::ConnGuard;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

pub fn full(b: impl Into<Bytes>) -> ProxyBody {
    Full::new(b.into()).map_err(|e| match e {}).boxed_unsync()
}

#[derive(Debug, thiserror::Error)]
#[error("request body larger than {0} bytes")]
pub struct TooLarge(pub u64);

/// Fails the upload once more than `limit` bytes were read, flagging it so the handler can
/// answer 413 instead of the upstream error the aborted body causes.
pub struct Limited<B> {
    inner: B,
    remaining: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
}

impl<B> Limited<B> {
    pub fn new(inner: B, limit: u64, exceeded: Arc<AtomicBool>) -> Self {
        Limited {
            inner,
            remaining: limit,
            limit,
            exceeded,
        }
    }
}

impl<B> Body for Limited<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    let n = d.len() as u64;
                    if n > this.remaining {
                        this.exceeded.store(true, Ordering::Release);
                        return Poll::Ready(Some(Err(TooLarge(this.limit).into())));
                    }
                    this.remaining -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("upstream read timed out after {0:?}")]
pub struct ReadTimeout(pub Duration);

/// A fresh upstream connection driven by the response body that reads from it; when the
/// response ends with the connection still open, `on_idle` gets the driver (to run it on a
/// task of its own and pool the connection).
pub struct Reuse {
    driver: Driver,
    on_idle: Option<Box<dyn FnOnce(Driver) + Send>>,
}

impl Reuse {
    pub fn new(driver: Driver, on_idle: Box<dyn FnOnce(Driver) + Send>) -> Self {
        Reuse {
            driver,
            on_idle: Some(on_idle),
        }
    }

    /// Polls the connection; true once it has ended.
    fn poll_ended(&mut self, cx: &mut Context<'_>) -> bool {
        self.driver.as_mut().poll(cx).is_ready()
    }

    /// The response is complete: pool the connection unless it ends right away.
    /// (Dropping a `Reuse` instead closes the connection.)
    fn finish(mut self, cx: &mut Context<'_>) {
        if self.poll_ended(cx) {
            return;
        }
        if let Some(f) = self.on_idle.take() {
            f(self.driver);
        }
    }
}

/// The upstream response body: aborts after `timeout` without data, keeps the client's
/// connection-limit slot until the response is finished, and drives the upstream
/// connection when the request's task owns it.
pub struct Upstream<B> {
    inner: B,
    timeout: Duration,
    /// Armed only while waiting for data: most frames are ready when asked for, and a
    /// timer per response costs a timer-wheel insert and removal.
    sleep: Option<Pin<Box<Sleep>>>,
    _guard: Option<ConnGuard>,
    reuse: Option<Reuse>,
}

impl<B> Upstream<B> {
    pub fn new(
        inner: B,
        timeout: Duration,
        guard: Option<ConnGuard>,
        reuse: Option<Reuse>,
    ) -> Self {
        Upstream {
            inner,
            timeout,
            sleep: None,
            _guard: guard,
            reuse,
        }
    }
}

impl<B> Body for Upstream<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(r) = this.reuse.as_mut() {
            if r.poll_ended(cx) {
                this.reuse = None;
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                if r.is_none() {
                    if let Some(reuse) = this.reuse.take() {
                        reuse.finish(cx);
                    }
                    return Poll::Ready(None);
                }
                // A body of known length is complete with its last frame; the server may
                // not poll again, so the connection is handed on now.
                if this.inner.is_end_stream() {
                    if let Some(reuse) = this.reuse.take() {
                        reuse.finish(cx);
                    }
                }
                this.sleep = None;
                Poll::Ready(r.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this.sleep.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(Instant::now() + timeout))
                });
                ready!(sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(ReadTimeout(this.timeout).into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // While this body drives the connection it must be polled to its end, so the
        // connection can be pooled.
        self.reuse.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

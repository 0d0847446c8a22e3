//! Reading an error body under a byte cap and a time limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Response};
use http_body::{Body, Frame};
use tokio::time::{Instant, Sleep};

use crate::error::{BodyError, Incomplete};
use crate::BoxError;

/// How an error body is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_body_bytes: usize,
    pub(crate) body_timeout: Option<Duration>,
}

/// Everything a capture produced: nothing that was read is lost.
pub(crate) struct Captured<B> {
    pub(crate) parts: http::response::Parts,
    /// The bytes read, at most the cap: what the structured error parses and keeps.
    pub(crate) read: Bytes,
    /// The part of the last frame beyond the cap, kept for pass-through.
    pub(crate) overflow: Option<Bytes>,
    /// Trailers, when the body ended with them.
    pub(crate) trailers: Option<HeaderMap>,
    /// The rest of the body, when reading stopped before its end (cap or timeout).
    pub(crate) rest: Option<Pin<Box<B>>>,
    /// Why reading stopped early, if it did.
    pub(crate) incomplete: Option<Incomplete>,
}

/// The bytes read so far. One frame is kept as is (no copy); more are copied into one buffer
/// that never grows past the cap.
enum Buffer {
    Empty,
    One(Bytes),
    Many(Vec<u8>),
}

impl Buffer {
    fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(bytes) => bytes.len(),
            Self::Many(vec) => vec.len(),
        }
    }

    /// Appends `data`, keeping at most `limit` bytes; returns what did not fit.
    fn push(&mut self, mut data: Bytes, limit: usize, size_hint: usize) -> Option<Bytes> {
        let room = limit - self.len();
        let overflow = (data.len() > room).then(|| data.split_off(room));
        if data.is_empty() {
            return overflow;
        }
        match self {
            Self::Empty => *self = Self::One(data),
            Self::One(first) => {
                let needed = first.len() + data.len();
                let capacity = needed
                    .max(size_hint)
                    .max(needed.saturating_mul(2))
                    .min(limit);
                let mut vec = Vec::with_capacity(capacity);
                vec.extend_from_slice(first);
                vec.extend_from_slice(&data);
                *self = Self::Many(vec);
            }
            Self::Many(vec) => {
                let needed = vec.len() + data.len();
                if needed > vec.capacity() {
                    // Grow geometrically like `Vec`, but never past the cap.
                    let capacity = needed.max(vec.capacity().saturating_mul(2)).min(limit);
                    vec.reserve_exact(capacity - vec.len());
                }
                vec.extend_from_slice(&data);
            }
        }
        overflow
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(bytes) => bytes,
            Self::Many(vec) => Bytes::from(vec),
        }
    }
}

/// A future that reads an error response's body under the limits and resolves to [`Captured`].
///
/// Boxed by its caller: it exists only on the error path, and keeping it out of line keeps the
/// success path's future small.
pub(crate) struct Capture<B> {
    parts: Option<http::response::Parts>,
    body: Option<Pin<Box<B>>>,
    buffer: Buffer,
    limits: Limits,
    declared_length: Option<u64>,
    started: Instant,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> Capture<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(crate) fn new(response: Response<B>, limits: Limits) -> Self {
        let (parts, body) = response.into_parts();
        let declared_length = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .or_else(|| body.size_hint().exact());
        Self {
            parts: Some(parts),
            body: Some(Box::pin(body)),
            buffer: Buffer::Empty,
            limits,
            declared_length,
            started: Instant::now(),
            deadline: None,
        }
    }

    fn finish(&mut self, keep_rest: bool, incomplete: Option<Incomplete>) -> Captured<B> {
        self.finish_with(keep_rest, incomplete, None, None)
    }

    fn finish_with(
        &mut self,
        keep_rest: bool,
        incomplete: Option<Incomplete>,
        overflow: Option<Bytes>,
        trailers: Option<HeaderMap>,
    ) -> Captured<B> {
        let rest = self.body.take().filter(|_| keep_rest);
        Captured {
            parts: self.parts.take().expect("capture polled after it finished"),
            read: std::mem::replace(&mut self.buffer, Buffer::Empty).into_bytes(),
            overflow,
            trailers,
            rest,
            incomplete,
        }
    }

    /// Whether the deadline (when there is one) has passed; arms it on first use.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Duration> {
        let Some(timeout) = self.limits.body_timeout else {
            return Poll::Pending;
        };
        let deadline = self.deadline.get_or_insert_with(|| {
            Box::pin(tokio::time::sleep_until(
                self.started.checked_add(timeout).unwrap_or_else(far_future),
            ))
        });
        deadline.as_mut().poll(cx).map(|()| timeout)
    }
}

fn far_future() -> Instant {
    // About 30 years, as tokio does for its own "never".
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

impl<B> Future for Capture<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Captured<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let limit = this.limits.max_body_bytes;
        if let Some(length) = this.declared_length.filter(|length| *length > limit as u64) {
            let too_large = Incomplete::TooLarge {
                limit,
                content_length: Some(length),
            };
            return Poll::Ready(this.finish(true, Some(too_large)));
        }
        let size_hint = this
            .declared_length
            .map_or(0, |length| usize::try_from(length).unwrap_or(limit));
        for _ in 0..FRAMES_PER_POLL {
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(this.finish(false, None));
            };
            let frame = match body.as_mut().poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    return match this.poll_deadline(cx) {
                        Poll::Ready(after) => {
                            let timed_out = Incomplete::TimedOut { after };
                            Poll::Ready(this.finish(true, Some(timed_out)))
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
            };
            match frame.map(|frame| frame.map(Frame::into_data)) {
                None => return Poll::Ready(this.finish(false, None)),
                Some(Err(error)) => {
                    let failed = Incomplete::Failed(BodyError::new(error));
                    return Poll::Ready(this.finish(false, Some(failed)));
                }
                Some(Ok(Ok(mut data))) => {
                    let bytes = data.copy_to_bytes(data.remaining());
                    if let Some(overflow) = this.buffer.push(bytes, limit, size_hint) {
                        let too_large = Incomplete::TooLarge {
                            limit,
                            content_length: None,
                        };
                        let overflow = Some(overflow).filter(|bytes| !bytes.is_empty());
                        return Poll::Ready(this.finish_with(
                            true,
                            Some(too_large),
                            overflow,
                            None,
                        ));
                    }
                }
                Some(Ok(Err(frame))) => {
                    // Not data: trailers end the body.
                    let trailers = frame.into_trailers().ok();
                    return Poll::Ready(this.finish_with(false, None, None, trailers));
                }
            }
        }
        // A body that is always ready (say, endless empty frames) must not hold the thread, nor
        // outlive the time limit.
        if let Poll::Ready(after) = this.poll_deadline(cx) {
            let timed_out = Incomplete::TimedOut { after };
            return Poll::Ready(this.finish(true, Some(timed_out)));
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// How many frames one poll reads before it yields to the executor.
const FRAMES_PER_POLL: usize = 64;

//! [`Read`]: a capped, deadline-bound body reader.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::{Body, Frame};
use tokio::time::{Instant, Sleep};

use super::Replay;
use crate::clock::{deadline, sleep_until};
use crate::error::BodyError;
use crate::BoxError;

/// How a body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_body_bytes: usize,
    pub(crate) body_timeout: Option<Duration>,
}

/// Why reading stopped before the end of the body.
#[derive(Debug, Clone)]
pub(crate) enum Stop {
    /// The declared length is over the cap: nothing was read.
    Refused { limit: usize, declared: u64 },
    /// The body went past the cap: the first `limit` bytes were read.
    Cut { limit: usize },
    /// The body did not end within the time limit.
    TimedOut { after: Duration },
    /// The body stream failed.
    Failed(BodyError),
    /// The body was not complete and no tokio timer was there to bound the wait.
    NoTimer,
}

/// What [`Read`] produced; nothing that was read is lost.
///
/// `pub` only so that the sealed `Mode` trait may take it; its module is private, so no user
/// can name it.
#[derive(Debug)]
#[allow(unreachable_pub)]
pub struct Collected<B> {
    /// The bytes read, at most the cap.
    pub(crate) read: Bytes,
    /// Whether `read` is one frame as the body gave it (a slice of the transport's buffer,
    /// perhaps), rather than a buffer of the reader's own.
    pub(crate) read_is_frame: bool,
    /// Why reading stopped early, if it did.
    pub(crate) stop: Option<Stop>,
    /// Every byte read (and any part of the last frame past the cap), then the rest of the body.
    pub(crate) replay: Replay<B>,
}

/// The bytes read so far. One frame is kept as it is (no copy); more are copied into one
/// buffer that grows with the bytes that arrive, never past the cap, and is shrunk to fit when
/// reading ends.
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
    fn push(&mut self, mut data: Bytes, limit: usize) -> Option<Bytes> {
        let room = limit - self.len();
        let overflow = (data.len() > room).then(|| data.split_off(room));
        if data.is_empty() {
            return overflow;
        }
        match self {
            Self::Empty => *self = Self::One(data),
            Self::One(first) => {
                let needed = first.len() + data.len();
                let mut vec = Vec::with_capacity(needed.saturating_mul(2).min(limit));
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

    /// The bytes, in an allocation no larger than they are (`Bytes::from(Vec)` keeps the
    /// capacity).
    fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(bytes) => bytes,
            Self::Many(mut vec) => {
                vec.shrink_to_fit();
                Bytes::from(vec)
            }
        }
    }
}

/// A future that reads a body under [`Limits`] and resolves to [`Collected`].
///
/// A declared length over the cap is refused before any read, unless the body is already at its
/// end (a `HEAD`, a `304`): then there is nothing to refuse. The deadline starts when the reader
/// is made and its timer is armed only when the body is not ready.
pub(crate) struct Read<B> {
    body: Option<Pin<Box<B>>>,
    buffer: Buffer,
    limits: Limits,
    declared_length: Option<u64>,
    started: Instant,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> Read<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    /// Reads `body`, whose head declared `declared_length` (its `Content-Length`), if any.
    pub(crate) fn new(body: B, declared_length: Option<u64>, limits: Limits) -> Self {
        let declared_length = declared_length.or_else(|| body.size_hint().exact());
        Self {
            body: Some(Box::pin(body)),
            buffer: Buffer::Empty,
            limits,
            declared_length,
            started: Instant::now(),
            deadline: None,
        }
    }

    fn finish(&mut self, stop: Option<Stop>, overflow: Option<Bytes>) -> Collected<B> {
        let buffer = std::mem::replace(&mut self.buffer, Buffer::Empty);
        let read_is_frame = matches!(buffer, Buffer::One(_));
        let read = buffer.into_bytes();
        let failure = match &stop {
            Some(Stop::Failed(error)) => Some(error.clone()),
            _ => None,
        };
        // A body that failed or ended has no rest to stream.
        let rest = self
            .body
            .take()
            .filter(|_| failure.is_none() && stop.is_some());
        let replay = Replay {
            read: read.clone(),
            overflow: overflow.unwrap_or_default(),
            failure,
            trailers: None,
            rest,
        };
        Collected {
            read,
            read_is_frame,
            stop,
            replay,
        }
    }

    /// Whether the deadline (when there is one) has passed; arms it on first use.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        let Some(timeout) = self.limits.body_timeout else {
            return Poll::Pending;
        };
        if self.deadline.is_none() {
            match sleep_until(deadline(self.started, timeout)) {
                Some(sleep) => self.deadline = Some(Box::pin(sleep)),
                None => return Poll::Ready(Stop::NoTimer),
            }
        }
        let deadline = self.deadline.as_mut().expect("armed above");
        deadline
            .as_mut()
            .poll(cx)
            .map(|()| Stop::TimedOut { after: timeout })
    }
}

impl<B> Future for Read<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Collected<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let limit = this.limits.max_body_bytes;
        let at_end = this.body.as_ref().is_none_or(|body| body.is_end_stream());
        if at_end {
            return Poll::Ready(this.finish(None, None));
        }
        if let Some(declared) = this.declared_length.filter(|length| *length > limit as u64) {
            return Poll::Ready(this.finish(Some(Stop::Refused { limit, declared }), None));
        }
        for _ in 0..FRAMES_PER_POLL {
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(this.finish(None, None));
            };
            let frame = match body.as_mut().poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    return match this.poll_deadline(cx) {
                        Poll::Ready(stop) => Poll::Ready(this.finish(Some(stop), None)),
                        Poll::Pending => Poll::Pending,
                    };
                }
            };
            match frame.map(|frame| frame.map(Frame::into_data)) {
                None => return Poll::Ready(this.finish(None, None)),
                Some(Err(error)) => {
                    let failed = Stop::Failed(BodyError::new(error));
                    return Poll::Ready(this.finish(Some(failed), None));
                }
                Some(Ok(Ok(mut data))) => {
                    let bytes = data.copy_to_bytes(data.remaining());
                    if let Some(overflow) = this.buffer.push(bytes, limit) {
                        let cut = Stop::Cut { limit };
                        return Poll::Ready(this.finish(Some(cut), Some(overflow)));
                    }
                }
                Some(Ok(Err(frame))) => {
                    // Not data: trailers end the body.
                    let mut collected = this.finish(None, None);
                    collected.replay.trailers = frame.into_trailers().ok();
                    return Poll::Ready(collected);
                }
            }
        }
        // A body that is always ready (say, endless empty frames) must not hold the thread, nor
        // outlive the time limit. Nothing is waited for here: the clock tells, no timer needed.
        if let Some(after) = this.limits.body_timeout {
            if Instant::now() >= deadline(this.started, after) {
                return Poll::Ready(this.finish(Some(Stop::TimedOut { after }), None));
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// How many frames one poll reads before it yields to the executor.
const FRAMES_PER_POLL: usize = 64;

//! [`Replay`]: what was read, then the rest of the stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use crate::error::BodyError;
use crate::BoxError;

/// A body that sends what a [`Read`](super::Read) read, byte for byte, then whatever the
/// original body still has: its failure, its trailers, or the rest of its stream.
#[derive(Debug)]
pub(crate) struct Replay<B> {
    /// The bytes read, at most the cap.
    pub(crate) read: Bytes,
    /// The part of the last frame past the cap.
    pub(crate) overflow: Bytes,
    /// The error the original body failed with while it was read.
    pub(crate) failure: Option<BodyError>,
    /// The trailers the original body ended with.
    pub(crate) trailers: Option<HeaderMap>,
    /// The rest of the original body, when reading stopped before its end.
    pub(crate) rest: Option<Pin<Box<B>>>,
}

impl<B> Replay<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        for buffered in [&mut self.read, &mut self.overflow] {
            if !buffered.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(std::mem::take(buffered)))));
            }
        }
        if let Some(failure) = self.failure.take() {
            return Poll::Ready(Some(Err(Box::new(failure))));
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let Some(body) = self.rest.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = std::task::ready!(body.as_mut().poll_frame(cx));
        if frame.is_none() {
            self.rest = None;
        }
        Poll::Ready(frame.map(bytes_frame))
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.read.is_empty()
            && self.overflow.is_empty()
            && self.failure.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(|body| body.is_end_stream())
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        let buffered = (self.read.len() + self.overflow.len()) as u64;
        let rest = self
            .rest
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |body| body.size_hint());
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(buffered));
        // HTTP/1 carries trailers only in chunked framing: with trailers to come, no exact
        // length (hyper would send a `Content-Length` and drop them). Nor with a failure to
        // come: a server framing the replay with a `Content-Length` ends it cleanly once the
        // bytes read are sent, and a proxy would relay a broken body as a complete one.
        let more_to_come = self.trailers.is_some() || self.failure.is_some();
        if let Some(upper) = rest.upper().filter(|_| !more_to_come) {
            hint.set_upper(upper.saturating_add(buffered));
        }
        hint
    }
}

/// A frame of the inner body with its data as `Bytes` (no copy when it already is) and its error
/// boxed.
pub(crate) fn bytes_frame<D: Buf, E: Into<BoxError>>(
    frame: Result<Frame<D>, E>,
) -> Result<Frame<Bytes>, BoxError> {
    frame
        .map(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
        .map_err(Into::into)
}

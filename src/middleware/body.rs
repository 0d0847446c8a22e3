//! The response body of pass-through mode.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::BodyError;
use crate::BoxError;

pin_project! {
    /// The body of a response that went through [`PartnerErrors`](super::PartnerErrors) in
    /// pass-through mode.
    ///
    /// A success response's body is the inner body, polled as it is. An error response's body
    /// replays, byte for byte, what the layer read (and, when the cap cut a frame, the rest of
    /// that frame), then streams whatever the upstream still sends: a caller sees exactly the
    /// bytes the upstream sent, however large. If the upstream body failed while it was read,
    /// the same failure follows the replayed bytes.
    pub struct PassThroughBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Untouched { #[pin] body: B },
        Replay {
            read: Option<Bytes>,
            overflow: Option<Bytes>,
            trailers: Option<HeaderMap>,
            rest: Option<Pin<Box<B>>>,
            failure: Option<BodyError>,
        },
    }
}

impl<B> PassThroughBody<B> {
    pub(crate) fn untouched(body: B) -> Self {
        Self {
            kind: Kind::Untouched { body },
        }
    }

    pub(crate) fn replay(
        read: Bytes,
        overflow: Option<Bytes>,
        trailers: Option<HeaderMap>,
        rest: Option<Pin<Box<B>>>,
        failure: Option<BodyError>,
    ) -> Self {
        Self {
            kind: Kind::Replay {
                read: Some(read).filter(|bytes| !bytes.is_empty()),
                overflow: overflow.filter(|bytes| !bytes.is_empty()),
                trailers,
                rest,
                failure,
            },
        }
    }
}

impl<B> std::fmt::Debug for PassThroughBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Untouched { .. } => "Untouched",
            Kind::Replay { .. } => "Replay",
        };
        f.debug_struct("PassThroughBody")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl<B> Body for PassThroughBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Untouched { body } => body.poll_frame(cx).map(|frame| frame.map(bytes_frame)),
            KindProj::Replay {
                read,
                overflow,
                trailers,
                rest,
                failure,
            } => {
                if let Some(bytes) = read.take().or_else(|| overflow.take()) {
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                if let Some(failure) = failure.take() {
                    return Poll::Ready(Some(Err(Box::new(failure))));
                }
                if let Some(trailers) = trailers.take() {
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
                let Some(body) = rest.as_mut() else {
                    return Poll::Ready(None);
                };
                let frame = std::task::ready!(body.as_mut().poll_frame(cx));
                if frame.is_none() {
                    *rest = None;
                }
                Poll::Ready(frame.map(bytes_frame))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Untouched { body } => body.is_end_stream(),
            Kind::Replay {
                read,
                overflow,
                trailers,
                rest,
                failure,
            } => {
                read.is_none()
                    && overflow.is_none()
                    && trailers.is_none()
                    && failure.is_none()
                    && rest.as_ref().is_none_or(|body| body.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Untouched { body } => body.size_hint(),
            Kind::Replay {
                read,
                overflow,
                rest,
                ..
            } => {
                let buffered = read.as_ref().map_or(0, Bytes::len) as u64
                    + overflow.as_ref().map_or(0, Bytes::len) as u64;
                let rest = rest
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), |body| body.size_hint());
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(buffered));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(buffered));
                }
                hint
            }
        }
    }
}

/// A frame of the inner body with its data as `Bytes` (no copy when it already is) and its error
/// boxed.
fn bytes_frame<D: Buf, E: Into<BoxError>>(
    frame: Result<Frame<D>, E>,
) -> Result<Frame<Bytes>, BoxError> {
    frame
        .map(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
        .map_err(Into::into)
}

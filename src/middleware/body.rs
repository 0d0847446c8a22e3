//! The response body of pass-through mode.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::body::{self, Replay};
use crate::BoxError;

pin_project! {
    /// The body of a response that went through [`PartnerErrors`](super::PartnerErrors) in
    /// pass-through mode.
    ///
    /// A success response's body is the inner body, polled as it is. An error response's body
    /// replays, byte for byte, what the layer read, then streams whatever the upstream still
    /// sends; if the upstream body failed while it was read, the same failure follows the
    /// replayed bytes.
    pub struct PassThroughBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Untouched { #[pin] body: B },
        // Boxed: an error response's replay is large, and a success response's body should
        // stay the size of the inner body, as every move of the response copies it.
        Replay { replay: Box<Replay<B>> },
    }
}

impl<B> PassThroughBody<B> {
    pub(crate) fn untouched(body: B) -> Self {
        Self {
            kind: Kind::Untouched { body },
        }
    }

    pub(crate) fn replay(replay: Replay<B>) -> Self {
        Self {
            kind: Kind::Replay {
                replay: Box::new(replay),
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
            KindProj::Untouched { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(body::bytes_frame)),
            KindProj::Replay { replay } => replay.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Untouched { body } => body.is_end_stream(),
            Kind::Replay { replay } => replay.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Untouched { body } => body.size_hint(),
            Kind::Replay { replay } => replay.size_hint(),
        }
    }
}

//! The response body of pass-through mode.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::future::discard;
use crate::body::{self, Replay};
use crate::BoxError;

pin_project! {
    /// The body of a response that went through [`PartnerErrors`](super::PartnerErrors) in
    /// pass-through mode.
    ///
    /// A success response's body is the inner body, polled as it is. An error response's body
    /// replays, byte for byte, what the layer read, then streams whatever the upstream still
    /// sends, with no time limit of this crate ([`body_timeout`](super::PartnerErrorsLayer::body_timeout)
    /// bounds only the part the layer reads). If the upstream body failed while the layer read
    /// it, that failure follows the replayed bytes as a [`BodyError`](crate::BodyError) (its
    /// `get_ref` is the upstream's error, to downcast); a failure after that is the upstream's
    /// error as it is. Its `size_hint` is the upstream body's plus the bytes replayed, and not
    /// exact while trailers or a failure remain: HTTP/1 carries trailers only in chunked
    /// framing, and a failure must reach a proxy's client as one, not as a shorter body.
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
        Replay { replay: BoxedReplay<B> },
    }
}

/// The boxed replay, dropped out of line: a success response's body then drops with a single
/// test of its kind.
struct BoxedReplay<B>(Option<Box<Replay<B>>>);

impl<B> BoxedReplay<B> {
    fn get(&self) -> &Replay<B> {
        self.0.as_deref().expect("taken only on drop")
    }

    fn get_mut(&mut self) -> &mut Replay<B> {
        self.0.as_deref_mut().expect("taken only on drop")
    }
}

impl<B> Drop for BoxedReplay<B> {
    #[inline]
    fn drop(&mut self) {
        if let Some(replay) = self.0.take() {
            discard(replay);
        }
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
                replay: BoxedReplay(Some(Box::new(replay))),
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
            KindProj::Replay { replay } => replay.get_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Untouched { body } => body.is_end_stream(),
            Kind::Replay { replay } => replay.get().is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Untouched { body } => body.size_hint(),
            Kind::Replay { replay } => replay.get().size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::Full;

    use super::*;

    /// The replay is dropped out of line; it still lets go of the rest of the upstream body.
    #[test]
    fn a_replay_dropped_unread_lets_go_of_the_upstream_body() {
        /// A body that holds a count of its owners.
        struct Held {
            _owner: Arc<()>,
            body: Full<Bytes>,
        }

        impl Body for Held {
            type Data = Bytes;
            type Error = std::convert::Infallible;

            fn poll_frame(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
                Pin::new(&mut self.get_mut().body).poll_frame(cx)
            }
        }

        let upstream = Arc::new(());
        let body = PassThroughBody::replay(Replay {
            read: Bytes::from_static(b"{\"code\":"),
            overflow: Bytes::new(),
            failure: None,
            trailers: None,
            rest: Some(Box::pin(Held {
                _owner: upstream.clone(),
                body: Full::default(),
            })),
        });
        assert_eq!(Arc::strong_count(&upstream), 2);
        drop(body);
        assert_eq!(Arc::strong_count(&upstream), 1);
    }
}

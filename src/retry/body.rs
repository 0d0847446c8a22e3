//! The request body [`BufferRequest`](super::BufferRequest) produces.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::ReplayBody;
use crate::body::{Collected, Replay};
use crate::BoxError;

pin_project! {
    /// A request body read up front by [`BufferRequest`](super::BufferRequest).
    ///
    /// When the whole body fit the limit, it is held in memory and [replays](ReplayBody) as
    /// often as needed. When it did not (or its stream failed), it streams: first the bytes
    /// already read, then the rest of the original body (or its failure), exactly once; the
    /// retry policy does not replay it and returns the error of its one attempt as it is.
    ///
    /// A buffered body's `size_hint` is exact, unless trailers follow its bytes: HTTP/1 carries
    /// those only in chunked framing, which hyper picks for a body of unknown length.
    pub struct BufferedBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Buffered {
            data: Bytes,
            trailers: Option<HeaderMap>,
            data_sent: bool,
            trailers_sent: bool,
        },
        Streaming { replay: Replay<B> },
    }
}

impl<B> BufferedBody<B> {
    fn buffered(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            kind: Kind::Buffered {
                data,
                trailers,
                data_sent: false,
                trailers_sent: false,
            },
        }
    }

    /// What reading the body produced: buffered when it was read to its end, streaming
    /// otherwise.
    pub(crate) fn from_collected(collected: Collected<B>) -> Self {
        let Collected {
            read, stop, replay, ..
        } = collected;
        if stop.is_none() {
            return Self::buffered(read, replay.trailers);
        }
        Self {
            kind: Kind::Streaming { replay },
        }
    }

    /// Returns whether the body fit the limit and can be sent again.
    pub fn is_replayable(&self) -> bool {
        matches!(self.kind, Kind::Buffered { .. })
    }
}

impl<B> ReplayBody for BufferedBody<B> {
    fn replay(&self) -> Option<Self> {
        match &self.kind {
            Kind::Buffered { data, trailers, .. } => {
                Some(Self::buffered(data.clone(), trailers.clone()))
            }
            Kind::Streaming { .. } => None,
        }
    }
}

impl<B> std::fmt::Debug for BufferedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("BufferedBody");
        match &self.kind {
            Kind::Buffered { data, .. } => debug.field("buffered_bytes", &data.len()),
            Kind::Streaming { .. } => debug.field("streaming", &true),
        };
        debug.finish_non_exhaustive()
    }
}

impl<B> Body for BufferedBody<B>
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
            KindProj::Buffered {
                data,
                trailers,
                data_sent,
                trailers_sent,
            } => {
                if !*data_sent {
                    *data_sent = true;
                    if !data.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(data.clone()))));
                    }
                }
                if !*trailers_sent {
                    *trailers_sent = true;
                    if let Some(trailers) = trailers {
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers.clone()))));
                    }
                }
                Poll::Ready(None)
            }
            KindProj::Streaming { replay } => replay.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Buffered {
                data,
                trailers,
                data_sent,
                trailers_sent,
            } => (*data_sent || data.is_empty()) && (*trailers_sent || trailers.is_none()),
            Kind::Streaming { replay } => replay.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Buffered {
                data,
                trailers,
                data_sent,
                trailers_sent,
            } => {
                let remaining = if *data_sent { 0 } else { data.len() as u64 };
                if trailers.is_none() || *trailers_sent {
                    return SizeHint::with_exact(remaining);
                }
                // HTTP/1 carries trailers only in chunked framing: a body that claims an exact
                // length is sent with a `Content-Length` (hyper), its trailers dropped.
                let mut hint = SizeHint::new();
                hint.set_lower(remaining);
                hint
            }
            Kind::Streaming { replay } => replay.size_hint(),
        }
    }
}

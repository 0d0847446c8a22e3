//! The response futures: wait for the response head, hand successes back as they are, capture
//! error bodies.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use super::body::PassThroughBody;
use super::capture::{Capture, Captured, Limits};
use crate::error::{ApiError, Error};
use crate::BoxError;

pin_project! {
    /// Where a response future is: waiting for the response head, or reading an error body.
    ///
    /// Each future polls the inner future itself and hands a success back straight from
    /// `Waiting`: routing it through a shared "outcome" enum (a success or a captured error)
    /// measured ~40 ns per call in `benches/success_path.rs`, all of it moves of the enum.
    #[project = StateProj]
    enum State<F, B> {
        Waiting { #[pin] future: F },
        Capturing { capture: Pin<Box<Capture<B>>> },
    }
}

impl<F, B> State<F, B> {
    /// Leaves `Waiting` for `Capturing` (the error path: the capture lives on the heap).
    #[cold]
    fn capture(mut self: Pin<&mut Self>, response: Response<B>, limits: Limits)
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let capture = Box::pin(Capture::new(response, limits));
        self.set(Self::Capturing { capture });
    }
}

#[inline]
pub(crate) fn is_error_status(status: http::StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

fn api_error<B>(captured: &Captured<B>) -> ApiError {
    let error = ApiError::from_capture(
        captured.parts.status,
        captured.parts.headers.clone(),
        captured.read.clone(),
        captured.incomplete.clone(),
    );
    #[cfg(feature = "tracing")]
    crate::trace::error_response(&error);
    error
}

/// The default mode's error for a captured error response. Shared with the reqwest integration.
pub(crate) fn into_error<B>(captured: &Captured<B>, strict: bool) -> Error {
    let error = api_error(captured);
    if strict && crate::schema::StrictPolicy::new().rejects_any(error.violations()) {
        Error::Schema(error)
    } else {
        Error::Api(error)
    }
}

/// Pass-through mode's response for a captured error response: the body replayed, the error in
/// the extensions. Shared with the reqwest integration.
pub(crate) fn into_pass_through<B>(captured: Captured<B>) -> Response<PassThroughBody<B>> {
    let error = api_error(&captured);
    let Captured {
        mut parts,
        read,
        overflow,
        trailers,
        rest,
        incomplete,
    } = captured;
    let failure = match incomplete {
        Some(crate::error::Incomplete::Failed(failure)) => Some(failure),
        _ => None,
    };
    parts.extensions.insert(error);
    let body = PassThroughBody::replay(read, overflow, trailers, rest, failure);
    Response::from_parts(parts, body)
}

pin_project! {
    /// Response future of [`PartnerErrors`](super::PartnerErrors) in the default mode: a
    /// success as it came, an error response as [`Error::Api`] (or [`Error::Schema`]).
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
        limits: Limits,
        strict: bool,
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn new(future: F, limits: Limits, strict: bool) -> Self {
        Self {
            state: State::Waiting { future },
            limits,
            strict,
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<B>, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { future } => {
                    let response = ready!(future.poll(cx)).map_err(|e| Error::Service(e.into()))?;
                    if !is_error_status(response.status()) {
                        return Poll::Ready(Ok(response));
                    }
                    this.state.as_mut().capture(response, *this.limits);
                }
                StateProj::Capturing { capture } => {
                    let captured = ready!(capture.as_mut().poll(cx));
                    return Poll::Ready(Err(into_error(&captured, *this.strict)));
                }
            }
        }
    }
}

pin_project! {
    /// Response future of [`PartnerErrors`](super::PartnerErrors) in pass-through mode: every
    /// response goes on, an error response with its body intact and the [`ApiError`] in its
    /// extensions.
    pub struct PassThroughFuture<F, B> {
        #[pin]
        state: State<F, B>,
        limits: Limits,
    }
}

impl<F, B> PassThroughFuture<F, B> {
    pub(crate) fn new(future: F, limits: Limits) -> Self {
        Self {
            state: State::Waiting { future },
            limits,
        }
    }
}

impl<F, B> std::fmt::Debug for PassThroughFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassThroughFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for PassThroughFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<PassThroughBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { future } => {
                    let response = ready!(future.poll(cx))?;
                    if !is_error_status(response.status()) {
                        return Poll::Ready(Ok(response.map(PassThroughBody::untouched)));
                    }
                    this.state.as_mut().capture(response, *this.limits);
                }
                StateProj::Capturing { capture } => {
                    let captured = ready!(capture.as_mut().poll(cx));
                    return Poll::Ready(Ok(into_pass_through(captured)));
                }
            }
        }
    }
}

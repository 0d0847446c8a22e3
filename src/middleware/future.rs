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

/// What the inner service's response turned out to be.
enum Outcome<B> {
    /// 1xx/2xx/3xx: untouched.
    Passed(Response<B>),
    /// 4xx/5xx: its body, captured.
    Captured(Captured<B>),
}

pin_project! {
    /// The state machine both modes share.
    #[project = InterceptProj]
    enum Intercept<F, B> {
        Waiting { #[pin] future: F, limits: Limits },
        Capturing { capture: Pin<Box<Capture<B>>> },
        Done,
    }
}

impl<F, B, E> Intercept<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    fn poll_outcome(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Outcome<B>, E>> {
        loop {
            match self.as_mut().project() {
                InterceptProj::Waiting { future, limits } => {
                    let response = match ready!(future.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => {
                            self.set(Self::Done);
                            return Poll::Ready(Err(error));
                        }
                    };
                    if !is_error_status(response.status()) {
                        self.set(Self::Done);
                        return Poll::Ready(Ok(Outcome::Passed(response)));
                    }
                    let capture = Box::pin(Capture::new(response, *limits));
                    self.set(Self::Capturing { capture });
                }
                InterceptProj::Capturing { capture } => {
                    let captured = ready!(capture.as_mut().poll(cx));
                    self.set(Self::Done);
                    return Poll::Ready(Ok(Outcome::Captured(captured)));
                }
                InterceptProj::Done => panic!("response future polled after it completed"),
            }
        }
    }
}

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
    if strict && !error.violations().is_empty() {
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
        intercept: Intercept<F, B>,
        strict: bool,
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn new(future: F, limits: Limits, strict: bool) -> Self {
        Self {
            intercept: Intercept::Waiting { future, limits },
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome =
            ready!(this.intercept.poll_outcome(cx)).map_err(|e| Error::Service(e.into()))?;
        Poll::Ready(match outcome {
            Outcome::Passed(response) => Ok(response),
            Outcome::Captured(captured) => Err(into_error(&captured, *this.strict)),
        })
    }
}

pin_project! {
    /// Response future of [`PartnerErrors`](super::PartnerErrors) in pass-through mode: every
    /// response goes on, an error response with its body intact and the [`ApiError`] in its
    /// extensions.
    pub struct PassThroughFuture<F, B> {
        #[pin]
        intercept: Intercept<F, B>,
    }
}

impl<F, B> PassThroughFuture<F, B> {
    pub(crate) fn new(future: F, limits: Limits) -> Self {
        Self {
            intercept: Intercept::Waiting { future, limits },
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = ready!(self.project().intercept.poll_outcome(cx))?;
        Poll::Ready(Ok(match outcome {
            Outcome::Passed(response) => response.map(PassThroughBody::untouched),
            Outcome::Captured(captured) => into_pass_through(captured),
        }))
    }
}

//! The layer around reqwest's `Client` as a tower service: `PartnerErrors<S>` also implements
//! `Service<reqwest::Request>` when `S` does, with reqwest's own response type.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::response::Intercept;
use crate::middleware::{PassThrough, ReturnError};
use crate::{BoxError, Error, PartnerErrors};

/// `reqwest::Client` (or any service of reqwest types) wrapped by the layer in its default mode:
/// successes come back as the same `reqwest::Response`, error responses as [`Error`].
impl<S> Service<reqwest::Request> for PartnerErrors<S, ReturnError>
where
    S: Service<reqwest::Request, Response = reqwest::Response>,
    S::Error: Into<BoxError>,
{
    type Response = reqwest::Response;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|error| Error::Service(error.into()))
    }

    fn call(&mut self, request: reqwest::Request) -> Self::Future {
        ResponseFuture {
            intercept: Intercept::Waiting {
                future: self.inner.call(request),
                limits: self.config.limits,
            },
            strict: self.config.strict,
        }
    }
}

/// `reqwest::Client` wrapped by the layer in pass-through mode: every response comes back as a
/// `reqwest::Response`; an error response is rebuilt with its URL, headers and whole body, and
/// carries the [`ApiError`](crate::ApiError) in its extensions.
impl<S> Service<reqwest::Request> for PartnerErrors<S, PassThrough>
where
    S: Service<reqwest::Request, Response = reqwest::Response>,
{
    type Response = reqwest::Response;
    type Error = S::Error;
    type Future = PassThroughFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: reqwest::Request) -> Self::Future {
        PassThroughFuture {
            intercept: Intercept::Waiting {
                future: self.inner.call(request),
                limits: self.config.limits,
            },
        }
    }
}

pin_project! {
    /// Response future of [`PartnerErrors`] around a service of reqwest types, default mode.
    pub struct ResponseFuture<F> {
        #[pin]
        intercept: Intercept<F>,
        strict: bool,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<reqwest::Response, E>>,
    E: Into<BoxError>,
{
    type Output = Result<reqwest::Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome =
            ready!(this.intercept.poll_outcome(cx)).map_err(|e| Error::Service(e.into()))?;
        Poll::Ready(outcome.into_result(*this.strict))
    }
}

pin_project! {
    /// Response future of [`PartnerErrors`] around a service of reqwest types, pass-through
    /// mode.
    pub struct PassThroughFuture<F> {
        #[pin]
        intercept: Intercept<F>,
    }
}

impl<F> std::fmt::Debug for PassThroughFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassThroughFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for PassThroughFuture<F>
where
    F: Future<Output = Result<reqwest::Response, E>>,
{
    type Output = Result<reqwest::Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = ready!(self.project().intercept.poll_outcome(cx))?;
        Poll::Ready(Ok(outcome.into_response()))
    }
}

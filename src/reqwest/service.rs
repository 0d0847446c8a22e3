//! The layer around reqwest's `Client` as a tower service: `PartnerErrors<S>` also implements
//! `Service<reqwest::Request>` when `S` does, with reqwest's own response type.

use std::task::{Context, Poll};

use tower_service::Service;

use crate::middleware::future::Mode;
use crate::middleware::ResponseFuture;
use crate::PartnerErrors;

/// `reqwest::Client` (or any service of reqwest types) wrapped by the layer: successes come back
/// as the same `reqwest::Response`; error responses as [`Error`](crate::Error), or in
/// pass-through mode rebuilt with their URL, headers and whole body and the
/// [`ApiError`](crate::ApiError) in their extensions.
impl<S, M> Service<reqwest::Request> for PartnerErrors<S, M>
where
    S: Service<reqwest::Request, Response = reqwest::Response>,
    M: Mode<reqwest::Response, S::Error>,
{
    type Response = M::Response;
    type Error = M::Error;
    type Future = ResponseFuture<S::Future, reqwest::Response, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_inner_ready(cx)
    }

    fn call(&mut self, request: reqwest::Request) -> Self::Future {
        self.intercept(request)
    }
}

//! The layer as a `reqwest_middleware::Middleware`.

use std::convert::Infallible;
use std::fmt;

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::middleware::future::{Captures, Mode};
use crate::middleware::{Config, NoGate, ResponseFuture, ReturnError};
use crate::PartnerErrorsLayer;

/// The settings of the error middleware a request is going through, left in its extensions
/// for the middlewares after it: a [`RetryAfterMiddleware`](super::RetryAfterMiddleware)
/// there reads raw error responses with them, as this one would have.
#[derive(Clone, Copy)]
pub(super) struct ErrorSettings {
    pub(super) config: Config,
    /// Whether the error middleware is in pass-through mode: error responses go on as
    /// responses, the last one too when the retry middleware gives up.
    pub(super) passes_errors: bool,
}

/// [`reqwest_middleware::Middleware`] that captures Partner Center error responses: the same
/// capture, cap, time limit and strict mode as the [`PartnerErrorsLayer`] it is made from.
///
/// - Default mode: a 4xx/5xx response becomes
///   `Err(reqwest_middleware::Error::Middleware(..))` around an [`Error`](crate::Error); get it
///   back with [`partner_error`](super::partner_error) or [`api_error`](super::api_error).
///   Transport failures stay `reqwest_middleware::Error::Reqwest`, as the next middleware
///   returned them.
/// - Pass-through mode: every response comes back `Ok`; an error response is rebuilt with its
///   URL, status, headers and whole body, and carries the [`ApiError`](crate::ApiError) in
///   `response.extensions()`.
///
/// While the middlewares after it run, it leaves its settings in reqwest-middleware's
/// `Extensions`, so that a [`RetryAfterMiddleware`](super::RetryAfterMiddleware) there reads
/// raw error responses as this one would: a few words, in at most three small allocations per
/// request (the map, its table and the value), taken back when they return.
///
/// See the [module docs](super) for an example.
pub struct PartnerErrorsMiddleware<M = ReturnError> {
    layer: PartnerErrorsLayer<M>,
}

impl<M> PartnerErrorsMiddleware<M> {
    /// Returns a middleware with `layer`'s settings (cap, time limit, strict mode, mode).
    pub const fn new(layer: PartnerErrorsLayer<M>) -> Self {
        Self { layer }
    }
}

impl Default for PartnerErrorsMiddleware {
    /// The default layer's settings: a 64 KiB cap, a 10 s body time limit, lenient, errors as
    /// `Err`.
    fn default() -> Self {
        Self::new(PartnerErrorsLayer::new())
    }
}

impl<M> From<PartnerErrorsLayer<M>> for PartnerErrorsMiddleware<M> {
    fn from(layer: PartnerErrorsLayer<M>) -> Self {
        Self::new(layer)
    }
}

impl<M> Clone for PartnerErrorsMiddleware<M> {
    fn clone(&self) -> Self {
        Self { layer: self.layer }
    }
}

impl<M> fmt::Debug for PartnerErrorsMiddleware<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerErrorsMiddleware")
            .field("layer", &self.layer)
            .finish()
    }
}

#[async_trait::async_trait]
impl<M> Middleware for PartnerErrorsMiddleware<M>
where
    M: Mode<Response, Infallible, Response = Response> + 'static,
    M::Error: std::error::Error + Send + Sync + 'static,
    M::Captured: Send,
{
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let outer = extensions.insert(ErrorSettings {
            config: self.layer.config(),
            passes_errors: <M as Captures<Response>>::PASSES_ERRORS,
        });
        let result = next.run(request, extensions).await;
        match outer {
            Some(outer) => extensions.insert(outer),
            None => extensions.remove::<ErrorSettings>(),
        };
        let response = std::future::ready(Ok::<_, Infallible>(result?));
        ResponseFuture::<_, _, M>::new(response, self.layer.config(), NoGate)
            .await
            .map_err(reqwest_middleware::Error::middleware)
    }
}

use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::future::{Captures, HttpResponse, Mode};
use super::layer::{Config, NoGate, PartnerErrorsLayer, ReturnError};
use super::ResponseFuture;
use crate::BoxError;

/// Middleware that turns Partner Center error responses into structured errors.
///
/// Made by [`PartnerErrorsLayer`]; see the [module docs](crate::middleware).
pub struct PartnerErrors<S, M = ReturnError, G = NoGate> {
    pub(crate) inner: S,
    pub(crate) config: Config,
    pub(crate) gate: G,
    mode: PhantomData<fn() -> M>,
}

impl<S> PartnerErrors<S> {
    /// Wraps `inner` with the default settings.
    pub const fn new(inner: S) -> Self {
        Self::from_parts(inner, Config::DEFAULT)
    }

    /// Returns a [`PartnerErrorsLayer`] with the default settings.
    pub const fn layer() -> PartnerErrorsLayer {
        PartnerErrorsLayer::new()
    }
}

impl<S, M> PartnerErrors<S, M> {
    pub(crate) const fn from_parts(inner: S, config: Config) -> Self {
        Self::with_gate(inner, config, NoGate)
    }
}

impl<S, M, G> PartnerErrors<S, M, G> {
    pub(crate) const fn with_gate(inner: S, config: Config, gate: G) -> Self {
        Self {
            inner,
            config,
            gate,
            mode: PhantomData,
        }
    }

    /// Returns a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns the throttle gate fused into the service ([`NoGate`] when there is none): its
    /// counts and store.
    pub fn gate(&self) -> &G {
        &self.gate
    }

    /// Returns a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, M, G> PartnerErrors<S, M, G> {
    /// The inner service's readiness, its error as the mode reports it. Shared by every
    /// `Service` impl (here and in the integrations).
    #[inline]
    pub(crate) fn poll_inner_ready<Req, R>(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), M::Error>>
    where
        S: Service<Req, Response = R>,
        R: HttpResponse,
        M: Mode<R, S::Error>,
    {
        self.inner.poll_ready(cx).map_err(M::service_error)
    }

    /// Calls the inner service and intercepts its response.
    #[inline]
    pub(crate) fn intercept<Req, R>(&mut self, request: Req) -> ResponseFuture<S::Future, R, M>
    where
        S: Service<Req, Response = R>,
        R: HttpResponse,
        M: Captures<R>,
    {
        ResponseFuture::new(self.inner.call(request), self.config, NoGate)
    }
}

impl<S: Clone, M, G: Clone> Clone for PartnerErrors<S, M, G> {
    fn clone(&self) -> Self {
        Self::with_gate(self.inner.clone(), self.config, self.gate.clone())
    }
}

impl<S: fmt::Debug, M, G: fmt::Debug> fmt::Debug for PartnerErrors<S, M, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerErrors")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("mode", &std::any::type_name::<M>())
            .field("gate", &self.gate)
            .finish()
    }
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for PartnerErrors<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Error: Into<BoxError>,
    M: Mode<Response<ResBody>, S::Error>,
{
    type Response = M::Response;
    type Error = M::Error;
    type Future = ResponseFuture<S::Future, Response<ResBody>, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_inner_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.intercept(request)
    }
}

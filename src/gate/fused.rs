//! The gate fused into the error layer ([`PartnerErrorsLayer::throttle_gate`]): the error
//! layer's own response future carries the gate's handle, and reports each error it captures
//! to the gate, so an open gate adds no future of its own around the answer. A request that
//! meets a closed gate waits in the same boxed wait as [`ThrottleGate`]'s, around the layer
//! without a gate.
//!
//! [`PartnerErrorsLayer::throttle_gate`]: crate::PartnerErrorsLayer::throttle_gate
//! [`ThrottleGate`]: super::ThrottleGate

use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;

use super::error::{GateClosed, ResponseExtensions};
use super::future::gated;
use super::handle::Gate;
use super::layer::{counts, GateCounts, SharedScope, ThrottleGateLayer};
use super::store::{GateStore, LocalStore};
use super::ScopeKey;
use crate::headers::retry_after;
use crate::middleware::future::{Mode, Parked, Watch};
use crate::middleware::ResponseFuture;
use crate::{ApiError, BoxError, PartnerErrors};

/// The throttle gate as a [`PartnerErrors`] service carries it when the gate is fused into the
/// layer; made by [`PartnerErrorsLayer::throttle_gate`](crate::PartnerErrorsLayer::throttle_gate).
pub struct FusedGate<K = SharedScope, St = LocalStore> {
    key: K,
    gate: Gate<St>,
    // Whether every scope was open when `poll_ready` last answered, as in `ThrottleGate`.
    open_when_ready: bool,
}

impl<K: Clone, St: GateStore> ThrottleGateLayer<K, St> {
    /// The gate as each service of a layer it is fused into carries it.
    pub(crate) fn fused(&self) -> FusedGate<K, St> {
        let (key, gate) = self.parts();
        FusedGate {
            key,
            gate,
            open_when_ready: false,
        }
    }
}

impl<K, St> FusedGate<K, St> {
    /// Returns the counters shared by every service of the same gate.
    pub fn counts(&self) -> GateCounts {
        counts(&self.gate.shared().counters)
    }

    /// Returns the store shared by every service of the same gate.
    pub fn store(&self) -> &St {
        &self.gate.shared().store
    }
}

impl<K: Clone, St> Clone for FusedGate<K, St> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            gate: self.gate.clone(),
            open_when_ready: false,
        }
    }
}

impl<K, St: fmt::Debug> fmt::Debug for FusedGate<K, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FusedGate")
            .field("store", &self.gate.shared().store)
            .field("settings", self.gate.settings())
            .field("counts", &self.counts())
            .finish()
    }
}

/// What a fused gate's response future watches: the gate and the request's scope, to report a
/// throttled answer to (`None` for a request that met a closed gate: its wait reports the answer
/// itself). `O` is the future's output, which the boxed wait yields.
// `pub` only so that the service's `Future` type may name it; never re-exported.
#[allow(unreachable_pub)]
pub struct Watched<Sc, St, O> {
    watching: Option<(Gate<St>, Sc)>,
    output: PhantomData<fn() -> O>,
}

impl<Sc, St, O> Drop for Watched<Sc, St, O> {
    #[inline]
    fn drop(&mut self) {
        if let Some(watching) = self.watching.take() {
            release(watching);
        }
    }
}

/// Drops the watch's handle on the gate. `extern "C"`, so that the call cannot unwind (a panic
/// inside aborts): the response future's drop then needs no cleanup path, and stays small
/// enough to inline.
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn release<T>(value: T) {
    drop(value);
}

impl<Sc, St, O> fmt::Debug for Watched<Sc, St, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched")
            .field("watching", &self.watching.is_some())
            .finish()
    }
}

impl<Sc, St, O> Watched<Sc, St, O> {
    fn new(watching: Option<(Gate<St>, Sc)>) -> Self {
        Self {
            watching,
            output: PhantomData,
        }
    }
}

impl<Sc: AsRef<str>, St: GateStore, O> Watch for Watched<Sc, St, O> {
    type Parked = Parked<O>;

    /// Closes the gate at the head of a throttled answer whose headers carry its delay, so the
    /// requests made while its body is read wait too (a stalled body takes up to the layer's
    /// body timeout). A delay that only the body may carry is left for [`Watch::observe`].
    fn observe_head(&mut self, status: StatusCode, headers: &HeaderMap) {
        let Some((gate, scope)) = &self.watching else {
            return;
        };
        // Only a throttled status's headers are read (a 404's `Retry-After` closes nothing).
        if !gate.throttles(status, true) {
            return;
        }
        let Some(delay) = retry_after(headers, SystemTime::now()) else {
            return;
        };
        if gate.observe_answer(scope.as_ref(), status, Some(delay)) {
            // Reported: the whole error has nothing to add.
            self.watching = None;
        }
    }

    /// Reports the whole error, unless its head closed the gate: a header's delay is the
    /// error's delay too (a header beats the body), and one answer closes the gate once.
    fn observe(&mut self, error: Option<&ApiError>) {
        if let Some((gate, scope)) = &self.watching {
            gate.observe(scope.as_ref(), error);
        }
    }
}

impl<S, M, K, St, ReqBody, ResBody> Service<Request<ReqBody>>
    for PartnerErrors<S, M, FusedGate<K, St>>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ResBody: Body,
    ResBody::Error: Into<BoxError>,
    M: Mode<Response<ResBody>, S::Error> + 'static,
    M::Response: ResponseExtensions + Send + 'static,
    M::Error: From<GateClosed> + Send + 'static,
    PartnerErrors<S, M>: Service<Request<ReqBody>, Response = M::Response, Error = M::Error>,
    <PartnerErrors<S, M> as Service<Request<ReqBody>>>::Future: Send,
    K: ScopeKey<Request<ReqBody>>,
    St: GateStore,
    ReqBody: Send + 'static,
{
    type Response = M::Response;
    type Error = M::Error;
    type Future = ResponseFuture<
        S::Future,
        Response<ResBody>,
        M,
        Watched<K::Scope, St, Result<M::Response, M::Error>>,
    >;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let ready = self.poll_inner_ready(cx);
        self.gate.open_when_ready = !self.gate.gate.any_closed();
        ready
    }

    #[inline(always)]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (request, watched) = if std::mem::take(&mut self.gate.open_when_ready) {
            let scope = self.gate.key.scope(&request);
            (request, Watched::new(Some((self.gate.gate.clone(), scope))))
        } else {
            match self.admit_or_park(request) {
                Ok(admitted) => admitted,
                Err(parked) => {
                    return ResponseFuture::parked(parked, self.config, Watched::new(None))
                }
            }
        };
        ResponseFuture::new(self.inner.call(request), self.config, watched)
    }
}

impl<S, M, K, St> PartnerErrors<S, M, FusedGate<K, St>> {
    #[cold]
    #[inline(never)]
    #[allow(clippy::type_complexity)]
    fn admit_or_park<ReqBody, ResBody>(
        &mut self,
        request: Request<ReqBody>,
    ) -> Result<
        (
            Request<ReqBody>,
            Watched<K::Scope, St, Result<M::Response, M::Error>>,
        ),
        Parked<Result<M::Response, M::Error>>,
    >
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        ResBody: Body,
        ResBody::Error: Into<BoxError>,
        M: Mode<Response<ResBody>, S::Error> + 'static,
        M::Response: ResponseExtensions + Send + 'static,
        M::Error: From<GateClosed> + Send + 'static,
        PartnerErrors<S, M>: Service<Request<ReqBody>, Response = M::Response, Error = M::Error>,
        <PartnerErrors<S, M> as Service<Request<ReqBody>>>::Future: Send,
        K: ScopeKey<Request<ReqBody>>,
        St: GateStore,
        ReqBody: Send + 'static,
    {
        let fused = &self.gate;
        let scope = fused.key.scope(&request);
        if !fused.gate.any_closed() {
            return Ok((request, Watched::new(Some((fused.gate.clone(), scope)))));
        }
        let clone = self.inner.clone();
        let readied = std::mem::replace(&mut self.inner, clone);
        let readied = PartnerErrors::<S, M>::from_parts(readied, self.config);
        Err(Parked::new(Box::pin(gated(
            fused.gate.clone(),
            scope,
            readied,
            request,
        ))))
    }
}

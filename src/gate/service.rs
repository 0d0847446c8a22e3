//! The gate's service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::error::{GateClosed, ResponseExtensions};
use super::future::{gated, ResponseFuture};
use super::handle::Gate;
use super::layer::{counts, GateCounts, Settings, Shared, SharedScope};
use super::store::{GateStore, LocalStore};
use super::{ScopeKey, ThrottleGateLayer};

/// Holds back requests whose scope a throttled answer closed; made by [`ThrottleGateLayer`].
pub struct ThrottleGate<S, K = SharedScope, St = LocalStore> {
    inner: S,
    key: K,
    gate: Gate<St>,
    // Whether every scope was open when `poll_ready` last answered: the open gate's one atomic
    // read, made before the request is handed over. Made in `call`, between the request's
    // moves, it kept the compiler from merging them: one more copy of the request per call.
    open_when_ready: bool,
}

impl<S, K, St> ThrottleGate<S, K, St> {
    pub(crate) fn from_parts(
        inner: S,
        key: K,
        settings: Settings,
        shared: Arc<Shared<St>>,
    ) -> Self {
        Self {
            inner,
            key,
            gate: Gate::new(shared, settings),
            open_when_ready: false,
        }
    }

    /// Returns the counters shared by every service of the same layer.
    pub fn counts(&self) -> GateCounts {
        counts(&self.gate.shared().counters)
    }

    /// Returns the store shared by every service of the same layer.
    ///
    /// ```
    /// use partner_center_errors::gate::{LocalStore, ThrottleGateLayer};
    /// use tower::{service_fn, Layer};
    ///
    /// let layer = ThrottleGateLayer::with_store(LocalStore::with_max_scopes(100));
    /// let service = layer.layer(service_fn(|_: ()| async {
    ///     Ok::<_, partner_center_errors::Error>(http::Response::new(()))
    /// }));
    /// assert!(std::ptr::eq(service.store(), layer.store()));
    /// assert_eq!(service.clone().store().max_scopes(), 100);
    /// ```
    pub fn store(&self) -> &St {
        &self.gate.shared().store
    }

    /// Returns a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
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

impl<S> ThrottleGate<S> {
    /// Returns a new [`ThrottleGateLayer`] with the default settings.
    pub fn layer() -> ThrottleGateLayer {
        ThrottleGateLayer::new()
    }
}

impl<S: Clone, K: Clone, St> Clone for ThrottleGate<S, K, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            key: self.key.clone(),
            gate: self.gate.clone(),
            open_when_ready: false,
        }
    }
}

impl<S: fmt::Debug, K, St: fmt::Debug> fmt::Debug for ThrottleGate<S, K, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleGate")
            .field("inner", &self.inner)
            .field("store", &self.gate.shared().store)
            .field("settings", self.gate.settings())
            .finish()
    }
}

impl<S, K, St, Request> Service<Request> for ThrottleGate<S, K, St>
where
    S: Service<Request> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: ResponseExtensions + Send + 'static,
    S::Error: From<GateClosed> + Send + 'static,
    K: ScopeKey<Request>,
    St: GateStore,
    Request: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, K::Scope, St>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let ready = self.inner.poll_ready(cx);
        self.open_when_ready = !self.gate.any_closed();
        ready
    }

    #[inline(always)]
    fn call(&mut self, request: Request) -> Self::Future {
        if !std::mem::take(&mut self.open_when_ready) {
            return self.call_gated(request);
        }
        let scope = self.key.scope(&request);
        ResponseFuture::sent(self.inner.call(request), self.gate.clone(), scope)
    }
}

impl<S, K, St> ThrottleGate<S, K, St> {
    /// The slow path, out of line so that the open gate's `call` stays small: some scope was
    /// closed when `poll_ready` answered (or it was not asked), so look again, and hand the
    /// inner service that `poll_ready` made ready to the waiting future, leaving a clone here.
    /// What it reserved must not stay with this service: a `concurrency_limit` inside the gate
    /// holds its slot in the service `poll_ready` readied, and tower's `Retry` keeps this
    /// service for its next attempt, so the request would wait for a second slot, forever when
    /// the limit is 1. A request that must wait gives the slot back meanwhile (`gated`).
    #[cold]
    #[inline(never)]
    fn call_gated<Request>(&mut self, request: Request) -> ResponseFuture<S::Future, K::Scope, St>
    where
        S: Service<Request> + Clone + Send + 'static,
        S::Future: Send,
        S::Response: ResponseExtensions + Send + 'static,
        S::Error: From<GateClosed> + Send + 'static,
        K: ScopeKey<Request>,
        St: GateStore,
        Request: Send + 'static,
    {
        let scope = self.key.scope(&request);
        if !self.gate.any_closed() {
            return ResponseFuture::sent(self.inner.call(request), self.gate.clone(), scope);
        }
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::gated(Box::pin(gated(self.gate.clone(), scope, inner, request)))
    }
}

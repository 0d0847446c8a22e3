//! The throttle gate in reqwest-middleware's world: [`ThrottleGateMiddleware`].

use std::fmt;

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use tokio::time::Instant;

use super::api_error;
use crate::gate::{
    GateClosed, GateCounts, GateStore, LocalStore, ProbeGuard, ResponseExtensions, Role, ScopeKey,
    SharedScope, ThrottleGateLayer,
};
use crate::{ApiError, Error};

/// The [throttle gate](crate::gate) as a `reqwest_middleware::Middleware`, made from a
/// [`ThrottleGateLayer`] so that both share one set of settings, scopes and counters.
///
/// Put it after the retry middleware and before [`PartnerErrorsMiddleware`](super::PartnerErrorsMiddleware)
/// in the `ClientBuilder`, so that every attempt, retries included, passes it:
///
/// ```
/// use partner_center_errors::gate::ThrottleGateLayer;
/// use partner_center_errors::reqwest::{PartnerErrorsMiddleware, RetryAfterMiddleware, ThrottleGateMiddleware};
/// use partner_center_errors::{PartnerErrorsLayer, RetryAfterPolicy};
///
/// let gate = ThrottleGateLayer::new();
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(RetryAfterMiddleware::new(RetryAfterPolicy::new()))
///     .with(ThrottleGateMiddleware::new(gate.clone()))
///     .with(PartnerErrorsMiddleware::new(PartnerErrorsLayer::new()))
///     .build();
/// assert_eq!(gate.counts().held, 0);
/// # drop(client);
/// ```
///
/// A request refused by the gate fails with `reqwest_middleware::Error::Middleware` around the
/// crate's [`Error::GateClosed`], the error the tower gate returns: [`partner_error`](super::partner_error)
/// finds it, and [`gate_closed`] or [`GateClosed::find`] the [`GateClosed`] in it. When the
/// retry middleware gives up on a retry the gate refused, the refusal is
/// [`GaveUp::last_error`](crate::GaveUp::last_error), as in the tower stack.
pub struct ThrottleGateMiddleware<K = SharedScope, St = LocalStore> {
    key: K,
    gate: crate::gate::Gate<St>,
}

impl<K, St: GateStore> ThrottleGateMiddleware<K, St> {
    /// Creates the middleware from `layer`: the same settings, and the same scopes and
    /// counters as every other clone of it.
    pub fn new(layer: ThrottleGateLayer<K, St>) -> Self {
        let (key, gate) = layer.into_parts();
        Self { key, gate }
    }

    /// Returns the counters shared with the layer.
    pub fn counts(&self) -> GateCounts {
        crate::gate::counts_of(&self.gate)
    }

    /// Returns the store shared with the layer.
    ///
    /// ```
    /// use partner_center_errors::gate::{LocalStore, ThrottleGateLayer};
    /// use partner_center_errors::reqwest::ThrottleGateMiddleware;
    ///
    /// let layer = ThrottleGateLayer::with_store(LocalStore::with_max_scopes(100));
    /// let middleware = ThrottleGateMiddleware::new(layer.clone());
    /// assert_eq!(middleware.store().max_scopes(), 100);
    /// assert!(std::ptr::eq(middleware.clone().store(), layer.store()));
    /// ```
    pub fn store(&self) -> &St {
        &self.gate.shared().store
    }
}

impl<K: Clone, St> Clone for ThrottleGateMiddleware<K, St> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            gate: self.gate.clone(),
        }
    }
}

impl<K, St: GateStore> From<ThrottleGateLayer<K, St>> for ThrottleGateMiddleware<K, St> {
    fn from(layer: ThrottleGateLayer<K, St>) -> Self {
        Self::new(layer)
    }
}

impl<K, St: fmt::Debug> fmt::Debug for ThrottleGateMiddleware<K, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleGateMiddleware")
            .field("store", &self.gate.shared().store)
            .field("settings", self.gate.settings())
            .finish()
    }
}

#[async_trait::async_trait]
impl<K, St> Middleware for ThrottleGateMiddleware<K, St>
where
    K: ScopeKey<Request> + Send + Sync + 'static,
    St: GateStore,
{
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let scope = self.key.scope(&request);
        let scope = scope.as_ref();
        let role = if self.gate.any_closed() {
            self.gate
                .wait_turn(scope, Instant::now(), Some(|| ()))
                .await
                .map_err(|closed| reqwest_middleware::Error::middleware(Error::from(closed)))?
        } else {
            Role::Normal
        };
        let probe = ProbeGuard::new(&self.gate, scope, role);
        let result = next.run(request, extensions).await;
        let error = match &result {
            Ok(response) => response.extensions().get::<ApiError>(),
            Err(error) => api_error(error),
        };
        let answered = result.is_ok() || error.is_some();
        let throttled = self.gate.observe(scope, error);
        probe.finish(answered, throttled);
        result
    }
}

impl ResponseExtensions for Response {
    #[inline]
    fn extensions(&self) -> &http::Extensions {
        Response::extensions(self)
    }
}

/// Returns the [`GateClosed`] inside a `reqwest_middleware::Error`: the request was refused by
/// [`ThrottleGateMiddleware`] without being sent. The same as [`GateClosed::find`], and as
/// [`Error::gate_closed`] on the error [`partner_error`](super::partner_error) finds.
pub fn gate_closed(error: &super::MiddlewareError) -> Option<&GateClosed> {
    super::partner_error(error).and_then(Error::gate_closed)
}

//! The throttle gate in reqwest-middleware's world: [`ThrottleGateMiddleware`].

use std::fmt;

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use super::api_error;
use crate::gate::{
    GateClosed, GateCounts, GateStore, LocalStore, ProbeGuard, ResponseExtensions, Role, ScopeKey,
    SharedScope, ThrottleGateLayer,
};
use crate::ApiError;

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
/// A request refused by the gate fails with `reqwest_middleware::Error::Middleware` around a
/// [`GateClosed`]; [`gate_closed`] finds it.
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
                .wait_turn(scope)
                .await
                .map_err(reqwest_middleware::Error::middleware)?
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

/// The [`GateClosed`] inside a `reqwest_middleware::Error`: the request was refused by
/// [`ThrottleGateMiddleware`] without being sent.
pub fn gate_closed(error: &super::MiddlewareError) -> Option<&GateClosed> {
    let reqwest_middleware::Error::Middleware(error) = error else {
        return None;
    };
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<GateClosed>())
}

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use tower_layer::Layer;

use super::PartnerErrors;
use crate::body::Limits;
use crate::gate::{FusedGate, GateStore, ThrottleGateLayer};
use crate::schema::{Schema, StrictPolicy};

/// Default cap on the bytes of an error body that are read: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// Default time limit for reading an error body: 10 seconds.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Mode marker: error responses become [`Error::Api`](crate::Error::Api) (the default).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct ReturnError;

/// Mode marker: every response goes on; error responses keep their body, byte for byte, and
/// carry the [`ApiError`](crate::ApiError) in their extensions. For proxies.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct PassThrough;

/// Gate marker: no throttle gate fused into the layer (the default). See
/// [`PartnerErrorsLayer::throttle_gate`].
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct NoGate;

/// The settings a [`PartnerErrorsLayer`] hands to each service it makes.
///
/// Everything here is read only on the error path, `enabled` included: the response future
/// checks it only once the status is known to be 4xx/5xx. Each response future carries a copy
/// (carrying none at all measured 5 instructions per success call less under callgrind), so a
/// small error-path setting joins here; a setting the success path had to read would belong in
/// the service instead.
// `pub` only so that the sealed `Captures` trait may name it; never re-exported.
#[allow(unreachable_pub)]
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub(crate) limits: Limits,
    pub(crate) strict: Option<StrictPolicy>,
    /// `false`: every response is handed on untouched.
    pub(crate) enabled: bool,
    #[cfg(feature = "tracing")]
    pub(crate) levels: crate::trace::ResponseLevels,
    pub(crate) schema: Schema,
}

impl Config {
    /// These settings, reading bodies as `other` does (its cap, time limit, strict mode and
    /// schema): for a capture made on behalf of the layer with `other`'s settings (the reqwest
    /// retry middleware inside the error middleware).
    #[cfg(feature = "reqwest")]
    pub(crate) const fn reading_as(mut self, other: &Self) -> Self {
        self.limits = other.limits;
        self.strict = other.strict;
        self.schema = other.schema;
        self
    }

    pub(crate) const DEFAULT: Self = Self {
        limits: Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_timeout: Some(DEFAULT_BODY_TIMEOUT),
        },
        strict: None,
        enabled: true,
        #[cfg(feature = "tracing")]
        levels: crate::trace::ResponseLevels::DEFAULT,
        schema: Schema::PartnerCenter,
    };
}

/// [`Layer`] that turns Partner Center error responses into structured errors.
///
/// See the [module docs](crate::middleware) for what it does and its defaults.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use partner_center_errors::{Error, PartnerErrorsLayer};
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = service_fn(|_request: Request<Full<Bytes>>| async {
///     let html = Response::builder()
///         .status(StatusCode::BAD_GATEWAY)
///         .body(Full::new(Bytes::from("<html><body>Bad gateway</body></html>")));
///     Ok::<_, std::convert::Infallible>(html.unwrap())
/// });
/// let layer = PartnerErrorsLayer::new()
///     .max_body_bytes(16 * 1024)
///     .body_timeout(Duration::from_secs(5))
///     .strict(true);
/// let service = ServiceBuilder::new().layer(layer).service(client);
///
/// let request = Request::get("/v1/customers").body(Full::default()).unwrap();
/// // HTML where the schema says JSON breaches the contract: strict mode says so.
/// let Err(Error::Schema(error)) = service.oneshot(request).await else { panic!() };
/// assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
/// assert_eq!(error.violations().len(), 1);
/// # }
/// ```
pub struct PartnerErrorsLayer<M = ReturnError, G = NoGate> {
    config: Config,
    gate: G,
    mode: PhantomData<fn() -> M>,
}

impl PartnerErrorsLayer {
    /// Returns a layer with the defaults: a 64 KiB cap, a 10 s body timeout, lenient validation,
    /// errors returned as `Err`, no throttle gate.
    pub const fn new() -> Self {
        Self {
            config: Config::DEFAULT,
            gate: NoGate,
            mode: PhantomData,
        }
    }
}

impl<M> PartnerErrorsLayer<M> {
    /// Switches to pass-through mode, for proxies: every response goes on to the caller; an error response
    /// keeps its body byte for byte (the buffered part, then the rest of the stream) and carries
    /// the [`ApiError`](crate::ApiError) in its extensions.
    pub const fn pass_through(self) -> PartnerErrorsLayer<PassThrough> {
        PartnerErrorsLayer {
            config: self.config,
            gate: NoGate,
            mode: PhantomData,
        }
    }

    /// Fuses `gate` into the layer: the same as stacking the gate right outside it,
    /// `.layer(gate).layer(errors)`, with one response future fewer, so an open gate costs a
    /// success call less. The gate sees every error response as the layer captures it, in both
    /// modes, and a throttled one whose headers carry its delay at its head, before its body is
    /// read; a request that meets a closed gate waits (or is refused) as the
    /// [`ThrottleGate`](crate::ThrottleGate) would hold it. Default: no gate.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// use bytes::Bytes;
    /// use http::{Request, Response, StatusCode};
    /// use http_body_util::Full;
    /// use partner_center_errors::{Error, PartnerErrorsLayer, ThrottleGateLayer};
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// async fn main() {
    ///     let sent = Arc::new(AtomicUsize::new(0));
    ///     let counter = sent.clone();
    ///     let client = service_fn(move |_: Request<Full<Bytes>>| {
    ///         counter.fetch_add(1, Ordering::SeqCst);
    ///         async {
    ///             let throttled = Response::builder()
    ///                 .status(StatusCode::TOO_MANY_REQUESTS)
    ///                 .header("Retry-After", "600")
    ///                 .body(Full::new(Bytes::from_static(b"{}")));
    ///             Ok::<_, std::convert::Infallible>(throttled.unwrap())
    ///         }
    ///     });
    ///     let gate = ThrottleGateLayer::new();
    ///     let service = ServiceBuilder::new()
    ///         .layer(PartnerErrorsLayer::new().throttle_gate(gate.clone()))
    ///         .service(client);
    ///
    ///     let request = || Request::get("/v1/customers").body(Full::default()).unwrap();
    ///     let first = service.clone().oneshot(request()).await;
    ///     assert!(matches!(first, Err(Error::Api(_))));
    ///     // The 429 closed the gate for 600 s, past the 180 s a request may wait: the next
    ///     // request is refused at once, and never sent.
    ///     let second = service.oneshot(request()).await;
    ///     assert!(matches!(second, Err(Error::GateClosed(_))), "{second:?}");
    ///     assert_eq!(sent.load(Ordering::SeqCst), 1);
    ///     assert_eq!(gate.counts().rejected, 1);
    /// }
    /// ```
    pub fn throttle_gate<K, St>(
        self,
        gate: ThrottleGateLayer<K, St>,
    ) -> PartnerErrorsLayer<M, ThrottleGateLayer<K, St>> {
        PartnerErrorsLayer {
            config: self.config,
            gate,
            mode: PhantomData,
        }
    }
}

impl<M, K, St> PartnerErrorsLayer<M, ThrottleGateLayer<K, St>> {
    /// Switches to pass-through mode, for proxies, keeping the fused gate: as
    /// [`PartnerErrorsLayer::pass_through`] without a gate.
    pub fn pass_through(self) -> PartnerErrorsLayer<PassThrough, ThrottleGateLayer<K, St>> {
        PartnerErrorsLayer {
            config: self.config,
            gate: self.gate,
            mode: PhantomData,
        }
    }
}

impl<M, G> PartnerErrorsLayer<M, G> {
    /// Sets the most bytes of an error body that are read. A `Content-Length` above it is refused
    /// before any read (unless the body is already at its end, as after a `HEAD`, or a
    /// `Transfer-Encoding` frames it instead, which overrides the length); a longer body
    /// is cut there. The buffer grows with the bytes that arrive, never with the declared length. Default: 64 KiB ([`DEFAULT_MAX_BODY_BYTES`]).
    pub const fn max_body_bytes(mut self, limit: usize) -> Self {
        self.config.limits.max_body_bytes = limit;
        self
    }

    /// Sets the longest time spent reading an error body, from when its head arrived. Default: 10 s
    /// ([`DEFAULT_BODY_TIMEOUT`]). Uses tokio's timer, and only when a body is not already
    /// complete; without a timer such a body ends as [`Incomplete::NoTimer`](crate::Incomplete::NoTimer).
    pub const fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.body_timeout = Some(timeout);
        self
    }

    /// Removes the time limit on reading error bodies (the cap still holds). Default: a 10 s limit.
    pub const fn no_body_timeout(mut self) -> Self {
        self.config.limits.body_timeout = None;
        self
    }

    /// Sets strict mode: an error body that breaches the schema's contract becomes
    /// [`Error::Schema`](crate::Error::Schema) instead of [`Error::Api`](crate::Error::Api).
    /// Deviations the real service is known to send (a numeric `code`, no `data` or `source`, a
    /// byte-order mark) are accepted; [`strict_policy`](Self::strict_policy) moves single kinds
    /// either way. Default: off (lenient: the violations ride on the error). In pass-through mode
    /// the response goes on either way; read [`ApiError::violations`](crate::ApiError::violations).
    pub const fn strict(mut self, strict: bool) -> Self {
        self.config.strict = if strict {
            Some(StrictPolicy::new())
        } else {
            None
        };
        self
    }

    /// Sets strict mode with `policy` deciding which violations are rejected. Default: off.
    pub const fn strict_policy(mut self, policy: StrictPolicy) -> Self {
        self.config.strict = Some(policy);
        self
    }

    /// Sets whether the layer does anything. Disabled, it hands every response on untouched
    /// (an error response is `Ok` with its body, as without the layer) and never reads a body,
    /// while the service keeps its type and error type: one stack switches the layer on and off
    /// at run time, where `option_layer` would need both branches to have one error type.
    /// Default: enabled.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{Request, Response, StatusCode};
    /// use http_body_util::Full;
    /// use partner_center_errors::{Error, PartnerErrorsLayer};
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let client = service_fn(|_request: Request<Full<Bytes>>| async {
    ///     let missing = Response::builder().status(StatusCode::NOT_FOUND).body(Full::<Bytes>::default());
    ///     Ok::<_, std::convert::Infallible>(missing.unwrap())
    /// });
    /// // One type for both settings, so no `Either` (read the setting from your configuration).
    /// let stack = |enabled: bool| {
    ///     ServiceBuilder::new()
    ///         .layer(PartnerErrorsLayer::new().enabled(enabled))
    ///         .service(client.clone())
    /// };
    /// let request = || Request::get("/v1/customers/x").body(Full::default()).unwrap();
    ///
    /// let on = stack(true).oneshot(request()).await;
    /// assert!(matches!(on, Err(Error::Api(_))));
    /// let off = stack(false).oneshot(request()).await;
    /// assert_eq!(off.unwrap().status(), StatusCode::NOT_FOUND);
    /// # }
    /// ```
    pub const fn enabled(mut self, enabled: bool) -> Self {
        self.config.enabled = enabled;
        self
    }

    /// Sets the level of the `tracing` event for a 4xx response (`None`: no event). Default:
    /// `WARN`. See [pairing with tower-http's `TraceLayer`](crate#logging).
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn client_error_level(mut self, level: impl Into<Option<tracing::Level>>) -> Self {
        self.config.levels.client_error = level.into();
        self
    }

    /// Sets the level of the `tracing` event for a 5xx response (`None`: no event). Default:
    /// `WARN`. See [pairing with tower-http's `TraceLayer`](crate#logging).
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn server_error_level(mut self, level: impl Into<Option<tracing::Level>>) -> Self {
        self.config.levels.server_error = level.into();
        self
    }

    /// Sets the schema error bodies are read against: Partner Center's, Microsoft Graph's
    /// OData envelope, RFC 9457 problem details, or [`Schema::Auto`] to pick one per response
    /// (by `Content-Type`, then by shape; [`ApiError::schema`](crate::ApiError::schema) says
    /// which). Violations, strict mode and [`ApiError::view`](crate::ApiError::view) follow it.
    /// Default: [`Schema::PartnerCenter`].
    pub const fn schema(mut self, schema: Schema) -> Self {
        self.config.schema = schema;
        self
    }

    /// Returns the gate fused into the layer ([`NoGate`] when there is none).
    pub fn gate(&self) -> &G {
        &self.gate
    }

    /// The settings this layer hands to each service (and to the integrations).
    pub(crate) const fn config(&self) -> Config {
        self.config
    }
}

impl<M> PartnerErrorsLayer<M> {
    /// The same layer with its events off (the reqwest retry middleware's own capture, whose
    /// result the layer behind it logs).
    #[cfg(all(feature = "reqwest", feature = "tracing"))]
    pub(crate) const fn silent(mut self) -> Self {
        self.config.levels = crate::trace::ResponseLevels::OFF;
        self
    }

    /// The same layer (no events to turn off without the `tracing` feature).
    #[cfg(all(feature = "reqwest", not(feature = "tracing")))]
    pub(crate) const fn silent(self) -> Self {
        self
    }
}

impl Default for PartnerErrorsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<M, G: Clone> Clone for PartnerErrorsLayer<M, G> {
    fn clone(&self) -> Self {
        Self {
            config: self.config,
            gate: self.gate.clone(),
            mode: PhantomData,
        }
    }
}

impl<M, G: Copy> Copy for PartnerErrorsLayer<M, G> {}

/// Each setting under its setter's name, the `tracing` levels included.
impl<M, G: fmt::Debug> fmt::Debug for PartnerErrorsLayer<M, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("PartnerErrorsLayer");
        debug
            .field("max_body_bytes", &self.config.limits.max_body_bytes)
            .field("body_timeout", &self.config.limits.body_timeout)
            .field("strict", &self.config.strict)
            .field("enabled", &self.config.enabled)
            .field("schema", &self.config.schema);
        #[cfg(feature = "tracing")]
        debug
            .field("client_error_level", &self.config.levels.client_error)
            .field("server_error_level", &self.config.levels.server_error);
        debug
            .field("mode", &std::any::type_name::<M>())
            .field("gate", &self.gate)
            .finish()
    }
}

impl<S, M> Layer<S> for PartnerErrorsLayer<M> {
    type Service = PartnerErrors<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        PartnerErrors::from_parts(inner, self.config())
    }
}

impl<S, M, K: Clone, St: GateStore> Layer<S> for PartnerErrorsLayer<M, ThrottleGateLayer<K, St>> {
    type Service = PartnerErrors<S, M, FusedGate<K, St>>;

    fn layer(&self, inner: S) -> Self::Service {
        PartnerErrors::with_gate(inner, self.config(), self.gate.fused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Debug` names each setting as its setter does, so a printed layer says what to change.
    #[test]
    fn debug_names_each_setting_as_its_setter() {
        let layer = PartnerErrorsLayer::new().max_body_bytes(1024).strict(true);
        let shown = format!("{layer:?}");
        for setter in [
            "max_body_bytes: 1024",
            "body_timeout",
            "strict",
            "enabled",
            "schema",
        ] {
            assert!(shown.contains(setter), "{setter} in {shown}");
        }
        #[cfg(feature = "tracing")]
        {
            let quiet = layer.client_error_level(None);
            let shown = format!("{quiet:?}");
            assert!(shown.contains("client_error_level: None"), "{shown}");
            assert!(
                shown.contains("server_error_level: Some(Level(Warn))"),
                "{shown}"
            );
        }
    }
}

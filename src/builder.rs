//! [`ServiceBuilderExt`]: the crate's layers as `ServiceBuilder` methods, as tower-http's
//! `ServiceBuilderExt` does for its own.

use tower::layer::util::Stack;
use tower::retry::RetryLayer;
use tower::ServiceBuilder;

use crate::{PartnerErrorsLayer, RetryAfterPolicy, ThrottleGateLayer};

/// Adds the crate's layers to [`ServiceBuilder`] as methods, in the order they go: the retry
/// policy outermost, then the throttle gate, then the error layer.
///
/// Sealed: implemented for `ServiceBuilder` only.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use partner_center_errors::{
///     Error, PartnerErrorsLayer, RetryAfterPolicy, ServiceBuilderExt, ThrottleGateLayer,
/// };
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = service_fn(|_request: Request<Full<Bytes>>| async {
///     let missing = Response::builder().status(StatusCode::NOT_FOUND).body(Full::<Bytes>::default());
///     Ok::<_, std::convert::Infallible>(missing.unwrap())
/// });
/// let service = ServiceBuilder::new()
///     .retry_after(RetryAfterPolicy::new())
///     .throttle_gate(ThrottleGateLayer::new())
///     .partner_errors(PartnerErrorsLayer::new().max_body_bytes(16 * 1024))
///     .service(client);
///
/// let request = Request::get("/v1/customers/x").body(Full::default()).unwrap();
/// let error = service.oneshot(request).await.unwrap_err();
/// assert!(matches!(error, Error::Api(ref api) if api.status() == StatusCode::NOT_FOUND));
/// # }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed<L> + Sized {
    /// Adds a [`PartnerErrorsLayer`] with these settings.
    fn partner_errors<M, G>(
        self,
        layer: PartnerErrorsLayer<M, G>,
    ) -> ServiceBuilder<Stack<PartnerErrorsLayer<M, G>, L>>;

    /// Adds tower's retry layer with a [`RetryAfterPolicy`].
    fn retry_after(
        self,
        policy: RetryAfterPolicy,
    ) -> ServiceBuilder<Stack<RetryLayer<RetryAfterPolicy>, L>>;

    /// Adds a [`ThrottleGateLayer`] (clones of one layer share their gate).
    fn throttle_gate<K, St>(
        self,
        gate: ThrottleGateLayer<K, St>,
    ) -> ServiceBuilder<Stack<ThrottleGateLayer<K, St>, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn partner_errors<M, G>(
        self,
        layer: PartnerErrorsLayer<M, G>,
    ) -> ServiceBuilder<Stack<PartnerErrorsLayer<M, G>, L>> {
        self.layer(layer)
    }

    fn retry_after(
        self,
        policy: RetryAfterPolicy,
    ) -> ServiceBuilder<Stack<RetryLayer<RetryAfterPolicy>, L>> {
        self.retry(policy)
    }

    fn throttle_gate<K, St>(
        self,
        gate: ThrottleGateLayer<K, St>,
    ) -> ServiceBuilder<Stack<ThrottleGateLayer<K, St>, L>> {
        self.layer(gate)
    }
}

mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed<L> {}

    impl<L> Sealed<L> for tower::ServiceBuilder<L> {}
}

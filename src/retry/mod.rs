//! Retries that wait as long as the server asked: [`RetryAfterPolicy`], a
//! [`tower::retry::Policy`], and [`BufferRequestLayer`] for request bodies that cannot be sent
//! twice by themselves.
//!
//! After each failed attempt the policy, in order:
//!
//! 1. retries only a structured error whose status is in
//!    [`retry_statuses`](RetryAfterPolicy::retry_statuses) (default 429, 503, 504);
//! 2. retries POST, PATCH and other non-idempotent methods after 429 and 503, but after 504 (or
//!    any other status added to the set) only with a non-empty `MS-RequestId` (Partner Center's
//!    idempotency key);
//! 3. stops after [`max_retries`](RetryAfterPolicy::max_retries);
//! 4. waits exactly the server's delay ([`ApiError::retry_after`](crate::ApiError::retry_after)),
//!    gives up at once when it exceeds [`max_wait`](RetryAfterPolicy::max_wait), and without a
//!    delay backs off exponentially with full jitter;
//! 5. makes no retry whose wait would end past
//!    [`max_total_time`](RetryAfterPolicy::max_total_time), or that the shared
//!    [`budget`](RetryAfterPolicy::budget) refuses.
//!
//! A retry sends the same request with [`Retry-Attempt: N`](RETRY_ATTEMPT); only bodies that
//! can be replayed are ([`ReplayBody`]). When the policy stops on an error it would otherwise
//! retry, or after a retry, the error becomes [`Error::GaveUp`](crate::Error::GaveUp).
//!
//! Its place is outside the error layer. Put inside it, the policy sees raw error responses
//! (`Ok` with a 4xx/5xx status) and retries them by the same rules, with the delay from their
//! headers only; when it stops, the layer makes the last response an
//! [`Error::Api`](crate::Error::Api). Error responses that carry their
//! [`ApiError`](crate::ApiError) (the layer's pass-through mode) are not retried.
//!
//! | setting | default |
//! |---|---|
//! | [`retry_statuses`](RetryAfterPolicy::retry_statuses) | 429, 503, 504 |
//! | [`max_retries`](RetryAfterPolicy::max_retries) | 3 ([`DEFAULT_MAX_RETRIES`]) |
//! | [`base_delay`](RetryAfterPolicy::base_delay) | 3 s, doubled per retry ([`DEFAULT_BASE_DELAY`]) |
//! | [`max_wait`](RetryAfterPolicy::max_wait) | 180 s ([`DEFAULT_MAX_WAIT`]) |
//! | [`max_total_time`](RetryAfterPolicy::max_total_time) | 10 min ([`DEFAULT_MAX_TOTAL_TIME`]) |
//! | [`budget`](RetryAfterPolicy::budget) | `TpsBudget::default()` |
//! | `retry_level` / `give_up_level` (feature `tracing`) | `INFO` / `WARN` |
//! | [`BufferRequestLayer::max_body_bytes`] | 64 KiB ([`DEFAULT_MAX_BODY_BYTES`]) |
//!
//! Unlike tower's [`backoff`](tower::retry::backoff) and reqwest-retry, which never see the
//! response, the policy reads the server's delay from the structured error and backs off only
//! without one. The README compares it with Kiota and reqwest-retry at length.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use partner_center_errors::{PartnerErrorsLayer, RetryAfterPolicy};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tokio::time::Instant;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! // `start_paused` (tokio's `test-util` feature) runs the 57 s wait on a paused clock.
//! #[tokio::main(flavor = "current_thread", start_paused = true)]
//! async fn main() {
//!     // Stands in for an HTTP client: throttles the first request, then answers.
//!     let calls = Arc::new(AtomicU32::new(0));
//!     let counted = calls.clone();
//!     let client = service_fn(move |request: Request<Full<Bytes>>| {
//!         let call = counted.fetch_add(1, Ordering::SeqCst);
//!         async move {
//!             let response = if call == 0 {
//!                 Response::builder().status(StatusCode::TOO_MANY_REQUESTS).header("Retry-After", "57")
//!             } else {
//!                 // The retry says which one it is.
//!                 assert_eq!(request.headers()["retry-attempt"], "1");
//!                 Response::builder().status(StatusCode::OK)
//!             };
//!             Ok::<_, std::convert::Infallible>(response.body(Full::new(Bytes::new())).unwrap())
//!         }
//!     });
//!
//!     let service = ServiceBuilder::new()
//!         .retry(RetryAfterPolicy::new())
//!         .layer(PartnerErrorsLayer::new())
//!         .service(client);
//!
//!     let started = Instant::now();
//!     let request = Request::get("https://api.partnercenter.microsoft.com/v1/customers")
//!         .body(Full::default())
//!         .unwrap();
//!     let response = service.oneshot(request).await.unwrap();
//!     assert_eq!(response.status(), StatusCode::OK);
//!     assert_eq!(calls.load(Ordering::SeqCst), 2);
//!     assert_eq!(started.elapsed(), Duration::from_secs(57)); // (tokio's paused clock)
//! }
//! ```
//!
//! A delay longer than the policy will wait comes back at once, with everything needed to try
//! again later:
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use partner_center_errors::GiveUpReason;
//! use partner_center_errors::{Error, PartnerErrorsLayer, RetryAfterPolicy};
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let client = service_fn(|_request: Request<Full<Bytes>>| async {
//!     let throttled = Response::builder()
//!         .status(StatusCode::TOO_MANY_REQUESTS)
//!         .header("Retry-After", "3600")
//!         .body(Full::new(Bytes::new()))
//!         .unwrap();
//!     Ok::<_, std::convert::Infallible>(throttled)
//! });
//! let service = ServiceBuilder::new()
//!     .retry(RetryAfterPolicy::new().max_wait(Duration::from_secs(60)))
//!     .layer(PartnerErrorsLayer::new())
//!     .service(client);
//!
//! let request = Request::get("/v1/customers").body(Full::default()).unwrap();
//! let Err(Error::GaveUp(gave_up)) = service.oneshot(request).await else { panic!() };
//! assert_eq!(gave_up.reason(), GiveUpReason::WaitTooLong);
//! assert_eq!((gave_up.attempts(), gave_up.waited()), (1, Duration::ZERO));
//! let come_back_in = gave_up.api_error().and_then(|error| error.retry_after());
//! assert_eq!(come_back_in, Some(Duration::from_secs(3600)));
//! # }
//! ```

mod backoff;
mod body;
mod buffer;
pub(crate) mod policy;
mod replay;

pub use crate::error::retry_hint;
pub use body::BufferedBody;
pub use buffer::{BufferFuture, BufferRequest, BufferRequestLayer, DEFAULT_MAX_BODY_BYTES};
pub use policy::{
    RetryAfterPolicy, Wait, DEFAULT_BASE_DELAY, DEFAULT_MAX_RETRIES, DEFAULT_MAX_TOTAL_TIME,
    DEFAULT_MAX_WAIT, RETRY_ATTEMPT,
};
pub use replay::ReplayBody;

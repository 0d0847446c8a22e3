//! Retrying what Partner Center says to retry, when it says to: the retry hint and a
//! `Retry-After`-aware [`tower::retry::Policy`].
//!
//! Partner Center throttles per partner tenant and counts every request against the limit,
//! early retries included: on 429, wait the seconds in `Retry-After`, then back off. This module
//! has three parts:
//!
//! - [`RetryHint`](crate::RetryHint) ([`ApiError::retry_hint`](crate::ApiError::retry_hint), or [`retry_hint`]
//!   over a status, headers and body text for a policy of your own): whether a retry makes sense
//!   (429, 503, 504), the delay the server asked for and where it came from
//!   ([`DelaySource`](crate::headers::DelaySource)).
//! - [`RetryAfterPolicy`]: the policy for `ServiceBuilder::retry`, over the error layer's
//!   [`Error`](crate::Error) or over a [`BoxError`](crate::BoxError).
//! - [`ReplayBody`], [`BufferRequestLayer`] and [`BufferedBody`]: which request bodies can be
//!   sent again.
//!
//! ```text
//! [BufferRequestLayer] -> retry(RetryAfterPolicy) -> PartnerErrorsLayer -> [decompression, timeout] -> client
//!  only for streamed       reads the error's hint,   turns 4xx/5xx into
//!  request bodies          waits, replays            structured errors
//! ```
//!
//! # What the policy does
//!
//! After each failed attempt, in this order:
//!
//! 1. **Which errors.** A structured error whose status is in the set (default 429, 503, 504;
//!    see [`retry_statuses`](RetryAfterPolicy::retry_statuses)). Anything else (a 400, a connect
//!    failure with no response) is handed back as it is.
//! 2. **Idempotency.** GET, HEAD, OPTIONS, TRACE, PUT and DELETE are retried. POST, PATCH and
//!    other methods that are not idempotent are retried after **429 and 503**, which say the
//!    server did not process the request, but after **504** (or any other status added to the
//!    set) only when the request carries **`MS-RequestId`**, Partner Center's idempotency key:
//!    a gateway that timed out may have left the server working, and only the same
//!    `MS-RequestId` lets the server recognise the retry as the same call.
//! 3. **How many.** At most [`max_retries`](RetryAfterPolicy::max_retries) retries.
//! 4. **How long.** The delay the server asked for, exactly: never a moment earlier, and no
//!    backoff added on top (the server already spreads its clients). A delay longer than
//!    [`max_wait`](RetryAfterPolicy::max_wait) is not waited for: the error comes back at once,
//!    its delay intact, for the caller to schedule the work for later. With no delay, exponential
//!    backoff with full jitter: before retry `n`, a wait drawn uniformly from
//!    `[0, min(base_delay × 2^(n-1), max_wait)]`.
//! 5. **How long in all.** No retry whose wait would end past
//!    [`max_total_time`](RetryAfterPolicy::max_total_time) after the first failure.
//! 6. **Budget.** A retry budget shared by every clone of the policy (tower's
//!    [`TpsBudget`](tower::retry::budget::TpsBudget) by default) must allow it, so that an outage
//!    does not multiply the load on the service.
//!
//! A retry sends the same request again: the same method, URI, version, headers (the same
//! `MS-RequestId` among them) and extensions, the body replayed, and a
//! [`Retry-Attempt: N`](RETRY_ATTEMPT) header (`1` on the first retry). Only bodies that can be
//! replayed are ([`ReplayBody`]): `Full<Bytes>`, `Empty<Bytes>`, `String`, and any body read up
//! front by [`BufferRequestLayer`] that fit its limit. A streamed body is sent once and its
//! error comes back as it is.
//!
//! When the policy stops on an error it would otherwise retry, or after at least one retry, the
//! error becomes [`Error::GaveUp`](crate::Error::GaveUp): the last error, how many attempts were
//! made, how long was waited in total, and why it stopped ([`GiveUpReason`](crate::GiveUpReason)).
//! [`Error::api_error`](crate::Error::api_error) and
//! [`Error::is_retryable`](crate::Error::is_retryable) still answer for the last error.
//!
//! # Defaults
//!
//! | setting | default | |
//! |---|---|---|
//! | [`retry_statuses`](RetryAfterPolicy::retry_statuses) | 429, 503, 504 | as Kiota |
//! | [`max_retries`](RetryAfterPolicy::max_retries) | 3 | as Kiota |
//! | [`base_delay`](RetryAfterPolicy::base_delay) | 3 s, doubled per retry | as Kiota, with full jitter |
//! | [`max_wait`](RetryAfterPolicy::max_wait) | 180 s | as Kiota's cap; a longer server delay gives up at once |
//! | [`max_total_time`](RetryAfterPolicy::max_total_time) | 10 min | from the first failure |
//! | [`budget`](RetryAfterPolicy::budget) | `TpsBudget::default()` | 10 retries/s in reserve + 20% of requests |
//! | [`BufferRequestLayer::max_body_bytes`] | 64 KiB ([`DEFAULT_MAX_BODY_BYTES`]) | |
//!
//! # Compared with what you may know
//!
//! - **tower's `retry`** runs a [`Policy`](tower::retry::Policy) and leaves the decisions to
//!   it; its [`backoff`](tower::retry::backoff) knows nothing of the server. This is a policy
//!   that reads the server's delay from the structured error and only backs off without one.
//! - **reqwest-retry** decides from the attempt count alone: its policy never sees the response,
//!   so it cannot honour `Retry-After`. reqwest 0.13's own retry has no backoff at all.
//! - **Kiota** (Microsoft Graph's clients) has the same statuses, defaults and `Retry-Attempt`
//!   header. This policy adds full jitter, a shared budget, a total time limit, the idempotency
//!   rule for POST and PATCH, and gives up at once on a delay too long to wait for.
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
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // Stands in for an HTTP client: throttles the first request, then answers.
//! let calls = Arc::new(AtomicU32::new(0));
//! let counted = calls.clone();
//! let client = service_fn(move |request: Request<Full<Bytes>>| {
//!     let call = counted.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         let response = if call == 0 {
//!             Response::builder().status(StatusCode::TOO_MANY_REQUESTS).header("Retry-After", "57")
//!         } else {
//!             // The retry says which one it is.
//!             assert_eq!(request.headers()["retry-attempt"], "1");
//!             Response::builder().status(StatusCode::OK)
//!         };
//!         Ok::<_, std::convert::Infallible>(response.body(Full::new(Bytes::new())).unwrap())
//!     }
//! });
//!
//! let service = ServiceBuilder::new()
//!     .retry(RetryAfterPolicy::new())
//!     .layer(PartnerErrorsLayer::new())
//!     .service(client);
//!
//! let started = Instant::now();
//! let request = Request::get("https://api.partnercenter.microsoft.com/v1/customers")
//!     .body(Full::default())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! assert_eq!(started.elapsed(), Duration::from_secs(57)); // (tokio's paused clock)
//! # }
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

//! The throttle gate: one throttled answer holds back every request of its scope until the
//! server's delay ends, so that a process's workers stop spending the partner's quota together.
//!
//! Partner Center throttles per partner tenant and counts every request, early ones included.
//! The retry policy keeps one request from retrying early; the gate keeps the *other* requests
//! from going out while a window is open. It sits inside the retry and outside the error layer,
//! so that every attempt, retries included, passes it:
//!
//! ```text
//! retry(RetryAfterPolicy) -> ThrottleGateLayer -> PartnerErrorsLayer -> client
//! retry(RetryAfterPolicy) -> PartnerErrorsLayer::new().throttle_gate(ThrottleGateLayer) -> client
//! ```
//!
//! The second line fuses the same gate into the error layer
//! ([`PartnerErrorsLayer::throttle_gate`](crate::PartnerErrorsLayer::throttle_gate)): it holds
//! and lets through requests as the first does, and also closes at the *head* of a throttled
//! answer whose headers carry its delay, while the body is still read (stacked, the gate sees
//! an answer only once the error layer has read its body, which a stalled body makes take up
//! to the body timeout). An open fused gate also costs a little less, having no response future
//! of its own. Stack the gate on its own when something must sit between it and the error
//! layer, or for the reqwest-middleware twin.
//!
//! - **Closing.** A 429 (and a 503 with a delay; see [`close_on_503`]) closes its scope until
//!   the server's delay ends. A later, longer delay extends the window; a shorter one never
//!   shortens it. A 429 without a delay closes it for a backoff (1 s, doubling while throttling
//!   repeats, at most 60 s; see [`backoff`]). No window is longer than [`MAX_WINDOW`] (a day):
//!   a larger delay (`Retry-After: 18446744073709551615`) closes the scope for a day, after
//!   which a probe asks the server again. The gate reads the structured error from `Err`
//!   (the crate's [`Error`](crate::Error), an [`ApiError`](crate::ApiError), or either as a
//!   [`BoxError`](crate::BoxError)) or from the response's extensions in pass-through mode.
//! - **Waiting.** A request of a closed scope is not sent. It waits when the window ends within
//!   [`max_wait`] (default 180 s, the retry policy's), and otherwise fails at once with
//!   [`GateClosed`] (the scope, the time it opens): reschedule the job. Dropping a waiting
//!   request is always safe.
//! - **Opening.** When the window ends, one request goes first as the probe; the others follow
//!   when it is not throttled, and wait again when it is. A probe dropped or failed without an
//!   answer hands the role to the next waiter, and so does a probe still unanswered after the
//!   store's lease ([`LocalStore::probe_lease`], default 60 s). [`release_all`] lets everyone
//!   go at once instead. A window that ends with nobody waiting has no one to protect: a
//!   probe lease after it ended, its scope opens without a probe (at the next request of any
//!   scope), and an open gate's requests are back to the one atomic read.
//! - **Scopes.** One scope for every request through every clone of the layer by default
//!   ([`SharedScope`]); [`scope_by`] with a function of the request makes one per tenant, per
//!   host, or per anything. The [`LocalStore`] tracks closed scopes only, at most
//!   [`DEFAULT_MAX_SCOPES`] at once, each with its key: keep keys short.
//! - **Cost.** While every scope is open, a request costs one atomic read (no lock, no
//!   allocation), made when `poll_ready` answers, one clone of the gate's handle (a reference
//!   count, up and down again) and a look for a throttled answer on its way back. A call made
//!   without asking `poll_ready` first (or a second call after one answer) reads the gate
//!   itself. Scopes computed by a [`ScopeKey`] function run it per request. Fused into the error
//!   layer, the look at the answer is the error layer's own, on its error path.
//! - **Observability.** [`ThrottleGateLayer::counts`]: requests held, probes, requests refused
//!   without sending, throttled answers (closings). With the `tracing` feature, an `INFO` event
//!   (target `partner_center_errors::gate`) when a scope closes (scope, status, `until_ms`) and
//!   when it opens after a probe (scope, how many waited).
//!
//! The state lives in a [`GateStore`]: [`LocalStore`] in-process by default. The trait speaks
//! durations, never wall-clock times, closes by extending only, and hands out one probe per
//! scope, so that a store shared by many processes can keep the same semantics.
//!
//! Compared with tower's [`RateLimit`](https://docs.rs/tower/latest/tower/limit/rate/struct.RateLimit.html) and
//! [`ConcurrencyLimit`](https://docs.rs/tower/latest/tower/limit/concurrency/struct.ConcurrencyLimit.html), which pace requests by a budget fixed
//! in advance, the gate only ever holds requests back when the server has said so, and for as
//! long as it said.
//!
//! [`close_on_503`]: ThrottleGateLayer::close_on_503
//! [`backoff`]: ThrottleGateLayer::backoff
//! [`max_wait`]: ThrottleGateLayer::max_wait
//! [`release_all`]: ThrottleGateLayer::release_all
//! [`scope_by`]: ThrottleGateLayer::scope_by
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use partner_center_errors::gate::{GateClosed, ThrottleGateLayer};
//! use partner_center_errors::PartnerErrorsLayer;
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // An upstream that throttles for ten minutes.
//! let client = service_fn(|_request: Request<Full<Bytes>>| async {
//!     let throttled = Response::builder()
//!         .status(StatusCode::TOO_MANY_REQUESTS)
//!         .header("Retry-After", "600")
//!         .body(Full::<Bytes>::default())
//!         .unwrap();
//!     Ok::<_, std::convert::Infallible>(throttled)
//! });
//! let gate = ThrottleGateLayer::new().max_wait(Duration::from_secs(60));
//! let service = ServiceBuilder::new()
//!     .layer(gate.clone())
//!     .layer(PartnerErrorsLayer::new())
//!     .service(client);
//!
//! let request = || Request::get("/v1/customers").body(Full::default()).unwrap();
//! // The first request is sent and throttled: the scope closes for 600 s.
//! let first = service.clone().oneshot(request()).await.unwrap_err();
//! assert_eq!(first.api_error().unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
//! // The next one is not sent: 600 s is more than it may wait.
//! let second = service.oneshot(request()).await.unwrap_err();
//! let closed = GateClosed::find(&second).expect("refused by the gate");
//! assert_eq!(closed.scope(), "shared");
//! assert!(closed.remaining() > Duration::from_secs(599));
//! assert_eq!(gate.counts().rejected, 1);
//! # }
//! ```

mod error;
mod fused;
mod future;
mod handle;
#[cfg(feature = "reqwest")]
pub(crate) use handle::{Gate, ProbeGuard, Role};

/// Returns the counters of `gate`.
#[cfg(feature = "reqwest")]
pub(crate) fn counts_of<St>(gate: &Gate<St>) -> GateCounts {
    layer::counts(&gate.shared().counters)
}
mod layer;
mod service;
mod store;
#[cfg(feature = "redis")]
pub(crate) use store::{ProbeReport, MIN_PROBE_LEASE};

pub use error::{GateClosed, ResponseExtensions};
pub use fused::FusedGate;
pub use future::ResponseFuture;
pub use layer::{
    GateCounts, ScopeKey, SharedScope, ThrottleGateLayer, DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX, SHARED_SCOPE,
};
pub use service::ThrottleGate;
pub use store::{
    Admission, Closed, Closing, GateStore, LocalStore, ProbeOutcome, ProbeTicket,
    DEFAULT_MAX_SCOPES, DEFAULT_PROBE_LEASE, MAX_WINDOW,
};

#[cfg(test)]
mod tests;

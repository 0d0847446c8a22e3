//! Tower middleware that turns Microsoft Partner Center error responses into structured,
//! validated errors: capped, timed, and never touching a success body.
//!
//! Partner Center answers every 4xx/5xx with a JSON body `{code, description, data, source}`,
//! or so its contract says. Real responses send numeric codes, drop fields, prepend a byte-order
//! mark, come back empty, or come from a gateway in another shape entirely.
//! [`PartnerErrorsLayer`] reads such a body under a size cap and a time limit, parses it
//! leniently, names every way it broke the schema, and hands back an [`ApiError`] with the
//! status, kind, code, description, data, source, the ids a support ticket needs, the auth
//! challenge and the server's retry delay.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use partner_center_errors::{Error, PartnerErrorsLayer};
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let client = service_fn(|_request: Request<Full<Bytes>>| async {
//!     let throttled = Response::builder()
//!         .status(StatusCode::TOO_MANY_REQUESTS)
//!         .header("Retry-After", "57")
//!         .body(Full::new(Bytes::from_static(
//!             br#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}"#,
//!         )))
//!         .unwrap();
//!     Ok::<_, std::convert::Infallible>(throttled)
//! });
//! let service = ServiceBuilder::new()
//!     .layer(PartnerErrorsLayer::new())
//!     .service(client);
//!
//! let error = service
//!     .oneshot(Request::get("/v1/customers").body(Full::default()).unwrap())
//!     .await
//!     .unwrap_err();
//! let Error::Api(error) = error else { panic!("{error}") };
//! assert!(error.is_retryable());
//! assert_eq!(error.retry_after(), Some(Duration::from_secs(57)));
//! assert_eq!(error.description(), Some("Rate limit is exceeded. Try again in 57 seconds."));
//! # }
//! ```
//!
//! # Cargo features
//!
//! The core (the layer, the parser, the structured error, the retry policy) needs none of them;
//! each integration is behind its own feature and compiles alone.
//!
//! | feature   | what it adds |
//! |-----------|--------------|
//! | (none)    | the layer, the parser, the structured error, the retry policy, the in-process throttle gate |
//! | `reqwest` | [`reqwest::PartnerErrorsMiddleware`] for reqwest-middleware, [`reqwest::PartnerRetryableStrategy`] for reqwest-retry, [`reqwest::RetryAfterMiddleware`] (retries that wait for the server's delay), and [`PartnerErrors`] as a `tower::Service<reqwest::Request>` around `reqwest::Client` |
//! | `axum`    | `IntoResponse` for [`ApiError`] and [`Error`], [`axum::ErrorResponse`] to opt in to upstream details |
//! | `tracing` | one `WARN` event per error response (status, kind, code, ids, violations and their severity, bytes read; no body text), retries, give-ups, and the gate closing and opening |
//! | `redis`   | [`redis::RedisStore`]: the throttle gate's state shared by a fleet of processes through Redis |
//!
//! # Architecture
//!
//! ```text
//! request --> [retry policy] --> [throttle gate] --> [PartnerErrors] --> [decompression, timeout, ...] --> client
//!                   ^                  ^   |                |
//!                   |   waits while its    |      response head arrives
//!                   |   scope is closed;   |       1xx/2xx/3xx: handed back as is (not polled, not wrapped)
//!                   |   one probe reopens  |       4xx/5xx:     body read under cap + deadline  -> body
//!                   |                      |                    parse + validate (pure)         -> schema
//!                   |                      |                    ids, challenges, delay          -> headers
//!                   |                      |                    structured error                -> error
//!                   |                      |                    Err(..) or response + extension (pass-through)
//!                   |                      +-- a 429's delay closes the scope (in-process, or Redis for a fleet)
//!                   +---- reads the retry delay, waits, replays the request if it can
//! ```
//!
//! | module | holds | depends on |
//! |---|---|---|
//! | [`schema`] | the error body type, [`schema::parse`], violations, payload classes | serde_json |
//! | [`headers`] | response ids, `WWW-Authenticate` challenges, retry delays | http, httpdate |
//! | `body` (private) | one capped, deadline-bound reader for request and response bodies; one "replay what was read, then the rest" body | http-body |
//! | `error` | [`ApiError`], [`ErrorKind`], [`Incomplete`], [`RetryHint`], the crate's [`Error`] and its [`GaveUp`] | schema, headers |
//! | [`middleware`] | [`PartnerErrorsLayer`], [`PartnerErrors`], one [`ResponseFuture`](middleware::ResponseFuture) for every response type and mode, [`PassThroughBody`] | body, error |
//! | [`retry`] | [`RetryAfterPolicy`], request buffering for replay | body, error |
//! | [`gate`] | [`ThrottleGateLayer`], [`ThrottleGate`], scopes, [`GateClosed`], the store trait and the in-process store | error |
//! | `reqwest`, `axum`, `trace`, `redis` | thin adapters, each behind its feature | the core above |
//!
//! Dependencies point down the table only: [`schema`] and [`headers`] are pure functions over
//! bytes and header maps (usable without any service, and fuzzed); the integrations build on
//! the core, and the core names no integration.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod body;
mod error;
pub mod gate;
pub mod headers;
pub mod middleware;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
pub mod retry;
mod sanitize;
pub mod schema;
#[cfg(feature = "tracing")]
mod trace;

pub use error::{
    ApiError, BodyError, Error, ErrorKind, ErrorView, GaveUp, GiveUpReason, Incomplete, RetryHint,
};
pub use gate::{GateClosed, ThrottleGate, ThrottleGateLayer};
pub use middleware::{PartnerErrors, PartnerErrorsLayer, PassThroughBody};
pub use retry::RetryAfterPolicy;

/// The boxed error type tower uses for errors of unknown type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The README's code blocks, compiled and run as doctests (some need the `reqwest` feature).
#[cfg(all(doctest, feature = "reqwest"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

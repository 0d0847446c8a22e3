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
//! # Install
//!
//! ```toml
//! [dependencies]
//! partner-center-errors = { version = "0.1", features = ["reqwest", "tracing"] }
//! ```
//!
//! Each feature is built against these versions of the crates it integrates (use the same
//! major versions in your own `Cargo.toml`, or the types will not match):
//!
//! | feature | built against |
//! |---|---|
//! | `reqwest` | reqwest 0.13, reqwest-middleware 0.5, reqwest-retry 0.9 |
//! | `axum` | axum 0.8 (through axum-core 0.5) |
//! | `tracing` | tracing 0.1 |
//! | `redis` | redis 1 (a Redis 6 server or newer) |
//! | `serde` | serde 1 |
//!
//! The core is built on http 1, http-body 1, hyper 1 and tower 0.5.
//!
//! # Example
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
//! | (none)    | the layer, the parser, the structured error, the retry policy, the in-process throttle gate, [`ServiceBuilderExt`] |
//! | `reqwest` | [`reqwest::PartnerErrorsMiddleware`] for reqwest-middleware, [`reqwest::PartnerRetryableStrategy`] for reqwest-retry, [`reqwest::RetryAfterMiddleware`] (retries that wait for the server's delay), [`reqwest::ThrottleGateMiddleware`] (the throttle gate), and [`PartnerErrors`] as a `tower::Service<reqwest::Request>` around `reqwest::Client` |
//! | `axum`    | `IntoResponse` for [`ApiError`] and [`Error`], [`axum::ErrorResponse`] to opt in to upstream details |
//! | `axum`    | also [`axum::ErrorResponse::local`] for a handler's own failures, and a 503 with `Retry-After` for [`Error::GateClosed`] |
//! | `tracing` | one event per error response (status, kind, code, ids, violations and their severity, bytes read; no body text; `WARN` unless [set by status class](#logging)), retries, give-ups, and the gate closing and opening |
//! | `redis`   | [`redis::RedisStore`]: the throttle gate's state shared by a fleet of processes through Redis |
//! | `serde`   | `Serialize` for [`ApiError`] (status, kind, code, description, ids, violations with their severity, retry delay; sanitised and bounded as `Display` is), for JSON logs and job queues |
//!
//! # Where the layer goes
//!
//! The retry policy goes outside the layer, so that it reads the structured error (and the
//! delay in a gateway body); the throttle gate between them; decompression inside, so that the
//! cap counts decoded bytes (outside, the layer reads the compressed bytes and names them
//! [`Violation::Encoded`](schema::Violation::Encoded)). With hyper-util's client and tower-http (tested in
//! `tests/it/tower_http_stack.rs`):
//!
//! ```text
//! ServiceBuilder::new()
//!     .layer(TraceLayer::new_for_http().on_failure(()))  // one span per call; see Logging
//!     .retry(RetryAfterPolicy::new())                    // or .retry_after(..), ServiceBuilderExt
//!     .layer(ThrottleGateLayer::new())                   // or .throttle_gate(..)
//!     .layer(PartnerErrorsLayer::new())                  // or .partner_errors(..); or both in one:
//!                                                        //   PartnerErrorsLayer::new().throttle_gate(gate)
//!     .timeout(Duration::from_secs(30))                  // tower's: the response head -> Error::Service
//!     .layer(DecompressionLayer::new())                  // inside: the cap counts decoded bytes
//!     .service(client)
//! ```
//!
//! [`ServiceBuilderExt`] names the crate's layers as `ServiceBuilder` methods. What the wrong
//! order does:
//!
//! - the policy inside the layer still retries: it sees raw error responses and reads their
//!   delay from the headers; when it stops, the layer makes the last one an [`Error::Api`]
//!   (not an [`Error::GaveUp`]);
//! - the gate inside the layer sees raw responses, never a structured error, so it **never
//!   closes**. Over hyper-util's or reqwest's client it does not compile (their error types
//!   cannot hold a [`GateClosed`]), but over a service whose error is a [`BoxError`] it compiles
//!   and lets every request through: keep it outside the layer;
//! - the gate outside the retry sees only the retry's final answer: it closes after the policy
//!   gave up, not while the policy waits, and does not hold the retries back;
//! - with reqwest-middleware, [`reqwest::RetryAfterMiddleware`] and
//!   [`reqwest::PartnerErrorsMiddleware`] give the same result in either order.
//!
//! **Timeouts.** Use tower's `timeout` (`ServiceBuilder::timeout`, `tower::timeout`), not
//! tower-http's `TimeoutLayer`, around a client. tower-http's is made for servers: when time
//! runs out it answers a response of its own making (`408 Request Timeout`, or the status set
//! with `with_status_code`), which the error layer would take for the upstream's answer, and it
//! needs a response body type with `Default`, which a hyper client's `Incoming` does not have. tower's `timeout` fails with `Elapsed` instead, which
//! the layer reports as [`Error::Service`]. The error body has the layer's own
//! [`body_timeout`](PartnerErrorsLayer::body_timeout).
//!
//! **Switching the layer off.** `option_layer(enabled.then(PartnerErrorsLayer::new))` does not
//! compile (tower's `Either` needs one error type in both branches); use
//! [`PartnerErrorsLayer::enabled`], which keeps the type.
//!
//! # Settings
//!
//! | setting | default | what it does |
//! |---|---|---|
//! | [`PartnerErrorsLayer::max_body_bytes`] | 64 KiB | most bytes of an error body read; a larger `Content-Length` is refused before any read (the setter names the exceptions) |
//! | [`PartnerErrorsLayer::body_timeout`] / [`no_body_timeout`](PartnerErrorsLayer::no_body_timeout) | 10 s | longest time reading an error body, from when its head arrived |
//! | [`PartnerErrorsLayer::schema`] | [`schema::Schema::PartnerCenter`] | the schema error bodies are read against: Partner Center's, Graph's, problem details, or `Auto` per response |
//! | [`PartnerErrorsLayer::strict`] / [`strict_policy`](PartnerErrorsLayer::strict_policy) | off | a body that breaches the schema becomes [`Error::Schema`]; known deviations of the real service are accepted |
//! | [`PartnerErrorsLayer::pass_through`] | off | every response goes on, an error response with its [`ApiError`] in its extensions (proxies) |
//! | [`PartnerErrorsLayer::enabled`] | on | off: every response goes on untouched, the type stays |
//! | `client_error_level` / `server_error_level` (feature `tracing`) | `WARN` | the level of the error-response event, by status class |
//! | [`RetryAfterPolicy::retry_statuses`] | 429, 503, 504 | what is retried |
//! | [`RetryAfterPolicy::max_retries`] | 3 | retries after the first attempt |
//! | [`RetryAfterPolicy::max_wait`] | 180 s | longest single wait; a longer server delay gives up at once |
//! | [`RetryAfterPolicy::max_total_time`] | 10 min | longest time spent retrying one request |
//! | [`RetryAfterPolicy::base_delay`] | 3 s | first backoff ceiling when the server gave no delay |
//! | [`RetryAfterPolicy::budget`] / [`no_budget`](RetryAfterPolicy::no_budget) | `TpsBudget::default()` | the retry budget every clone of the policy shares |
//! | `retry_level` / `give_up_level` (feature `tracing`) | `INFO` / `WARN` | the levels of the retry and give-up events |
//! | [`retry::BufferRequestLayer::max_body_bytes`] | 64 KiB | most bytes of a request body held for replay |
//! | [`ThrottleGateLayer::max_wait`] | 180 s | longest wait for a closed scope; longer: [`Error::GateClosed`] at once |
//! | [`ThrottleGateLayer::scope_by`] | one shared scope | what a throttled answer holds back: per tenant, per host, ... |
//! | [`ThrottleGateLayer::close_on_503`] | on | a 503 with a delay closes the scope, as a 429 does |
//! | [`ThrottleGateLayer::backoff`] | 1 s, doubling, at most 60 s | the window of a 429 without a delay |
//! | [`ThrottleGateLayer::release_all`] | off | at a window's end, every waiter goes at once instead of one probe first |
//! | [`gate::LocalStore::probe_lease`] | 60 s | how long a probe keeps its role without an answer |
//! | [`gate::LocalStore::with_max_scopes`] | 10,000 | most closed scopes tracked at once; past it, ended windows go first, then the oldest closing |
//! | [`redis::RedisStoreBuilder::key_prefix`] (feature `redis`) | `"pce:gate:"` | processes with the same prefix share their scopes |
//! | [`redis::RedisStoreBuilder::command_timeout`] | 50 ms | longest a request (one about to probe) waits on Redis |
//! | [`redis::RedisStoreBuilder::reconnect_delay`] | 200 ms | pause between connection attempts while Redis is unreachable |
//! | [`redis::RedisStoreBuilder::probe_lease`] / [`max_scopes`](redis::RedisStoreBuilder::max_scopes) | 60 s / 10,000 | as the in-process store's, for the fleet and the process's mirror |
//!
//! # Logging
//!
//! With the `tracing` feature the layer logs one event per error response, at the level its
//! status class is set to. tower-http's `TraceLayer` logs a failed call too (at `ERROR`, with
//! the error's `Display`), so a 4xx would be two lines. For one line per failure at the level
//! you chose, turn `TraceLayer`'s failure event off (or down) and set the crate's levels:
//!
//! ```
//! # #[cfg(feature = "tracing")]
//! # {
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use partner_center_errors::PartnerErrorsLayer;
//! use tower::{service_fn, ServiceBuilder};
//! use tower_http::trace::TraceLayer;
//! use tracing::Level;
//!
//! # let client = service_fn(|_request: Request<Full<Bytes>>| async {
//! #     Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
//! # });
//! let service = ServiceBuilder::new()
//!     // One span per call; no failure event of its own (or `DefaultOnFailure::new().level(..)`).
//!     .layer(TraceLayer::new_for_http().on_failure(()))
//!     .layer(
//!         PartnerErrorsLayer::new()
//!             .client_error_level(Level::INFO) // a 404 is routine here
//!             .server_error_level(Level::ERROR),
//!     )
//!     .service(client);
//! # let _ = service;
//! # }
//! ```
//!
//! The crate's event lands inside `TraceLayer`'s request span (tested in
//! `tests/it/tracing.rs`). The retry policy's events have levels of their own:
//! `RetryAfterPolicy::retry_level` and `give_up_level`, as reqwest-retry's
//! `with_retry_log_level`.
//!
//! The error-response event (target `partner_center_errors`, message
//! `partner center error response`), whichever integration captured the response, has these
//! fields:
//!
//! | field | value |
//! |---|---|
//! | `status` | the status code, as a number |
//! | `kind` | the [`ErrorKind`], e.g. `TooManyRequests` |
//! | `code` | the body's error code (sanitised, at most 64 characters), if any |
//! | `payload` | what the body was: `partner_center`, `gateway`, `graph`, `problem_details`, `json`, `html`, `xml`, `text`, `empty` |
//! | `correlation_id`, `request_id`, `correlation_vector`, `server_id`, `request_context` | the response ids, when present (sanitised) |
//! | `violations` | how many ways the body broke the schema |
//! | `breaches` | how many of them are [breaches](schema::Severity::Breach) |
//! | `severity` | the gravest violation's [severity](schema::Severity): `known_deviation` or `breach`; absent when there are none |
//! | `bytes_read` | how many body bytes were read (at most the cap) |
//! | `incomplete` | why reading stopped early, if it did |
//! | `retry_after_ms` | the server's retry delay, if any |
//!
//! No body text is in it: the description is only in a `DEBUG` event of its own (`TRACE` when
//! the error-response event is set to `TRACE`), sanitised and bounded. The retry policy logs before each retry (`retry`, `wait_ms`, `status`,
//! `delay_source`, ids; `INFO`) and when it gives up (`reason`, `attempts`, `waited_ms`,
//! `status`, `retry_after_ms`, ids; `WARN`). The throttle gate logs at `INFO`, target
//! `partner_center_errors::gate`, when a scope closes (`scope`, `status`, `until_ms`,
//! `new_window`) and when it opens after a probe (`scope`, `waited`).
//!
//! # Compared with what you may know
//!
//! | you may know | with a Partner Center error | here |
//! |---|---|---|
//! | reqwest's `error_for_status` | drops the body | code, description, ids, challenge and delay kept ([`ApiError`]) |
//! | a hand-written `serde` struct | fails on a numeric `code`, a BOM, a gateway envelope, HTML | a lenient parse that names each deviation ([`schema::Violation`]) |
//! | reqwest-retry's `RetryTransientMiddleware` | retries on its own schedule; never sees `Retry-After` | [`reqwest::RetryAfterMiddleware`] waits the server's delay |
//! | tower's `retry` with a backoff | knows nothing of the server's delay | [`RetryAfterPolicy`] never retries before it |
//! | tower-http's `TraceLayer` alone | one `ERROR` line per failed call, 4xx included | levels by status class ([Logging](#logging)) |
//! | tower-http's `TimeoutLayer` | answers a 408 of its own (a server's layer) | tower's `timeout`; the layer's `body_timeout` for the body |
//! | tower-http's `ServiceBuilderExt` | adds tower-http's layers as methods | [`ServiceBuilderExt`] adds this crate's |
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
//! | `clock` (private) | deadlines and wall-clock times from a delay that saturate instead of overflowing; a timer that reports a runtime without one | tokio |
//! | `body` (private) | one capped, deadline-bound reader for request and response bodies; one "replay what was read, then the rest" body | http-body; error's [`BodyError`] |
//! | `error` | [`ApiError`], [`ErrorKind`], [`Incomplete`], [`RetryHint`], the crate's [`Error`] and its [`GaveUp`] | schema, headers, body; gate's [`GateClosed`] |
//! | [`middleware`] | [`PartnerErrorsLayer`], [`PartnerErrors`], one [`ResponseFuture`](middleware::ResponseFuture) for every response type and mode, [`PassThroughBody`] | schema (its settings), body, error |
//! | [`retry`] | [`RetryAfterPolicy`], request buffering for replay | body, error, headers |
//! | [`gate`] | [`ThrottleGateLayer`], [`ThrottleGate`], scopes, [`GateClosed`], the store trait and the in-process store | error, retry (its default `max_wait`) |
//! | `reqwest`, `axum`, `trace`, `redis` | thin adapters, each behind its feature | the core above |
//!
//! [`schema`] and [`headers`] depend on no other module but a private sanitiser: pure functions
//! over bytes and header maps (usable without any service, and fuzzed). The other dependencies
//! point down the table, except two types used upward: `body` fails with `error`'s
//! [`BodyError`], and [`Error::GateClosed`] holds the gate's [`GateClosed`]. The integrations
//! build on the core; the core calls into one only behind its feature: the layer and the retry
//! policy emit `trace`'s events (`tracing`), and [`GateClosed::find`] looks inside a
//! reqwest-middleware error (`reqwest`).

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
mod builder;
mod clock;
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

pub use builder::ServiceBuilderExt;
pub use error::{
    ApiError, BodyError, Error, ErrorKind, ErrorView, GaveUp, GiveUpReason, Incomplete, RetryHint,
};
pub use gate::{GateClosed, ThrottleGate, ThrottleGateLayer};
pub use middleware::{PartnerErrors, PartnerErrorsLayer, PassThroughBody};
pub use retry::RetryAfterPolicy;

/// The boxed error type tower uses for errors of unknown type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The README's code blocks, compiled and run as doctests (some need the `reqwest` and `redis`
/// features).
#[cfg(all(doctest, feature = "reqwest", feature = "redis"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

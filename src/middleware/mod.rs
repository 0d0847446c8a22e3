//! The error layer: [`PartnerErrorsLayer`], its service [`PartnerErrors`], its
//! [`ResponseFuture`] (one state machine for every response type and both modes) and the
//! pass-through body.
//!
//! For every response of the inner service:
//!
//! - **1xx/2xx/3xx** go back as they came: the same `Response<B>`, the body never polled,
//!   wrapped or copied, and no allocation added (pass-through mode wraps the body in
//!   [`PassThroughBody`], an enum variant that forwards each poll, still without allocating).
//! - **4xx/5xx** (and 600-999, which is no HTTP status: RFC 9110 §15 has a client read it as a
//!   5xx) have their body read frame by frame, up to [`max_body_bytes`] (default 64 KiB) and
//!   within [`body_timeout`] (default 10 s). A `Content-Length` above the cap is refused before
//!   anything is read (unless a `Transfer-Encoding` frames the body instead). The bytes read
//!   are parsed and validated ([`crate::schema`]) and become an [`ApiError`](crate::ApiError), together with the status,
//!   headers, ids, challenges and retry delay. When the body is too large, fails or stalls, the
//!   error still carries all of that, the bytes read so far and [`Incomplete`](crate::Incomplete)
//!   saying what went wrong. The buffer grows with the bytes that arrive, never past the cap,
//!   whatever length the head declared.
//!
//! Two ways to surface the error:
//!
//! 1. **As `Err`** (the default): the service's error type is [`Error`](crate::Error):
//!    [`Error::Api`](crate::Error::Api) for an error response (or
//!    [`Error::Schema`](crate::Error::Schema) in [strict mode](PartnerErrorsLayer::strict) when
//!    the body broke the schema), [`Error::Service`](crate::Error::Service) for the inner
//!    service's own failure.
//! 2. **Pass-through** ([`PartnerErrorsLayer::pass_through`]), for proxies: every response goes
//!    on with its body intact, byte for byte even past the cap, and the error rides in the
//!    response's extensions. The service's error type is the inner one.
//!
//! Compared with tower-http's pieces: [`map_response_body`] and [`Limited`] see every response
//! and every body; this layer reads only error bodies, and turns them into a typed error
//! instead of a generic "length limit exceeded". Put it *outside* decompression (so that the cap
//! counts decoded bytes) and timeouts, and *inside* retry, which can then read the error's
//! retry delay.
//!
//! [`max_body_bytes`]: PartnerErrorsLayer::max_body_bytes
//! [`body_timeout`]: PartnerErrorsLayer::body_timeout
//! [`map_response_body`]: https://docs.rs/tower-http/latest/tower_http/map_response_body/index.html
//! [`Limited`]: https://docs.rs/http-body-util/latest/http_body_util/struct.Limited.html
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use partner_center_errors::{Error, ErrorKind, PartnerErrorsLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Stands in for an HTTP client.
//! let client = service_fn(|_request: Request<Full<Bytes>>| async {
//!     let body = r#"{"code":600074,"description":"The customer was not found.","data":[],"source":"PartnerFD"}"#;
//!     let response = Response::builder()
//!         .status(StatusCode::NOT_FOUND)
//!         .header("MS-CorrelationId", "0b7e2a44")
//!         .body(Full::new(Bytes::from(body)))
//!         .unwrap();
//!     Ok::<_, std::convert::Infallible>(response)
//! });
//!
//! let service = ServiceBuilder::new()
//!     .layer(PartnerErrorsLayer::new().max_body_bytes(16 * 1024))
//!     .service(client);
//!
//! let request = Request::get("/v1/customers/x").body(Full::default()).unwrap();
//! match service.oneshot(request).await {
//!     Err(Error::Api(error)) => {
//!         assert_eq!(error.kind(), ErrorKind::NotFound);
//!         assert_eq!(error.code(), Some("600074"));
//!         assert_eq!(error.ids().correlation_id.as_deref(), Some("0b7e2a44"));
//!     }
//!     other => panic!("expected an API error, got {other:?}"),
//! }
//! # }
//! ```

mod body;
pub(crate) mod future;
mod layer;
mod service;

pub use body::PassThroughBody;
pub use future::ResponseFuture;
#[cfg(feature = "reqwest")]
pub(crate) use layer::Config;
pub use layer::{
    NoGate, PartnerErrorsLayer, PassThrough, ReturnError, DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
};
pub use service::PartnerErrors;

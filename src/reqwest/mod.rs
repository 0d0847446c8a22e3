//! reqwest integrations (feature `reqwest`): a `reqwest_middleware::Middleware`, retries that
//! honour the server's delay, the throttle gate, and the layer around `reqwest::Client` as a
//! tower service.
//!
//! - [`PartnerErrorsMiddleware`], made from a [`PartnerErrorsLayer`] so that both share one set
//!   of settings: the same capture, cap, body time limit, strict mode and error type as the
//!   layer, on `reqwest::Response`. An error response becomes
//!   `reqwest_middleware::Error::Middleware` around an [`Error`]; [`partner_error`] and
//!   [`api_error`] find it again (through reqwest-retry's `RetryError` too). In pass-through
//!   mode the response comes back `Ok`, rebuilt with its URL, headers and whole body, and the
//!   [`ApiError`] in `response.extensions()`.
//! - [`PartnerRetryableStrategy`]: a `reqwest_retry::RetryableStrategy` that classifies with
//!   [`ErrorKind`](crate::ErrorKind) (429, 503, 504 transient).
//! - [`RetryAfterMiddleware`]: reqwest-retry never sees the server's `Retry-After`; this retry
//!   middleware runs [`RetryAfterPolicy`](crate::RetryAfterPolicy), the crate's tower retry
//!   policy, so it waits exactly as long as the server asked, with the same rules, defaults and
//!   final error ([`Error::GaveUp`]) as the tower stack.
//! - [`ThrottleGateMiddleware`]: the [throttle gate](crate::gate), made from a
//!   [`ThrottleGateLayer`](crate::ThrottleGateLayer) and sharing its scopes and counters; it
//!   goes between the retry middleware and the error middleware. [`gate_closed`] finds its
//!   refusal.
//! - `reqwest::Client` implements `tower::Service<reqwest::Request>`, and so does
//!   [`PartnerErrors`](crate::PartnerErrors) around it: `ServiceBuilder::new()
//!   .layer(PartnerErrorsLayer::new()).service(client)` takes and returns reqwest's own types
//!   ([`ResponseFuture`](crate::middleware::ResponseFuture)); no conversion on the success
//!   path.
//!   [`RetryAfterPolicy`](crate::RetryAfterPolicy) is also a `tower::retry::Policy` for
//!   `reqwest::Request` (replayed with `try_clone`), so `.retry(RetryAfterPolicy::new())` goes
//!   outside the layer as in any other stack.
//!
//! Where the error is: `PartnerErrorsMiddleware` returns
//! `reqwest_middleware::Error::Middleware(anyhow::Error)` whose error is this crate's [`Error`],
//! so `anyhow`'s own downcast finds it:
//!
//! ```
//! # fn f(error: reqwest_middleware::Error) {
//! if let reqwest_middleware::Error::Middleware(inner) = &error {
//!     if let Some(partner_center_errors::Error::Api(api)) = inner.downcast_ref() {
//!         println!("{} {:?}", api.status(), api.code());
//!     }
//! }
//! # }
//! ```
//!
//! reqwest-retry's `RetryTransientMiddleware` wraps the final error once more (in
//! `RetryError`), which hides it from that one-level downcast; [`partner_error`] and
//! [`api_error`] look through it, and through `anyhow` context.
//!
//! reqwest prints the request URL in its errors, query and all (where a SAS token's `sig=`
//! lives). A `reqwest::Error` this crate wraps ([`Error::Service`], the last error of
//! [`Error::GaveUp`]) keeps scheme, host, port and path, without user-info, query or fragment;
//! a transport failure [`PartnerErrorsMiddleware`] hands on as
//! `reqwest_middleware::Error::Reqwest` is reqwest's own, URL whole (`reqwest::Error::without_url`
//! drops it).
//!
//! Compared with reqwest's `Response::error_for_status`, which drops the body, and with
//! reqwest-retry, which retries 5xx and 408 alike on its own schedule, the error here keeps what
//! Partner Center said and the retry follows the server's delay.
//!
//! # Example
//!
//! ```
//! use partner_center_errors::reqwest::{api_error, PartnerErrorsMiddleware, RetryAfterMiddleware};
//! use partner_center_errors::{ErrorKind, PartnerErrorsLayer, RetryAfterPolicy};
//! # async fn upstream(response: &'static str) -> std::net::SocketAddr {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! #     let addr = listener.local_addr().unwrap();
//! #     tokio::spawn(async move {
//! #         while let Ok((mut stream, _)) = listener.accept().await {
//! #             let mut buffer = [0; 4096];
//! #             let _ = stream.read(&mut buffer).await;
//! #             let _ = stream.write_all(response.as_bytes()).await;
//! #         }
//! #     });
//! #     addr
//! # }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // An upstream that answers every request with a 404 in Partner Center's shape.
//! let addr = upstream(concat!(
//!     "HTTP/1.1 404 Not Found\r\nconnection: close\r\nms-correlationid: c-1\r\n",
//!     "content-type: application/json\r\ncontent-length: 79\r\n\r\n",
//!     r#"{"code":600074,"description":"No customer has this id.","data":[],"source":"x"}"#,
//! ))
//! .await;
//!
//! let layer = PartnerErrorsLayer::new().max_body_bytes(16 * 1024);
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(RetryAfterMiddleware::new(RetryAfterPolicy::new().max_retries(3)))
//!     .with(PartnerErrorsMiddleware::new(layer))
//!     .build();
//!
//! let error = client
//!     .get(format!("http://{addr}/v1/customers/x"))
//!     .send()
//!     .await
//!     .unwrap_err();
//! // The structured error, behind `reqwest_middleware::Error::Middleware`.
//! let error = api_error(&error).expect("a Partner Center error");
//! assert_eq!(error.kind(), ErrorKind::NotFound); // not retried: 404 is not transient
//! assert_eq!(error.code(), Some("600074"));
//! assert_eq!(error.description(), Some("No customer has this id."));
//! assert_eq!(error.ids().correlation_id.as_deref(), Some("c-1"));
//! # }
//! ```
//!
//! The layer around `reqwest::Client` as a tower service, with the retry policy outside it:
//!
//! ```
//! use partner_center_errors::{Error, ErrorKind, PartnerErrorsLayer, RetryAfterPolicy};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//! # async fn upstream(response: &'static str) -> std::net::SocketAddr {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! #     let addr = listener.local_addr().unwrap();
//! #     tokio::spawn(async move {
//! #         while let Ok((mut stream, _)) = listener.accept().await {
//! #             let mut buffer = [0; 4096];
//! #             let _ = stream.read(&mut buffer).await;
//! #             let _ = stream.write_all(response.as_bytes()).await;
//! #         }
//! #     });
//! #     addr
//! # }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let addr = upstream(concat!(
//!     "HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\nretry-after: 57\r\n",
//!     "content-length: 0\r\n\r\n",
//! ))
//! .await;
//!
//! let client = reqwest::Client::new();
//! let service = ServiceBuilder::new()
//!     // Waits at most 30 s: a longer delay from the server gives up at once.
//!     .retry(RetryAfterPolicy::new().max_wait(Duration::from_secs(30)))
//!     .layer(PartnerErrorsLayer::new())
//!     .service(client.clone());
//!
//! let request = client.get(format!("http://{addr}/v1/invoices")).build().unwrap();
//! match service.oneshot(request).await {
//!     Err(Error::GaveUp(gave_up)) => {
//!         assert_eq!(gave_up.attempts(), 1);
//!         let error = gave_up.api_error().unwrap();
//!         assert_eq!(error.kind(), ErrorKind::TooManyRequests);
//!         assert_eq!(error.retry_after(), Some(Duration::from_secs(57)));
//!     }
//!     other => panic!("expected the policy to give up, got {other:?}"),
//! }
//! # }
//! ```

mod gate;
mod middleware;
mod policy;
mod response;
mod retry;
mod service;

pub use gate::{gate_closed, ThrottleGateMiddleware};
pub use middleware::PartnerErrorsMiddleware;
pub use retry::{PartnerRetryableStrategy, RetryAfterMiddleware};

use reqwest_retry::RetryError;

#[cfg(doc)]
use crate::PartnerErrorsLayer;
use crate::{ApiError, BoxError, Error};

/// reqwest-middleware's error type (`reqwest_middleware::Error`), named here so that no
/// signature of this module shows two types called `Error`.
pub type MiddlewareError = reqwest_middleware::Error;

/// Returns this crate's [`Error`] that [`PartnerErrorsMiddleware`], [`RetryAfterMiddleware`] or
/// [`ThrottleGateMiddleware`] returned, found inside reqwest-middleware's error: directly in its `Middleware` variant,
/// under `anyhow` context, or inside reqwest-retry's `RetryError`. `None` for any other error
/// (a connect failure is `reqwest_middleware::Error::Reqwest`).
///
/// ```
/// use partner_center_errors::reqwest::{partner_error, MiddlewareError};
/// use partner_center_errors::Error;
///
/// let refused = MiddlewareError::middleware(Error::Service("connection refused".into()));
/// assert!(matches!(partner_error(&refused), Some(Error::Service(_))));
/// ```
pub fn partner_error(error: &MiddlewareError) -> Option<&Error> {
    let reqwest_middleware::Error::Middleware(error) = error else {
        return None;
    };
    error.chain().find_map(|cause| {
        if let Some(found) = cause.downcast_ref::<Error>() {
            return Some(found);
        }
        if let Some(nested) = cause.downcast_ref::<reqwest_middleware::Error>() {
            return partner_error(nested);
        }
        match cause.downcast_ref::<RetryError>()? {
            RetryError::WithRetries { err, .. } | RetryError::Error(err) => partner_error(err),
        }
    })
}

/// Returns the [`ApiError`] inside reqwest-middleware's error: the one of the [`Error::Api`] or
/// [`Error::Schema`] that [`partner_error`] finds, or the last attempt's of an
/// [`Error::GaveUp`] (see [`Error::api_error`]).
pub fn api_error(error: &MiddlewareError) -> Option<&ApiError> {
    partner_error(error).and_then(Error::api_error)
}

/// Leaves out of a reqwest error's URL what may be a credential: the user-info, the query
/// (where a SAS token's `sig=` lives) and the fragment; scheme, host, port and path stay.
/// reqwest prints the URL in its errors' `Display` and `Debug`; hyper-util's errors carry none.
#[cold]
fn redact_url(error: &mut reqwest::Error) {
    if let Some(url) = error.url_mut() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
    }
}

/// [`redact_url`] for a service error this crate boxes into [`Error::Service`], when it is
/// reqwest's (see `crate::error::service_error`).
#[cold]
#[inline(never)]
pub(crate) fn redacted(mut error: BoxError) -> BoxError {
    if let Some(reqwest_error) = error.downcast_mut::<reqwest::Error>() {
        redact_url(reqwest_error);
    }
    error
}

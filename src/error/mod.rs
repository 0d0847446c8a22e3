//! The structured error: what an error response said, and the crate's error enum.
//!
//! [`ApiError`] is built once per 4xx/5xx response from what the layer captured: the status,
//! the headers, the bytes read (at most the cap) and, when reading stopped early, why
//! ([`Incomplete`]). It parses the body ([`crate::schema`]), reads the ids, challenges and retry
//! delay from the headers ([`crate::headers`]) and never touches the network again. It is
//! cheap to clone (one reference count) and `Send + Sync + 'static`.
//!
//! [`Error`] is what the layer's service returns in its default mode: the structured error,
//! the same in strict mode when the body broke the schema, or the inner service's own error.
//! Both types show an example on their own page.

mod api_error;
mod gave_up;
mod incomplete;
mod kind;
mod retry_hint;
#[cfg(feature = "serde")]
mod serialize;
#[cfg(test)]
mod tests;

pub use api_error::{ApiError, ErrorView};
pub(crate) use gave_up::Moved;
pub use gave_up::{GaveUp, GiveUpReason};
pub use incomplete::{BodyError, Incomplete};
pub use kind::ErrorKind;
pub(crate) use retry_hint::resolve_delay;
pub use retry_hint::{retry_hint, RetryHint};

use std::error::Error as StdError;
use std::fmt;

use crate::{BoxError, GateClosed};

/// The error of the layer's service in its default mode.
///
/// Match on the variant to act, or ask the questions every variant answers
/// ([`api_error`](Self::api_error), [`is_retryable`](Self::is_retryable),
/// [`gate_closed`](Self::gate_closed)). Each level of its `source()` chain is printed once by
/// chain printers (see the `Display` impl).
///
/// # Example
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
/// let client = service_fn(|request: Request<Full<Bytes>>| async move {
///     if request.uri().path() == "/down" {
///         return Err("connection refused".into());
///     }
///     let body = r#"{"code":600074,"description":"No customer has this id."}"#;
///     let missing = Response::builder().status(StatusCode::NOT_FOUND).body(Full::new(Bytes::from(body)));
///     Ok::<_, partner_center_errors::BoxError>(missing.unwrap())
/// });
/// let service = ServiceBuilder::new().layer(PartnerErrorsLayer::new()).service(client);
/// let call = |path: &'static str| {
///     let request = Request::get(path).body(Full::default()).unwrap();
///     service.clone().oneshot(request)
/// };
///
/// match call("/v1/customers/x").await.unwrap_err() {
///     Error::Api(error) => assert_eq!(error.code(), Some("600074")),
///     other => panic!("{other}"),
/// }
/// let down = call("/down").await.unwrap_err();
/// assert!(matches!(down, Error::Service(_)));
/// // Printed as anyhow's `{:#}` would print the chain: each cause once.
/// let source = std::error::Error::source(&down).unwrap();
/// assert_eq!(format!("{down}: {source}"), "inner service failed: connection refused");
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The upstream answered 4xx/5xx: here is what it said.
    Api(ApiError),
    /// Strict mode only: the upstream answered 4xx/5xx with a body that broke the schema.
    /// Everything that was read is still here; [`ApiError::violations`] says what was wrong.
    Schema(ApiError),
    /// The inner service failed (connect error, timeout, ...); no response arrived. A
    /// `reqwest::Error` here has no user-info, query or fragment left in its URL: reqwest
    /// prints its URL, and a query may hold a token (a SAS `sig=`).
    Service(BoxError),
    /// The retry policy ([`RetryAfterPolicy`](crate::RetryAfterPolicy)) stopped: the last
    /// error, how many attempts were made, how long the policy waited between them, and why
    /// it stopped.
    /// [`Error::api_error`] and [`Error::is_retryable`] answer for the last error.
    GaveUp(GaveUp),
    /// The throttle gate ([`ThrottleGateLayer`](crate::ThrottleGateLayer)) refused the request
    /// without sending it: its scope is closed for longer than the gate waits. Reschedule the
    /// work for [`GateClosed::opens_at`](crate::GateClosed::opens_at).
    GateClosed(GateClosed),
}

impl Error {
    /// Returns the structured error: the one of [`Error::Api`] and [`Error::Schema`], and the
    /// last attempt's of [`Error::GaveUp`] when that attempt got an error response. `None` for
    /// [`Error::Service`] and [`Error::GateClosed`] (no response arrived).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{HeaderMap, StatusCode};
    /// use partner_center_errors::{ApiError, Error};
    ///
    /// let throttled = ApiError::new(StatusCode::TOO_MANY_REQUESTS, HeaderMap::new(), Bytes::new());
    /// let error = Error::from(throttled);
    /// assert_eq!(error.api_error().map(ApiError::status), Some(StatusCode::TOO_MANY_REQUESTS));
    /// assert!(error.is_retryable());
    ///
    /// let refused = Error::Service("connection refused".into());
    /// assert!(refused.api_error().is_none());
    /// ```
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api(error) | Self::Schema(error) => Some(error),
            Self::Service(_) | Self::GateClosed(_) => None,
            Self::GaveUp(gave_up) => gave_up.api_error(),
        }
    }

    /// Returns the structured error, owned: as [`api_error`](Self::api_error) finds it.
    pub fn into_api_error(self) -> Option<ApiError> {
        match self {
            Self::Api(error) | Self::Schema(error) => Some(error),
            Self::Service(_) | Self::GateClosed(_) => None,
            Self::GaveUp(gave_up) => gave_up.into_api_error(),
        }
    }

    /// Returns the gate's refusal, for [`Error::GateClosed`] (and for an [`Error::Service`]
    /// around a [`GateClosed`], as a service with a boxed error type reports it), and the last
    /// attempt's of [`Error::GaveUp`] when the gate refused that attempt (a retry whose scope
    /// another answer closed past the gate's wait limit), as [`api_error`](Self::api_error)
    /// finds a last error response there.
    pub fn gate_closed(&self) -> Option<&GateClosed> {
        match self {
            Self::GateClosed(closed) => Some(closed),
            Self::Service(error) => error.downcast_ref(),
            Self::GaveUp(gave_up) => gave_up.last_error().gate_closed(),
            Self::Api(_) | Self::Schema(_) => None,
        }
    }

    /// Returns whether the upstream said "come back later" (429, 503, 504). For [`Error::GaveUp`]:
    /// whether the last error said so (the caller may schedule the work for later). `false` for
    /// [`Error::GateClosed`]: nothing was sent; reschedule for [`GateClosed::opens_at`].
    pub fn is_retryable(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_retryable)
    }
}

/// Each level of the chain shows its cause in `Display` or returns it from `source()`, never
/// both, so that chain printers (anyhow's `{:#}`, eyre) print each cause once:
///
/// - [`Error::Api`], [`Error::GateClosed`]: the error itself; the source is the
///   [`ApiError`]'s (a failed body's error), if any.
/// - [`Error::Schema`]: "error body broke the Partner Center schema (N violations): " (or the
///   Graph or problem details schema: the one the body was read against) and the [`ApiError`];
///   the source is the [`ApiError`]'s.
/// - [`Error::Service`]: "inner service failed"; the source is the inner service's error.
/// - [`Error::GaveUp`]: as [`GaveUp`] shows it: the attempts, the wait, the reason and the last
///   error; the source is the last error's source.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(error) => fmt::Display::fmt(error, f),
            Self::Schema(error) => write!(
                f,
                "error body broke the {} schema ({} violation{}): {error}",
                error.schema(),
                error.violations().len(),
                if error.violations().len() == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            Self::Service(_) => f.write_str("inner service failed"),
            Self::GaveUp(gave_up) => fmt::Display::fmt(gave_up, f),
            Self::GateClosed(closed) => fmt::Display::fmt(closed, f),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Api(error) | Self::Schema(error) => error.source(),
            Self::Service(error) => Some(&**error),
            Self::GaveUp(gave_up) => gave_up.source(),
            Self::GateClosed(_) => None,
        }
    }
}

/// A service error as this crate boxes it into [`Error::Service`]: with feature `reqwest`, a
/// reqwest error's URL without its user-info, query and fragment (reqwest prints its URL).
#[inline]
pub(crate) fn service_error(error: BoxError) -> BoxError {
    #[cfg(feature = "reqwest")]
    let error = crate::reqwest::redacted(error);
    error
}

/// Whether a response with `status` is an error response: 4xx, 5xx, and 600-999, which is no
/// HTTP status (RFC 9110 §15 has a client treat it as a 5xx) but which `http` and hyper hand
/// on. The one test the layer, the integrations and the retry strategies share.
#[inline]
pub(crate) fn is_error_status(status: http::StatusCode) -> bool {
    status.as_u16() >= 400
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

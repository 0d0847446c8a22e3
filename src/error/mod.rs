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
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{HeaderMap, StatusCode};
//! use partner_center_errors::{ApiError, ErrorKind};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("ms-correlationid", "7c0e3b1a".parse().unwrap());
//! let body = Bytes::from_static(br#"{"code":2000,"description":"Customer id is malformed.","data":[],"source":"PartnerFD"}"#);
//! let error = ApiError::new(StatusCode::BAD_REQUEST, headers, body);
//!
//! assert_eq!(error.kind(), ErrorKind::BadRequest);
//! assert_eq!(error.code(), Some("2000"));
//! assert_eq!(error.description(), Some("Customer id is malformed."));
//! assert_eq!(error.ids().correlation_id.as_deref(), Some("7c0e3b1a"));
//! // A numeric code is a deviation from the documented schema, not a failure.
//! assert_eq!(error.violations().len(), 1);
//! assert_eq!(
//!     error.to_string(),
//!     "HTTP 400 Bad Request, code 2000: Customer id is malformed. [correlation id 7c0e3b1a]"
//! );
//! ```

mod api_error;
mod gave_up;
mod incomplete;
mod kind;
mod retry_hint;
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

use crate::BoxError;

/// The error of the layer's service in its default mode.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The upstream answered 4xx/5xx: here is what it said.
    Api(ApiError),
    /// Strict mode only: the upstream answered 4xx/5xx with a body that broke the schema.
    /// Everything that was read is still here; [`ApiError::violations`] says what was wrong.
    Schema(ApiError),
    /// The inner service failed (connect error, timeout, ...); no response arrived.
    Service(BoxError),
    /// The retry policy ([`RetryAfterPolicy`](crate::RetryAfterPolicy)) stopped: the last
    /// error, how many attempts were made, how long was waited in total, and why it stopped.
    /// [`Error::api_error`] and [`Error::is_retryable`] answer for the last error.
    GaveUp(GaveUp),
}

impl Error {
    /// The structured error, for [`Error::Api`] and [`Error::Schema`], and for
    /// [`Error::GaveUp`] when its last error had one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api(error) | Self::Schema(error) => Some(error),
            Self::Service(_) => None,
            Self::GaveUp(gave_up) => gave_up.api_error(),
        }
    }

    /// The structured error, for [`Error::Api`] and [`Error::Schema`], and for
    /// [`Error::GaveUp`] when its last error had one.
    pub fn into_api_error(self) -> Option<ApiError> {
        match self {
            Self::Api(error) | Self::Schema(error) => Some(error),
            Self::Service(_) => None,
            Self::GaveUp(gave_up) => gave_up.into_api_error(),
        }
    }

    /// Whether the upstream said "come back later" (429, 503, 504). For [`Error::GaveUp`]: whether
    /// the last error said so (the caller may schedule the work for later).
    pub fn is_retryable(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_retryable)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(error) => fmt::Display::fmt(error, f),
            Self::Schema(error) => write!(
                f,
                "error body broke the Partner Center schema ({} violation{}): {error}",
                error.violations().len(),
                if error.violations().len() == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            Self::Service(error) => write!(f, "inner service failed: {error}"),
            Self::GaveUp(gave_up) => fmt::Display::fmt(gave_up, f),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Api(error) => error.source(),
            Self::Schema(error) => Some(error),
            Self::Service(error) => Some(&**error),
            Self::GaveUp(gave_up) => gave_up.source(),
        }
    }
}

/// Whether a response with `status` is an error response (4xx or 5xx): the one test the layer,
/// the integrations and the retry strategies share.
#[inline]
pub(crate) fn is_error_status(status: http::StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

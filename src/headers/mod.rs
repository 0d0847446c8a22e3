//! Pure readers of response headers: support-ticket ids, `WWW-Authenticate` challenges and the
//! server's retry delay.
//!
//! Nothing here needs a service, a body or a clock of its own: every function takes a
//! [`HeaderMap`] (or one header value, or a body's text) and, where time matters, the current
//! time as an argument, so the results are deterministic and easy to test or fuzz. No function
//! panics on any input, and each does work and returns output proportional to its input.
//!
//! - [`ResponseIds`] collects the ids a Microsoft support ticket asks for: `MS-CorrelationId`,
//!   `MS-RequestId`, `MS-CV`, `MS-ServerId` and `Request-Context`. Partner Center sometimes
//!   repeats a value with a comma (`X,X`) or in several header lines: values are split on `,`,
//!   trimmed, empty parts dropped, duplicates removed (first-seen order kept) and the distinct
//!   values joined with `", "`. Bytes that are not UTF-8 are decoded lossily, and each stored id is
//!   capped at 256 bytes (cut at a character boundary).
//! - [`Challenge`] reads `WWW-Authenticate` challenges (RFC 9110 §11.6.1) leniently. Unlike a
//!   strict RFC parser, it accepts the unquoted, colon-laden realm of Partner Center's 401
//!   (`OAuth realm=urn:cpsvc:cpid:...`): an unquoted value is any run of characters up to `,`
//!   (or up to whitespace before a `name=` sent without a comma), so the contract's own
//!   `urn:cpsvc:cpid:{some cid}` is one realm. Quoted strings are unescaped, an unterminated
//!   quote runs to the end, and text it cannot make sense of is skipped rather than rejected.
//! - [`retry_after`] reads the delay the server asked for from `retry-after-ms`, then
//!   `x-ms-retry-after-ms` (milliseconds, as Azure services send them), then `Retry-After`
//!   (delay-seconds or an HTTP-date in any of RFC 9110's three formats). The first header that
//!   is present *and* valid wins; an invalid one falls through to the next. A date in the past
//!   means [`Duration::ZERO`]. A comma-separated list of numbers (repeated header lines folded
//!   into one by an intermediary) gives the largest, never an earlier time than the server
//!   asked for. Large values are returned as sent: clamping them is the retry policy's job, not
//!   the parser's. [`DelaySource`] names where a delay came from (see
//!   [`RetryHint`](crate::RetryHint)).
//! - [`retry_after_from_text`] reads the `Try again in N seconds` sentence of the API gateway's
//!   throttling body (`{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57
//!   seconds." }`), for when the header is missing.
//!
//! tower's and tower-http's own retry pieces never look at these headers; this module is what
//! lets the retry policy honour the server's delay instead of guessing.
//!
//! [`HeaderMap`]: http::HeaderMap
//! [`Duration::ZERO`]: std::time::Duration::ZERO
//!
//! # Example
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use partner_center_errors::headers::{retry_after, retry_after_from_text, Challenge, ResponseIds};
//! use std::time::{Duration, SystemTime};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("ms-correlationid", HeaderValue::from_static("7f3a9c1e,7f3a9c1e"));
//! headers.insert("ms-cv", HeaderValue::from_static("sLRFZMWm+EKuL47u.0"));
//! headers.insert("retry-after", HeaderValue::from_static("57"));
//! headers.insert(
//!     "www-authenticate",
//!     HeaderValue::from_static("OAuth realm=urn:cpsvc:cpid:8b6f1a2e-0000-4c1d-9e2f-000000000000"),
//! );
//!
//! let ids = ResponseIds::from_headers(&headers);
//! assert_eq!(ids.correlation_id.as_deref(), Some("7f3a9c1e"));
//! assert_eq!(ids.correlation_vector.as_deref(), Some("sLRFZMWm+EKuL47u.0"));
//! assert_eq!(ids.request_id, None);
//!
//! let challenges = Challenge::from_headers(&headers);
//! assert_eq!(challenges.len(), 1);
//! assert!(challenges[0].is_scheme("oauth"));
//! assert_eq!(
//!     challenges[0].realm(),
//!     Some("urn:cpsvc:cpid:8b6f1a2e-0000-4c1d-9e2f-000000000000")
//! );
//!
//! assert_eq!(retry_after(&headers, SystemTime::now()), Some(Duration::from_secs(57)));
//! assert_eq!(
//!     retry_after_from_text("Rate limit is exceeded. Try again in 57 seconds."),
//!     Some(Duration::from_secs(57))
//! );
//! ```

use http::header::HeaderName;

mod challenge;
mod ids;
mod retry_after;
#[cfg(test)]
mod tests;

pub use challenge::Challenge;
pub use ids::ResponseIds;
pub(crate) use retry_after::retry_after_with_source;
pub use retry_after::{
    parse_retry_after, parse_retry_after_ms, retry_after, retry_after_from_text, DelaySource,
};

/// `MS-CorrelationId`: the id of one logical call, chosen by the client and echoed back.
pub const MS_CORRELATION_ID: HeaderName = HeaderName::from_static("ms-correlationid");
/// `MS-RequestId`: the id of one request (reused on retries for idempotency), echoed back.
pub const MS_REQUEST_ID: HeaderName = HeaderName::from_static("ms-requestid");
/// `MS-CV`: the correlation vector, e.g. `sLRFZMWm+EKuL47u.0`.
pub const MS_CV: HeaderName = HeaderName::from_static("ms-cv");
/// `MS-ServerId`: the server that answered.
pub const MS_SERVER_ID: HeaderName = HeaderName::from_static("ms-serverid");
/// `Request-Context`: Application Insights' request context.
pub const REQUEST_CONTEXT: HeaderName = HeaderName::from_static("request-context");
/// `retry-after-ms`: the delay, in milliseconds, that Azure services ask for.
pub const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
/// `x-ms-retry-after-ms`: the older spelling of [`RETRY_AFTER_MS`].
pub const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");

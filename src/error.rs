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

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::headers::{self, Challenge, DelaySource, ResponseIds};
use crate::retry::GaveUp;
use crate::sanitize::Sanitized;
use crate::schema::{self, ParsedBody, Payload, Violation};
use crate::BoxError;

/// What kind of failure a status stands for: one variant for each status the Partner Center
/// contract and its current docs list, and [`ErrorKind::Other`] for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the request was malformed or failed validation.
    BadRequest,
    /// 401: no or bad credentials; see [`ApiError::challenges`].
    Unauthorized,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: the resource does not exist.
    NotFound,
    /// 405: the method is not allowed on this resource.
    MethodNotAllowed,
    /// 406: the requested media type cannot be produced.
    NotAcceptable,
    /// 408: the server timed out waiting for the request.
    RequestTimeout,
    /// 409: the resource is in a conflicting state (it may already exist).
    Conflict,
    /// 412: a precondition (such as `If-Match`) failed.
    PreconditionFailed,
    /// 429: throttled; come back after [`ApiError::retry_after`].
    TooManyRequests,
    /// 500: the server failed.
    InternalServerError,
    /// 501: the operation is not implemented.
    NotImplemented,
    /// 502: a gateway got a bad answer from upstream.
    BadGateway,
    /// 503: the service is unavailable for now; come back later.
    ServiceUnavailable,
    /// 504: a gateway timed out waiting for upstream; come back later.
    GatewayTimeout,
    /// Any other status.
    Other,
}

impl ErrorKind {
    /// The kind a status stands for.
    pub const fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            406 => Self::NotAcceptable,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            412 => Self::PreconditionFailed,
            429 => Self::TooManyRequests,
            500 => Self::InternalServerError,
            501 => Self::NotImplemented,
            502 => Self::BadGateway,
            503 => Self::ServiceUnavailable,
            504 => Self::GatewayTimeout,
            _ => Self::Other,
        }
    }

    /// Whether the status means "come back later": 429, 503 and 504.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::TooManyRequests | Self::ServiceUnavailable | Self::GatewayTimeout
        )
    }
}

/// Why the layer stopped reading an error body before its end.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Incomplete {
    /// The body is larger than the cap. With a `Content-Length` above the cap nothing was read;
    /// otherwise the first `limit` bytes were.
    TooLarge {
        /// The cap in force (`max_body_bytes`).
        limit: usize,
        /// The length the response declared, when it declared one above the cap.
        content_length: Option<u64>,
    },
    /// The body did not end within the time limit (`body_timeout`).
    TimedOut {
        /// The time limit in force.
        after: Duration,
    },
    /// The body stream failed (a reset connection, a length that lied, ...).
    Failed(BodyError),
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge {
                limit,
                content_length: Some(length),
            } => write!(
                f,
                "body of {length} bytes is over the {limit}-byte cap and was not read"
            ),
            Self::TooLarge { limit, .. } => {
                write!(
                    f,
                    "body is over the {limit}-byte cap; the first {limit} bytes were read"
                )
            }
            Self::TimedOut { after } => write!(f, "body did not end within {after:?}"),
            Self::Failed(error) => write!(f, "body failed: {error}"),
        }
    }
}

/// The error an error body's stream failed with, shared so that the structured error stays
/// cheap to clone.
#[derive(Clone)]
pub struct BodyError(Arc<dyn StdError + Send + Sync>);

impl BodyError {
    pub(crate) fn new(error: impl Into<BoxError>) -> Self {
        Self(Arc::from(error.into()))
    }

    /// The underlying error, to downcast (for example to `hyper::Error`).
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Sanitized::new(&self.0.to_string()))
    }
}

impl StdError for BodyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
    }
}

/// A Partner Center error response, structured: the status and its kind, the parsed body and
/// every way it broke the schema, the ids to quote in a support ticket, the auth challenges, the
/// retry delay, and the raw bytes that were read.
///
/// Cheap to clone: the data sits behind one `Arc`.
#[derive(Clone)]
pub struct ApiError {
    inner: Arc<Inner>,
}

struct Inner {
    status: StatusCode,
    kind: ErrorKind,
    headers: HeaderMap,
    raw_body: Bytes,
    parsed: ParsedBody,
    ids: ResponseIds,
    challenges: Vec<Challenge>,
    retry_after: Option<(Duration, DelaySource)>,
    incomplete: Option<Incomplete>,
}

impl ApiError {
    /// Structures an error response whose body the caller has already read whole.
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self::from_capture(status, headers, body, None)
    }

    /// Structures an error response from what was captured of it.
    pub(crate) fn from_capture(
        status: StatusCode,
        headers: HeaderMap,
        raw_body: Bytes,
        incomplete: Option<Incomplete>,
    ) -> Self {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        let parsed = schema::parse(&raw_body, content_type);
        let kind = ErrorKind::from_status(status);
        let from_body = || match &parsed.payload {
            Payload::Gateway(gateway) => gateway
                .message
                .as_deref()
                .and_then(headers::retry_after_from_text)
                .map(|delay| (delay, DelaySource::BodyText)),
            _ => None,
        };
        let retry_after =
            headers::retry_after_with_source(&headers, SystemTime::now()).or_else(from_body);
        Self {
            inner: Arc::new(Inner {
                status,
                kind,
                ids: ResponseIds::from_headers(&headers),
                challenges: Challenge::from_headers(&headers),
                headers,
                raw_body,
                parsed,
                retry_after,
                incomplete,
            }),
        }
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// The kind of failure the status stands for.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The error code: the body's `code` (a number normalised to its decimal text), or the code
    /// of a Graph-style envelope.
    pub fn code(&self) -> Option<&str> {
        self.inner.parsed.code()
    }

    /// The description: the body's `description`, or the message of a foreign envelope.
    pub fn description(&self) -> Option<&str> {
        self.inner.parsed.description()
    }

    /// The body's `data`, as sent (usually an array).
    pub fn data(&self) -> Option<&Value> {
        match &self.inner.parsed.payload {
            Payload::PartnerCenter(body) => body.data.as_ref(),
            _ => None,
        }
    }

    /// The body's `source` field, such as `"PartnerFD"`: the service that failed. (Named so as
    /// not to shadow [`std::error::Error::source`].)
    pub fn body_source(&self) -> Option<&str> {
        match &self.inner.parsed.payload {
            Payload::PartnerCenter(body) => body.source.as_deref(),
            _ => None,
        }
    }

    /// What the body was, parsed: the Partner Center schema, a foreign envelope, HTML, text, ...
    pub fn payload(&self) -> &Payload {
        &self.inner.parsed.payload
    }

    /// Every way the body broke the Partner Center schema; empty when it kept it.
    pub fn violations(&self) -> &[Violation] {
        &self.inner.parsed.violations
    }

    /// The bytes of the body that were read, at most the cap.
    pub fn raw_body(&self) -> &Bytes {
        &self.inner.raw_body
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// The ids to quote in a support ticket (`MS-CorrelationId`, `MS-RequestId`, ...).
    pub fn ids(&self) -> &ResponseIds {
        &self.inner.ids
    }

    /// The `WWW-Authenticate` challenges, in the order sent.
    pub fn challenges(&self) -> &[Challenge] {
        &self.inner.challenges
    }

    /// Whether the status means "come back later" (429, 503, 504).
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }

    /// The delay the server asked for before a retry: from `retry-after-ms`,
    /// `x-ms-retry-after-ms` or `Retry-After` (seconds or HTTP-date), else from a gateway
    /// body's "Try again in N seconds". Read when the error was built.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after.map(|(delay, _)| delay)
    }

    /// [`retry_after`](Self::retry_after) and where it came from; [`ApiError::retry_hint`]
    /// (in [`crate::retry`]) makes it public.
    pub(crate) fn retry_after_with_source(&self) -> Option<(Duration, DelaySource)> {
        self.inner.retry_after
    }

    /// Why reading the body stopped before its end, if it did.
    pub fn incomplete(&self) -> Option<&Incomplete> {
        self.inner.incomplete.as_ref()
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("ApiError")
            .field("status", &inner.status)
            .field("kind", &inner.kind)
            .field("payload", &inner.parsed.payload)
            .field("violations", &inner.parsed.violations)
            .field("ids", &inner.ids)
            .field("challenges", &inner.challenges)
            .field("retry_after", &self.retry_after())
            .field("incomplete", &inner.incomplete)
            .field("raw_body_len", &inner.raw_body.len())
            .finish_non_exhaustive()
    }
}

/// One line a person can act on: status, code, description, retry delay, ids. Network text is
/// sanitised and bounded; no body bytes beyond the description are printed.
impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        write!(f, "HTTP {}", inner.status.as_u16())?;
        if let Some(reason) = inner.status.canonical_reason() {
            write!(f, " {reason}")?;
        }
        if let Some(code) = self.code() {
            write!(f, ", code {}", Sanitized::with_limit(code, 64))?;
        }
        match self.description() {
            Some(description) => write!(f, ": {}", Sanitized::new(description))?,
            None => write!(
                f,
                ": {}",
                PayloadSummary(&inner.parsed.payload, &inner.raw_body)
            )?,
        }
        if let Some(incomplete) = &inner.incomplete {
            write!(f, " ({incomplete})")?;
        }
        if let Some(delay) = self.retry_after() {
            write!(f, " (retry after {delay:?})")?;
        }
        if !inner.ids.is_empty() {
            write!(f, " [{}]", IdsDisplay(&inner.ids))?;
        }
        Ok(())
    }
}

impl StdError for ApiError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner.incomplete {
            Some(Incomplete::Failed(error)) => Some(error),
            _ => None,
        }
    }
}

/// What a body without a description was, in a few words, without printing it.
struct PayloadSummary<'a>(&'a Payload, &'a Bytes);

impl fmt::Display for PayloadSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.0 {
            Payload::Empty => return f.write_str("empty body"),
            Payload::PartnerCenter(_) => "JSON body without a description",
            Payload::Gateway(_) => "gateway body without a message",
            Payload::Graph(_) => "Graph-style body without a message",
            Payload::OtherJson(_) => "JSON body that is not an object",
            Payload::Html(_) => "HTML body",
            Payload::Xml(_) => "XML body",
            Payload::Text(_) => "text body",
        };
        write!(f, "{what} of {} bytes", self.1.len())
    }
}

struct IdsDisplay<'a>(&'a ResponseIds);

impl fmt::Display for IdsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = self.0;
        let named = [
            ("correlation id", &ids.correlation_id),
            ("request id", &ids.request_id),
            ("cv", &ids.correlation_vector),
            ("server id", &ids.server_id),
        ];
        let mut first = true;
        for (name, value) in named {
            if let Some(value) = value {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                write!(f, "{name} {}", Sanitized::with_limit(value, 128))?;
            }
        }
        Ok(())
    }
}

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

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, headers: &[(&str, &str)], body: &str) -> ApiError {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        ApiError::new(
            StatusCode::from_u16(status).unwrap(),
            map,
            Bytes::copy_from_slice(body.as_bytes()),
        )
    }

    #[test]
    fn every_documented_status_has_its_own_kind() {
        let statuses = [
            400, 401, 403, 404, 405, 406, 408, 409, 412, 429, 500, 501, 502, 503, 504,
        ];
        let kinds: std::collections::HashSet<ErrorKind> = statuses
            .iter()
            .map(|s| ErrorKind::from_status(StatusCode::from_u16(*s).unwrap()))
            .collect();
        assert_eq!(kinds.len(), statuses.len());
        assert!(!kinds.contains(&ErrorKind::Other));
        assert_eq!(
            ErrorKind::from_status(StatusCode::IM_A_TEAPOT),
            ErrorKind::Other
        );
        assert_eq!(
            ErrorKind::from_status(StatusCode::EXPECTATION_FAILED),
            ErrorKind::Other
        );
    }

    #[test]
    fn retryable_is_exactly_429_503_504() {
        for status in 400..600u16 {
            let kind = ErrorKind::from_status(StatusCode::from_u16(status).unwrap());
            assert_eq!(
                kind.is_retryable(),
                matches!(status, 429 | 503 | 504),
                "{status}"
            );
        }
    }

    #[test]
    fn display_sanitises_and_bounds_network_text() {
        let description = format!("bad\u{1b}[2Jthing\n{}", "x".repeat(5000));
        let body = serde_json::json!({"code": "x\ny", "description": description, "source": "s"});
        let err = error(
            400,
            &[("ms-correlationid", "abc"), ("ms-requestid", "req-1")],
            &body.to_string(),
        );
        let shown = err.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains("bad\\u{1b}[2Jthing\\u{a}"));
        assert!(shown.contains("code x\\u{a}y"));
        assert!(shown.len() < 600, "{} bytes", shown.len());
        assert!(shown.ends_with("[correlation id abc, request id req-1]"));
    }

    #[test]
    fn display_of_a_body_without_description_prints_no_body_bytes() {
        let err = error(
            502,
            &[],
            "<html><body>secret-ish upstream page</body></html>",
        );
        let shown = err.to_string();
        assert_eq!(shown, "HTTP 502 Bad Gateway: HTML body of 50 bytes");
    }

    #[test]
    fn display_names_the_retry_delay_and_incompleteness() {
        let err = ApiError::from_capture(
            StatusCode::TOO_MANY_REQUESTS,
            HeaderMap::new(),
            Bytes::from_static(b"{\"statusCode\": 429, \"message\": \"Rate limit is exceeded. Try again in 57 seconds.\"}"),
            None,
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(57)));
        assert_eq!(
            err.to_string(),
            "HTTP 429 Too Many Requests: Rate limit is exceeded. Try again in 57 seconds. (retry after 57s)"
        );

        let truncated = ApiError::from_capture(
            StatusCode::INTERNAL_SERVER_ERROR,
            HeaderMap::new(),
            Bytes::new(),
            Some(Incomplete::TooLarge {
                limit: 10,
                content_length: Some(99),
            }),
        );
        assert_eq!(
            truncated.to_string(),
            "HTTP 500 Internal Server Error: empty body (body of 99 bytes is over the 10-byte cap and was not read)"
        );
    }

    #[test]
    fn header_retry_after_wins_over_body_text() {
        let err = error(
            429,
            &[("retry-after", "5")],
            r#"{"statusCode": 429, "message": "Try again in 57 seconds."}"#,
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn errors_are_send_sync_static_and_clone() {
        fn assert_traits<T: Send + Sync + 'static + StdError>() {}
        assert_traits::<ApiError>();
        assert_traits::<Error>();
        fn assert_clone<T: Clone>() {}
        assert_clone::<ApiError>();
    }

    #[test]
    fn error_enum_exposes_the_api_error_and_its_source() {
        let failed = ApiError::from_capture(
            StatusCode::BAD_GATEWAY,
            HeaderMap::new(),
            Bytes::new(),
            Some(Incomplete::Failed(BodyError::new("connection reset"))),
        );
        let err = Error::Api(failed);
        assert_eq!(err.api_error().unwrap().status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            err.source().unwrap().to_string(),
            "connection reset",
            "the body failure is the source"
        );
        let schema = Error::Schema(error(400, &[], "{}"));
        assert!(schema
            .to_string()
            .starts_with("error body broke the Partner Center schema (3 violations)"));
        let service = Error::Service("refused".into());
        assert!(service.api_error().is_none());
        assert!(!service.is_retryable());
    }
}

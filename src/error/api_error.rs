//! The structured error response.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::{resolve_delay, ErrorKind, Incomplete, RetryHint};
use crate::headers::{Challenge, DelaySource, ResponseIds};
use crate::sanitize::Sanitized;
use crate::schema::{
    self, BodyStr, Detail, GraphError, ParsedBody, Payload, ProblemDetails, RawJson, Schema,
    Violation, ViolationKind, MAX_CODING_CHARS,
};

/// Most items of a list (violations, challenges) that `Debug` prints.
const DEBUG_ITEMS: usize = 8;

/// A Partner Center error response, structured: the status and its kind, the parsed body and
/// every way it broke the schema, the ids to quote in a support ticket, the auth challenges, the
/// retry delay, and the raw bytes that were read.
///
/// Cheap to clone: the data sits behind one `Arc`.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{HeaderMap, StatusCode};
/// use partner_center_errors::{ApiError, ErrorKind};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("ms-correlationid", "7c0e3b1a".parse().unwrap());
/// let body = Bytes::from_static(br#"{"code":2000,"description":"Customer id is malformed.","data":[],"source":"PartnerFD"}"#);
/// let error = ApiError::new(StatusCode::BAD_REQUEST, headers, body);
///
/// assert_eq!(error.kind(), ErrorKind::BadRequest);
/// assert_eq!(error.code(), Some("2000"));
/// assert_eq!(error.description(), Some("Customer id is malformed."));
/// assert_eq!(error.ids().correlation_id.as_deref(), Some("7c0e3b1a"));
/// // A numeric code is a deviation from the documented schema, not a failure.
/// assert_eq!(error.violations().len(), 1);
/// assert_eq!(
///     error.to_string(),
///     "HTTP 400 Bad Request, code 2000: Customer id is malformed. [correlation id 7c0e3b1a]"
/// );
/// ```
#[derive(Clone)]
pub struct ApiError {
    inner: Arc<Inner>,
}

struct Inner {
    status: StatusCode,
    kind: ErrorKind,
    headers: HeaderMap,
    raw_body: Bytes,
    /// Every string and value in it is a slice of `raw_body`.
    parsed: ParsedBody,
    /// `data` parsed, on first ask.
    data: OnceLock<Option<Value>>,
    /// What stands in for a Partner Center body's missing fields, read on first ask.
    stand_ins: OnceLock<StandIns>,
    /// Read from `headers` on first ask.
    ids: OnceLock<ResponseIds>,
    /// Read from `headers` on first ask, bounded.
    challenges: OnceLock<Vec<Challenge>>,
    /// Read from `headers` (else a gateway body's text) on first ask, as of `received_at`.
    retry_after: OnceLock<Option<(Duration, DelaySource)>>,
    received_at: SystemTime,
    incomplete: Option<Incomplete>,
}

impl ApiError {
    /// Structures an error response whose body the caller has already read whole.
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self::from_capture(status, headers, body, None)
    }

    /// Structures an error response whose body the caller has already read whole, reading
    /// the body against `schema` (see [`Schema`]; [`new`](Self::new) reads it as Partner
    /// Center's).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{HeaderMap, StatusCode};
    /// use partner_center_errors::schema::Schema;
    /// use partner_center_errors::ApiError;
    ///
    /// let body = r#"{"error":{"code":"Request_ResourceNotFound","message":"No such user.","innerError":{"request-id":"r-1"}}}"#;
    /// let error = ApiError::with_schema(Schema::Auto, StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::from(body));
    /// assert_eq!(error.schema(), Schema::Graph);
    /// let view = error.view();
    /// assert_eq!(view.code(), Some("Request_ResourceNotFound"));
    /// assert_eq!(view.message(), Some("No such user."));
    /// assert_eq!(view.request_id().as_deref(), Some("r-1"));
    /// assert!(error.violations().is_empty());
    /// ```
    pub fn with_schema(
        schema: Schema,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    ) -> Self {
        Self::from_capture_as(schema, status, headers, body, None)
    }

    /// Structures an error response from what was captured of it.
    pub(crate) fn from_capture(
        status: StatusCode,
        headers: HeaderMap,
        raw_body: Bytes,
        incomplete: Option<Incomplete>,
    ) -> Self {
        Self::from_capture_as(Schema::PartnerCenter, status, headers, raw_body, incomplete)
    }

    /// Structures an error response from what was captured of it, reading the body against
    /// `schema`.
    pub(crate) fn from_capture_as(
        schema: Schema,
        status: StatusCode,
        headers: HeaderMap,
        raw_body: Bytes,
        incomplete: Option<Incomplete>,
    ) -> Self {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        let mut parsed = schema::parse_as(
            schema,
            raw_body.clone(),
            content_type,
            Some(status.as_u16()),
        );
        let kind = ErrorKind::from_status(status);
        let received_at = SystemTime::now();
        name_encoding(&headers, &mut parsed.violations);
        if nothing_read(incomplete.as_ref(), &parsed.payload) {
            // Reading stopped before any of the body came (refused for its length, timed out,
            // failed): nothing is known about the body, so it is not "empty".
            parsed
                .violations
                .retain(|violation| *violation != Violation::EmptyBody);
        }
        Self {
            inner: Arc::new(Inner {
                status,
                kind,
                ids: OnceLock::new(),
                challenges: OnceLock::new(),
                headers,
                raw_body,
                parsed,
                data: OnceLock::new(),
                retry_after: OnceLock::new(),
                stand_ins: OnceLock::new(),
                received_at,
                incomplete,
            }),
        }
    }

    /// Returns the response status.
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// Returns the kind of failure the status stands for.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Returns the error code: the body's `code` (a number normalised to its decimal text), the
    /// code of a Graph-style envelope, or a problem's `type` (as [`ErrorView::code`]).
    pub fn code(&self) -> Option<&str> {
        self.inner.parsed.code()
    }

    /// Returns the description: the body's `description`, the message of a Graph or gateway
    /// envelope, or a problem's `detail` (else `title`), as [`ErrorView::message`].
    ///
    /// A Partner Center body without a `description` string but with a string `message` (the
    /// extended envelope's field, without its `description`) or `Message` (ASP.NET's
    /// `{"Message": "An error has occurred."}`) gives that text: what the server said is
    /// shown, and the missing `description` is still named in [`violations`](Self::violations).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{HeaderMap, StatusCode};
    /// use partner_center_errors::ApiError;
    ///
    /// let body = Bytes::from_static(br#"{"Message":"An error has occurred."}"#);
    /// let error = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new(), body);
    /// assert_eq!(error.description(), Some("An error has occurred."));
    /// assert_eq!(error.to_string(), "HTTP 500 Internal Server Error: An error has occurred.");
    /// ```
    pub fn description(&self) -> Option<&str> {
        self.inner
            .parsed
            .description()
            .or_else(|| self.stand_ins().description.as_deref())
    }

    /// What stands in for a Partner Center body's missing `description` and `source`.
    #[cold]
    fn stand_ins(&self) -> &StandIns {
        self.inner.stand_ins.get_or_init(|| {
            let Payload::PartnerCenter(body) = &self.inner.parsed.payload else {
                return StandIns::default();
            };
            let string = |name| body.extra.get(name).as_ref().and_then(RawJson::to_str);
            StandIns {
                description: match body.description {
                    Some(_) => None,
                    None => body.message().or_else(|| string("Message")),
                },
                source: match body.source {
                    Some(_) => None,
                    None => string("Source"),
                },
            }
        })
    }

    /// Returns the body's `data`, as sent (usually an array), parsed on the first call and kept.
    ///
    /// The parsed value is kept with the error, beside the raw body, and is larger than its
    /// text: serde_json spends 32 bytes on each value, so an array of many small values
    /// (`[0,0,...]`) takes up to 32 times its text.
    ///
    /// `None` when absent, and when [`RawJson::to_value`](schema::RawJson::to_value) cannot
    /// read it (nested deeper than serde_json's recursion limit of 128, or holding a number too
    /// large for an `f64`, such as `1e400`).
    /// [`payload`](Self::payload) holds it as JSON text without parsing it.
    pub fn data(&self) -> Option<&Value> {
        self.inner
            .data
            .get_or_init(|| match &self.inner.parsed.payload {
                Payload::PartnerCenter(body) => body.data.as_ref()?.to_value().ok(),
                _ => None,
            })
            .as_ref()
    }

    /// Returns the body's `source` field, such as `"PartnerFD"`: the service that failed. (Named so
    /// as not to shadow [`std::error::Error::source`].) A body without a `source` string but
    /// with a string `Source`, as an early draft of the schema capitalised it, gives that; the
    /// missing `source` is still named in [`violations`](Self::violations).
    pub fn body_source(&self) -> Option<&str> {
        match &self.inner.parsed.payload {
            Payload::PartnerCenter(body) => body
                .source
                .as_deref()
                .or_else(|| self.stand_ins().source.as_deref()),
            _ => None,
        }
    }

    /// Returns what the body was, parsed: the Partner Center schema, a foreign envelope, HTML,
    /// text, ...
    pub fn payload(&self) -> &Payload {
        &self.inner.parsed.payload
    }

    /// Returns every way the body broke its schema; empty when it kept it.
    pub fn violations(&self) -> &[Violation] {
        &self.inner.parsed.violations
    }

    /// Returns the schema the body was read against: the one the layer was set to, or the one
    /// [`Schema::Auto`] chose.
    pub fn schema(&self) -> Schema {
        self.inner.parsed.schema
    }

    /// Returns the same view of the error whatever its schema: code, message, target, details
    /// and the ids of the service's world.
    pub fn view(&self) -> ErrorView<'_> {
        ErrorView { error: self }
    }

    /// Returns the Graph envelope, when the body is one.
    pub fn graph(&self) -> Option<&GraphError> {
        self.inner.parsed.payload.graph()
    }

    /// Returns the problem details, when the body is one.
    pub fn problem(&self) -> Option<&ProblemDetails> {
        self.inner.parsed.payload.problem()
    }

    /// Returns the bytes of the body that were read, at most the cap.
    pub fn raw_body(&self) -> &Bytes {
        &self.inner.raw_body
    }

    /// Returns the response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// Returns the ids to quote in a support ticket (`MS-CorrelationId`, `MS-RequestId`, ...), read
    /// from the headers on the first call.
    pub fn ids(&self) -> &ResponseIds {
        self.inner
            .ids
            .get_or_init(|| ResponseIds::from_headers(&self.inner.headers))
    }

    /// Returns the `WWW-Authenticate` challenges, in the order sent, read on the first call within
    /// the bounds of [`Challenge::from_headers`].
    pub fn challenges(&self) -> &[Challenge] {
        self.inner
            .challenges
            .get_or_init(|| Challenge::from_headers(&self.inner.headers))
    }

    /// Returns whether the status means "come back later" (429, 503, 504).
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }

    /// Returns the delay the server asked for before a retry: from `retry-after-ms`,
    /// `x-ms-retry-after-ms` or `Retry-After` (seconds or HTTP-date), else from "Try again in
    /// N seconds" in a gateway's JSON `message` or in a body of text, HTML or XML (not in a
    /// schema's own fields). Read on the first call, as of when the error was
    /// built (an HTTP-date counts from then, not from the call).
    pub fn retry_after(&self) -> Option<Duration> {
        self.delay().map(|(delay, _)| delay)
    }

    /// Returns the retry hint: whether a retry makes sense, the delay the server asked for (the
    /// same as [`ApiError::retry_after`]) and where it came from.
    pub fn retry_hint(&self) -> RetryHint {
        RetryHint::new(self.status(), self.delay())
    }

    /// The delay and its source, read once, as of when the error was built.
    fn delay(&self) -> Option<(Duration, DelaySource)> {
        let inner = &*self.inner;
        *inner.retry_after.get_or_init(|| {
            // The undecoded text: a message with escapes is not copied to look for a delay.
            // A gateway or proxy may say the same in a page of text, HTML or XML.
            let body_text = match &inner.parsed.payload {
                Payload::Gateway(gateway) => {
                    gateway.message.as_ref().map(|message| message.undecoded())
                }
                payload => payload.text(),
            };
            resolve_delay(&inner.headers, body_text, inner.received_at)
        })
    }

    /// Returns the time the server asked to be retried at, on this machine's clock: when the
    /// error was built plus [`retry_after`](Self::retry_after). A value a job scheduler can store.
    ///
    /// An HTTP-date `Retry-After` is measured against the response's `Date`, so this is right
    /// even when the local clock and the server's disagree. A delay longer than 10,000 years
    /// (only a hostile or broken header asks for one) gives the time 10,000 years on, which
    /// every platform's clock can hold: `None` means the server asked for no delay.
    pub fn retry_at(&self) -> Option<SystemTime> {
        let (delay, _) = self.delay()?;
        crate::clock::wall_time(self.inner.received_at, delay)
    }

    /// Returns why reading the body stopped before its end, if it did.
    pub fn incomplete(&self) -> Option<&Incomplete> {
        self.inner.incomplete.as_ref()
    }
}

/// The same view of an error whatever its schema, from [`ApiError::view`].
///
/// | | Partner Center | Graph / OData | RFC 9457 problem details |
/// |---|---|---|---|
/// | [`code`](Self::code) | `code` | `error.code` | `type` |
/// | [`message`](Self::message) | `description`, else `message`, else `Message` | `error.message` | `detail`, else `title` |
/// | [`target`](Self::target) | - | `error.target` | - |
/// | [`details`](Self::details) | `data` | `error.details` | the `errors` extension |
/// | [`request_id`](Self::request_id) | `MS-RequestId` header | `innerError.request-id`, else the `request-id` header | the `request-id` header |
/// | [`client_request_id`](Self::client_request_id) | - | `innerError.client-request-id`, else the `client-request-id` header | the `client-request-id` header |
/// | [`instance`](Self::instance) | - | - | `instance` |
///
/// Gateway envelopes give their `message`. Returned strings are as sent: sanitise them
/// before printing (`ApiError`'s own `Display` does).
#[derive(Debug, Clone, Copy)]
pub struct ErrorView<'a> {
    error: &'a ApiError,
}

impl<'a> ErrorView<'a> {
    fn payload(&self) -> &'a Payload {
        &self.error.inner.parsed.payload
    }

    /// Returns the error code (see the table).
    pub fn code(&self) -> Option<&'a str> {
        self.payload().code()
    }

    /// Returns the human-readable message (see the table).
    pub fn message(&self) -> Option<&'a str> {
        self.error.description()
    }

    /// Returns what the error is about: Graph's `error.target`.
    pub fn target(&self) -> Option<&'a str> {
        self.payload().target()
    }

    /// Returns the list of details, read from the body on each call (see
    /// [`Payload::details`]): keep the result rather than asking again, as each call allocates
    /// for every item, many times the body for a long list of small items.
    pub fn details(&self) -> Vec<Detail> {
        self.payload().details()
    }

    /// Returns the id of the request on the server's side: Graph's `innerError.request-id`,
    /// else the `request-id` header, else Partner Center's `MS-RequestId`.
    pub fn request_id(&self) -> Option<Cow<'a, str>> {
        let from_body = self.payload().graph().and_then(GraphError::request_id);
        self.body_or_header(from_body, "request-id")
            .or_else(|| self.error.ids().request_id.as_deref().map(Cow::Borrowed))
    }

    /// Returns the caller's own id echoed back: Graph's `innerError.client-request-id`, else
    /// the `client-request-id` header.
    pub fn client_request_id(&self) -> Option<Cow<'a, str>> {
        let from_body = self
            .payload()
            .graph()
            .and_then(GraphError::client_request_id);
        self.body_or_header(from_body, "client-request-id")
    }

    /// Returns the problem details `instance`: the URI of this occurrence.
    pub fn instance(&self) -> Option<&'a str> {
        self.payload().problem()?.instance.as_deref()
    }

    fn body_or_header(
        &self,
        from_body: Option<schema::BodyStr>,
        header: &str,
    ) -> Option<Cow<'a, str>> {
        from_body
            .map(|id| Cow::Owned(id.as_str().to_owned()))
            .or_else(|| {
                let value = self.error.inner.headers.get(header)?.to_str().ok()?;
                Some(Cow::Borrowed(value.trim()))
            })
            .filter(|id| !id.is_empty())
    }
}

/// Bounded like `Display`: strings sanitised and cut (saying how much was left out), at most
/// eight violations and challenges (saying how many more there were), the raw body only by
/// its length.
impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let challenges = inner.challenges.get().map(|c| Bounded(c));
        f.debug_struct("ApiError")
            .field("status", &inner.status)
            .field("kind", &inner.kind)
            .field("payload", &inner.parsed.payload)
            .field("violations", &Bounded(&inner.parsed.violations))
            .field("ids", self.ids())
            .field("challenges", &challenges)
            .field("retry_after", &self.retry_after())
            .field("incomplete", &inner.incomplete)
            .field("raw_body_len", &inner.raw_body.len())
            .finish_non_exhaustive()
    }
}

/// A list printed as its first [`DEBUG_ITEMS`] items and the count of the rest.
struct Bounded<'a, T>(&'a [T]);

impl<T: fmt::Debug> fmt::Debug for Bounded<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        list.entries(self.0.iter().take(DEBUG_ITEMS));
        if let Some(more) = self.0.len().checked_sub(DEBUG_ITEMS).filter(|&n| n > 0) {
            list.entry(&format_args!("... {more} more"));
        }
        list.finish()
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
        // Nothing was read: say why, not "empty body".
        let nothing_read = nothing_read(inner.incomplete.as_ref(), &inner.parsed.payload);
        match self.description() {
            Some(description) => write!(f, ": {}", Sanitized::new(description))?,
            None if nothing_read => f.write_str(":")?,
            None => write!(f, ": {}", PayloadSummary(&inner.parsed, &inner.raw_body))?,
        }
        match &inner.incomplete {
            // The stream's error is the source: shown by chain printers, not here.
            Some(Incomplete::Failed(_)) if nothing_read => f.write_str(" body failed")?,
            Some(Incomplete::Failed(_)) => f.write_str(" (body failed)")?,
            Some(incomplete) if nothing_read => write!(f, " {incomplete}")?,
            Some(incomplete) => write!(f, " ({incomplete})")?,
            None => {}
        }
        // What a challenge says went wrong (the MFA 401's `invalid_token`, Entra's
        // `insufficient_claims`): often the only thing an auth failure says at all.
        let refused = self
            .challenges()
            .iter()
            .find_map(|challenge| challenge.error().map(|error| (&challenge.scheme, error)));
        if let Some((scheme, error)) = refused {
            write!(
                f,
                " (challenge {} error {})",
                Sanitized::with_limit(scheme, 32),
                Sanitized::with_limit(error, 64)
            )?;
        }
        if let Some(delay) = self.retry_after() {
            write!(f, " (retry after {delay:?})")?;
        }
        let ids = self.ids();
        if !ids.is_empty() {
            write!(f, " [{}]", IdsDisplay(ids))?;
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

/// Whether reading stopped early with nothing of the body read but whitespace (or nothing at
/// all): refused for its declared length, or timed out, failed or cut before a byte of it came.
fn nothing_read(incomplete: Option<&Incomplete>, payload: &Payload) -> bool {
    incomplete.is_some() && matches!(payload, Payload::Empty)
}

/// Names a body that is not JSON and came with a `Content-Encoding` other than `identity` as
/// [`Violation::Encoded`], just before its `NotJson`: the usual cause is decompression placed
/// outside the layer, and `NotJson` alone would not say so.
fn name_encoding(headers: &HeaderMap, violations: &mut Vec<Violation>) {
    let Some(at) = violations
        .iter()
        .position(|violation| violation.kind() == ViolationKind::NotJson)
    else {
        return;
    };
    let encoded = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .find(|value| {
            value
                .as_bytes()
                .split(|&byte| byte == b',')
                .map(<[u8]>::trim_ascii)
                .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"))
        });
    let Some(value) = encoded else { return };
    let coding = String::from_utf8_lossy(value.as_bytes())
        .chars()
        .take(MAX_CODING_CHARS)
        .collect();
    violations.insert(at, Violation::Encoded { coding });
}

/// The texts a Partner Center body gives in place of fields it lacks: `message` (else
/// `Message`, as ASP.NET sends it) for `description`, `Source` (an early draft's spelling) for
/// `source`. Each is `None` where the field itself is there.
#[derive(Debug, Default)]
struct StandIns {
    description: Option<BodyStr>,
    source: Option<BodyStr>,
}

/// What a body without a description was, in a few words, without printing it.
struct PayloadSummary<'a>(&'a ParsedBody, &'a Bytes);

impl fmt::Display for PayloadSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let coding = self
            .0
            .violations
            .iter()
            .find_map(|violation| match violation {
                Violation::Encoded { coding } => Some(coding),
                _ => None,
            });
        if let Some(coding) = coding {
            return write!(
                f,
                "body of {} bytes still encoded as `{}` (decompress inside the layer)",
                self.1.len(),
                Sanitized::with_limit(coding, MAX_CODING_CHARS)
            );
        }
        let what = match &self.0.payload {
            Payload::Empty => return f.write_str("empty body"),
            Payload::PartnerCenter(_) => "JSON body without a description",
            Payload::Gateway(_) => "gateway body without a message",
            Payload::Graph(_) => "Graph-style body without a message",
            Payload::Problem(_) => "problem details without a title or detail",
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
            ("request context", &ids.request_context),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn error(headers: &[(&str, &str)], body: Vec<u8>) -> ApiError {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        ApiError::new(StatusCode::UNAUTHORIZED, map, Bytes::from(body))
    }

    #[test]
    fn debug_is_bounded_and_says_what_it_left_out() {
        let description = format!("\u{202e}{}", "x".repeat(10 * 1024 * 1024));
        let body = format!(
            r#"{{"code":"{}","description":"{description}","data":[{}0],"source":"s"}}"#,
            "c".repeat(100_000),
            "0,".repeat(100_000)
        );
        let challenges = "a,".repeat(150_000);
        let error = error(&[("www-authenticate", &challenges)], body.into_bytes());
        assert!(error.challenges().len() <= Challenge::MAX_CHALLENGES);
        let shown = format!("{error:?}");
        assert!(shown.len() < 8 * 1024, "{} bytes", shown.len());
        assert!(!shown.contains('\u{202e}'));
        // 120 printed characters: the escaped override (8 of them) and 112 `x`.
        assert!(shown.contains(&format!("+{} chars", 10 * 1024 * 1024 + 1 - 113)));
        assert!(shown.contains("(+99880 chars)"), "{shown}");
    }

    #[test]
    fn debug_bounds_many_extra_fields_and_text_bodies() {
        let keys: Vec<String> = (0..10_000).map(|i| format!(r#""k{i}":0"#)).collect();
        let body = format!(r#"{{"code":"1","description":"d",{}}}"#, keys.join(","));
        let shown = format!("{:?}", error(&[], body.into_bytes()));
        assert!(shown.contains("9992 more"), "{shown}");
        assert!(shown.len() < 4096, "{} bytes", shown.len());
        let page = format!("<html>{}</html>", "\u{1b}[2J".repeat(2000));
        let shown = format!("{:?}", error(&[], page.into_bytes()));
        assert!(!shown.contains('\u{1b}'));
        assert!(shown.len() < 4096, "{} bytes", shown.len());
    }

    #[test]
    fn strings_and_data_refer_into_the_raw_body() {
        let body = br#"{"code":"2001","description":"No such customer.","data":["x"],"source":"PartnerFD","errorName":"E"}"#;
        let error = error(&[], body.to_vec());
        let raw = error.raw_body().as_ptr_range();
        for text in [error.code(), error.description(), error.body_source()] {
            let text = text.expect("present");
            assert!(raw.contains(&text.as_ptr()), "{text} is a copy");
        }
        let Payload::PartnerCenter(parsed) = error.payload() else {
            panic!("{:?}", error.payload())
        };
        let data = parsed.data.as_ref().expect("data");
        assert!(raw.contains(&data.get().as_ptr()));
        assert_eq!(error.data(), Some(&serde_json::json!(["x"])));
        assert_eq!(parsed.error_name().as_deref(), Some("E"));
    }

    #[test]
    fn retry_at_is_the_time_the_server_asked_for() {
        let before = SystemTime::now();
        let error = error(&[("retry-after", "30")], Vec::new());
        let after = SystemTime::now();
        let at = error.retry_at().expect("a delay");
        assert!(at >= before + Duration::from_secs(30));
        assert!(at <= after + Duration::from_secs(30));
        // An HTTP-date 30 s after the response's own Date: 30 s from now, whatever the
        // clocks say.
        let dated = error_with_dates();
        let at = dated.retry_at().expect("a delay");
        let now = SystemTime::now();
        assert!(at >= now + Duration::from_secs(29) && at <= now + Duration::from_secs(30));
        assert_eq!(
            ApiError::new(StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new()).retry_at(),
            None
        );
    }

    /// A delay the server asked for always gives a time: `None` would read as "no delay"
    /// to a scheduler, which would then retry at once.
    #[test]
    fn retry_at_of_a_delay_past_what_the_clock_holds_is_far_off_not_none() {
        for huge in ["18446744073709551615", "10000000000000000000"] {
            let error = error(&[("retry-after", huge)], Vec::new());
            assert!(error.retry_after().is_some());
            let at = error.retry_at().expect("a delay, so a time");
            let years = at
                .duration_since(error.inner.received_at)
                .unwrap()
                .as_secs()
                / (365 * 86400);
            assert!(years >= 10_000, "{huge}: {years} years");
        }
    }

    #[test]
    fn ids_and_delay_read_on_first_ask_are_those_of_the_response_as_received() {
        let body = br#"{"statusCode":429,"message":"Try again in 7 seconds."}"#;
        let gateway = error(&[("ms-correlationid", "c-1,c-1")], body.to_vec());
        assert_eq!(gateway.ids(), &ResponseIds::from_headers(gateway.headers()));
        assert_eq!(gateway.ids().correlation_id.as_deref(), Some("c-1"));
        let text = Some("Try again in 7 seconds.");
        let hint = RetryHint::read(
            gateway.status(),
            gateway.headers(),
            text,
            gateway.inner.received_at,
        );
        assert_eq!(gateway.retry_hint(), hint);
        assert_eq!(gateway.retry_after(), Some(Duration::from_secs(7)));
        // An HTTP-date with no `Date` counts from when the error was built, however late the
        // first ask.
        let at = gateway.inner.received_at + Duration::from_secs(90);
        let dated = error(&[("retry-after", &httpdate::fmt_http_date(at))], Vec::new());
        let expected = RetryHint::read(
            dated.status(),
            dated.headers(),
            None,
            dated.inner.received_at,
        );
        assert_eq!(dated.retry_hint(), expected);
    }

    #[test]
    fn a_page_of_text_html_or_xml_gives_its_try_again_sentence_when_no_header_does() {
        let sentence = "Rate limit is exceeded. Try again in 30 seconds.";
        for (media_type, body) in [
            ("text/plain", sentence.to_owned()),
            (
                "text/html",
                format!("<html><body><p>{sentence}</p></body></html>"),
            ),
            (
                "application/xml",
                format!("<Error><Message>{sentence}</Message></Error>"),
            ),
        ] {
            let page = error(&[("content-type", media_type)], body.clone().into_bytes());
            assert!(page.payload().text().is_some(), "{media_type}");
            assert_eq!(
                page.retry_after(),
                Some(Duration::from_secs(30)),
                "{media_type}"
            );
            assert_eq!(page.retry_hint().source(), Some(DelaySource::BodyText));
            // A header still comes first.
            let headed = error(
                &[("content-type", media_type), ("retry-after", "40")],
                body.into_bytes(),
            );
            assert_eq!(headed.retry_after(), Some(Duration::from_secs(40)));
        }
        // Partner Center's own description is the service's text, not a gateway's: not read.
        let body = format!(r#"{{"code":"1","description":"{sentence}","source":"s"}}"#);
        assert_eq!(error(&[], body.into_bytes()).retry_after(), None);
    }

    #[test]
    fn the_delay_read_late_does_not_depend_on_what_was_asked_before() {
        // A gateway message with an escape is searched as sent, decoded or not.
        let body = br#"{"statusCode":429,"message":"Try again in 7\u0020seconds."}"#;
        let first = error(&[], body.to_vec());
        let late = error(&[], body.to_vec());
        assert_eq!(late.description(), Some("Try again in 7 seconds."));
        assert_eq!(late.retry_hint(), first.retry_hint());
    }

    fn error_with_dates() -> ApiError {
        error(
            &[
                ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT"),
            ],
            Vec::new(),
        )
    }
}

//! axum integration (feature `axum`): [`IntoResponse`] for [`ApiError`] and [`Error`], so a
//! handler that calls Partner Center can return `Result<_, partner_center_errors::Error>`.
//!
//! The response is what a gateway should answer when its upstream failed: a sound status, and a
//! JSON body in Partner Center's own schema (`code`, `description`, `data`, `source`), so that
//! clients written for Partner Center read it unchanged. Upstream internals stay inside unless
//! you opt in with [`ErrorResponse::expose_upstream`].
//!
//! | upstream answered | status sent | description sent |
//! |---|---|---|
//! | 400, 404, 405, 406, 409, 412, other 4xx | the same (a 405 with the upstream's `Allow`) | the upstream description (it speaks to the caller) |
//! | 429 | 429, with `Retry-After` when known (at most a day, [`MAX_WINDOW`]) | the upstream description |
//! | 401, 403, 407 | 502 Bad Gateway: *this* service's credentials were refused, the caller cannot fix that | a generic text |
//! | 408, 504 | 504 Gateway Timeout | a generic text |
//! | 503 | 503, with `Retry-After` when known | a generic text |
//! | 500, 501, 502, other 5xx | 502 Bad Gateway | a generic text |
//! | no answer ([`Error::Service`]; one around a boxed [`Error`] or [`ApiError`], as a `BoxError` stack returns them, answers as that error) | 502 Bad Gateway | a generic text |
//! | not sent: the throttle gate is closed ([`Error::GateClosed`]) | 503, with `Retry-After` (when the gate reopens) | a generic text |
//! | the handler's own failure ([`ErrorResponse::local`]) | the status the handler chose | the handler's message |
//!
//! [`Error::GaveUp`] (the retry policy stopped) answers as its last error: a throttled call the
//! policy would not wait for is a 429 with the server's `Retry-After`, so the caller knows when
//! to come back. With the `reqwest` feature too, `reqwest_middleware::Error` converts into
//! [`ErrorResponse`] as the crate's error inside it does (anything else is "no answer"), so a
//! handler that calls Partner Center through reqwest-middleware can use `?`.
//!
//! - `code` is the upstream code as a string (the schema's type) exactly where the upstream
//!   description is relayed (a client error sent on with its status, or
//!   [`expose_upstream(true)`](ErrorResponse::expose_upstream)); elsewhere, and when the
//!   upstream gave none, it is the status sent, since a code can leak as much as a description
//!   (an exception's name, a file path); `data` is `[]`; `source` is [`DEFAULT_SOURCE`] unless set with
//!   [`ErrorResponse::source`].
//! - Descriptions are sanitised (control characters escaped), at most 1024 characters (the
//!   schema's limit), and never blank: an empty or whitespace-only upstream description or
//!   handler message gives way to a generic text.
//! - `MS-CorrelationId` and `MS-RequestId` are relayed as headers: they identify the call, and a
//!   caller quotes them in a support ticket. An id holding anything but visible ASCII and spaces
//!   (a control, format or bidi character) is not relayed. `MS-CV`, `MS-ServerId`, `Request-Context`, the
//!   upstream's `data`, `source` and raw body are not.
//! - With [`expose_upstream(true)`](ErrorResponse::expose_upstream) (for development, or trusted
//!   callers), the body also carries the upstream description whatever the status, its `data`
//!   (when it is an array, as the schema wants) and `source`, and an `upstream` object: status, every id, the schema violations, and the
//!   raw body read (lossy UTF-8, at most the layer's cap). The status is the same.
//!
//! # Handlers that also fail on their own
//!
//! Return `Result<_, ErrorResponse>`: `?` turns the crate's [`Error`] (and an [`ApiError`]) into
//! it through `From`, and the handler's own failures become [`ErrorResponse::local`] (or a
//! `(StatusCode, message)` pair) with the status they deserve, not "upstream failed":
//!
//! ```
//! use axum_core::response::IntoResponse;
//! use http::StatusCode;
//! use partner_center_errors::axum::ErrorResponse;
//! use partner_center_errors::Error;
//!
//! async fn call_partner_center(id: &str) -> Result<String, Error> {
//!     Ok(format!("customer {id}"))
//! }
//!
//! async fn customer(id: Option<String>) -> Result<String, ErrorResponse> {
//!     let id = id.ok_or((StatusCode::BAD_REQUEST, "the customer id is missing"))?;
//!     Ok(call_partner_center(&id).await?)
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let response = customer(None).await.unwrap_err().into_response();
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! assert_eq!(customer(Some("c-1".into())).await.unwrap(), "customer c-1");
//! # });
//! ```
//!
//! With axum's own extractors, turn a rejection into one the same way:
//! `ErrorResponse::local(rejection.status(), rejection.body_text())`.
//!
//! # Problem details
//!
//! Callers that expect RFC 9457 problem details get them: [`ErrorResponse::negotiate`] answers
//! `application/problem+json` when the request's `Accept` lists it, and
//! [`ErrorResponse::problem_details`] sets it outright; the status, headers and what is hidden
//! stay the same. A negotiated answer also says `Vary: Accept`.
//!
//! A proxy that forwards upstream errors *as they are* does not need any of this: run the layer
//! in [pass-through mode](crate::PartnerErrorsLayer::pass_through) and return the response (see
//! `examples/axum_proxy.rs`).
//!
//! # Example
//!
//! ```
//! use axum_core::response::IntoResponse;
//! use bytes::Bytes;
//! use http::{HeaderMap, StatusCode};
//! use partner_center_errors::axum::ErrorResponse;
//! use partner_center_errors::ApiError;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("ms-correlationid", "c-1".parse().unwrap());
//! headers.insert("ms-serverid", "internal-17".parse().unwrap());
//! let body = r#"{"code":3000,"description":"NullReferenceException at Orders.Submit","data":[],"source":"PartnerFD"}"#;
//! let error = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, headers, Bytes::from(body));
//!
//! let response = error.clone().into_response();
//! assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
//! assert_eq!(response.headers()["ms-correlationid"], "c-1");
//! assert!(response.headers().get("ms-serverid").is_none());
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use http_body_util::BodyExt;
//! let bytes = response.into_body().collect().await.unwrap().to_bytes();
//! let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
//! assert_eq!(json["code"], "502");
//! assert_eq!(json["description"], "The upstream service failed.");
//! assert_eq!(json["data"], serde_json::json!([]));
//! assert!(!String::from_utf8_lossy(&bytes).contains("NullReference"));
//!
//! // Opt in to show the upstream's own words (development only).
//! let exposed = ErrorResponse::new(error).expose_upstream(true).into_response();
//! let bytes = exposed.into_body().collect().await.unwrap().to_bytes();
//! let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
//! assert_eq!(json["description"], "NullReferenceException at Orders.Submit");
//! assert_eq!(json["upstream"]["ids"]["server_id"], "internal-17");
//! # });
//! ```

use std::borrow::Cow;

use axum_core::response::{IntoResponse, Response};
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, VARY};
use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::gate::MAX_WINDOW;
use crate::headers::{MS_CORRELATION_ID, MS_REQUEST_ID};
use crate::sanitize::Sanitized;
use crate::{ApiError, Error};

/// The `source` of the bodies this module writes, unless [`ErrorResponse::source`] sets another.
pub const DEFAULT_SOURCE: &str = "Gateway";

/// Most characters of a description, as Partner Center's schema allows.
const MAX_DESCRIPTION_CHARS: usize = 1024;

/// The response an error becomes, with its settings. `ApiError` and `Error` implement
/// [`IntoResponse`] through it with the defaults; build one to change them.
#[derive(Debug, Clone)]
pub struct ErrorResponse {
    /// The upstream's structured error; `None` for every other cause.
    error: Option<ApiError>,
    cause: Cause,
    expose_upstream: bool,
    source: Cow<'static, str>,
    problem_details: bool,
    /// Whether the schema followed the caller's `Accept` ([`ErrorResponse::negotiate`]).
    negotiated: bool,
}

/// Why the response is an error.
#[derive(Clone)]
enum Cause {
    /// The upstream answered 4xx/5xx (`error` holds what it said).
    Upstream,
    /// No response arrived ([`Error::Service`]).
    Unreachable,
    /// The throttle gate refused to send ([`Error::GateClosed`]): reopens at this instant.
    GateClosed(tokio::time::Instant),
    /// The handler's own failure, with the status and text it chose.
    Local {
        status: StatusCode,
        message: Cow<'static, str>,
    },
}

/// As derived, with the handler's message sanitised and bounded: it may quote the request.
impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Upstream => f.write_str("Upstream"),
            Self::Unreachable => f.write_str("Unreachable"),
            Self::GateClosed(opens_at) => f.debug_tuple("GateClosed").field(opens_at).finish(),
            Self::Local { status, message } => f
                .debug_struct("Local")
                .field("status", status)
                .field("message", &format_args!("\"{}\"", Sanitized::new(message)))
                .finish(),
        }
    }
}

impl ErrorResponse {
    /// Returns the response for `error`, with the defaults: upstream internals hidden, `source` set
    /// to [`DEFAULT_SOURCE`].
    pub fn new(error: impl Into<Self>) -> Self {
        error.into()
    }

    /// Sets whether the body shows what the upstream said in full: its description for every
    /// status, its `data` (when it is an array) and `source`, and an `upstream` object with the
    /// status, ids, violations and raw body. Default: `false`. Turn it on only for callers who may
    /// see the upstream's internals.
    pub fn expose_upstream(mut self, expose: bool) -> Self {
        self.expose_upstream = expose;
        self
    }

    /// Sets the `source` field of the body: the name of the service answering. Default:
    /// [`DEFAULT_SOURCE`].
    pub fn source(mut self, source: impl Into<Cow<'static, str>>) -> Self {
        self.source = source.into();
        self
    }

    /// Returns a response for the handler's own failure (a request it could not read, a
    /// precondition it checked), in the same JSON shape as the upstream errors: `status` is sent
    /// as it is when it is a 4xx or 5xx (anything else becomes 500), `code` is the status,
    /// `description` is `message` (sanitised, at most 1024 characters; a blank one gives way to
    /// the status's reason phrase, as the schema wants a description that is not empty).
    ///
    /// ```
    /// use axum_core::response::IntoResponse;
    /// use http::StatusCode;
    /// use partner_center_errors::axum::ErrorResponse;
    ///
    /// let response = ErrorResponse::local(StatusCode::BAD_REQUEST, "customer id is missing");
    /// assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    /// assert_eq!(response.into_response().status(), StatusCode::BAD_REQUEST);
    /// ```
    pub fn local(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        // Not `is_error_status`: a status past 599 is an error when it comes in, but this
        // service sends HTTP statuses only.
        let status = if status.is_client_error() || status.is_server_error() {
            status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self::with_cause(
            None,
            Cause::Local {
                status,
                message: message.into(),
            },
        )
    }

    const fn with_cause(error: Option<ApiError>, cause: Cause) -> Self {
        Self {
            error,
            cause,
            expose_upstream: false,
            source: Cow::Borrowed(DEFAULT_SOURCE),
            problem_details: false,
            negotiated: false,
        }
    }

    /// Returns the status the response will have (see the [module docs](self) for the table).
    pub fn status(&self) -> StatusCode {
        match (&self.cause, &self.error) {
            (Cause::Local { status, .. }, _) => *status,
            (Cause::GateClosed(_), _) => StatusCode::SERVICE_UNAVAILABLE,
            (_, Some(error)) => status_for(error.status()),
            (_, None) => StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether the upstream's own words (its `description` and `code`) go on to the caller:
    /// when exposing, or when the upstream's client error is relayed with its status.
    fn relays_upstream(&self, status: StatusCode) -> bool {
        self.expose_upstream
            || self
                .error
                .as_ref()
                .is_some_and(|error| error.status() == status && status.is_client_error())
    }

    /// The description sent: never blank, as the schema wants it non-empty (a blank upstream
    /// description or handler message gives way to a generic text).
    fn description(&self, status: StatusCode) -> Cow<'static, str> {
        match &self.cause {
            Cause::Local { message, .. } if !is_blank(message) => {
                return Cow::Owned(bounded(message))
            }
            Cause::Local { .. } => {
                return Cow::Borrowed(status.canonical_reason().unwrap_or("The request failed."))
            }
            Cause::GateClosed(_) => {
                return Cow::Borrowed("The upstream service is throttled; retry later.")
            }
            Cause::Upstream | Cause::Unreachable => {}
        }
        let upstream = self.error.as_ref().and_then(ApiError::description);
        match upstream {
            Some(text) if self.relays_upstream(status) && !is_blank(text) => {
                Cow::Owned(bounded(text))
            }
            _ => Cow::Borrowed(generic_description(self.error.as_ref(), status)),
        }
    }

    fn body(&self, status: StatusCode) -> Value {
        // The code is relayed only with the description: a code such as an exception's text
        // must not leak where the description is hidden.
        let code = self
            .error
            .as_ref()
            .filter(|_| self.relays_upstream(status))
            .and_then(ApiError::code)
            .map_or_else(|| status.as_u16().to_string(), bounded);
        let mut body = Map::new();
        body.insert("code".into(), Value::String(code));
        body.insert("description".into(), self.description(status).into());
        let exposed = self.error.as_ref().filter(|_| self.expose_upstream);
        // Only the array the schema wants: any other shape (an object, as a 2017 draft had it)
        // would make the answer break the schema; it stays in the `upstream` object's raw body.
        let data = exposed
            .and_then(ApiError::data)
            .filter(|data| data.is_array())
            .cloned();
        body.insert("data".into(), data.unwrap_or_else(|| json!([])));
        let source = exposed
            .and_then(ApiError::body_source)
            .map_or_else(|| self.source.to_string(), bounded);
        body.insert("source".into(), source.into());
        if let Some(error) = exposed {
            body.insert("upstream".into(), upstream(error));
        }
        Value::Object(body)
    }
}

impl From<ApiError> for ErrorResponse {
    fn from(error: ApiError) -> Self {
        Self::with_cause(Some(error), Cause::Upstream)
    }
}

impl From<Error> for ErrorResponse {
    fn from(error: Error) -> Self {
        Self::of(&error)
    }
}

/// reqwest-middleware's error, answered as the crate's [`Error`] inside it is (found by
/// [`partner_error`](crate::reqwest::partner_error): from [`PartnerErrorsMiddleware`],
/// [`RetryAfterMiddleware`] or [`ThrottleGateMiddleware`]); any other failure (a connect
/// error, another middleware's) as an unreachable upstream, `502`. A handler that calls
/// Partner Center through reqwest-middleware can then use `?`.
///
/// [`PartnerErrorsMiddleware`]: crate::reqwest::PartnerErrorsMiddleware
/// [`RetryAfterMiddleware`]: crate::reqwest::RetryAfterMiddleware
/// [`ThrottleGateMiddleware`]: crate::reqwest::ThrottleGateMiddleware
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
impl From<crate::reqwest::MiddlewareError> for ErrorResponse {
    fn from(error: crate::reqwest::MiddlewareError) -> Self {
        match crate::reqwest::partner_error(&error) {
            Some(found) => Self::of(found),
            None => Self::with_cause(None, Cause::Unreachable),
        }
    }
}

impl ErrorResponse {
    /// The response for the crate's error: the upstream's answer, or the gate's refusal, as
    /// found in it, and also inside an [`Error::Service`]: a layer outside the stack
    /// (`tower::timeout`, `tower::buffer`) boxes every error, and a handler then wraps the box
    /// in `Error::Service`, as for a failure with no answer. Looks at most 16 boxes deep.
    fn of(mut error: &Error) -> Self {
        for _ in 0..16 {
            if let Some(closed) = error.gate_closed() {
                return Self::with_cause(None, Cause::GateClosed(closed.opens_at()));
            }
            if let Some(api_error) = error.api_error() {
                return Self::from(api_error.clone());
            }
            let Error::Service(boxed) = error else {
                break;
            };
            if let Some(api_error) = boxed.downcast_ref::<ApiError>() {
                return Self::from(api_error.clone());
            }
            match boxed.downcast_ref::<Error>() {
                Some(inner) => error = inner,
                None => break,
            }
        }
        Self::with_cause(None, Cause::Unreachable)
    }
}

/// The handler's own failure: [`ErrorResponse::local`] with this status and text.
impl<M: Into<Cow<'static, str>>> From<(StatusCode, M)> for ErrorResponse {
    fn from((status, message): (StatusCode, M)) -> Self {
        Self::local(status, message)
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let status = self.status();
        let (body, content_type) = self.negotiated_body(status);
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        // The body depends on `Accept`: a cache that stores the answer (a 404 may be stored)
        // must not serve it to a caller that asked for the other schema (RFC 9110 §12.5.5).
        if self.negotiated {
            headers.append(VARY, HeaderValue::from_static("accept"));
        }
        if let Cause::GateClosed(opens_at) = self.cause {
            let wait = opens_at.saturating_duration_since(tokio::time::Instant::now());
            headers.insert(RETRY_AFTER, HeaderValue::from(whole_seconds(wait)));
        }
        let Some(error) = &self.error else {
            return response;
        };
        let ids = error.ids();
        for (name, value) in [
            (MS_CORRELATION_ID, &ids.correlation_id),
            (MS_REQUEST_ID, &ids.request_id),
        ] {
            let relayable = value.as_deref().filter(|v| is_plain_header_text(v));
            if let Some(value) = relayable.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, value);
            }
        }
        let throttled = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        );
        if let Some(delay) = error.retry_after().filter(|_| throttled) {
            headers.insert(RETRY_AFTER, HeaderValue::from(whole_seconds(delay)));
        }
        // RFC 9110 has a 405 say which methods are allowed; the upstream's list is the one.
        if status == StatusCode::METHOD_NOT_ALLOWED {
            let allow = error.headers().get(ALLOW).filter(|value| {
                value.len() <= MAX_ALLOW_BYTES && value.to_str().is_ok_and(is_plain_header_text)
            });
            if let Some(allow) = allow {
                headers.insert(ALLOW, allow.clone());
            }
        }
        response
    }
}

// Content negotiation: Partner Center's schema by default, RFC 9457 problem details when the
// caller asks for them.
impl ErrorResponse {
    /// Sets whether the body is RFC 9457 problem details (`application/problem+json`) instead of
    /// Partner Center's schema. Default: `false`; [`negotiate`](Self::negotiate) turns it on
    /// for callers whose `Accept` asks for it.
    ///
    /// The problem has `type` `about:blank`, the status sent as `title` (its reason phrase)
    /// and `status`, the description as `detail`, the code as a `code` extension member, and
    /// when exposing, the same `upstream` member. Status, headers and what is hidden are the
    /// same as for Partner Center's schema.
    pub fn problem_details(mut self, problem_details: bool) -> Self {
        self.problem_details = problem_details;
        self
    }

    /// Answers in problem details when the caller's request headers accept
    /// `application/problem+json` (listed in `Accept` with a quality above zero); leaves the
    /// setting as it is otherwise. Either way the response says `Vary: Accept`, so that a cache
    /// does not hand one caller's schema to another. Default: not negotiated (Partner Center's
    /// schema).
    ///
    /// ```
    /// use axum_core::response::IntoResponse;
    /// use bytes::Bytes;
    /// use http::{HeaderMap, StatusCode};
    /// use partner_center_errors::axum::ErrorResponse;
    /// use partner_center_errors::ApiError;
    ///
    /// let error = ApiError::new(StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new());
    /// let mut request = HeaderMap::new();
    /// request.insert("accept", "application/problem+json, application/json;q=0.5".parse().unwrap());
    /// let response = ErrorResponse::new(error).negotiate(&request).into_response();
    /// assert_eq!(response.headers()["content-type"], "application/problem+json");
    /// assert_eq!(response.headers()["vary"], "accept");
    /// ```
    pub fn negotiate(mut self, request_headers: &http::HeaderMap) -> Self {
        self.negotiated = true;
        if accepts_problem_json(request_headers) {
            self.problem_details = true;
        }
        self
    }

    /// The body to send and its content type, in the schema asked for.
    fn negotiated_body(&self, status: StatusCode) -> (Value, &'static str) {
        let body = self.body(status);
        if !self.problem_details {
            return (body, "application/json; charset=utf-8");
        }
        let Value::Object(mut fields) = body else {
            return (body, "application/json; charset=utf-8");
        };
        let mut problem = Map::new();
        problem.insert("type".into(), "about:blank".into());
        let title = status.canonical_reason().unwrap_or("Error");
        problem.insert("title".into(), title.into());
        problem.insert("status".into(), status.as_u16().into());
        for (from, to) in [("description", "detail"), ("code", "code")] {
            if let Some(value) = fields.remove(from) {
                problem.insert(to.into(), value);
            }
        }
        if let Some(upstream) = fields.remove("upstream") {
            problem.insert("upstream".into(), upstream);
        }
        (Value::Object(problem), "application/problem+json")
    }
}

/// Whether `Accept` lists `application/problem+json` with a quality above zero.
fn accepts_problem_json(request_headers: &http::HeaderMap) -> bool {
    request_headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media_type = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|param| {
                param.split_once('=').is_some_and(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("q")
                        && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            media_type.eq_ignore_ascii_case("application/problem+json") && !refused
        })
}

/// With the defaults: see the [module docs](self).
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        ErrorResponse::from(self).into_response()
    }
}

/// With the defaults: see the [module docs](self).
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ErrorResponse::from(self).into_response()
    }
}

/// A delay in whole seconds for `Retry-After`, rounded up (never earlier than the delay), and
/// at most a day ([`MAX_WINDOW`]): the longest the throttle gate closes for, after which asking
/// again is cheaper than trusting a hostile or broken header.
fn whole_seconds(delay: std::time::Duration) -> u64 {
    let delay = delay.min(MAX_WINDOW);
    delay.as_secs() + u64::from(delay.subsec_nanos() > 0)
}

/// The longest upstream `Allow` relayed: every method there is fits many times over.
const MAX_ALLOW_BYTES: usize = 256;

/// Whether an id may be relayed in a header as it is: visible ASCII and spaces only, so no
/// control, format or bidi character (which `HeaderValue` would let through as obs-text).
fn is_plain_header_text(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// The status a gateway answers with when its upstream answered `upstream`.
fn status_for(upstream: StatusCode) -> StatusCode {
    match upstream.as_u16() {
        401 | 403 | 407 => StatusCode::BAD_GATEWAY,
        408 | 504 => StatusCode::GATEWAY_TIMEOUT,
        503 => StatusCode::SERVICE_UNAVAILABLE,
        400..=499 => upstream,
        _ => StatusCode::BAD_GATEWAY,
    }
}

fn generic_description(error: Option<&ApiError>, status: StatusCode) -> &'static str {
    let Some(error) = error else {
        return "The upstream service could not be reached.";
    };
    match (error.status().as_u16(), status) {
        (401 | 403 | 407, _) => "The upstream service refused this service's credentials.",
        (_, StatusCode::GATEWAY_TIMEOUT) => "The upstream service did not answer in time.",
        (_, StatusCode::SERVICE_UNAVAILABLE) => "The upstream service is unavailable; retry later.",
        (_, StatusCode::TOO_MANY_REQUESTS) => "Too many requests; retry later.",
        (_, StatusCode::BAD_GATEWAY) => "The upstream service failed.",
        (_, status) => status.canonical_reason().unwrap_or("The request failed."),
    }
}

/// Whether `text` is empty or only whitespace: a description the schema rejects
/// ([`Violation::EmptyDescription`](crate::schema::Violation::EmptyDescription)).
fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Network text made safe to send on: control characters escaped, at most the schema's 1024
/// characters.
fn bounded(text: &str) -> String {
    let sanitized = Sanitized::with_limit(text, MAX_DESCRIPTION_CHARS).to_string();
    if sanitized.chars().count() <= MAX_DESCRIPTION_CHARS {
        return sanitized;
    }
    let mut cut: String = sanitized.chars().take(MAX_DESCRIPTION_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The `upstream` object of an exposed body.
fn upstream(error: &ApiError) -> Value {
    let ids = error.ids();
    json!({
        "status": error.status().as_u16(),
        "ids": {
            "correlation_id": ids.correlation_id,
            "request_id": ids.request_id,
            "correlation_vector": ids.correlation_vector,
            "server_id": ids.server_id,
            "request_context": ids.request_context,
        },
        "violations": error.violations().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "incomplete": error.incomplete().map(ToString::to_string),
        "body": String::from_utf8_lossy(error.raw_body()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_asks_for_problem_details_only_when_it_lists_them() {
        let accepts = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::ACCEPT, HeaderValue::from_str(value).unwrap());
            accepts_problem_json(&headers)
        };
        assert!(accepts("application/problem+json"));
        assert!(accepts("application/json, Application/Problem+JSON; q=0.9"));
        assert!(!accepts("application/problem+json;q=0"));
        assert!(!accepts("application/json"));
        assert!(!accepts("*/*"));
        assert!(!accepts_problem_json(&http::HeaderMap::new()));
    }

    #[test]
    fn every_upstream_status_maps_to_a_sound_one() {
        for code in 400..600u16 {
            let upstream = StatusCode::from_u16(code).unwrap();
            let sent = status_for(upstream);
            let expected = match code {
                401 | 403 | 407 => 502,
                408 | 504 => 504,
                503 => 503,
                400..=499 => code,
                _ => 502,
            };
            assert_eq!(sent.as_u16(), expected, "{code}");
            assert!(sent.is_client_error() || sent.is_server_error());
        }
    }

    #[test]
    fn descriptions_are_sanitised_and_bounded_in_characters() {
        let long = format!("a\u{1b}[2J{}", "é".repeat(5000));
        let shown = bounded(&long);
        assert_eq!(shown.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(shown.starts_with("a\\u{1b}[2J"));
        assert!(shown.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }

    async fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> (Response, Value) {
        use http_body_util::BodyExt;
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        let error = ApiError::new(
            StatusCode::from_u16(status).unwrap(),
            map,
            bytes::Bytes::copy_from_slice(body.as_bytes()),
        );
        let (parts, body) = error.into_response().into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap();
        (
            Response::from_parts(parts, axum_core::body::Body::empty()),
            json,
        )
    }

    #[tokio::test]
    async fn the_upstream_code_goes_only_where_its_description_goes() {
        let leaky = r#"{"code":"NullReferenceException at Orders.Submit() in C:\\src\\Orders.cs:line 42","description":"Object reference not set.","source":"PartnerFD"}"#;
        for status in [500, 401, 403, 503] {
            let (response, body) = answer(status, &[], leaky).await;
            let shown = body.to_string();
            assert!(!shown.contains("NullReference"), "{status}: {shown}");
            assert!(!shown.contains("Object reference"), "{status}: {shown}");
            assert_eq!(body["code"], response.status().as_u16().to_string());
        }
        // A client error relayed with its status keeps both.
        let (response, body) = answer(404, &[], leaky).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(body["code"].as_str().unwrap().starts_with("NullReference"));
        assert_eq!(body["description"], "Object reference not set.");
    }

    #[tokio::test]
    async fn a_blank_handler_message_gives_way_to_the_status_reason() {
        use http_body_util::BodyExt;
        for message in ["", " \t\r\n", "\u{3000}"] {
            let response = ErrorResponse::local(StatusCode::CONFLICT, message).into_response();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let parsed = crate::schema::parse(&bytes, Some("application/json"));
            assert!(parsed.violations.is_empty(), "{message:?}: {parsed:?}");
            assert_eq!(parsed.description(), Some("Conflict"), "{message:?}");
        }
    }

    #[tokio::test]
    async fn relayed_id_headers_carry_no_control_or_bidi_characters() {
        let (response, _) = answer(
            404,
            &[
                ("ms-correlationid", "abc\u{202e}def"),
                ("ms-requestid", "req\tone"),
            ],
            "{}",
        )
        .await;
        assert!(response.headers().get("ms-correlationid").is_none());
        assert!(response.headers().get("ms-requestid").is_none());
        let (response, _) = answer(404, &[("ms-correlationid", "plain-id 1")], "{}").await;
        assert_eq!(response.headers()["ms-correlationid"], "plain-id 1");
    }
}

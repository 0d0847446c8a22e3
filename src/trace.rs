//! `tracing` events (feature `tracing`): one per error response, one per retry, one per give-up.
//!
//! Events go to the `partner_center_errors` target. An error response is one `WARN` event,
//! whichever integration captured it (the tower layer in either mode, the reqwest-middleware
//! middleware, the layer around `reqwest::Client`), with these fields:
//!
//! | field | value |
//! |---|---|
//! | `status` | the status code, as a number |
//! | `kind` | the [`ErrorKind`](crate::ErrorKind), e.g. `TooManyRequests` |
//! | `code` | the body's error code (sanitised, at most 64 characters), if any |
//! | `payload` | what the body was: `partner_center`, `gateway`, `graph`, `json`, `html`, `xml`, `text`, `empty` |
//! | `correlation_id`, `request_id`, `correlation_vector`, `server_id` | the response ids, when present (sanitised) |
//! | `violations` | how many ways the body broke the schema |
//! | `bytes_read` | how many body bytes were read (at most the cap) |
//! | `incomplete` | why reading stopped early, if it did |
//! | `retry_after_ms` | the server's retry delay, if any |
//!
//! No body text is in it: the description is only in a `DEBUG` event of its own, sanitised and
//! bounded, with the status beside it. Raw bodies are never logged.
//!
//! The retry policy ([`RetryAfterPolicy`](crate::RetryAfterPolicy), and the reqwest-middleware
//! retry built on it) adds an `INFO` event before each retry (`retry`, `wait_ms`, `status`,
//! `delay_source`, ids) and a `WARN` event when it gives up (`reason`, `attempts`, `waited_ms`,
//! `status`, `retry_after_ms`, ids), with no body text either.

use crate::sanitize::Sanitized;
use crate::schema::Payload;
use crate::ApiError;

/// Most characters of an id written to an event.
const MAX_ID_CHARS: usize = 128;

/// Records one error response.
pub(crate) fn error_response(error: &ApiError) {
    let ids = error.ids();
    let id = |value: &Option<String>| {
        value
            .as_deref()
            .map(|value| Sanitized::with_limit(value, MAX_ID_CHARS).to_string())
    };
    tracing::warn!(
        target: "partner_center_errors",
        status = error.status().as_u16(),
        kind = ?error.kind(),
        code = error.code().map(|code| Sanitized::with_limit(code, 64).to_string()),
        payload = payload_name(error.payload()),
        correlation_id = id(&ids.correlation_id),
        request_id = id(&ids.request_id),
        correlation_vector = id(&ids.correlation_vector),
        server_id = id(&ids.server_id),
        violations = error.violations().len(),
        bytes_read = error.raw_body().len(),
        incomplete = error.incomplete().map(ToString::to_string),
        retry_after_ms = error.retry_after().map(|delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
        "partner center error response"
    );
    if let Some(description) = error.description() {
        tracing::debug!(
            target: "partner_center_errors",
            status = error.status().as_u16(),
            description = %Sanitized::new(description),
            "partner center error description"
        );
    }
}

/// What a body was, in one word for a log field.
fn payload_name(payload: &Payload) -> &'static str {
    match payload {
        Payload::PartnerCenter(_) => "partner_center",
        Payload::Gateway(_) => "gateway",
        Payload::Graph(_) => "graph",
        Payload::OtherJson(_) => "json",
        Payload::Html(_) => "html",
        Payload::Xml(_) => "xml",
        Payload::Text(_) => "text",
        Payload::Empty => "empty",
    }
}

/// Records one retry about to be made: its number, the wait before it, and what the server
/// said. `INFO`, with no body text.
pub(crate) fn retry(retry: u32, wait: std::time::Duration, error: &ApiError) {
    let ids = error.ids();
    let hint = error.retry_hint();
    tracing::info!(
        target: "partner_center_errors",
        retry,
        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        status = error.status().as_u16(),
        delay_source = hint.source().map(|source| format!("{source:?}")),
        correlation_id = ids.correlation_id.as_deref(),
        request_id = ids.request_id.as_deref(),
        "partner center retry"
    );
}

/// Records the retry policy giving up: why, after how many attempts and how much waiting.
/// `WARN`, with no body text.
pub(crate) fn give_up(gave_up: &crate::GaveUp) {
    let error = gave_up.api_error();
    let ids = error.map(ApiError::ids);
    tracing::warn!(
        target: "partner_center_errors",
        reason = ?gave_up.reason(),
        attempts = gave_up.attempts(),
        waited_ms = u64::try_from(gave_up.waited().as_millis()).unwrap_or(u64::MAX),
        status = error.map(|error| error.status().as_u16()),
        retry_after_ms = error
            .and_then(ApiError::retry_after)
            .map(|delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
        correlation_id = ids.and_then(|ids| ids.correlation_id.as_deref()),
        request_id = ids.and_then(|ids| ids.request_id.as_deref()),
        "partner center retries gave up"
    );
}

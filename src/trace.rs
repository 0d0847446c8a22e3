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

//! `tracing` events (feature `tracing`): one per error response, one per retry, one per give-up.
//!
//! Events go to the `partner_center_errors` target. An error response is a `WARN` event with
//! its status, kind, code, ids, violation count and bytes read, and never any body text: the
//! description is only in a `DEBUG` event of its own, sanitised and bounded.

use crate::sanitize::Sanitized;
use crate::ApiError;

/// Records one error response.
pub(crate) fn error_response(error: &ApiError) {
    let ids = error.ids();
    tracing::warn!(
        target: "partner_center_errors",
        status = error.status().as_u16(),
        kind = ?error.kind(),
        code = error.code().map(|code| Sanitized::with_limit(code, 64).to_string()),
        correlation_id = ids.correlation_id.as_deref(),
        request_id = ids.request_id.as_deref(),
        violations = error.violations().len(),
        bytes_read = error.raw_body().len(),
        incomplete = error.incomplete().map(ToString::to_string),
        retry_after_ms = error.retry_after().map(|delay| delay.as_millis() as u64),
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
pub(crate) fn give_up(gave_up: &crate::retry::GaveUp) {
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

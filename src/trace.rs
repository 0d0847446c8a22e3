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

//! `tracing` events (feature `tracing`): one per error response, one per retry, one per give-up.
//!
//! Private: the events and their fields are documented for users in the crate docs'
//! [Logging](crate#logging) section; keep that table true to what is emitted here.

use tracing::Level;

use crate::sanitize::Sanitized;
use crate::schema::{Payload, Severity, Violation};
use crate::ApiError;

/// Most characters of an id written to an event.
const MAX_ID_CHARS: usize = 128;

/// An id as written to an event: sanitised (control, format and bidi characters escaped) and
/// cut at [`MAX_ID_CHARS`].
fn id(value: Option<&String>) -> Option<String> {
    value.map(|value| Sanitized::with_limit(value, MAX_ID_CHARS).to_string())
}

/// Emits one event at a level chosen at run time (`tracing`'s macros need a constant level);
/// `None` emits nothing.
macro_rules! event_at {
    ($level:expr, target: $target:expr, $($event:tt)+) => {
        match $level {
            Some(Level::ERROR) => tracing::event!(target: $target, Level::ERROR, $($event)+),
            Some(Level::WARN) => tracing::event!(target: $target, Level::WARN, $($event)+),
            Some(Level::INFO) => tracing::event!(target: $target, Level::INFO, $($event)+),
            Some(Level::DEBUG) => tracing::event!(target: $target, Level::DEBUG, $($event)+),
            Some(_) => tracing::event!(target: $target, Level::TRACE, $($event)+),
            None => {}
        }
    };
}

/// The levels of the error-response event, by status class: the layer's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResponseLevels {
    /// For 4xx; `None`: no event.
    pub(crate) client_error: Option<Level>,
    /// For 5xx; `None`: no event.
    pub(crate) server_error: Option<Level>,
}

impl ResponseLevels {
    /// `WARN` for both classes.
    pub(crate) const DEFAULT: Self = Self {
        client_error: Some(Level::WARN),
        server_error: Some(Level::WARN),
    };
    /// No events (a capture whose result another part of the crate logs).
    #[cfg(feature = "reqwest")]
    pub(crate) const OFF: Self = Self {
        client_error: None,
        server_error: None,
    };

    fn of(self, status: http::StatusCode) -> Option<Level> {
        // 600-999 as a 5xx, as RFC 9110 §15 has a client read them.
        if status.as_u16() >= 500 {
            self.server_error
        } else {
            self.client_error
        }
    }
}

/// The levels of the retry policy's events: the policy's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryLevels {
    /// Before each retry; `None`: no event.
    pub(crate) retry: Option<Level>,
    /// When the policy gives up; `None`: no event.
    pub(crate) give_up: Option<Level>,
}

impl RetryLevels {
    /// `INFO` before a retry, `WARN` on giving up.
    pub(crate) const DEFAULT: Self = Self {
        retry: Some(Level::INFO),
        give_up: Some(Level::WARN),
    };
}

/// Records one error response at the level `levels` gives its status class.
pub(crate) fn error_response(error: &ApiError, levels: ResponseLevels) {
    let Some(level) = levels.of(error.status()) else {
        return;
    };
    let ids = error.ids();
    let violations = error.violations();
    let breaches = violations
        .iter()
        .filter(|violation| violation.severity() == Severity::Breach)
        .count();
    let severity = violations.iter().map(Violation::severity).max();
    event_at!(
        Some(level),
        target: "partner_center_errors",
        status = error.status().as_u16(),
        kind = ?error.kind(),
        code = error.code().map(|code| Sanitized::with_limit(code, 64).to_string()),
        payload = payload_name(error.payload()),
        correlation_id = id(ids.correlation_id.as_ref()),
        request_id = id(ids.request_id.as_ref()),
        correlation_vector = id(ids.correlation_vector.as_ref()),
        server_id = id(ids.server_id.as_ref()),
        request_context = id(ids.request_context.as_ref()),
        violations = violations.len(),
        breaches,
        severity = severity.map(Severity::name),
        bytes_read = error.raw_body().len(),
        incomplete = error.incomplete().map(ToString::to_string),
        retry_after_ms = error.retry_after().map(|delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
        "partner center error response"
    );
    // `DEBUG`, or quieter with the event it belongs to: an event set to `TRACE` must not leave
    // its body text behind at `DEBUG`. (`tracing` orders the quieter level as the greater.)
    if let Some(description) = error.description() {
        event_at!(
            Some(level.max(Level::DEBUG)),
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
        Payload::Problem(_) => "problem_details",
        Payload::OtherJson(_) => "json",
        Payload::Html(_) => "html",
        Payload::Xml(_) => "xml",
        Payload::Text(_) => "text",
        Payload::Empty => "empty",
    }
}

/// Records one retry about to be made: its number, the wait before it, and what the server
/// said, at `level`, with no body text.
pub(crate) fn retry(level: Option<Level>, retry: u32, wait: std::time::Duration, error: &ApiError) {
    let ids = error.ids();
    let hint = error.retry_hint();
    event_at!(
        level,
        target: "partner_center_errors",
        retry,
        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        status = error.status().as_u16(),
        delay_source = hint.source().map(|source| format!("{source:?}")),
        correlation_id = id(ids.correlation_id.as_ref()),
        request_id = id(ids.request_id.as_ref()),
        "partner center retry"
    );
}

/// Records the retry policy giving up: why, after how many attempts and how much waiting.
/// At `level`, with no body text.
pub(crate) fn give_up(level: Option<Level>, gave_up: &crate::GaveUp) {
    let error = gave_up.api_error();
    let ids = error.map(ApiError::ids);
    event_at!(
        level,
        target: "partner_center_errors",
        reason = ?gave_up.reason(),
        attempts = gave_up.attempts(),
        waited_ms = u64::try_from(gave_up.waited().as_millis()).unwrap_or(u64::MAX),
        status = error.map(|error| error.status().as_u16()),
        retry_after_ms = error
            .and_then(ApiError::retry_after)
            .map(|delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
        correlation_id = id(ids.and_then(|ids| ids.correlation_id.as_ref())),
        request_id = id(ids.and_then(|ids| ids.request_id.as_ref())),
        "partner center retries gave up"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    use super::*;

    /// Every string field of every event, as recorded (before any formatter escapes it).
    #[derive(Clone, Default)]
    struct Fields(Arc<Mutex<Vec<(String, String)>>>);

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            let mut fields = self.0.lock().unwrap();
            fields.push((field.name().to_owned(), value.to_owned()));
        }

        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let mut fields = self.0.lock().unwrap();
            fields.push((field.name().to_owned(), format!("{value:?}")));
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Fields {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            event.record(&mut self.clone());
        }
    }

    fn recorded(run: impl FnOnce()) -> Vec<(String, String)> {
        let fields = Fields::default();
        let subscriber = tracing_subscriber::registry().with(fields.clone());
        tracing::subscriber::with_default(subscriber, run);
        let recorded = fields.0.lock().unwrap().clone();
        recorded
    }

    fn hostile_error(body: &str) -> ApiError {
        let mut headers = http::HeaderMap::new();
        let hostile = "id\u{202e}x\u{2066}".as_bytes();
        for name in ["ms-correlationid", "ms-requestid"] {
            headers.insert(name, http::HeaderValue::from_bytes(hostile).unwrap());
        }
        headers.insert("retry-after", http::HeaderValue::from_static("1"));
        ApiError::new(
            http::StatusCode::TOO_MANY_REQUESTS,
            headers,
            bytes::Bytes::copy_from_slice(body.as_bytes()),
        )
    }

    #[test]
    fn every_event_escapes_the_ids() {
        let error = hostile_error("{}");
        let fields = recorded(|| {
            error_response(&error, ResponseLevels::DEFAULT);
            retry(Some(Level::INFO), 1, Duration::from_secs(1), &error);
        });
        let ids: Vec<_> = fields
            .iter()
            .filter(|(name, _)| name.ends_with("_id"))
            .collect();
        assert_eq!(ids.len(), 4, "{fields:?}");
        for (name, value) in ids {
            assert!(!value.contains('\u{202e}'), "{name}: {value:?}");
            assert!(!value.contains('\u{2066}'), "{name}: {value:?}");
            assert!(value.starts_with("id\\u{202e}"), "{name}: {value:?}");
        }
    }

    #[test]
    fn the_error_event_carries_the_severity() {
        let field = |fields: &[(String, String)], name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let numeric = hostile_error(r#"{"code":3000,"description":"d"}"#);
        let fields = recorded(|| error_response(&numeric, ResponseLevels::DEFAULT));
        assert_eq!(
            field(&fields, "severity").as_deref(),
            Some("known_deviation")
        );
        assert_eq!(field(&fields, "breaches").as_deref(), Some("0"));
        let html = hostile_error("<html></html>");
        let fields = recorded(|| error_response(&html, ResponseLevels::DEFAULT));
        assert_eq!(field(&fields, "severity").as_deref(), Some("breach"));
        assert_eq!(field(&fields, "breaches").as_deref(), Some("1"));
    }
}

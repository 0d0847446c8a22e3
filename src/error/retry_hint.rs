//! The retry hint: whether retrying an error response makes sense, and the delay the server
//! asked for.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

use super::{ApiError, ErrorKind};
use crate::headers::{self, DelaySource};

/// What an error response says about retrying it: whether a retry makes sense (429, 503 and
/// 504 say "come back later"), the delay the server asked for, and where that delay came from.
///
/// Built from a structured error with [`ApiError::retry_hint`], or from a status, headers and
/// body text with [`retry_hint`] (for a policy of your own that sees raw responses). Both read
/// the delay as [`crate::headers::retry_after`] does: `retry-after-ms`, `x-ms-retry-after-ms`,
/// `Retry-After` (delay-seconds or any HTTP-date), and only when no header gives one, a
/// gateway's `Try again in N seconds` (in its JSON `message`, or a page of text, HTML or XML).
///
/// A delay is kept as the server sent it, however long: clamping it is the policy's job
/// ([`RetryAfterPolicy::max_wait`](crate::RetryAfterPolicy::max_wait)). Invalid values give no
/// delay, never a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryHint {
    status: StatusCode,
    delay: Option<(Duration, DelaySource)>,
}

impl RetryHint {
    pub(crate) fn new(status: StatusCode, delay: Option<(Duration, DelaySource)>) -> Self {
        Self { status, delay }
    }

    /// Reads the hint of a response with `status`, `headers` and, if you have it, its body's
    /// text, as of `now` (which only matters for an HTTP-date).
    ///
    /// The body text is searched for `Try again in N seconds` only when no header gives a
    /// delay; pass `None` to skip it.
    pub fn read(
        status: StatusCode,
        headers: &HeaderMap,
        body_text: Option<&str>,
        now: SystemTime,
    ) -> Self {
        Self {
            status,
            delay: resolve_delay(headers, body_text, now),
        }
    }

    /// Returns the status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Returns whether the status means "come back later": 429, 503 or 504.
    pub fn is_retryable(&self) -> bool {
        ErrorKind::from_status(self.status).is_retryable()
    }

    /// Returns the delay the server asked for, if it asked.
    pub fn delay(&self) -> Option<Duration> {
        self.delay.map(|(delay, _)| delay)
    }

    /// Returns where [`delay`](Self::delay) came from.
    pub fn source(&self) -> Option<DelaySource> {
        self.delay.map(|(_, source)| source)
    }
}

/// The delay a response asks for, and where it came from: from the headers, and only when they
/// give none, from `Try again in N seconds` in `body_text`. The one place this rule is written.
pub(crate) fn resolve_delay(
    headers: &HeaderMap,
    body_text: Option<&str>,
    now: SystemTime,
) -> Option<(Duration, DelaySource)> {
    headers::retry_after_with_source(headers, now).or_else(|| {
        body_text
            .and_then(headers::retry_after_from_text)
            .map(|delay| (delay, DelaySource::BodyText))
    })
}

/// Returns the retry hint of a response with `status`, `headers` and (optionally) its body's text,
/// as of now: [`RetryHint::read`] with [`SystemTime::now`].
///
/// For a `tower::retry::Policy` of your own that sees the raw response:
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use partner_center_errors::headers::DelaySource;
/// use partner_center_errors::retry::retry_hint;
/// use std::time::Duration;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "57".parse().unwrap());
/// let hint = retry_hint(StatusCode::TOO_MANY_REQUESTS, &headers, None);
/// assert!(hint.is_retryable());
/// assert_eq!(hint.delay(), Some(Duration::from_secs(57)));
/// assert_eq!(hint.source(), Some(DelaySource::RetryAfterSeconds));
///
/// // No header: the gateway's throttling body still says how long.
/// let body = r#"{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 12 seconds." }"#;
/// let hint = retry_hint(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), Some(body));
/// assert_eq!(hint.delay(), Some(Duration::from_secs(12)));
/// assert_eq!(hint.source(), Some(DelaySource::BodyText));
///
/// // Not a "come back later" status.
/// assert!(!retry_hint(StatusCode::BAD_REQUEST, &HeaderMap::new(), None).is_retryable());
/// ```
pub fn retry_hint(status: StatusCode, headers: &HeaderMap, body_text: Option<&str>) -> RetryHint {
    RetryHint::read(status, headers, body_text, SystemTime::now())
}

impl From<&ApiError> for RetryHint {
    fn from(error: &ApiError) -> Self {
        error.retry_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::UNIX_EPOCH;

    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn headers(pairs: Pairs<'_>) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            map.append(name, value.parse().unwrap());
        }
        map
    }

    fn api_error(status: u16, pairs: Pairs<'_>, body: &str) -> ApiError {
        ApiError::new(
            StatusCode::from_u16(status).unwrap(),
            headers(pairs),
            Bytes::copy_from_slice(body.as_bytes()),
        )
    }

    #[test]
    fn the_error_and_the_free_function_agree_on_every_source() {
        let gateway = r#"{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }"#;
        let before = SystemTime::now();
        let date = UNIX_EPOCH
            + Duration::from_secs(before.duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600);
        let in_an_hour = httpdate::fmt_http_date(date);
        let cases: [(u16, Pairs<'_>, &str, DelaySource); 5] = [
            (
                429,
                &[("retry-after-ms", "1500"), ("retry-after", "57")],
                "",
                DelaySource::RetryAfterMs,
            ),
            (
                503,
                &[("x-ms-retry-after-ms", "250")],
                "",
                DelaySource::XMsRetryAfterMs,
            ),
            (
                504,
                &[("retry-after", "57")],
                gateway,
                DelaySource::RetryAfterSeconds,
            ),
            (
                429,
                &[("retry-after", &in_an_hour)],
                "",
                DelaySource::RetryAfterDate,
            ),
            (429, &[], gateway, DelaySource::BodyText),
        ];
        for (status, pairs, body, source) in cases {
            let error = api_error(status, pairs, body);
            let from_error = error.retry_hint();
            assert_eq!(from_error.source(), Some(source), "{pairs:?}");
            assert_eq!(from_error.delay(), error.retry_after());
            assert_eq!(from_error.status().as_u16(), status);
            assert!(from_error.is_retryable());
            assert_eq!(RetryHint::from(&error), from_error);

            let free = retry_hint(error.status(), error.headers(), Some(body));
            assert_eq!(free.source(), Some(source));
            if source == DelaySource::RetryAfterDate {
                // Each read the date against the clock at its own moment, between `before`
                // and now; the later read has no more to wait.
                let after = SystemTime::now();
                let (a, b) = (from_error.delay().unwrap(), free.delay().unwrap());
                let bounds =
                    date.duration_since(after).unwrap()..=date.duration_since(before).unwrap();
                assert!(
                    bounds.contains(&a) && bounds.contains(&b),
                    "{a:?} {b:?} {bounds:?}"
                );
                assert!(b <= a, "{a:?} {b:?}");
            } else {
                assert_eq!(free, from_error);
            }
        }
    }

    #[test]
    fn no_hint_from_garbage_and_no_panic() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        for value in ["-1", "1.5", "soon", "", "Sun, 32 Nov 1994"] {
            let map = headers(&[("retry-after", value), ("retry-after-ms", value)]);
            let hint = RetryHint::read(StatusCode::TOO_MANY_REQUESTS, &map, Some(value), now);
            assert_eq!(hint.delay(), None, "{value:?}");
            assert_eq!(hint.source(), None);
            assert!(hint.is_retryable(), "the status still says come back later");
        }
    }

    #[test]
    fn very_long_delays_are_kept_as_sent() {
        let now = UNIX_EPOCH;
        let map = headers(&[("retry-after", "18446744073709551615")]);
        let hint = RetryHint::read(StatusCode::SERVICE_UNAVAILABLE, &map, None, now);
        assert_eq!(hint.delay(), Some(Duration::from_secs(u64::MAX)));
        // Too large to count: the longest delay, not none.
        let map = headers(&[("retry-after", "99999999999999999999999")]);
        let hint = RetryHint::read(StatusCode::SERVICE_UNAVAILABLE, &map, None, now);
        assert_eq!(hint.delay(), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(hint.source(), Some(DelaySource::RetryAfterSeconds));
    }

    #[test]
    fn a_header_wins_over_body_text_and_body_text_is_optional() {
        let now = UNIX_EPOCH;
        let map = headers(&[("retry-after", "3")]);
        let body = Some("Try again in 57 seconds.");
        let hint = RetryHint::read(StatusCode::TOO_MANY_REQUESTS, &map, body, now);
        assert_eq!(hint.delay(), Some(Duration::from_secs(3)));
        let hint = RetryHint::read(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), None, now);
        assert_eq!((hint.delay(), hint.source()), (None, None));
    }

    #[test]
    fn retryable_is_exactly_429_503_504_with_or_without_a_delay() {
        let map = headers(&[("retry-after", "1")]);
        for status in 100..600u16 {
            let status = StatusCode::from_u16(status).unwrap();
            let hint = RetryHint::read(status, &map, None, UNIX_EPOCH);
            assert_eq!(
                hint.is_retryable(),
                matches!(status.as_u16(), 429 | 503 | 504)
            );
            assert_eq!(hint.delay(), Some(Duration::from_secs(1)));
        }
    }
}

//! The Retry-After readers: `parse_retry_after`, `parse_retry_after_ms`,
//! `retry_after_from_text`, and `retry_after` over a header map.
//!
//! Input: eight bytes of "now" (seconds since the epoch, folded into the HTTP-date range), then
//! text. The text is one header value for the single-value parsers, a gateway message for the
//! text reader, and `name: value` lines for the header-map reader.
//!
//! Asserts, beyond "no panic", each parser against the rule its docs state.
#![no_main]

#[path = "../../src/headers/tests/delay_rules.rs"]
mod delay_rules;

use std::time::{Duration, UNIX_EPOCH};

use http::header::{HeaderName, DATE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use partner_center_errors::headers::{
    parse_retry_after, parse_retry_after_ms, retry_after, retry_after_from_text, RETRY_AFTER_MS,
    X_MS_RETRY_AFTER_MS,
};

/// The end of year 9999, the last second an HTTP-date can name.
const MAX_HTTP_DATE: u64 = 253_402_300_799;

fuzz_target!(|data: &[u8]| {
    let (now, text) = match data.split_first_chunk::<8>() {
        Some((now, text)) => (u64::from_le_bytes(*now) % (MAX_HTTP_DATE + 1), text),
        None => (1_700_000_000, data),
    };
    let now = UNIX_EPOCH + Duration::from_secs(now);
    let text = String::from_utf8_lossy(text);

    // Milliseconds, seconds or dates (or lists of them), the gateway's sentence: each reader
    // against the rule its docs state, the model the unit tests' properties use.
    delay_rules::check_delay_rules(&text, now);

    // The header map: the first present and valid of retry-after-ms, x-ms-retry-after-ms,
    // Retry-After; over several lines the longest valid one; HTTP-dates measured against the
    // response's `Date` when it is valid (the earliest date of its lines, each one date or a
    // folded list of dates).
    let headers = header_map(&text);
    let first = |name: HeaderName, parse: &dyn Fn(&str) -> Option<Duration>| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(parse)
            .max()
    };
    let origin = headers
        .get_all(DATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| delay_rules::date_list(value.trim()))
        .min();
    let now = origin.unwrap_or(now);
    let expected = first(RETRY_AFTER_MS, &parse_retry_after_ms)
        .or_else(|| first(X_MS_RETRY_AFTER_MS, &parse_retry_after_ms))
        .or_else(|| first(RETRY_AFTER, &|value| parse_retry_after(value, now)));
    assert_eq!(retry_after(&headers, now), expected);
});

fn header_map(text: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    headers
}

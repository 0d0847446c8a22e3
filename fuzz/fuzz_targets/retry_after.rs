//! The Retry-After readers: `parse_retry_after`, `parse_retry_after_ms`,
//! `retry_after_from_text`, and `retry_after` over a header map.
//!
//! Input: eight bytes of "now" (seconds since the epoch, folded into the HTTP-date range), then
//! text. The text is one header value for the single-value parsers, a gateway message for the
//! text reader, and `name: value` lines for the header-map reader.
//!
//! Asserts, beyond "no panic", each parser against the rule its docs state.
#![no_main]

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

    // Milliseconds: digits, or a comma-separated list of them (the largest wins), a number
    // past u64::MAX counting as u64::MAX.
    let list = digit_list(text.trim());
    assert_eq!(parse_retry_after_ms(&text), list.map(Duration::from_millis));

    // Delay-seconds (or a list of them), else an HTTP-date measured from `now`, else a list of
    // both (folded lines), the largest.
    let expected = match list {
        Some(largest) => Some(Duration::from_secs(largest)),
        None => httpdate::parse_http_date(text.trim())
            .ok()
            .map(|date| date.duration_since(now).unwrap_or(Duration::ZERO))
            .or_else(|| element_list(text.trim(), now)),
    };
    assert_eq!(parse_retry_after(&text, now), expected);

    // "try again in N second(s)": N is in the text, and so are the words.
    if let Some(delay) = retry_after_from_text(&text) {
        let lower = text.to_ascii_lowercase();
        let at = lower.find("try").expect("the sentence starts with `try`");
        let rest = &lower[at..];
        assert!(
            rest.contains("again") && rest.contains("second"),
            "{text:?}"
        );
        // A number past u64::MAX reads as u64::MAX: then at least that many digits.
        let digits = delay.as_secs().to_string();
        let longest_run = rest
            .split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        let saturated = delay.as_secs() == u64::MAX && longest_run >= digits.len();
        assert!(
            rest.contains(&digits) || saturated,
            "{delay:?} not in {text:?}"
        );
    }

    // The header map: the first present and valid of retry-after-ms, x-ms-retry-after-ms,
    // Retry-After; over several lines the longest valid one; HTTP-dates measured against the
    // response's `Date` when it is valid.
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
        .get(DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| httpdate::parse_http_date(value.trim()).ok());
    let now = origin.unwrap_or(now);
    let expected = first(RETRY_AFTER_MS, &parse_retry_after_ms)
        .or_else(|| first(X_MS_RETRY_AFTER_MS, &parse_retry_after_ms))
        .or_else(|| first(RETRY_AFTER, &|value| parse_retry_after(value, now)));
    assert_eq!(retry_after(&headers, now), expected);
});

/// `1*DIGIT *( OWS "," OWS 1*DIGIT )`: `None` when `s` is not such a list, else the largest
/// number, `u64::MAX` for one that overflows a `u64`.
fn digit_list(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split(',').map(|p| p.trim_matches([' ', '\t'])).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    parts.iter().map(|p| p.parse().unwrap_or(u64::MAX)).max()
}

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

/// A folded `Retry-After`: `value` cut at commas into elements, each delay-seconds or an
/// HTTP-date (a date may hold one comma), the largest delay; `None` when no cut works. Tries
/// every cut, not the parser's left-to-right scan.
fn element_list(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let element = |text: &str| {
        let text = text.trim_matches([' ', '\t']);
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
        }
        let date = httpdate::parse_http_date(text).ok()?;
        Some(date.duration_since(now).unwrap_or(Duration::ZERO))
    };
    let pieces: Vec<&str> = value.split(',').collect();
    let mut reach: Vec<Option<Duration>> = vec![None; pieces.len() + 1];
    reach[0] = Some(Duration::ZERO);
    for end in 1..=pieces.len() {
        for len in [1, 2] {
            let Some(start) = end.checked_sub(len) else {
                continue;
            };
            let (Some(before), Some(delay)) =
                (reach[start], element(&pieces[start..end].join(",")))
            else {
                continue;
            };
            let best = before.max(delay);
            reach[end] = Some(reach[end].map_or(best, |other| other.max(best)));
        }
    }
    reach[pieces.len()]
}

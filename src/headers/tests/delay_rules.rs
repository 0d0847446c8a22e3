//! The delay readers' rules, written as a model apart from the parsers: shared by the unit
//! tests' properties (`headers/tests.rs`) and the `retry_after` fuzz target, which includes
//! this file by path. The parent module brings `parse_retry_after`, `parse_retry_after_ms` and
//! `retry_after_from_text` into scope.

use std::time::{Duration, SystemTime};

use super::{parse_retry_after, parse_retry_after_ms, retry_after_from_text};

/// `1#DIGIT` lists (RFC 9110 §5.6.1: empty elements ignored, at least one number): `None`
/// when `s` is not such a list, else the largest number, `u64::MAX` for one that overflows a
/// `u64`.
fn digit_list(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s
        .split(',')
        .map(|p| p.trim_matches([' ', '\t']))
        .filter(|p| !p.is_empty())
        .collect();
    if parts.iter().any(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    parts.iter().map(|p| p.parse().unwrap_or(u64::MAX)).max()
}

/// Each delay reader against the rule its docs state.
pub(crate) fn check_delay_rules(value: &str, now: SystemTime) {
    let trimmed = value.trim();
    let list = digit_list(trimmed);
    assert_eq!(parse_retry_after_ms(value), list.map(Duration::from_millis));
    let expected = if let Some(largest) = list {
        Some(Duration::from_secs(largest))
    } else {
        httpdate::parse_http_date(trimmed)
            .ok()
            .map(|date| date.duration_since(now).unwrap_or(Duration::ZERO))
            .or_else(|| element_list(trimmed, now))
    };
    assert_eq!(parse_retry_after(value, now), expected);
    if let Some(delay) = retry_after_from_text(value) {
        let lower = value.to_ascii_lowercase();
        let at = lower.find("try").expect("the sentence starts with `try`");
        let rest = &lower[at..];
        assert!(
            rest.contains("again") && rest.contains("second"),
            "{value:?}"
        );
        // A number past `u64::MAX` reads as `u64::MAX`: then at least that many digits.
        let digits = delay.as_secs().to_string();
        let longest_run = rest
            .split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        let saturated = delay.as_secs() == u64::MAX && longest_run >= digits.len();
        assert!(rest.contains(&digits) || saturated, "{value:?}");
    }
}

/// The model of a folded `Retry-After`: `value` cut at commas into elements, each delay-seconds
/// or an HTTP-date (a date may hold one comma), the largest delay; `None` when no cut works.
fn element_list(value: &str, now: SystemTime) -> Option<Duration> {
    let element = |text: &str| {
        let text = text.trim_matches([' ', '\t']);
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
        }
        let date = httpdate::parse_http_date(text).ok()?;
        Some(date.duration_since(now).unwrap_or(Duration::ZERO))
    };
    read_cuts(value, element, Duration::max)
}

/// The model of a `Date` value, one date or several folded: `value` cut at commas into
/// HTTP-dates, the earliest; `None` when no cut works.
pub(crate) fn date_list(value: &str) -> Option<SystemTime> {
    let element = |text: &str| httpdate::parse_http_date(text.trim_matches([' ', '\t'])).ok();
    read_cuts(value, element, SystemTime::min)
}

/// `value` cut at commas into elements (an element may hold one comma), the elements combined
/// with `combine`; `None` when no cut works. Tries every cut (dynamic programming over the
/// pieces), not the parser's left-to-right scan.
fn read_cuts<T: Copy>(
    value: &str,
    element: impl Fn(&str) -> Option<T>,
    combine: impl Fn(T, T) -> T,
) -> Option<T> {
    let pieces: Vec<&str> = value.split(',').collect();
    // `reach[i]`: whether the first `i` pieces read as elements, and if so their combination
    // (`Some(None)` for none at all).
    let mut reach: Vec<Option<Option<T>>> = vec![None; pieces.len() + 1];
    reach[0] = Some(None);
    for end in 1..=pieces.len() {
        // An empty element is skipped (RFC 9110 §5.6.1.2).
        if pieces[end - 1].trim_matches([' ', '\t']).is_empty() {
            reach[end] = reach[end - 1];
        }
        for len in [1, 2] {
            let Some(start) = end.checked_sub(len) else {
                continue;
            };
            let (Some(before), Some(read)) = (reach[start], element(&pieces[start..end].join(",")))
            else {
                continue;
            };
            let best = before.map_or(read, |before| combine(before, read));
            let other = reach[end].flatten();
            reach[end] = Some(Some(other.map_or(best, |other| combine(other, best))));
        }
    }
    reach[pieces.len()].flatten()
}

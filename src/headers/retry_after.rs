//! The delay the server asked for.

use std::time::{Duration, SystemTime};

use http::header::{HeaderName, DATE, RETRY_AFTER};
use http::HeaderMap;

use super::{RETRY_AFTER_MS, X_MS_RETRY_AFTER_MS};

/// Where a retry delay was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DelaySource {
    /// The `retry-after-ms` header (milliseconds).
    RetryAfterMs,
    /// The `x-ms-retry-after-ms` header (milliseconds).
    XMsRetryAfterMs,
    /// The `Retry-After` header as delay-seconds.
    RetryAfterSeconds,
    /// The `Retry-After` header as an HTTP-date.
    RetryAfterDate,
    /// The `Try again in N seconds` sentence of a gateway's JSON `message`, or of a body of
    /// text, HTML or XML ([`retry_after_from_text`]).
    BodyText,
}

/// Returns the delay the server asked for, from the headers.
///
/// Looks at `retry-after-ms`, `x-ms-retry-after-ms` (milliseconds), then `Retry-After`
/// (delay-seconds, or an HTTP-date in any of RFC 9110's three formats; a date in the past means
/// [`Duration::ZERO`]). The first header that is present and valid wins; an invalid one falls
/// through to the next. When a header has several lines, the longest delay among its valid
/// lines counts, as when the lines are folded into one comma-separated value: never earlier
/// than any valid line asked. (Folded, a list is valid only when every element is; as separate
/// lines, an invalid line is passed over and the others count.)
///
/// An HTTP-date is measured against the response's own `Date` header when it carries a valid
/// one (sent twice, folded into one value or on two lines: the earliest of its dates), else
/// against `now`, the time the response was received. `Date` is the server's clock,
/// no later than when it answered: measured from it, the delay is never shorter than the server
/// asked, whatever this machine's clock says (ahead or behind, by a second or by a fraction),
/// and at most `Date`'s resolution (one second) and the time in transit longer.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after_with_source(headers, now).map(|(delay, _)| delay)
}

/// [`retry_after`], and which header the delay came from.
pub(crate) fn retry_after_with_source(
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<(Duration, DelaySource)> {
    let longest = |name: HeaderName, parse: &dyn Fn(&str) -> Option<(Duration, DelaySource)>| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(parse)
            .max_by_key(|(delay, _)| *delay)
    };
    let milliseconds =
        |source| move |value: &str| parse_retry_after_ms(value).map(|delay| (delay, source));
    // The server's clock, when it said what it was: HTTP-dates are measured on that clock.
    // Always, even when it agrees with `now` to within a second: `now` is finer, but a local
    // clock a fraction of a second ahead would then cut the wait short by that fraction. A
    // `Date` sent twice (folded, or on two lines) is read as its dates, the earliest counting:
    // the longest wait, where falling back to `now` could be early.
    let origin = headers
        .get_all(DATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| earliest_date(v.trim()))
        .min()
        .unwrap_or(now);
    longest(RETRY_AFTER_MS, &milliseconds(DelaySource::RetryAfterMs))
        .or_else(|| {
            longest(
                X_MS_RETRY_AFTER_MS,
                &milliseconds(DelaySource::XMsRetryAfterMs),
            )
        })
        .or_else(|| longest(RETRY_AFTER, &|value| parse_value(value, origin)))
}

/// Parses one `Retry-After` value: delay-seconds or HTTP-date.
///
/// Surrounding whitespace is ignored. Delay-seconds is digits only: a sign, a fraction or an
/// empty value gives `None`. More seconds than fit in a `u64` count as `u64::MAX` seconds (as
/// RFC 9111 has caches read a delta-seconds too large to hold): the server asked for a very long
/// wait, not for none. A comma-separated list of delay-seconds (what an intermediary makes of
/// repeated header lines, RFC 9110 §5.3, and what Partner Center's own `X,X` duplication looks
/// like) gives the largest, so that no reading is ever earlier than what the server asked for.
/// An HTTP-date (IMF-fixdate, RFC 850 or asctime) gives the time from `now` to it, or
/// [`Duration::ZERO`] when it is in the past; so does a list of HTTP-dates, or of dates and
/// delay-seconds (the largest delay), as folded lines give.
/// A list with one element that is neither gives `None`; empty elements (`10,`, what careless
/// merging of header lines leaves) are skipped, as RFC 9110 §5.6.1.2 has list recipients do.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    parse_value(value, now).map(|(delay, _)| delay)
}

/// A `Retry-After` value, read as a list of one or more elements ([`parse_list`]).
fn parse_value(value: &str, now: SystemTime) -> Option<(Duration, DelaySource)> {
    parse_list(value.trim(), now)
}

/// A comma-separated list of one or more elements, each delay-seconds or an HTTP-date (one
/// element, or folded lines: `5, Sun, 06 Nov 1994 08:49:37 GMT`, one date twice): the largest
/// delay and its source, a date giving the time from `now` to it ([`Duration::ZERO`] when it is
/// past); `None` when any element is neither.
fn parse_list(value: &str, now: SystemTime) -> Option<(Duration, DelaySource)> {
    let mut largest: Option<(Duration, DelaySource)> = None;
    for element in elements(value) {
        let (delay, source) = match element? {
            Element::Seconds(seconds) => {
                (Duration::from_secs(seconds), DelaySource::RetryAfterSeconds)
            }
            Element::Date(date) => (
                date.duration_since(now).unwrap_or(Duration::ZERO),
                DelaySource::RetryAfterDate,
            ),
        };
        if largest.is_none_or(|(longest, _)| delay > longest) {
            largest = Some((delay, source));
        }
    }
    largest
}

/// A `Date` value: its one date, or the earliest of a list of dates (folded lines); `None`
/// when any element is not a date.
fn earliest_date(value: &str) -> Option<SystemTime> {
    let mut earliest: Option<SystemTime> = None;
    for element in elements(value) {
        let Element::Date(date) = element? else {
            return None;
        };
        earliest = Some(earliest.map_or(date, |earliest| earliest.min(date)));
    }
    earliest
}

/// One element of a `Retry-After` (or `Date`) list.
enum Element {
    Seconds(u64),
    Date(SystemTime),
}

/// The elements of a comma-separated list, each `None` when it is neither delay-seconds nor an
/// HTTP-date. An IMF-fixdate or RFC 850 date has a comma of its own, so a piece that is not an
/// element by itself is read together with the piece after it.
fn elements(value: &str) -> impl Iterator<Item = Option<Element>> + '_ {
    // Pieces are read as they are split, and a date is rejoined as a slice of `value`: no
    // allocation, however long the list (a hostile header may be hundreds of KB).
    let mut pieces = value.split(',');
    std::iter::from_fn(move || {
        // Empty elements (`10,`, `10,,20`: values merged carelessly) are skipped, as RFC 9110
        // §5.6.1.2 has recipients of a list do.
        let (raw, piece) = loop {
            let raw = pieces.next()?;
            let piece = raw.trim_matches([' ', '\t']);
            if !piece.is_empty() {
                break (raw, piece);
            }
        };
        if let Some(seconds) = parse_digits(piece) {
            return Some(Some(Element::Seconds(seconds)));
        }
        if let Ok(date) = httpdate::parse_http_date(piece) {
            return Some(Some(Element::Date(date)));
        }
        let joined = pieces.next().and_then(|next| {
            // `raw`, its comma and `next`, as they lie in `value`.
            let start = raw.as_ptr() as usize - value.as_ptr() as usize;
            value.get(start..start + raw.len() + 1 + next.len())
        });
        let date = joined
            .and_then(|joined| httpdate::parse_http_date(joined.trim_matches([' ', '\t'])).ok());
        Some(date.map(Element::Date))
    })
}

/// Parses one `retry-after-ms` / `x-ms-retry-after-ms` value: a whole number of milliseconds.
///
/// Surrounding whitespace is ignored; anything but digits gives `None`, and more than fit in a
/// `u64` count as `u64::MAX` milliseconds. A comma-separated list of such numbers gives the
/// largest, as for [`parse_retry_after`].
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    parse_digit_list(value.trim()).map(Duration::from_millis)
}

/// `None` when `s` is not a list of `1*DIGIT` (RFC 9110's `#`: empty elements ignored, at least
/// one number); else the largest number, a number past `u64::MAX` counting as `u64::MAX`.
fn parse_digit_list(s: &str) -> Option<u64> {
    let mut largest = None;
    for part in s.split(',') {
        let part = part.trim_matches([' ', '\t']);
        if !part.is_empty() {
            largest = Some(parse_digits(part)?.max(largest.unwrap_or(0)));
        }
    }
    largest
}

/// `None` when `s` is not `1*DIGIT`; else its value, `u64::MAX` when it is larger.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Digits only: the one way to fail is to overflow.
    Some(s.parse().unwrap_or(u64::MAX))
}

/// Returns the delay in a gateway throttling message: `"Rate limit is exceeded. Try again in 57
/// seconds."` gives 57 seconds.
///
/// Looks for `try again in N second` (any case, any whitespace between the words, `seconds`
/// or `second`); the first match wins, an `N` past `u64::MAX` counting as `u64::MAX` seconds.
/// `None` when there is none. Work is linear in the length of `text`.
pub fn retry_after_from_text(text: &str) -> Option<Duration> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|start| match_try_again(bytes, start))
}

/// Matches `try <ws> again <ws> in <ws> N <ws*> second` at `start`.
fn match_try_again(bytes: &[u8], start: usize) -> Option<Duration> {
    let mut pos = start;
    let word = |word: &str, pos: &mut usize, spaces_after: bool| -> Option<()> {
        let end = pos.checked_add(word.len())?;
        if !bytes.get(*pos..end)?.eq_ignore_ascii_case(word.as_bytes()) {
            return None;
        }
        *pos = end;
        let spaces = skip_spaces(bytes, pos);
        (!spaces_after || spaces > 0).then_some(())
    };
    word("try", &mut pos, true)?;
    word("again", &mut pos, true)?;
    word("in", &mut pos, true)?;
    let mut seconds: u64 = 0;
    let digits_start = pos;
    // Each run of digits follows one `in`: it is read once, whatever its length.
    while let Some(digit) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
        seconds = seconds
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'));
        pos += 1;
    }
    if pos == digits_start {
        return None;
    }
    skip_spaces(bytes, &mut pos);
    word("second", &mut pos, false)?;
    Some(Duration::from_secs(seconds))
}

/// Advances `pos` past ASCII whitespace; returns how many bytes it skipped.
fn skip_spaces(bytes: &[u8], pos: &mut usize) -> usize {
    let start = *pos;
    while bytes.get(*pos).is_some_and(u8::is_ascii_whitespace) {
        *pos += 1;
    }
    *pos - start
}

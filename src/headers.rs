//! Pure readers of response headers: support-ticket ids, `WWW-Authenticate` challenges and the
//! server's retry delay.
//!
//! Nothing here needs a service, a body or a clock of its own: every function takes a
//! [`HeaderMap`] (or one header value, or a body's text) and, where time matters, the current
//! time as an argument, so the results are deterministic and easy to test or fuzz. No function
//! panics on any input, and each does work and returns output proportional to its input.
//!
//! - [`ResponseIds`] collects the ids a Microsoft support ticket asks for: `MS-CorrelationId`,
//!   `MS-RequestId`, `MS-CV`, `MS-ServerId` and `Request-Context`. Partner Center sometimes
//!   repeats a value with a comma (`X,X`) or in several header lines: values are split on `,`,
//!   trimmed, empty parts dropped, duplicates removed (first-seen order kept) and the distinct
//!   values joined with `", "`. Bytes that are not UTF-8 are decoded lossily, and each stored id is
//!   capped at 256 bytes (cut at a character boundary).
//! - [`Challenge`] reads `WWW-Authenticate` challenges (RFC 9110 §11.6.1) leniently. Unlike a
//!   strict RFC parser, it accepts the unquoted, colon-laden realm of Partner Center's 401
//!   (`OAuth realm=urn:cpsvc:cpid:...`): an unquoted value is any run of characters up to `,` or
//!   whitespace. Quoted strings are unescaped, an unterminated quote runs to the end, and text
//!   it cannot make sense of is skipped rather than rejected.
//! - [`retry_after`] reads the delay the server asked for from `retry-after-ms`, then
//!   `x-ms-retry-after-ms` (milliseconds, as Azure services send them), then `Retry-After`
//!   (delay-seconds or an HTTP-date in any of RFC 9110's three formats). The first header that
//!   is present *and* valid wins; an invalid one falls through to the next. A date in the past
//!   means [`Duration::ZERO`]. Large values are returned as sent: clamping them is the retry
//!   policy's job, not the parser's.
//! - [`retry_after_from_text`] reads the `Try again in N seconds` sentence of the API gateway's
//!   throttling body (`{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57
//!   seconds." }`), for when the header is missing.
//!
//! tower's and tower-http's own retry pieces never look at these headers; this module is what
//! lets the retry policy honour the server's delay instead of guessing.
//!
//! # Example
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use partner_center_errors::headers::{retry_after, retry_after_from_text, Challenge, ResponseIds};
//! use std::time::{Duration, SystemTime};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("ms-correlationid", HeaderValue::from_static("7f3a9c1e,7f3a9c1e"));
//! headers.insert("ms-cv", HeaderValue::from_static("sLRFZMWm+EKuL47u.0"));
//! headers.insert("retry-after", HeaderValue::from_static("57"));
//! headers.insert(
//!     "www-authenticate",
//!     HeaderValue::from_static("OAuth realm=urn:cpsvc:cpid:8b6f1a2e-0000-4c1d-9e2f-000000000000"),
//! );
//!
//! let ids = ResponseIds::from_headers(&headers);
//! assert_eq!(ids.correlation_id.as_deref(), Some("7f3a9c1e"));
//! assert_eq!(ids.correlation_vector.as_deref(), Some("sLRFZMWm+EKuL47u.0"));
//! assert_eq!(ids.request_id, None);
//!
//! let challenges = Challenge::from_headers(&headers);
//! assert_eq!(challenges.len(), 1);
//! assert!(challenges[0].is_scheme("oauth"));
//! assert_eq!(
//!     challenges[0].realm(),
//!     Some("urn:cpsvc:cpid:8b6f1a2e-0000-4c1d-9e2f-000000000000")
//! );
//!
//! assert_eq!(retry_after(&headers, SystemTime::now()), Some(Duration::from_secs(57)));
//! assert_eq!(
//!     retry_after_from_text("Rate limit is exceeded. Try again in 57 seconds."),
//!     Some(Duration::from_secs(57))
//! );
//! ```

use http::header::{HeaderName, RETRY_AFTER, WWW_AUTHENTICATE};
use http::HeaderMap;
use std::time::{Duration, SystemTime};

/// `MS-CorrelationId`: the id of one logical call, chosen by the client and echoed back.
pub const MS_CORRELATION_ID: HeaderName = HeaderName::from_static("ms-correlationid");
/// `MS-RequestId`: the id of one request (reused on retries for idempotency), echoed back.
pub const MS_REQUEST_ID: HeaderName = HeaderName::from_static("ms-requestid");
/// `MS-CV`: the correlation vector, e.g. `sLRFZMWm+EKuL47u.0`.
pub const MS_CV: HeaderName = HeaderName::from_static("ms-cv");
/// `MS-ServerId`: the server that answered.
pub const MS_SERVER_ID: HeaderName = HeaderName::from_static("ms-serverid");
/// `Request-Context`: Application Insights' request context.
pub const REQUEST_CONTEXT: HeaderName = HeaderName::from_static("request-context");
/// `retry-after-ms`: the delay, in milliseconds, that Azure services ask for.
pub const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
/// `x-ms-retry-after-ms`: the older spelling of [`RETRY_AFTER_MS`].
pub const X_MS_RETRY_AFTER_MS: HeaderName = HeaderName::from_static("x-ms-retry-after-ms");

/// The most bytes kept of one id (after de-duplication and joining).
const MAX_ID_BYTES: usize = 256;

/// Ids from a response, for support tickets and logs.
///
/// Each field holds the distinct values of its header, joined with `", "`, at most 256 bytes;
/// `None` when the header is absent or holds only empty parts. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseIds {
    /// `MS-CorrelationId`.
    pub correlation_id: Option<String>,
    /// `MS-RequestId`.
    pub request_id: Option<String>,
    /// `MS-CV`, the correlation vector (e.g. `sLRFZMWm+EKuL47u.0`).
    pub correlation_vector: Option<String>,
    /// `MS-ServerId`.
    pub server_id: Option<String>,
    /// `Request-Context`.
    pub request_context: Option<String>,
}

impl ResponseIds {
    /// Reads the ids from response headers (names are case-insensitive).
    ///
    /// Values repeated with commas or over several header lines are de-duplicated, keeping
    /// first-seen order; bytes that are not UTF-8 are decoded lossily; each id is capped at 256
    /// bytes.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            correlation_id: read_id(headers, &MS_CORRELATION_ID),
            request_id: read_id(headers, &MS_REQUEST_ID),
            correlation_vector: read_id(headers, &MS_CV),
            server_id: read_id(headers, &MS_SERVER_ID),
            request_context: read_id(headers, &REQUEST_CONTEXT),
        }
    }

    /// `true` when no id was found.
    pub fn is_empty(&self) -> bool {
        self.correlation_id.is_none()
            && self.request_id.is_none()
            && self.correlation_vector.is_none()
            && self.server_id.is_none()
            && self.request_context.is_none()
    }
}

/// The distinct, non-empty, comma-separated parts of every `name` line, joined and capped.
fn read_id(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut joined = String::new();
    let mut seen: Vec<String> = Vec::new();
    'lines: for value in headers.get_all(name) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            // Once the cap is reached nothing more can be stored: stop, so the work stays
            // bounded by the cap and not by how many parts a hostile header repeats.
            if joined.len() >= MAX_ID_BYTES {
                break 'lines;
            }
            let part = truncated(part, MAX_ID_BYTES);
            if seen.iter().any(|s| s == part) {
                continue;
            }
            if !joined.is_empty() {
                joined.push_str(", ");
            }
            joined.push_str(part);
            seen.push(part.to_owned());
        }
    }
    if joined.is_empty() {
        return None;
    }
    joined.truncate(char_floor(&joined, MAX_ID_BYTES));
    Some(joined)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncated(s: &str, max: usize) -> &str {
    s.get(..char_floor(s, max)).unwrap_or("")
}

/// The largest character boundary of `s` that is `<= max`.
fn char_floor(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// One challenge from a `WWW-Authenticate` header (RFC 9110 §11.6.1), read leniently.
///
/// Partner Center's own 401 sends `OAuth realm=urn:cpsvc:cpid:...`; Entra's claims challenge
/// sends `Bearer realm="", authorization_uri="...", error="insufficient_claims",
/// claims="<base64>"`; the MFA 401 sends `Bearer error="invalid_token"`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Challenge {
    /// The auth-scheme as sent (`Bearer`, `OAuth`, ...); compare it with [`Challenge::is_scheme`].
    pub scheme: String,
    /// The token68 form of the credentials, e.g. `YII=` in `Negotiate YII=`.
    pub token68: Option<String>,
    /// The auth-params in order sent: names lower-cased, values unquoted and unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Reads every challenge in one header value, leniently.
    ///
    /// Text that cannot be read is skipped; garbage gives an empty or partial list, never a
    /// panic. After a comma, a token followed by whitespace and then anything but `=` (or by a
    /// comma, or by the end) starts a new challenge.
    pub fn parse_all(value: &str) -> Vec<Challenge> {
        let mut cursor = Cursor::new(value);
        let mut challenges = Vec::new();
        loop {
            cursor.skip_while(|b| b.is_ascii_whitespace() || b == b',');
            match cursor.peek() {
                None => break,
                // Not a scheme: skip it so the loop always consumes input.
                Some(b'"') => {
                    cursor.quoted_string();
                }
                Some(b'=') => cursor.advance(1),
                Some(_) => {
                    let scheme = cursor.token().to_owned();
                    challenges.push(cursor.challenge_rest(scheme));
                }
            }
        }
        challenges
    }

    /// Reads every `WWW-Authenticate` line of `headers`, in order.
    ///
    /// Lines are decoded lossily, so a stray non-UTF-8 byte costs a character, not the line.
    pub fn from_headers(headers: &HeaderMap) -> Vec<Challenge> {
        headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .flat_map(|v| Challenge::parse_all(&String::from_utf8_lossy(v.as_bytes())))
            .collect()
    }

    /// The value of the first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `realm` parameter.
    pub fn realm(&self) -> Option<&str> {
        self.param("realm")
    }

    /// The `error` parameter (e.g. `invalid_token`, `insufficient_claims`).
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    /// The `error_description` parameter.
    pub fn error_description(&self) -> Option<&str> {
        self.param("error_description")
    }

    /// The `claims` parameter of a claims challenge, as sent (base64-encoded JSON).
    pub fn claims(&self) -> Option<&str> {
        self.param("claims")
    }

    /// `true` when this challenge's scheme is `scheme` (case-insensitive).
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

/// A position in a header value. Every delimiter it stops at is ASCII, so every position it
/// holds is a character boundary; slicing still goes through `get` so it can never panic.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.text.len());
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or("")
    }

    /// Consumes bytes while `keep` holds; returns them.
    fn skip_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.slice(start, self.pos)
    }

    /// A scheme, parameter name or token68 body: anything up to whitespace, `,`, `=` or `"`.
    fn token(&mut self) -> &'a str {
        self.skip_while(|b| !(b.is_ascii_whitespace() || matches!(b, b',' | b'=' | b'"')))
    }

    /// A quoted-string starting at `"`, unescaped; an unterminated one runs to the end.
    fn quoted_string(&mut self) -> String {
        self.advance(1); // the opening quote
        let rest = self.slice(self.pos, self.text.len());
        let mut out = String::new();
        let mut consumed = rest.len();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    consumed = i + 1;
                    break;
                }
                // A backslash at the very end escapes nothing: keep it.
                '\\' => out.push(chars.next().map_or('\\', |(_, escaped)| escaped)),
                c => out.push(c),
            }
        }
        self.advance(consumed);
        out
    }

    /// An unquoted parameter value: anything up to `,` or whitespace (colons, `=` included).
    fn unquoted_value(&mut self) -> &'a str {
        self.skip_while(|b| !(b.is_ascii_whitespace() || b == b','))
    }

    /// The token68 or auth-params after `scheme`, up to the start of the next challenge.
    fn challenge_rest(&mut self, scheme: String) -> Challenge {
        let mut challenge = Challenge {
            scheme,
            token68: None,
            params: Vec::new(),
        };
        // token68 may only come straight after the scheme, before any comma or parameter.
        let mut token68_allowed = true;
        loop {
            self.skip_while(|b| b.is_ascii_whitespace());
            match self.peek() {
                None => break,
                Some(b',') => {
                    self.advance(1);
                    token68_allowed = false;
                }
                // Stray text where a name belongs: skip it so the loop always consumes input.
                Some(b'=') => self.advance(1),
                Some(b'"') => {
                    self.quoted_string();
                }
                Some(_) => {
                    let start = self.pos;
                    let name = self.token();
                    let after_name = self.pos;
                    if token68_allowed {
                        token68_allowed = false;
                        // `token68` is the token, its `=` padding, then the challenge's end.
                        self.skip_while(|b| b == b'=');
                        let end = self.pos;
                        self.skip_while(|b| b.is_ascii_whitespace());
                        if matches!(self.peek(), None | Some(b',')) {
                            challenge.token68 = Some(self.slice(start, end).to_owned());
                            continue;
                        }
                        self.pos = after_name;
                    }
                    self.skip_while(|b| b.is_ascii_whitespace());
                    if self.peek() != Some(b'=') {
                        // A token not followed by `=` is the next challenge's scheme.
                        self.pos = start;
                        break;
                    }
                    self.advance(1);
                    self.skip_while(|b| b.is_ascii_whitespace());
                    let value = if self.peek() == Some(b'"') {
                        self.quoted_string()
                    } else {
                        self.unquoted_value().to_owned()
                    };
                    challenge.params.push((name.to_ascii_lowercase(), value));
                }
            }
        }
        challenge
    }
}

/// The delay the server asked for, from the headers.
///
/// Looks at `retry-after-ms`, `x-ms-retry-after-ms` (milliseconds), then `Retry-After`
/// (delay-seconds, or an HTTP-date in any of RFC 9110's three formats; a date in the past means
/// [`Duration::ZERO`]). The first header that is present and valid wins; an invalid one falls
/// through to the next. When a header has several lines, its first valid line counts.
///
/// `now` is the time the response was received; it only matters for the HTTP-date form.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let first_valid = |name: HeaderName, parse: &dyn Fn(&str) -> Option<Duration>| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse)
    };
    first_valid(RETRY_AFTER_MS, &parse_retry_after_ms)
        .or_else(|| first_valid(X_MS_RETRY_AFTER_MS, &parse_retry_after_ms))
        .or_else(|| first_valid(RETRY_AFTER, &|v| parse_retry_after(v, now)))
}

/// One `Retry-After` value: delay-seconds or HTTP-date.
///
/// Surrounding whitespace is ignored. Delay-seconds is digits only: a sign, a fraction, an empty
/// value or more seconds than fit in a `u64` give `None`. An HTTP-date (IMF-fixdate, RFC 850 or
/// asctime) gives the time from `now` to it, or [`Duration::ZERO`] when it is in the past.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(seconds) = parse_digits(value) {
        return seconds.map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// One `retry-after-ms` / `x-ms-retry-after-ms` value: a whole number of milliseconds.
///
/// Surrounding whitespace is ignored; anything but digits, or more than fit in a `u64`, gives
/// `None`.
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    parse_digits(value.trim())
        .flatten()
        .map(Duration::from_millis)
}

/// `None` when `s` is not `1*DIGIT`; `Some(None)` when it is but overflows a `u64`.
fn parse_digits(s: &str) -> Option<Option<u64>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().ok())
}

/// The delay in a gateway throttling message: `"Rate limit is exceeded. Try again in 57
/// seconds."` gives 57 seconds.
///
/// Looks for `try again in N second` (any case, any whitespace between the words, `seconds`
/// or `second`); the first match whose `N` fits in a `u64` wins. `None` when there is none.
/// Work is linear in the length of `text`.
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
    while let Some(digit) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
        // Stops at the first digit that overflows: bounded work on a wall of digits.
        seconds = seconds
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    const DATE_1994: u64 = 784_111_777;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn correlation(pairs: &[(&'static str, &'static str)]) -> Option<String> {
        ResponseIds::from_headers(&map(pairs)).correlation_id
    }

    // ---- ResponseIds ----

    #[test]
    fn ids_all_five_headers_case_insensitive() {
        let ids = ResponseIds::from_headers(&map(&[
            ("MS-CorrelationId", "c1"),
            ("ms-requestid", "r1"),
            ("MS-CV", "sLRFZMWm+EKuL47u.0"),
            ("Ms-ServerId", "s1"),
            ("Request-Context", "appId=cid-v1:abc"),
        ]));
        assert_eq!(ids.correlation_id.as_deref(), Some("c1"));
        assert_eq!(ids.request_id.as_deref(), Some("r1"));
        assert_eq!(
            ids.correlation_vector.as_deref(),
            Some("sLRFZMWm+EKuL47u.0")
        );
        assert_eq!(ids.server_id.as_deref(), Some("s1"));
        assert_eq!(ids.request_context.as_deref(), Some("appId=cid-v1:abc"));
        assert!(!ids.is_empty());
    }

    #[test]
    fn ids_missing_are_none() {
        let ids = ResponseIds::from_headers(&HeaderMap::new());
        assert!(ids.is_empty());
        assert_eq!(ids, ResponseIds::default());
        let ids = ResponseIds::from_headers(&map(&[("content-type", "application/json")]));
        assert!(ids.is_empty());
    }

    #[test]
    fn ids_duplicates_are_removed() {
        assert_eq!(
            correlation(&[("ms-correlationid", "a,a")]).as_deref(),
            Some("a")
        );
        assert_eq!(
            correlation(&[("ms-correlationid", "a, a")]).as_deref(),
            Some("a")
        );
        assert_eq!(
            correlation(&[("ms-correlationid", "a, b, a")]).as_deref(),
            Some("a, b")
        );
        assert_eq!(
            correlation(&[("ms-correlationid", " b ,, a ,b,")]).as_deref(),
            Some("b, a")
        );
    }

    #[test]
    fn ids_over_several_lines() {
        let headers = &[
            ("ms-correlationid", "a"),
            ("ms-correlationid", "b, a"),
            ("ms-correlationid", "c"),
        ];
        assert_eq!(correlation(headers).as_deref(), Some("a, b, c"));
        let same = &[("ms-requestid", "x"), ("ms-requestid", "x")];
        let ids = ResponseIds::from_headers(&map(same));
        assert_eq!(ids.request_id.as_deref(), Some("x"));
    }

    #[test]
    fn ids_empty_values_are_none() {
        assert_eq!(correlation(&[("ms-correlationid", "")]), None);
        assert_eq!(correlation(&[("ms-correlationid", " , ,")]), None);
    }

    #[test]
    fn ids_decode_lossily() {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_bytes(b"ab\xffcd, caf\xc3\xa9").unwrap();
        headers.insert(MS_SERVER_ID, value);
        let ids = ResponseIds::from_headers(&headers);
        assert_eq!(ids.server_id.as_deref(), Some("ab\u{fffd}cd, caf\u{e9}"));
    }

    #[test]
    fn ids_are_capped_at_a_char_boundary() {
        let mut headers = HeaderMap::new();
        let long = "x".repeat(1000);
        headers.insert(MS_CV, HeaderValue::from_str(&long).unwrap());
        // 255 ASCII bytes then a two-byte character straddling the cap.
        let mut straddle = "y".repeat(255).into_bytes();
        straddle.extend_from_slice("é".as_bytes());
        headers.insert(MS_SERVER_ID, HeaderValue::from_bytes(&straddle).unwrap());
        // Many distinct parts: the joined id is capped too.
        let parts: Vec<String> = (0..500).map(|i| format!("id{i}")).collect();
        headers.insert(
            MS_REQUEST_ID,
            HeaderValue::from_str(&parts.join(",")).unwrap(),
        );

        let ids = ResponseIds::from_headers(&headers);
        assert_eq!(ids.correlation_vector.as_deref(), Some(&long[..256]));
        assert_eq!(ids.server_id.as_deref(), Some(&*"y".repeat(255)));
        let request_id = ids.request_id.unwrap();
        assert!(request_id.len() <= 256 && request_id.len() > 250);
        assert!(request_id.starts_with("id0, id1, id2"));
    }

    // ---- Challenge ----

    fn one(value: &str) -> Challenge {
        let mut all = Challenge::parse_all(value);
        assert_eq!(all.len(), 1, "{value:?} gave {all:?}");
        all.remove(0)
    }

    #[test]
    fn partner_center_unquoted_colon_realm() {
        let c = one("OAuth realm=urn:cpsvc:cpid:8b6f1a2e-1111-2222-3333-444455556666");
        assert_eq!(c.scheme, "OAuth");
        assert!(c.is_scheme("OAUTH"));
        assert!(!c.is_scheme("Bearer"));
        assert_eq!(c.token68, None);
        assert_eq!(
            c.realm(),
            Some("urn:cpsvc:cpid:8b6f1a2e-1111-2222-3333-444455556666")
        );
    }

    #[test]
    fn entra_claims_challenge() {
        let c = one(
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4iOnt9fQ==\"",
        );
        assert!(c.is_scheme("bearer"));
        assert_eq!(c.realm(), Some(""));
        assert_eq!(
            c.param("Authorization_URI"),
            Some("https://login.microsoftonline.com/common/oauth2/authorize")
        );
        assert_eq!(c.error(), Some("insufficient_claims"));
        assert_eq!(c.claims(), Some("eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="));
        assert_eq!(c.error_description(), None);
        assert_eq!(c.params.len(), 4);
    }

    #[test]
    fn mfa_invalid_token() {
        let c = one("Bearer error=\"invalid_token\"");
        assert_eq!(c.error(), Some("invalid_token"));
        assert_eq!(c.realm(), None);
    }

    #[test]
    fn quoted_escapes_and_names_lower_cased() {
        let c = one(r#"Bearer Realm="a \"quoted\" \\ realm", Error_Description="x\y""#);
        assert_eq!(
            c.params,
            params(&[
                ("realm", r#"a "quoted" \ realm"#),
                ("error_description", "xy"),
            ])
        );
        assert_eq!(c.error_description(), Some("xy"));
    }

    #[test]
    fn spaces_around_equals_and_commas() {
        let c = one("Bearer  realm = \"x\" ,error= invalid_token ,  error_description =\"d\"  ");
        assert_eq!(
            c.params,
            params(&[
                ("realm", "x"),
                ("error", "invalid_token"),
                ("error_description", "d"),
            ])
        );
    }

    #[test]
    fn several_challenges_in_one_value() {
        let all =
            Challenge::parse_all("Bearer realm=\"x\", error=\"invalid_token\", Basic realm=\"y\"");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].scheme, "Bearer");
        assert_eq!(
            all[0].params,
            params(&[("realm", "x"), ("error", "invalid_token")])
        );
        assert_eq!(all[1].scheme, "Basic");
        assert_eq!(all[1].realm(), Some("y"));

        let all = Challenge::parse_all("Negotiate, NTLM, Basic realm=y");
        let schemes: Vec<_> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Negotiate", "NTLM", "Basic"]);
        assert!(all[0].params.is_empty() && all[0].token68.is_none());
        assert_eq!(all[2].realm(), Some("y"));
    }

    #[test]
    fn scheme_alone_and_token68() {
        let c = one("Negotiate");
        assert_eq!(c.scheme, "Negotiate");
        assert_eq!((c.token68, c.params.len()), (None, 0));

        assert_eq!(one("Negotiate YII=").token68.as_deref(), Some("YII="));
        assert_eq!(one("Negotiate abc==").token68.as_deref(), Some("abc=="));
        assert_eq!(
            one("Negotiate a+b/c~d.e_f-g  ").token68.as_deref(),
            Some("a+b/c~d.e_f-g")
        );

        let all = Challenge::parse_all("Negotiate YII=, Basic realm=\"r\"");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].token68.as_deref(), Some("YII="));
        assert!(all[0].params.is_empty());
        assert_eq!(all[1].realm(), Some("r"));
    }

    #[test]
    fn unterminated_quote_takes_the_rest() {
        let c = one("Bearer realm=\"abc, error=x");
        assert_eq!(c.params, params(&[("realm", "abc, error=x")]));
        let c = one("Bearer realm=\"abc\\");
        assert_eq!(c.realm(), Some("abc\\"));
    }

    #[test]
    fn unquoted_values_keep_equals_and_quotes() {
        let c = one("Bearer claims=eyJ9fQ==, realm=a\"b");
        assert_eq!(
            c.params,
            params(&[("claims", "eyJ9fQ=="), ("realm", "a\"b")])
        );
        let c = one("Bearer realm=, error=x");
        assert_eq!(c.token68.as_deref(), Some("realm="));
        assert_eq!(c.error(), Some("x"));
        let c = one("Bearer error=x, realm=");
        assert_eq!(c.params, params(&[("error", "x"), ("realm", "")]));
    }

    #[test]
    fn missing_commas_are_tolerated() {
        let c = one("Bearer realm=\"x\" error=\"y\"");
        assert_eq!(c.params, params(&[("realm", "x"), ("error", "y")]));
    }

    #[test]
    fn first_param_wins_on_duplicates() {
        let c = one("Bearer realm=a, REALM=b");
        assert_eq!(c.realm(), Some("a"));
        assert_eq!(c.params.len(), 2);
    }

    #[test]
    fn empty_and_garbage_inputs() {
        assert!(Challenge::parse_all("").is_empty());
        assert!(Challenge::parse_all("   ").is_empty());
        assert!(Challenge::parse_all(",,, ,").is_empty());
        assert!(Challenge::parse_all("==\"\"=,\"unterminated").is_empty());
        // A value without a scheme reads as a scheme, not a panic.
        let all = Challenge::parse_all("=\"x\", Bearer ,, realm");
        let schemes: Vec<_> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Bearer", "realm"]);
        let c = one("Bearer \"stray\" = , realm=r");
        assert_eq!(c.params, params(&[("realm", "r")]));
        let c = one("Bearer\u{e9} r\u{e9}alm=\u{e9}");
        assert_eq!(c.scheme, "Bearer\u{e9}");
        assert_eq!(c.params, params(&[("r\u{e9}alm", "\u{e9}")]));
    }

    #[test]
    fn parse_all_is_linear_on_hostile_input() {
        for hostile in [
            "a ".repeat(100_000),
            "a=".repeat(100_000),
            "\"".repeat(100_000),
            "Bearer ".to_owned() + &"x=\"\\".repeat(100_000),
            ",".repeat(200_000),
        ] {
            let all = Challenge::parse_all(&hostile);
            assert!(all.len() <= hostile.len());
        }
    }

    #[test]
    fn challenges_from_every_header_line() {
        let mut headers = map(&[
            ("www-authenticate", "Bearer error=\"invalid_token\""),
            ("WWW-Authenticate", "Basic realm=\"b\", Negotiate"),
        ]);
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_bytes(b"OAuth realm=r\xff").unwrap(),
        );
        let all = Challenge::from_headers(&headers);
        let schemes: Vec<_> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Bearer", "Basic", "Negotiate", "OAuth"]);
        assert_eq!(all[3].realm(), Some("r\u{fffd}"));
        assert!(Challenge::from_headers(&HeaderMap::new()).is_empty());
    }

    // ---- Retry-After ----

    fn secs(value: &str) -> Option<Duration> {
        parse_retry_after(value, at(DATE_1994))
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(secs("57"), Some(Duration::from_secs(57)));
        assert_eq!(secs(" 57 "), Some(Duration::from_secs(57)));
        assert_eq!(secs("\t57"), Some(Duration::from_secs(57)));
        assert_eq!(secs("0"), Some(Duration::ZERO));
        assert_eq!(secs("007"), Some(Duration::from_secs(7)));
        assert_eq!(
            secs("18446744073709551615"),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_rejects_bad_seconds() {
        for bad in [
            "",
            " ",
            "-1",
            "1.5",
            "+5",
            "abc",
            "5s",
            "5 5",
            "57, 57",
            "0x10",
            "18446744073709551616",
            "99999999999999999999999",
            "\u{0665}",
        ] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_http_dates_all_three_formats() {
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            let before = at(DATE_1994 - 120);
            assert_eq!(
                parse_retry_after(date, before),
                Some(Duration::from_secs(120)),
                "{date}"
            );
            let padded = format!("  {date} ");
            assert_eq!(
                parse_retry_after(&padded, before),
                Some(Duration::from_secs(120))
            );
            assert_eq!(parse_retry_after(date, at(DATE_1994)), Some(Duration::ZERO));
            let after = at(DATE_1994 + 3600);
            assert_eq!(
                parse_retry_after(date, after),
                Some(Duration::ZERO),
                "{date}"
            );
        }
        // Sub-second `now` still gives the exact remaining time.
        let now = at(DATE_1994 - 10) + Duration::from_millis(250);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_millis(9750))
        );
        assert_eq!(secs("Sun, 06 Nov 1994 08:49:37"), None);
        assert_eq!(secs("Sun, 32 Nov 1994 08:49:37 GMT"), None);
    }

    #[test]
    fn retry_after_milliseconds() {
        assert_eq!(
            parse_retry_after_ms("1500"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after_ms(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after_ms("18446744073709551615"),
            Some(Duration::from_millis(u64::MAX))
        );
        for bad in ["", "-1", "1.5", "+5", "abc", "18446744073709551616"] {
            assert_eq!(parse_retry_after_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_header_precedence() {
        let now = at(DATE_1994);
        let ms = Duration::from_millis;
        let all = map(&[
            ("retry-after", "57"),
            ("x-ms-retry-after-ms", "2000"),
            ("retry-after-ms", "1500"),
        ]);
        assert_eq!(retry_after(&all, now), Some(ms(1500)));

        let x_ms = map(&[("Retry-After", "57"), ("X-MS-Retry-After-Ms", "2000")]);
        assert_eq!(retry_after(&x_ms, now), Some(ms(2000)));

        let invalid_ms = map(&[
            ("retry-after", "57"),
            ("x-ms-retry-after-ms", "soon"),
            ("retry-after-ms", "-1"),
        ]);
        assert_eq!(retry_after(&invalid_ms, now), Some(Duration::from_secs(57)));

        let invalid_first = map(&[("retry-after-ms", "1.5"), ("x-ms-retry-after-ms", "300")]);
        assert_eq!(retry_after(&invalid_first, now), Some(ms(300)));

        let date = map(&[("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT")]);
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(60)));

        let second_line = map(&[("retry-after", "later"), ("retry-after", "5")]);
        assert_eq!(retry_after(&second_line, now), Some(Duration::from_secs(5)));

        let all_invalid = map(&[("retry-after", "later"), ("retry-after-ms", "")]);
        assert_eq!(retry_after(&all_invalid, now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);

        let mut non_ascii = HeaderMap::new();
        non_ascii.insert(RETRY_AFTER_MS, HeaderValue::from_bytes(b"1\xff").unwrap());
        non_ascii.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&non_ascii, now), Some(Duration::from_secs(3)));
    }

    // ---- gateway text ----

    #[test]
    fn gateway_throttling_text() {
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(
            retry_after_from_text("Rate limit is exceeded. Try again in 57 seconds."),
            s(57)
        );
        assert_eq!(
            retry_after_from_text(
                r#"{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }"#
            ),
            s(57)
        );
        assert_eq!(retry_after_from_text("TRY AGAIN IN 1 SECOND"), s(1));
        assert_eq!(retry_after_from_text("try  again\nin 0seconds"), s(0));
        assert_eq!(
            retry_after_from_text("Please retry again in 3 seconds"),
            s(3)
        );
        assert_eq!(
            retry_after_from_text("try again in 99999999999999999999999 seconds"),
            None
        );
        assert_eq!(
            retry_after_from_text(
                "try again in 99999999999999999999 seconds, or try again in 4 seconds"
            ),
            s(4)
        );
        for none in [
            "",
            "Rate limit is exceeded.",
            "Try again later",
            "Try again in a few seconds",
            "Try again in 5 minutes",
            "try again in -5 seconds",
            "tryagain in 5 seconds",
            "Try again in 5",
            "Try again in é seconds",
        ] {
            assert_eq!(retry_after_from_text(none), None, "{none:?}");
        }
    }

    #[test]
    fn gateway_text_is_linear_on_hostile_input() {
        let hostile = format!("{}{}", "try again in ".repeat(20_000), "9".repeat(100_000));
        assert_eq!(retry_after_from_text(&hostile), None);
        let spaces = format!("try{}", " ".repeat(200_000));
        assert_eq!(retry_after_from_text(&spaces), None);
    }

    // ---- properties ----

    /// Wide range for `fmt_http_date`: the epoch up to the end of year 9999.
    const MAX_HTTP_DATE: u64 = 253_402_300_799;

    proptest! {
        #[test]
        fn parse_all_never_panics(value in any::<String>()) {
            let all = Challenge::parse_all(&value);
            prop_assert!(all.len() <= value.len());
        }

        #[test]
        fn parse_all_never_panics_on_header_like_text(
            value in "[a-zA-Z0-9 \t,=\"\\\\:/+._~é-]{0,80}"
        ) {
            let all = Challenge::parse_all(&value);
            prop_assert!(all.len() <= value.len());
            for c in &all {
                prop_assert!(!c.scheme.is_empty());
                prop_assert!(c.params.len() <= value.len());
            }
        }

        #[test]
        fn delay_parsers_never_panic(value in any::<String>(), now in 0u64..MAX_HTTP_DATE) {
            let _ = parse_retry_after(&value, at(now));
            let _ = parse_retry_after_ms(&value);
            let _ = retry_after_from_text(&value);
        }

        #[test]
        fn delay_parsers_never_panic_on_near_misses(
            value in "[ 0-9a-zA-Z,:+.-]{0,40}",
            now in 0u64..MAX_HTTP_DATE,
        ) {
            let _ = parse_retry_after(&value, at(now));
            let _ = parse_retry_after_ms(&value);
            let _ = retry_after_from_text(&value);
        }

        #[test]
        fn http_dates_read_back(t in 0u64..=MAX_HTTP_DATE, now in 0u64..=MAX_HTTP_DATE) {
            let date = httpdate::fmt_http_date(at(t));
            prop_assert_eq!(
                parse_retry_after(&date, at(now)),
                Some(Duration::from_secs(t.saturating_sub(now)))
            );
        }

        #[test]
        fn seconds_read_back(n in any::<u32>()) {
            let n = u64::from(n);
            prop_assert_eq!(secs(&n.to_string()), Some(Duration::from_secs(n)));
            let padded = format!(" {n}\t");
            prop_assert_eq!(secs(&padded), Some(Duration::from_secs(n)));
        }

        #[test]
        fn u64_values_read_back(n in any::<u64>()) {
            prop_assert_eq!(secs(&n.to_string()), Some(Duration::from_secs(n)));
            prop_assert_eq!(parse_retry_after_ms(&n.to_string()), Some(Duration::from_millis(n)));
        }

        #[test]
        fn gateway_text_reads_back(n in any::<u64>(), prefix in "[a-z .]{0,20}") {
            let text = format!("{prefix}Try again in {n} seconds.");
            prop_assert_eq!(retry_after_from_text(&text), Some(Duration::from_secs(n)));
        }
    }
}

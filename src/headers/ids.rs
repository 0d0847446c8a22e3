//! The ids a support ticket needs.

use std::borrow::Cow;

use http::header::HeaderName;
use http::HeaderMap;

use super::{MS_CORRELATION_ID, MS_CV, MS_REQUEST_ID, MS_SERVER_ID, REQUEST_CONTEXT};

/// The most bytes kept of one id (after de-duplication and joining).
const MAX_ID_BYTES: usize = 256;

/// Ids from a response, for support tickets and logs.
///
/// Each field holds the distinct values of its header, joined with `", "`, at most 256 bytes;
/// `None` when the header is absent or holds only empty parts. See the [module docs](crate::headers).
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
    // The parts kept so far are read back from `joined` (a part holds no comma, so splitting
    // on ", " gives them back exactly): one allocation per id, none for de-duplication.
    let mut joined = String::new();
    'lines: for value in headers.get_all(name) {
        // Ids are ASCII: `from_utf8` checks them a word at a time, the lossy decoder a byte at
        // a time; it is only asked for what is not UTF-8.
        let text = match std::str::from_utf8(value.as_bytes()) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value.as_bytes()),
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            // Once the cap is reached nothing more can be stored: stop, so the work stays
            // bounded by the cap and not by how many parts a hostile header repeats.
            if joined.len() >= MAX_ID_BYTES {
                break 'lines;
            }
            let part = truncated(part, MAX_ID_BYTES);
            if !joined.is_empty() && joined.split(", ").any(|kept| kept == part) {
                continue;
            }
            if !joined.is_empty() {
                joined.push_str(", ");
            }
            joined.push_str(part);
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

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;

    /// Parts are compared whole against the kept ones, not as prefixes or substrings.
    #[test]
    fn a_part_inside_a_kept_one_is_still_kept() {
        let mut headers = HeaderMap::new();
        headers.append(&MS_REQUEST_ID, HeaderValue::from_static("ab, a, b a"));
        headers.append(&MS_REQUEST_ID, HeaderValue::from_static("b, ab"));
        assert_eq!(
            read_id(&headers, &MS_REQUEST_ID).as_deref(),
            Some("ab, a, b a, b")
        );
    }
}

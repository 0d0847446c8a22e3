//! The ids a support ticket needs.

use std::borrow::Cow;

use http::HeaderMap;

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
        // One pass over the headers, matching names as text, instead of five hashed lookups
        // of names that are mostly absent. `HeaderMap` yields each name's lines in order.
        let mut ids: [Joined; 5] = Default::default();
        for (name, value) in headers {
            let slot = match name.as_str() {
                "ms-correlationid" => 0,
                "ms-requestid" => 1,
                "ms-cv" => 2,
                "ms-serverid" => 3,
                "request-context" => 4,
                _ => continue,
            };
            ids[slot].push_line(value.as_bytes());
        }
        let [correlation_id, request_id, correlation_vector, server_id, request_context] =
            ids.map(Joined::finish);
        Self {
            correlation_id,
            request_id,
            correlation_vector,
            server_id,
            request_context,
        }
    }

    /// Returns `true` when no id was found.
    pub fn is_empty(&self) -> bool {
        self.correlation_id.is_none()
            && self.request_id.is_none()
            && self.correlation_vector.is_none()
            && self.server_id.is_none()
            && self.request_context.is_none()
    }
}

/// The distinct, non-empty, comma-separated parts of every line of one id, joined and capped.
///
/// The parts kept so far are read back from `text` (a part holds no comma, so splitting on
/// ", " gives them back exactly): one allocation per id, none for de-duplication.
#[derive(Default)]
struct Joined {
    text: String,
}

impl Joined {
    fn push_line(&mut self, line: &[u8]) {
        // Once the cap is reached nothing more can be stored: stop, so the work stays bounded
        // by the cap and not by how many parts or lines a hostile header repeats.
        if self.text.len() >= MAX_ID_BYTES {
            return;
        }
        // Ids are ASCII: `from_utf8` checks them a word at a time, the lossy decoder a byte at
        // a time; it is only asked for what is not UTF-8.
        let line = match std::str::from_utf8(line) {
            Ok(line) => Cow::Borrowed(line),
            Err(_) => String::from_utf8_lossy(line),
        };
        for part in line.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if self.text.len() >= MAX_ID_BYTES {
                return;
            }
            let part = truncated(part, MAX_ID_BYTES);
            if !self.text.is_empty() {
                if self.text.split(", ").any(|kept| kept == part) {
                    continue;
                }
                self.text.push_str(", ");
            }
            self.text.push_str(part);
        }
    }

    fn finish(mut self) -> Option<String> {
        if self.text.is_empty() {
            return None;
        }
        self.text.truncate(char_floor(&self.text, MAX_ID_BYTES));
        Some(self.text)
    }
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
    use crate::headers::MS_REQUEST_ID;

    /// Parts are compared whole against the kept ones, not as prefixes or substrings.
    #[test]
    fn a_part_inside_a_kept_one_is_still_kept() {
        let mut headers = HeaderMap::new();
        headers.append(&MS_REQUEST_ID, HeaderValue::from_static("ab, a, b a"));
        headers.append(&MS_REQUEST_ID, HeaderValue::from_static("b, ab"));
        assert_eq!(
            ResponseIds::from_headers(&headers).request_id.as_deref(),
            Some("ab, a, b a, b")
        );
    }
}

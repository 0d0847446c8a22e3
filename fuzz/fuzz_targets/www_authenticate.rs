//! The `WWW-Authenticate` reader: `Challenge::parse_all` and `Challenge::from_headers`.
//!
//! Input: the header value's bytes (decoded lossily for `parse_all`, as `from_headers` does).
//!
//! Asserts, beyond "no panic": every challenge has a scheme and every parameter a lower-cased
//! name, neither holding a delimiter; what is returned is never larger than what was read; and
//! writing the challenges back out in canonical form reads back to the same challenges.
#![no_main]

use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use partner_center_errors::headers::Challenge;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let challenges = Challenge::parse_all(&text);

    assert!(challenges.len() <= text.len());
    let mut returned = 0;
    for challenge in &challenges {
        assert!(is_token(&challenge.scheme), "{:?}", challenge.scheme);
        if let Some(token68) = &challenge.token68 {
            assert!(!token68.is_empty());
            returned += token68.len();
        }
        for (name, value) in &challenge.params {
            assert!(is_token(name), "{name:?}");
            assert_eq!(*name, name.to_ascii_lowercase());
            returned += name.len() + value.len();
        }
        returned += challenge.scheme.len();
    }
    assert!(
        returned <= text.len(),
        "{returned} bytes out of {}",
        text.len()
    );

    // Canonical form reads back the same.
    let canonical = challenges
        .iter()
        .map(canonical)
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(
        Challenge::parse_all(&canonical),
        challenges,
        "{canonical:?}"
    );

    // As a header line: the same reading.
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.append(WWW_AUTHENTICATE, value);
        assert_eq!(Challenge::from_headers(&headers), challenges);
    }
});

/// A scheme or parameter name: not empty, no whitespace, `,`, `=` or `"`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || matches!(b, b',' | b'=' | b'"'))
}

/// `scheme token68` or `scheme name="value", ...`, values quoted and escaped.
fn canonical(challenge: &Challenge) -> String {
    let mut out = challenge.scheme.clone();
    let mut parts = Vec::new();
    if let Some(token68) = &challenge.token68 {
        parts.push(token68.clone());
    }
    for (name, value) in &challenge.params {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        parts.push(format!("{name}=\"{escaped}\""));
    }
    if !parts.is_empty() {
        out.push(' ');
        out.push_str(&parts.join(", "));
    }
    out
}

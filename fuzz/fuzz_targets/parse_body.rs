//! The body parser, `schema::parse`, with and without a content type, and the structured error
//! built on it, with serde_json as the oracle for what is JSON.
//!
//! Input: one selector byte, then the body. The selector picks the content type: none, one of
//! the media types real error responses carry, or (selector >= 0xC0) the text up to the first
//! newline of the rest, so that the fuzzer can mutate the content type too.
//!
//! Asserts, beyond "no panic": the invariants every `ParsedBody` keeps; that the content type
//! only decides how text that is not JSON is classified; that output stays proportional to
//! input; that the structured error retains at most 2 KiB beyond the raw body it shares (plus
//! the kept text of a body that is not JSON), counted by a counting allocator; and that its
//! `Display` and `Debug` are sanitised and bounded; and that the parser agrees with serde_json:
//! a body serde_json reads into a `Value` is JSON to the parser too, with the same `code`,
//! `description` and `source` strings, and a body the parser takes as JSON is one that
//! serde_json can at least skip.
#![no_main]

mod oracle;
mod printed;

use std::alloc::System;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// What the structured error may keep beyond the raw body (which it shares, not copies).
const RETAINED_BEYOND_BODY: isize = 2048;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use partner_center_errors::schema::{self, ParsedBody, Payload, Violation, MAX_TEXT_BYTES};
use partner_center_errors::ApiError;

const CONTENT_TYPES: [&str; 9] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/html",
    "text/html; charset=utf-8",
    "application/xml",
    "text/xml",
    "application/problem+xml",
    "text/plain",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        check(&schema::parse(data, None), data.len());
        return;
    };
    let (content_type, body) = match selector {
        0x00..=0x3F => (None, rest),
        0x40..=0xBF => (
            Some(CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()].to_owned()),
            rest,
        ),
        0xC0..=0xFF => {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let (content_type, body) = rest.split_at(end);
            let body = body.get(1..).unwrap_or_default();
            (
                Some(String::from_utf8_lossy(content_type).into_owned()),
                body,
            )
        }
    };

    let without = schema::parse(body, None);
    check(&without, body.len());
    oracle::agrees_with_serde_json(&without, body);
    if let Some(content_type) = content_type.as_deref() {
        let with = schema::parse(body, Some(content_type));
        check(&with, body.len());
        // The content type only classifies text that is not JSON.
        assert_eq!(with.violations, without.violations);
        match (with.payload.text(), without.payload.text()) {
            (Some(a), Some(b)) => assert_eq!(a, b),
            _ => assert_eq!(with.payload, without.payload),
        }
    }

    // The structured error over the same bytes: Display is one sanitised, bounded line.
    let status = StatusCode::from_u16(400 + u16::from(selector) % 200).expect("4xx/5xx");
    let mut headers = HeaderMap::new();
    if let Some(value) = content_type.and_then(|ct| HeaderValue::from_str(&ct).ok()) {
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    let raw = Bytes::copy_from_slice(body);
    let region = Region::new(GLOBAL);
    let error = ApiError::new(status, headers, raw);
    let change = region.change();
    // stats_alloc already counts a realloc's growth in `bytes_allocated` and its shrinking in
    // `bytes_deallocated`.
    let retained = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    let text = error.payload().text().map_or(0, str::len) as isize;
    assert!(
        retained <= RETAINED_BEYOND_BODY + text,
        "{retained} bytes retained for a {}-byte body",
        body.len()
    );
    assert_eq!(error.raw_body().as_ref(), body);
    printed::assert_safe("Debug", &format!("{error:?}"), 8192);
    printed::assert_safe("payload Debug", &format!("{:?}", error.payload()), 8192);
    // 64 characters of code and 300 of description, each escaped to at most 10 bytes, plus the
    // fixed text around them.
    printed::assert_safe("Display", &error.to_string(), 4096);
});

fn check(parsed: &ParsedBody, input_len: usize) {
    assert_eq!(parsed.is_valid(), parsed.violations.is_empty());
    for violation in &parsed.violations {
        let shown = violation.to_string();
        assert!(!shown.is_empty());
        // Violations name fields and types; they never quote the body.
        printed::assert_safe("violation", &shown, 256);
        printed::assert_safe("violation Debug", &format!("{violation:?}"), 1024);
    }
    match &parsed.payload {
        Payload::Html(text) | Payload::Xml(text) | Payload::Text(text) => {
            assert!(!text.is_empty());
            assert!(text.len() <= MAX_TEXT_BYTES);
            assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));
        }
        Payload::Empty => assert_eq!(parsed.violations, [Violation::EmptyBody]),
        Payload::OtherJson(_) => {
            assert!(matches!(
                parsed.violations[..],
                [Violation::NotObject { .. }]
            ))
        }
        Payload::Gateway(_) | Payload::Graph(_) => assert!(matches!(
            parsed.violations[..],
            [Violation::ForeignEnvelope { .. }]
        )),
        Payload::PartnerCenter(body) => {
            // A JSON string never decodes longer than it was sent; a number is kept as sent.
            assert!(body.code.as_ref().is_none_or(|c| c.len() <= input_len));
            assert!(body
                .description
                .as_ref()
                .is_none_or(|d| d.len() <= input_len));
            assert!(body.source.as_ref().is_none_or(|s| s.len() <= input_len));
            assert!(parsed.violations.len() <= 5);
        }
        other => panic!("a payload this target does not know yet: {other:?}"),
    }
    if let Some(description) = parsed.description() {
        assert!(description.len() <= input_len);
    }
}

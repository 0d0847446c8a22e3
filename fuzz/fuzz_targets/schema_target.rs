//! What the per-schema targets (`parse_graph`, `parse_problem`, `parse_auto`) share: the body
//! parser, `schema::parse_as`, under one schema, and the structured error built on it.
//!
//! Input: one selector byte, then the body. The selector picks the content type (none, JSON,
//! problem+json, HTML, ...) and the response status (400 + selector % 200).
//!
//! Asserts, beyond "no panic": the schema asked for is the one recorded (`Auto` records a
//! concrete one); violations are bounded, sanitised text; every kept string is no longer than
//! the input; a problem's `status` mismatch is reported exactly when it differs (when the body
//! is read as problem details, not named a wrong envelope); the list of
//! details grows no faster than the input; the structured error retains at most 2 KiB beyond
//! the raw body it shares (plus the kept text of a body that is not JSON), counted by a
//! counting allocator; its `Display` and `Debug` are sanitised and bounded; and the parser
//! agrees with serde_json (`oracle.rs`).

use std::alloc::System;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use partner_center_errors::schema::{self, ParsedBody, Payload, Schema, Violation};
use partner_center_errors::ApiError;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// What the structured error may keep beyond the raw body (which it shares, not copies).
const RETAINED_BEYOND_BODY: isize = 2048;

const CONTENT_TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some("application/problem+json"),
    Some("Application/Problem+JSON; charset=utf-8"),
    Some("text/html"),
    Some("text/plain"),
];

/// Runs one input under `schema`.
pub fn run(schema: Schema, data: &[u8]) {
    let (selector, body) = data.split_first().map_or((0, data), |(&s, rest)| (s, rest));
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let status = StatusCode::from_u16(400 + u16::from(selector) % 200).expect("4xx/5xx");

    let parsed = schema::parse_as(
        schema,
        Bytes::copy_from_slice(body),
        content_type,
        Some(status.as_u16()),
    );
    check(&parsed, schema, status.as_u16(), body.len());
    crate::oracle::agrees_with_serde_json(&parsed, body);

    let mut headers = HeaderMap::new();
    if let Some(content_type) = content_type {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
    }
    let raw = Bytes::copy_from_slice(body);
    let region = Region::new(GLOBAL);
    let error = ApiError::with_schema(schema, status, headers, raw);
    let change = region.change();
    let retained = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    let text = error.payload().text().map_or(0, str::len) as isize;
    assert!(
        retained <= RETAINED_BEYOND_BODY + text,
        "{retained} bytes retained for a {}-byte body",
        body.len()
    );
    assert_eq!(error.schema(), parsed.schema);
    assert_eq!(error.violations(), parsed.violations);
    let view = error.view();
    for id in [view.request_id(), view.client_request_id()]
        .into_iter()
        .flatten()
    {
        assert!(id.len() <= body.len());
    }
    crate::printed::assert_safe("Debug", &format!("{error:?}"), 8192);
    crate::printed::assert_safe("payload Debug", &format!("{:?}", error.payload()), 8192);
    crate::printed::assert_safe("Display", &error.to_string(), 4096);
}

fn check(parsed: &ParsedBody, schema: Schema, status: u16, input_len: usize) {
    assert_ne!(parsed.schema, Schema::Auto);
    if schema != Schema::Auto {
        assert_eq!(parsed.schema, schema);
    }
    assert_eq!(parsed.is_valid(), parsed.violations.is_empty());
    assert!(parsed.violations.len() <= 8, "{:?}", parsed.violations);
    for violation in &parsed.violations {
        let shown = violation.to_string();
        assert!(!shown.is_empty());
        crate::printed::assert_safe("violation", &shown, 256);
        crate::printed::assert_safe("violation Debug", &format!("{violation:?}"), 1024);
    }
    let within = |text: Option<&str>| assert!(text.is_none_or(|t| t.len() <= input_len));
    within(parsed.code());
    within(parsed.description());
    within(parsed.payload.target());
    match &parsed.payload {
        Payload::Problem(problem) => {
            within(problem.instance.as_deref());
            let mismatch = parsed
                .violations
                .iter()
                .any(|v| matches!(v, Violation::StatusMismatch { .. }));
            // Checked when the body is read as problem details; read against another schema
            // it is named a wrong envelope, and that is its one violation.
            let differs = parsed.schema == Schema::ProblemDetails
                && problem.status.is_some_and(|sent| sent != status);
            assert_eq!(mismatch, differs, "{:?}", parsed.violations);
            assert!(problem.extensions.len() <= input_len);
        }
        Payload::Graph(graph) => {
            within(graph.request_id().as_deref());
            within(graph.client_request_id().as_deref());
        }
        _ => {}
    }
    let details = parsed.details();
    // Each item takes at least two bytes of input (`"",` or `[]`).
    assert!(details.len() <= input_len / 2 + 1);
    for detail in details.iter().take(8) {
        crate::printed::assert_safe("detail Debug", &format!("{detail:?}"), 2048);
    }
    for detail in details {
        within(detail.message.as_deref());
        within(detail.code.as_deref());
        within(detail.target.as_deref());
    }
}

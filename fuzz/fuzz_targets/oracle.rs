//! serde_json as the oracle for what the parser takes as JSON and what it reads from it, shared
//! by the parser targets.

use partner_center_errors::schema::{ParsedBody, Payload, Violation};
use serde_json::Value;

/// serde_json as the oracle. Its `Value` refuses a little more than JSON's grammar (a number
/// beyond `f64`, a lone surrogate escape), which the parser keeps as text unread; and skipping
/// (`IgnoredAny`) accepts a little more (no depth limit, no check of what a number means).
/// Between the two, the parser's answer is fixed; and where `Value` reads the body, the fields
/// the parser kept are the strings `Value` holds (the last of each name).
pub fn agrees_with_serde_json(parsed: &ParsedBody, body: &[u8]) {
    let json = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if matches!(parsed.payload, Payload::Empty) {
        assert!(json.iter().all(u8::is_ascii_whitespace));
        return;
    }
    let not_json = parsed
        .violations
        .iter()
        .any(|violation| matches!(violation, Violation::NotJson { .. }));
    if let Ok(value) = serde_json::from_slice::<Value>(json) {
        assert!(!not_json, "serde_json reads it: {:?}", parsed.violations);
        same_fields(parsed, &value);
    }
    if !not_json {
        assert!(
            serde_json::from_slice::<serde::de::IgnoredAny>(json).is_ok(),
            "taken as JSON, but serde_json cannot read it"
        );
    }
}

/// The kept strings of a Partner Center body or a Graph envelope, against `value`'s.
fn same_fields(parsed: &ParsedBody, value: &Value) {
    let string = |object: &Value, name: &str| match object.get(name) {
        Some(Value::String(text)) => Some(text.clone()),
        _ => None,
    };
    let expect = |name: &str, kept: Option<&str>, expected: Option<String>| {
        if let Some(expected) = expected {
            assert_eq!(kept, Some(expected.as_str()), "{name}");
        }
    };
    match &parsed.payload {
        Payload::PartnerCenter(read) => {
            expect("code", read.code.as_deref(), string(value, "code"));
            expect(
                "description",
                read.description.as_deref(),
                string(value, "description"),
            );
            expect("source", read.source.as_deref(), string(value, "source"));
        }
        // Read against the Graph schema, a body without an `error` object is still a Graph
        // payload, an empty one.
        Payload::Graph(_) => {
            let Some(error) = value.get("error") else {
                return;
            };
            expect("error.code", parsed.code(), string(error, "code"));
            expect(
                "error.message",
                parsed.description(),
                string(error, "message"),
            );
            expect(
                "error.target",
                parsed.payload.target(),
                string(error, "target"),
            );
        }
        _ => {}
    }
}

//! Reading a JSON object or a text body into a payload and its violations.

use serde_json::{Map, Value};

use super::{
    Envelope, ErrorBody, Field, GatewayError, GraphError, JsonType, ParsedBody, Payload, Violation,
    MAX_DESCRIPTION_CHARS, MAX_TEXT_BYTES,
};

pub(super) fn parse_object(map: Map<String, Value>) -> ParsedBody {
    if !map.contains_key("code") && !map.contains_key("description") {
        let status_code = map.get("statusCode").filter(|v| v.is_number());
        let message = map.get("message").and_then(Value::as_str);
        if status_code.is_some() || message.is_some() {
            let gateway = GatewayError {
                status_code: status_code
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok()),
                message: message.map(str::to_owned),
            };
            return foreign(Payload::Gateway(gateway), Envelope::Gateway);
        }
        if map.get("error").is_some_and(Value::is_object) {
            let error = map
                .into_iter()
                .find_map(|(key, value)| match value {
                    Value::Object(error) if key == "error" => Some(error),
                    _ => None,
                })
                .unwrap_or_default();
            return foreign(Payload::Graph(graph_error(error)), Envelope::Graph);
        }
    }
    // Neither envelope (possibly an empty object, or one with only unknown fields).
    partner_center(map)
}

fn foreign(payload: Payload, envelope: Envelope) -> ParsedBody {
    ParsedBody {
        payload,
        violations: vec![Violation::ForeignEnvelope { envelope }],
    }
}

fn graph_error(error: Map<String, Value>) -> GraphError {
    let mut graph = GraphError {
        code: None,
        message: None,
        target: None,
        inner_error: None,
    };
    for (key, value) in error {
        match (key.as_str(), value) {
            ("code", Value::String(code)) => graph.code = Some(code),
            ("code", Value::Number(code)) => graph.code = Some(code.to_string()),
            ("message", Value::String(message)) => graph.message = Some(message),
            ("target", Value::String(target)) => graph.target = Some(target),
            ("innerError", inner) => graph.inner_error = Some(inner),
            ("innererror", inner) if graph.inner_error.is_none() => graph.inner_error = Some(inner),
            _ => {}
        }
    }
    graph
}

fn partner_center(map: Map<String, Value>) -> ParsedBody {
    let (mut code, mut description, mut data, mut source) = (None, None, None, None);
    let mut extra = Map::new();
    // Iterating by value keeps `extra` in wire order when serde_json preserves order.
    for (key, value) in map {
        match key.as_str() {
            "code" => code = Some(value),
            "description" => description = Some(value),
            "data" => data = Some(value),
            "source" => source = Some(value),
            _ => {
                extra.insert(key, value);
            }
        }
    }

    let mut violations = Vec::new();
    let code = match code {
        Some(Value::Number(number)) => {
            violations.push(Violation::WrongType {
                field: Field::Code,
                expected: JsonType::String,
                found: JsonType::Number,
            });
            Some(number.to_string())
        }
        other => string_field(Field::Code, other, &mut violations),
    };
    let description = string_field(Field::Description, description, &mut violations);
    if let Some(text) = &description {
        if text.trim().is_empty() {
            violations.push(Violation::EmptyDescription);
        }
        let chars = text.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            violations.push(Violation::DescriptionTooLong { chars });
        }
    }
    match &data {
        None | Some(Value::Array(_)) => {}
        Some(Value::Null) => violations.push(Violation::Null { field: Field::Data }),
        Some(other) => violations.push(Violation::WrongType {
            field: Field::Data,
            expected: JsonType::Array,
            found: JsonType::of(other),
        }),
    }
    let source = string_field(Field::Source, source, &mut violations);

    ParsedBody {
        payload: Payload::PartnerCenter(ErrorBody {
            code,
            description,
            data,
            source,
            extra,
        }),
        violations,
    }
}

/// Reads a required string field, recording why it is unusable when it is.
fn string_field(
    field: Field,
    value: Option<Value>,
    violations: &mut Vec<Violation>,
) -> Option<String> {
    match value {
        Some(Value::String(text)) => return Some(text),
        None => violations.push(Violation::Missing { field }),
        Some(Value::Null) => violations.push(Violation::Null { field }),
        Some(other) => violations.push(Violation::WrongType {
            field,
            expected: JsonType::String,
            found: JsonType::of(&other),
        }),
    }
    None
}

pub(super) fn parse_text(
    bytes: &[u8],
    content_type: Option<&str>,
    error: &serde_json::Error,
) -> ParsedBody {
    let head = bytes.get(..MAX_TEXT_BYTES).unwrap_or(bytes);
    let text = bounded_text(bytes);
    let payload = match classify(head, content_type) {
        TextKind::Html => Payload::Html(text),
        TextKind::Xml => Payload::Xml(text),
        TextKind::Plain => Payload::Text(text),
    };
    ParsedBody {
        payload,
        violations: vec![Violation::NotJson {
            detail: error.to_string(),
        }],
    }
}

enum TextKind {
    Html,
    Xml,
    Plain,
}

/// Classifies non-JSON text: the declared media type first, then the first bytes.
fn classify(head: &[u8], content_type: Option<&str>) -> TextKind {
    if let Some(content_type) = content_type {
        let media_type = content_type
            .split_once(';')
            .map_or(content_type, |(media_type, _)| media_type)
            .trim();
        if media_type.eq_ignore_ascii_case("text/html") {
            return TextKind::Html;
        }
        if media_type.eq_ignore_ascii_case("application/xml")
            || media_type.eq_ignore_ascii_case("text/xml")
            || ends_with_ignore_case(media_type.as_bytes(), b"+xml")
        {
            return TextKind::Xml;
        }
    }
    let start = head.trim_ascii_start();
    if starts_with_ignore_case(start, b"<!doctype html")
        || head.windows(5).any(|w| w.eq_ignore_ascii_case(b"<html"))
    {
        TextKind::Html
    } else if starts_with_ignore_case(start, b"<?xml") {
        TextKind::Xml
    } else {
        TextKind::Plain
    }
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

fn ends_with_ignore_case(haystack: &[u8], suffix: &[u8]) -> bool {
    haystack
        .len()
        .checked_sub(suffix.len())
        .and_then(|at| haystack.get(at..))
        .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
}

/// Lossy UTF-8 of at most [`MAX_TEXT_BYTES`] bytes, decoding no more of the input than that.
fn bounded_text(bytes: &[u8]) -> String {
    let mut end = bytes.len().min(MAX_TEXT_BYTES);
    // Back off over the continuation bytes of a character the cut would split (at most
    // three), so it is dropped rather than replaced with U+FFFD.
    let floor = end.saturating_sub(3);
    while end > floor && bytes.get(end).is_some_and(|&b| b & 0xC0 == 0x80) {
        end -= 1;
    }
    let mut text = String::from_utf8_lossy(bytes.get(..end).unwrap_or(bytes)).into_owned();
    // Each invalid byte becomes a three-byte U+FFFD, so the decoded text may outgrow the cap.
    if text.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

use super::*;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn pc(parsed: &ParsedBody) -> &ErrorBody {
    match &parsed.payload {
        Payload::PartnerCenter(body) => body,
        other => panic!("expected a Partner Center body, got {other:?}"),
    }
}

fn parse_json(value: Value) -> ParsedBody {
    parse(value.to_string().as_bytes(), Some("application/json"))
}

fn wrong(field: Field, expected: JsonType, found: JsonType) -> Violation {
    Violation::WrongType {
        field,
        expected,
        found,
    }
}

fn valid_with(field: &str, value: Value) -> Value {
    let mut body = json!({
        "code": "2001",
        "description": "This tenant has no such customer.",
        "data": [],
        "source": "PartnerApiServiceControllers",
    });
    body[field] = value;
    body
}

fn without(field: &str) -> Value {
    let mut body = valid_with(field, Value::Null);
    if let Value::Object(map) = &mut body {
        map.remove(field);
    }
    body
}

#[test]
fn valid_body_has_no_violations() {
    let parsed = parse(
        br#"{"code":"2001","description":"This tenant has no such customer.","data":[],"source":"PartnerFD"}"#,
        Some("application/json"),
    );
    assert!(parsed.is_valid(), "{:?}", parsed.violations);
    let body = pc(&parsed);
    assert_eq!(body.code.as_deref(), Some("2001"));
    assert_eq!(
        body.description.as_deref(),
        Some("This tenant has no such customer.")
    );
    assert_eq!(value(&body.data), Some(json!([])));
    assert_eq!(body.source.as_deref(), Some("PartnerFD"));
    assert!(body.extra.is_empty());
    assert_eq!(parsed.code(), Some("2001"));
    assert_eq!(
        parsed.description(),
        Some("This tenant has no such customer.")
    );
    assert_eq!(parsed.payload.error_body(), Some(body));
}

#[test]
fn numeric_code_is_kept_as_decimal_text() {
    let parsed = parse(
        br#"{"code":3000,"description":"Something failed on our side.","data":[],"source":"PartnerFD"}"#,
        None,
    );
    assert_eq!(parsed.code(), Some("3000"));
    assert_eq!(
        parsed.violations,
        [wrong(Field::Code, JsonType::String, JsonType::Number)]
    );
    let parsed = parse_json(valid_with("code", json!(800090)));
    assert_eq!(parsed.code(), Some("800090"));
    let parsed = parse_json(valid_with("code", json!(-3)));
    assert_eq!(parsed.code(), Some("-3"));
}

#[test]
fn code_violations() {
    let parsed = parse_json(without("code"));
    assert_eq!(
        parsed.violations,
        [Violation::Missing { field: Field::Code }]
    );
    assert_eq!(parsed.code(), None);

    let parsed = parse_json(valid_with("code", Value::Null));
    assert_eq!(parsed.violations, [Violation::Null { field: Field::Code }]);
    assert_eq!(parsed.code(), None);

    for (value, found) in [
        (json!(true), JsonType::Bool),
        (json!(["3000"]), JsonType::Array),
        (json!({"value": 3000}), JsonType::Object),
    ] {
        let parsed = parse_json(valid_with("code", value));
        assert_eq!(
            parsed.violations,
            [wrong(Field::Code, JsonType::String, found)]
        );
        assert_eq!(parsed.code(), None);
    }
}

#[test]
fn description_violations() {
    let parsed = parse_json(without("description"));
    assert_eq!(
        parsed.violations,
        [Violation::Missing {
            field: Field::Description
        }]
    );
    let parsed = parse_json(valid_with("description", Value::Null));
    assert_eq!(
        parsed.violations,
        [Violation::Null {
            field: Field::Description
        }]
    );
    let parsed = parse_json(valid_with("description", json!(42)));
    assert_eq!(
        parsed.violations,
        [wrong(
            Field::Description,
            JsonType::String,
            JsonType::Number
        )]
    );
    assert_eq!(parsed.description(), None);

    for blank in ["", " ", "\t\r\n ", "\u{3000}"] {
        let parsed = parse_json(valid_with("description", json!(blank)));
        assert_eq!(
            parsed.violations,
            [Violation::EmptyDescription],
            "{blank:?}"
        );
        assert_eq!(parsed.description(), Some(blank));
    }
}

#[test]
fn description_limit_counts_chars_not_bytes() {
    for c in ['é', '日', '😀'] {
        let at_limit: String = std::iter::repeat_n(c, MAX_DESCRIPTION_CHARS).collect();
        assert!(at_limit.len() >= 2 * MAX_DESCRIPTION_CHARS);
        let parsed = parse_json(valid_with("description", json!(at_limit)));
        assert!(parsed.is_valid(), "{c}: {:?}", parsed.violations);

        let over: String = std::iter::repeat_n(c, MAX_DESCRIPTION_CHARS + 1).collect();
        let parsed = parse_json(valid_with("description", json!(over)));
        assert_eq!(
            parsed.violations,
            [Violation::DescriptionTooLong { chars: 1025 }]
        );
        // Still kept whole.
        assert_eq!(parsed.description(), Some(over.as_str()));
    }
}

#[test]
fn long_blank_description_reports_both() {
    let blank = " ".repeat(2000);
    let parsed = parse_json(valid_with("description", json!(blank)));
    assert_eq!(
        parsed.violations,
        [
            Violation::EmptyDescription,
            Violation::DescriptionTooLong { chars: 2000 }
        ]
    );
}

#[test]
fn data_shapes() {
    let parsed = parse_json(without("data"));
    assert!(parsed.is_valid());
    assert_eq!(pc(&parsed).data, None);

    let strings = json!(["first line of a stack trace", "https://example.com/help"]);
    let parsed = parse_json(valid_with("data", strings.clone()));
    assert!(parsed.is_valid());
    assert_eq!(value(&pc(&parsed).data), Some(strings));

    // The 2017 draft's object.
    let object = json!({"reason": "draft shape"});
    let parsed = parse_json(valid_with("data", object.clone()));
    assert_eq!(
        parsed.violations,
        [wrong(Field::Data, JsonType::Array, JsonType::Object)]
    );
    assert_eq!(value(&pc(&parsed).data), Some(object));

    let parsed = parse_json(valid_with("data", Value::Null));
    assert_eq!(parsed.violations, [Violation::Null { field: Field::Data }]);
    assert_eq!(value(&pc(&parsed).data), Some(Value::Null));
}

#[test]
fn source_violations() {
    let parsed = parse_json(without("source"));
    assert_eq!(
        parsed.violations,
        [Violation::Missing {
            field: Field::Source
        }]
    );
    let parsed = parse_json(valid_with("source", Value::Null));
    assert_eq!(
        parsed.violations,
        [Violation::Null {
            field: Field::Source
        }]
    );
    let parsed = parse_json(valid_with("source", json!(7)));
    assert_eq!(
        parsed.violations,
        [wrong(Field::Source, JsonType::String, JsonType::Number)]
    );
    assert_eq!(pc(&parsed).source, None);
}

#[test]
fn violations_come_in_field_order() {
    let parsed = parse(br#"{"data":5,"description":"","code":null}"#, None);
    assert_eq!(
        parsed.violations,
        [
            Violation::Null { field: Field::Code },
            Violation::EmptyDescription,
            wrong(Field::Data, JsonType::Array, JsonType::Number),
            Violation::Missing {
                field: Field::Source
            },
        ]
    );
}

#[test]
fn bom_and_charset_content_type() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        br#"{"code":"2000","description":"The request body could not be read.","data":[],"source":"PartnerFD"}"#,
    );
    let parsed = parse(&bytes, Some("Application/JSON; charset=utf-8"));
    assert!(parsed.is_valid(), "{:?}", parsed.violations);
    assert_eq!(parsed.code(), Some("2000"));
}

#[test]
fn extended_envelope() {
    let parsed = parse(
        br#"{"code":600061,"description":"The agreement was already confirmed.","errorName":"PartnerConfirmedAgreementAlreadyExists","isRetryable":false,"message":"The agreement was already confirmed.","parameters":{"tenant":"abc"},"errorMessageExtended":"InternalErrorCode=600061"}"#,
        None,
    );
    let body = pc(&parsed);
    assert_eq!(body.code.as_deref(), Some("600061"));
    assert_eq!(
        body.error_name().as_deref(),
        Some("PartnerConfirmedAgreementAlreadyExists")
    );
    assert_eq!(body.is_retryable(), Some(false));
    assert_eq!(
        body.message().as_deref(),
        Some("The agreement was already confirmed.")
    );
    assert_eq!(
        body.extra.get("parameters").as_ref().map(RawJson::get),
        Some(r#"{"tenant":"abc"}"#)
    );
    assert_eq!(
        body.extra
            .get("errorMessageExtended")
            .as_ref()
            .map(RawJson::get),
        Some(r#""InternalErrorCode=600061""#)
    );
    assert_eq!(body.extra.len(), 5);
    assert_eq!(
        parsed.violations,
        [
            wrong(Field::Code, JsonType::String, JsonType::Number),
            Violation::Missing {
                field: Field::Source
            }
        ]
    );
}

#[test]
fn getters_ignore_wrong_types() {
    let parsed = parse(
        br#"{"code":"1","description":"x","source":"s","errorName":3,"isRetryable":"yes","message":null}"#,
        None,
    );
    let body = pc(&parsed);
    assert_eq!(body.error_name(), None);
    assert_eq!(body.is_retryable(), None);
    assert_eq!(body.message(), None);
    assert!(parsed.is_valid());
}

#[test]
fn capitalised_source_is_extra() {
    let parsed = parse(
        br#"{"code":"5","description":"An old draft shape.","data":[],"Source":"PartnerFD"}"#,
        None,
    );
    assert_eq!(
        parsed.violations,
        [Violation::Missing {
            field: Field::Source
        }]
    );
    let body = pc(&parsed);
    assert_eq!(body.source, None);
    assert_eq!(
        body.extra.get("Source").as_ref().map(RawJson::get),
        Some(r#""PartnerFD""#)
    );
}

/// `get` reads only the field asked for; it finds what a search of `iter` finds: the last of
/// a name sent twice, an escaped name decoded, an added field after those sent, never a field
/// the schema names.
#[test]
fn extras_get_finds_what_iter_finds() {
    let parsed = parse(
        br#"{"code":"5","description":"d","x":1,"data":[],"x":2,"\u0079":3,"source":"s"}"#,
        None,
    );
    let mut extra = pc(&parsed).extra.clone();
    extra.insert("z", serde_json::json!(4));
    for name in ["x", "y", "z", "code", "data", "absent"] {
        let searched = extra.iter().filter(|(key, _)| key.as_str() == name).last();
        assert_eq!(
            extra.get(name).as_ref().map(RawJson::get),
            searched.as_ref().map(|(_, value)| value.get()),
            "{name}"
        );
        assert_eq!(extra.contains_key(name), searched.is_some(), "{name}");
    }
    assert_eq!(extra.get("x").as_ref().map(RawJson::get), Some("2"));
    extra.insert("x", serde_json::json!(5));
    assert_eq!(extra.get("x").as_ref().map(RawJson::get), Some("5"));
    assert_eq!(
        format!("{extra:?}"),
        r#"{"x": RawJson("1"), "x": RawJson("2"), "y": RawJson("3"), "z": RawJson("4"), "x": RawJson("5")}"#
    );
}

#[test]
fn gateway_throttling() {
    let parsed = parse(
        br#"{ "statusCode": 429, "message": "Too many calls; wait 57 seconds." }"#,
        Some("application/json"),
    );
    assert_eq!(
        parsed.payload,
        Payload::Gateway(GatewayError {
            status_code: Some(429),
            message: Some("Too many calls; wait 57 seconds.".into()),
        })
    );
    assert_eq!(
        parsed.violations,
        [Violation::ForeignEnvelope {
            envelope: Envelope::Gateway
        }]
    );
    assert_eq!(parsed.code(), None);
    assert_eq!(
        parsed.description(),
        Some("Too many calls; wait 57 seconds.")
    );

    let parsed = parse(br#"{"statusCode": 70000}"#, None);
    assert_eq!(
        parsed.payload,
        Payload::Gateway(GatewayError {
            status_code: None,
            message: None
        })
    );
    let parsed = parse(br#"{"message": "only a message"}"#, None);
    assert!(matches!(parsed.payload, Payload::Gateway(_)));
    // A Partner Center field makes it a Partner Center body.
    let parsed = parse(br#"{"statusCode": 429, "code": "429"}"#, None);
    assert!(matches!(parsed.payload, Payload::PartnerCenter(_)));
    assert_eq!(
        pc(&parsed)
            .extra
            .get("statusCode")
            .as_ref()
            .map(RawJson::get),
        Some("429")
    );
}

#[test]
fn graph_envelope() {
    let parsed = parse(
        br#"{"error":{"code":"Request_BadRequest","message":"A field was malformed.","target":"customerId","innerError":{"request-id":"42"}}}"#,
        None,
    );
    assert_eq!(
        parsed.payload,
        Payload::Graph(GraphError {
            code: Some("Request_BadRequest".into()),
            message: Some("A field was malformed.".into()),
            target: Some("customerId".into()),
            details: None,
            inner_error: Some(RawJson::from_value(&json!({"request-id": "42"}))),
        })
    );
    assert_eq!(
        parsed.violations,
        [Violation::ForeignEnvelope {
            envelope: Envelope::Graph
        }]
    );
    assert_eq!(parsed.code(), Some("Request_BadRequest"));
    assert_eq!(parsed.description(), Some("A field was malformed."));

    let parsed = parse(br#"{"error":{"code":404,"innererror":[1]}}"#, None);
    assert_eq!(
        parsed.payload,
        Payload::Graph(GraphError {
            code: Some("404".into()),
            message: None,
            target: None,
            details: None,
            inner_error: Some(RawJson::from_value(&json!([1]))),
        })
    );
    // `error` not an object: read as Partner Center.
    let parsed = parse(br#"{"error":"nope"}"#, None);
    let body = pc(&parsed);
    assert_eq!(
        body.extra.get("error").as_ref().map(RawJson::get),
        Some(r#""nope""#)
    );
    assert_eq!(parsed.violations.len(), 3);
}

#[test]
fn empty_object_misses_every_required_field() {
    let parsed = parse(b"{}", None);
    assert_eq!(
        parsed.violations,
        [
            Violation::Missing { field: Field::Code },
            Violation::Missing {
                field: Field::Description
            },
            Violation::Missing {
                field: Field::Source
            },
        ]
    );
    assert_eq!(pc(&parsed), &ErrorBody::default());
}

#[test]
fn html_bad_gateway_page() {
    let page = b"<!DOCTYPE html>\n<html><head><title>502</title></head><body>The upstream did not answer.</body></html>";
    let parsed = parse(page, Some("text/html"));
    assert_eq!(
        parsed.payload,
        Payload::Html(String::from_utf8_lossy(page).into_owned().into())
    );
    assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));
    assert_eq!(parsed.code(), None);
    assert_eq!(parsed.description(), None);
    assert!(parsed.payload.text().is_some());

    // Sniffed without a content type, or against a wrong one.
    for body in [
        &b"  <!doctype HTML><p>x</p>"[..],
        b"\n<HTML>down</HTML>",
        b"error page follows <html><body>x</body></html>",
    ] {
        assert!(
            matches!(parse(body, None).payload, Payload::Html(_)),
            "{body:?}"
        );
        assert!(matches!(
            parse(body, Some("application/json")).payload,
            Payload::Html(_)
        ));
    }
    // Declared by content type alone.
    let parsed = parse(b"Bad Gateway", Some("TEXT/HTML; charset=UTF-8"));
    assert_eq!(parsed.payload, Payload::Html("Bad Gateway".into()));
}

#[test]
fn xml_bodies() {
    let doc = "<?xml version=\"1.0\"?><Error><Code>3000</Code></Error>";
    let parsed = parse(doc.as_bytes(), None);
    assert_eq!(parsed.payload, Payload::Xml(doc.into()));
    assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));

    let doc = "<Error><Code>3000</Code></Error>";
    for content_type in [
        "application/xml",
        "text/xml; charset=utf-8",
        "application/problem+XML",
    ] {
        assert_eq!(
            parse(doc.as_bytes(), Some(content_type)).payload,
            Payload::Xml(doc.into()),
            "{content_type}"
        );
    }
    assert_eq!(
        parse(doc.as_bytes(), None).payload,
        Payload::Text(doc.into())
    );
}

#[test]
fn plain_text() {
    let parsed = parse(b"upstream connect error", Some("text/plain"));
    assert_eq!(
        parsed.payload,
        Payload::Text("upstream connect error".into())
    );
    assert_eq!(parsed.payload.text(), Some("upstream connect error"));
    assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));
    // Truncated JSON is not JSON either.
    let parsed = parse(br#"{"code":"3000","descr"#, Some("application/json"));
    assert!(matches!(parsed.payload, Payload::Text(_)));
}

#[test]
fn not_json_detail_does_not_echo_the_body() {
    let parsed = parse(b"secret-token-abc", None);
    let [Violation::NotJson { detail }] = &parsed.violations[..] else {
        panic!("{:?}", parsed.violations)
    };
    assert!(!detail.contains("secret"), "{detail}");
    assert!(!parsed.violations[0].to_string().contains("secret"));
}

#[test]
fn empty_and_blank_bodies() {
    for body in [
        &b""[..],
        b" ",
        b"\r\n\t ",
        b"\xEF\xBB\xBF",
        b"\xEF\xBB\xBF \n",
    ] {
        let parsed = parse(body, Some("application/json"));
        assert_eq!(parsed.payload, Payload::Empty, "{body:?}");
        assert_eq!(parsed.violations, [Violation::EmptyBody]);
    }
    // Only one BOM is stripped.
    let parsed = parse(b"\xEF\xBB\xBF\xEF\xBB\xBF", None);
    assert_eq!(parsed.payload, Payload::Text("\u{FEFF}".into()));
}

#[test]
fn huge_non_json_is_bounded() {
    let ten_mb = 10 * 1024 * 1024;
    let parsed = parse(&vec![b'a'; ten_mb], None);
    assert_eq!(
        parsed.payload,
        Payload::Text("a".repeat(MAX_TEXT_BYTES).into())
    );

    let mut html = b"<html>".to_vec();
    html.resize(ten_mb, b'x');
    let text = parse(&html, None).payload;
    assert!(matches!(text, Payload::Html(ref t) if t.len() == MAX_TEXT_BYTES));

    // Three-byte characters: the cut falls inside one, which is dropped, not replaced.
    let wide = "日".repeat(ten_mb / 3);
    let parsed = parse(wide.as_bytes(), None);
    let text = parsed.payload.text().unwrap();
    assert_eq!(text.len(), MAX_TEXT_BYTES / 3 * 3);
    assert!(text.chars().all(|c| c == '日'));

    // Invalid bytes expand to U+FFFD (three bytes each): still capped.
    let parsed = parse(&vec![0xFF; ten_mb], None);
    let text = parsed.payload.text().unwrap();
    assert!(text.len() <= MAX_TEXT_BYTES);
    assert_eq!(text.len(), MAX_TEXT_BYTES / 3 * 3);
}

#[test]
fn invalid_utf8_is_decoded_lossily() {
    let parsed = parse(b"broken \xFF\xC3 bytes", None);
    assert_eq!(
        parsed.payload,
        Payload::Text("broken \u{FFFD}\u{FFFD} bytes".into())
    );
    assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));
}

#[test]
fn other_json() {
    for (body, found) in [
        (&br#"[{"code":"1"}]"#[..], JsonType::Array),
        (br#""just a string""#, JsonType::String),
        (b"503", JsonType::Number),
        (b"true", JsonType::Bool),
        (b" null ", JsonType::Null),
    ] {
        let parsed = parse(body, None);
        let Payload::OtherJson(raw) = &parsed.payload else {
            panic!("{:?}", parsed.payload)
        };
        assert_eq!(raw.get(), std::str::from_utf8(body).unwrap().trim());
        assert_eq!(raw.json_type(), found);
        assert_eq!(parsed.violations, [Violation::NotObject { found }]);
        assert_eq!(parsed.code(), None);
        assert_eq!(parsed.description(), None);
    }
}

#[test]
fn deep_nesting_and_duplicate_keys() {
    let deep = "[".repeat(100_000);
    let parsed = parse(deep.as_bytes(), None);
    assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));

    let parsed = parse(
        br#"{"code":"1","code":"2","description":"d","source":"s"}"#,
        None,
    );
    assert_eq!(parsed.code(), Some("2"));
}

#[test]
fn to_json_round_trip() {
    let original = json!({
        "code": "2200",
        "description": "The offer is not available in this market.",
        "data": ["details"],
        "source": "ComplianceController",
        "errorName": "OfferUnavailable",
        "isRetryable": true,
    });
    let parsed = parse_json(original.clone());
    let body = pc(&parsed);
    assert_eq!(body.to_json(), original);
    let again = parse_json(body.to_json());
    assert_eq!(&again, &parsed);

    // A numeric code comes back as a string.
    let parsed = parse_json(valid_with("code", json!(3000)));
    assert_eq!(pc(&parsed).to_json()["code"], json!("3000"));
    assert!(parse_json(pc(&parsed).to_json()).is_valid());

    let built = ErrorBody::new("3000", "Try again later.")
        .with_data(json!([]))
        .with_source("Proxy");
    assert_eq!(
        built.to_json(),
        json!({"code": "3000", "description": "Try again later.", "data": [], "source": "Proxy"})
    );
    assert!(parse_json(built.to_json()).is_valid());
    assert_eq!(pc(&parse_json(built.to_json())), &built);

    // Absent fields stay absent; schema fields win over extra ones.
    let mut body = ErrorBody::default();
    body.extra.insert("code", json!(1));
    assert_eq!(body.to_json(), json!({"code": 1}));
    body.code = Some("2".into());
    assert_eq!(body.to_json(), json!({"code": "2"}));
}

#[test]
fn display() {
    let cases = [
        (
            wrong(Field::Code, JsonType::String, JsonType::Number),
            "`code` is a number; the schema says string",
        ),
        (
            Violation::DescriptionTooLong { chars: 1025 },
            "`description` has 1025 characters; the limit is 1024",
        ),
        (
            Violation::Missing {
                field: Field::Source,
            },
            "`source` is missing; the schema says always returned",
        ),
        (
            Violation::Null { field: Field::Data },
            "`data` is null; the schema says array",
        ),
        (
            wrong(Field::Data, JsonType::Array, JsonType::Object),
            "`data` is an object; the schema says array",
        ),
        (
            Violation::NotObject {
                found: JsonType::Array,
            },
            "the body is an array in JSON; the schema says object",
        ),
        (
            Violation::ForeignEnvelope {
                envelope: Envelope::Gateway,
            },
            "the body is a gateway envelope (`statusCode`, `message`), not the Partner Center schema",
        ),
        (
            Violation::EmptyBody,
            "the body is empty; the schema says a JSON object",
        ),
        (
            Violation::EmptyDescription,
            "`description` is empty or blank; the schema says non-empty",
        ),
    ];
    for (violation, text) in cases {
        assert_eq!(violation.to_string(), text);
    }
    let parsed = parse(b"<", None);
    assert!(parsed.violations[0]
        .to_string()
        .starts_with("the body is not JSON: "));
    assert_eq!(Field::Description.to_string(), "description");
    assert_eq!(JsonType::Bool.to_string(), "boolean");
    assert_eq!(JsonType::of(&json!({})), JsonType::Object);
    assert_eq!(Envelope::Graph.to_string(), "Graph-style");
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(vec![
        "application/json",
        "application/json; charset=utf-8",
        "text/html",
        "application/xml",
        "text/plain",
        "application/problem+xml",
        "",
        ";;;",
        "é/ü+xml",
    ]))
}

fn check_invariants(parsed: &ParsedBody) {
    assert_eq!(parsed.is_valid(), parsed.violations.is_empty());
    match &parsed.payload {
        Payload::Html(text) | Payload::Xml(text) | Payload::Text(text) => {
            assert!(text.len() <= MAX_TEXT_BYTES);
            assert!(!text.is_empty());
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
        Payload::PartnerCenter(_) => {}
        Payload::Problem(_) => panic!("problem details under the Partner Center schema"),
    }
    for violation in &parsed.violations {
        let shown = violation.to_string();
        assert!(!shown.is_empty());
        // Violations name fields and types; they never quote the body.
        assert!(shown.len() <= 256, "{shown:?}");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
}

/// Output proportional to input: a JSON string never decodes longer than it was sent; a
/// number's decimal text (`1e15` is `1000000000000000.0`) is at most a few dozen bytes longer.
fn check_bounded(parsed: &ParsedBody, input_len: usize) {
    if let Payload::PartnerCenter(body) = &parsed.payload {
        assert!(body.code.as_ref().is_none_or(|c| c.len() <= input_len + 32));
        assert!(body.source.as_ref().is_none_or(|s| s.len() <= input_len));
        assert!(parsed.violations.len() <= 5);
    }
    assert!(parsed.description().is_none_or(|d| d.len() <= input_len));
}

/// The content type only decides how text that is not JSON is classified.
fn check_content_type_only_classifies_text(bytes: &[u8], content_type: &str) {
    let with = parse(bytes, Some(content_type));
    let without = parse(bytes, None);
    assert_eq!(with.violations, without.violations);
    match (with.payload.text(), without.payload.text()) {
        (Some(a), Some(b)) => assert_eq!(a, b),
        _ => assert_eq!(with.payload, without.payload),
    }
}

/// Any JSON value, shallow, with strings that exercise the description rules.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Floats that survive a text round trip exactly.
        prop::sample::select(vec![1.5, 3000.0, -0.25, 1e20]).prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        prop::sample::select(vec!["", " ", "\t\n", "\u{3000}"]).prop_map(Value::from),
        (1020usize..1030, prop::sample::select(vec!['a', 'é', '😀']))
            .prop_map(|(n, c)| Value::from(std::iter::repeat_n(c, n).collect::<String>())),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The violations the rules give for one field's value.
fn expected_for(field: Field, value: &Option<Value>) -> Vec<Violation> {
    match (field, value) {
        (Field::Data, None | Some(Value::Array(_))) => vec![],
        (_, None) => vec![Violation::Missing { field }],
        (_, Some(Value::Null)) => vec![Violation::Null { field }],
        (Field::Data, Some(other)) => {
            vec![wrong(field, JsonType::Array, JsonType::of(other))]
        }
        (_, Some(Value::String(text))) => {
            let mut out = vec![];
            if field == Field::Description {
                if text.trim().is_empty() {
                    out.push(Violation::EmptyDescription);
                }
                let chars = text.chars().count();
                if chars > MAX_DESCRIPTION_CHARS {
                    out.push(Violation::DescriptionTooLong { chars });
                }
            }
            out
        }
        (_, Some(other)) => vec![wrong(field, JsonType::String, JsonType::of(other))],
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..8192),
        content_type in content_type(),
    ) {
        let parsed = parse(&bytes, content_type);
        check_invariants(&parsed);
        check_bounded(&parsed, bytes.len());
        if let Some(content_type) = content_type {
            check_content_type_only_classifies_text(&bytes, content_type);
        }
    }

    #[test]
    fn markup_like_bytes_never_panic(
        prefix in prop::sample::select(vec![
            &b""[..], b"\xEF\xBB\xBF", b"<html", b"  <!DOCTYPE html", b"<?xml", b"{", b"[", b"\"",
        ]),
        bytes in prop::collection::vec(any::<u8>(), 0..6000),
        content_type in content_type(),
    ) {
        let mut input = prefix.to_vec();
        input.extend_from_slice(&bytes);
        let parsed = parse(&input, content_type);
        check_invariants(&parsed);
        check_bounded(&parsed, input.len());
        if let Some(content_type) = content_type {
            check_content_type_only_classifies_text(&input, content_type);
        }
    }

    #[test]
    fn numbers_and_escapes_stay_proportional(
        code in prop::sample::select(vec!["0", "1e15", "-1e-7", "123456789012345678901234567890", "1.5E+300", "3000"]),
        description in "(\\\\u[0-9a-f]{4}|\\\\[nrt\"\\\\/]|[a-z ]){0,40}",
    ) {
        let body = format!(r#"{{"code":{code},"description":"{description}","source":"s"}}"#);
        let parsed = parse(body.as_bytes(), None);
        check_invariants(&parsed);
        check_bounded(&parsed, body.len());
    }

    #[test]
    fn valid_utf8_text_is_kept_as_a_prefix(
        text in "\\PC{1,3000}",
        content_type in content_type(),
    ) {
        let parsed = parse(text.as_bytes(), content_type);
        check_invariants(&parsed);
        if let Some(kept) = parsed.payload.text() {
            let input = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
            prop_assert!(input.starts_with(kept));
            prop_assert!(kept == input || kept.len() > MAX_TEXT_BYTES - 4);
        }
    }

    #[test]
    fn schema_fields_of_any_type(
        code in prop::option::of(json_value()),
        description in prop::option::of(json_value()),
        data in prop::option::of(json_value()),
        source in prop::option::of(json_value()),
        extra in prop::collection::btree_map(
            prop::sample::select(vec!["errorName", "isRetryable", "parameters", "Source", "zzz"]),
            json_value(),
            0..3,
        ),
    ) {
        let mut map = Map::new();
        for (key, value) in &extra {
            map.insert((*key).to_owned(), value.clone());
        }
        for (key, value) in [("code", &code), ("description", &description), ("data", &data), ("source", &source)] {
            if let Some(value) = value {
                map.insert(key.to_owned(), value.clone());
            }
        }
        let bytes = serde_json::to_vec(&Value::Object(map)).unwrap();
        let parsed = parse(&bytes, Some("application/json"));
        check_invariants(&parsed);
        let body = pc(&parsed);

        let mut expected = expected_for(Field::Code, &code);
        expected.extend(expected_for(Field::Description, &description));
        expected.extend(expected_for(Field::Data, &data));
        expected.extend(expected_for(Field::Source, &source));
        prop_assert_eq!(&parsed.violations, &expected);

        match &code {
            Some(Value::Number(n)) => {
                let text = n.to_string();
                prop_assert_eq!(body.code.as_deref(), Some(text.as_str()));
                prop_assert!(parsed.violations.contains(&wrong(Field::Code, JsonType::String, JsonType::Number)));
            }
            Some(Value::String(s)) => prop_assert_eq!(body.code.as_deref(), Some(s.as_str())),
            _ => prop_assert_eq!(body.code.as_deref(), None),
        }
        prop_assert_eq!(body.description.as_deref(), description.as_ref().and_then(Value::as_str));
        prop_assert_eq!(body.source.as_deref(), source.as_ref().and_then(Value::as_str));
        prop_assert_eq!(value(&body.data), data.clone());
        prop_assert_eq!(body.extra.len(), extra.len());

        // Back to JSON and again: the same body, minus the types that were dropped.
        let again = parse(body.to_json().to_string().as_bytes(), None);
        if let Payload::PartnerCenter(again) = &again.payload {
            prop_assert_eq!(&again.code, &body.code);
            prop_assert_eq!(&again.description, &body.description);
            prop_assert_eq!(&again.data, &body.data);
            prop_assert_eq!(&again.extra, &body.extra);
        }
    }
}

/// A kept JSON value, parsed.
fn value(raw: &Option<RawJson>) -> Option<Value> {
    raw.as_ref().map(|raw| raw.to_value().expect("valid JSON"))
}

#[test]
fn each_violation_has_the_severity_of_the_real_wire() {
    use Severity::{Breach, KnownDeviation};
    let cases: [(&[u8], &[Severity]); 9] = [
        // The README's own 404: a numeric code, no `source` -- what the real service sends.
        (
            br#"{"code":600074,"description":"No such order.","data":[]}"#,
            &[KnownDeviation, KnownDeviation],
        ),
        (b"", &[KnownDeviation]),
        (br#"{"code":"1","description":"","source":"x"}"#, &[Breach]),
        (b"<html>down</html>", &[Breach]),
        (b"[1,2]", &[Breach]),
        (br#"{"statusCode":429,"message":"slow down"}"#, &[Breach]),
        (br#"{"error":{"code":"x"}}"#, &[Breach]),
        (br#"{"description":"d","source":"x"}"#, &[Breach]),
        (
            br#"{"code":"1","description":"d","source":"x","data":null}"#,
            &[Breach],
        ),
    ];
    for (body, expected) in cases {
        let parsed = parse(body, None);
        let found: Vec<_> = parsed.violations.iter().map(Violation::severity).collect();
        assert_eq!(found, expected, "{:?}", parsed.violations);
        let breach = expected.contains(&Breach);
        assert_eq!(parsed.has_breach(), breach);
        assert_eq!(StrictPolicy::new().rejects_any(&parsed.violations), breach);
    }
    // The BOM and the extended envelope's fields are no violations at all.
    let extended = b"\xEF\xBB\xBF{\"code\":\"1\",\"description\":\"d\",\"source\":\"x\",\"errorName\":\"N\",\"isRetryable\":false}";
    assert!(parse(extended, None).is_valid());
    let long = format!(
        r#"{{"code":"1","description":"{}","source":"x"}}"#,
        "x".repeat(MAX_DESCRIPTION_CHARS + 1)
    );
    assert_eq!(
        parse(long.as_bytes(), None)
            .violations
            .iter()
            .map(Violation::severity)
            .collect::<Vec<_>>(),
        [Breach]
    );
}

#[test]
fn strict_policy_moves_single_kinds_either_way() {
    let numeric = parse(br#"{"code":3000,"description":"d","source":"x"}"#, None);
    let kind = ViolationKind::WrongType(Field::Code, JsonType::Number);
    assert_eq!(numeric.violations[0].kind(), kind);
    assert!(!StrictPolicy::new().rejects_any(&numeric.violations));
    let tight = StrictPolicy::new().reject(kind);
    assert!(tight.rejects_any(&numeric.violations));
    // The last word wins, and other kinds keep their default.
    assert!(!tight.accept(kind).rejects_any(&numeric.violations));
    let html = parse(b"<html></html>", None);
    assert!(tight.rejects_any(&html.violations));
    assert!(!StrictPolicy::new()
        .accept(ViolationKind::NotJson)
        .rejects_any(&html.violations));
    // Every kind has its own bit: loosening one leaves a neighbour alone.
    let missing_code = parse(br#"{"description":"d","source":"x"}"#, None);
    let loose = StrictPolicy::new().accept(ViolationKind::Missing(Field::Description));
    assert!(loose.rejects_any(&missing_code.violations));
}

#[test]
fn a_text_payload_refers_into_the_body() {
    let mut page = b"<html><body>".to_vec();
    page.resize(3 * MAX_TEXT_BYTES, b'x');
    let body = Bytes::from(page);
    let parsed = crate::schema::parse_bytes(body.clone(), Some("text/html"));
    let text = parsed.payload.text().unwrap();
    assert_eq!(text.len(), MAX_TEXT_BYTES);
    assert_eq!(
        text.as_ptr(),
        body.as_ptr(),
        "a slice of the body, not a copy"
    );
}

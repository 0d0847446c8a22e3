//! Facts about Partner Center's error responses (the documented contract and what the wire
//! really carries) that no other test asserts, each over real HTTP: a hyper server on
//! 127.0.0.1 sends the response, hyper-util's client and the layer read it.

use std::net::SocketAddr;

use http::StatusCode;
use partner_center_errors::schema::{Payload, Violation, MAX_DESCRIPTION_CHARS};
use partner_center_errors::{ApiError, Error, ErrorKind, PartnerErrorsLayer};
use tower::{ServiceBuilder, ServiceExt};

use crate::support::{client, get, partner_center_body, respond, serve, NUMERIC_CODE};

const JSON: &str = "application/json; charset=utf-8";

/// Calls `path` through the layer in its default mode and returns the structured error.
async fn api_error(addr: SocketAddr, path: &str) -> ApiError {
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client());
    match service.oneshot(get(addr, path)).await {
        Err(Error::Api(error)) => error,
        other => panic!("{path}: expected Error::Api, got {other:?}"),
    }
}

// The contract's statuses: the error-code table also shows 417, a status outside the list.

/// A 417 is an error like any listed status: its body is read, its kind is `Other`, and it is
/// not a status to come back later for.
#[tokio::test]
async fn a_417_from_the_error_code_table_is_read_as_an_error_of_kind_other() {
    let body = partner_center_body(
        2000,
        "The request carried an expectation this API cannot meet.",
    );
    let sent = body.clone();
    let addr = serve(move |_| {
        respond(
            417,
            &[("content-type", JSON), ("ms-requestid", "req-417")],
            sent.clone(),
        )
    })
    .await;
    let error = api_error(addr, "/").await;
    assert_eq!(error.status(), StatusCode::EXPECTATION_FAILED);
    assert_eq!(error.kind(), ErrorKind::Other);
    assert!(!error.is_retryable());
    assert_eq!(error.retry_after(), None);
    assert_eq!(error.code(), Some("2000"));
    assert_eq!(
        error.description(),
        Some("The request carried an expectation this API cannot meet.")
    );
    assert_eq!(error.body_source(), Some("PartnerFD"));
    assert_eq!(error.ids().request_id.as_deref(), Some("req-417"));
    assert_eq!(error.raw_body().as_ref(), body.as_bytes());
}

// `code`: a JSON number on the wire, and small codes reused with other meanings.

/// Every numeric code seen in captured bodies, the small reused ones (0, 3, 5) included, is
/// kept as its decimal text, with the one known deviation named.
#[tokio::test]
async fn every_captured_numeric_code_is_kept_as_its_decimal_text() {
    let addr = serve(|request| {
        let code: u32 = request.uri().path()[1..].parse().unwrap();
        respond(
            400,
            &[("content-type", JSON)],
            partner_center_body(code, "A code seen on the wire."),
        )
    })
    .await;
    let captured = [
        0, 3, 5, 2000, 2001, 3000, 60012, 600061, 600074, 800090, 900309, 900316,
    ]
    .into_iter()
    .chain(2200..=2206);
    for code in captured {
        let error = api_error(addr, &format!("/{code}")).await;
        assert_eq!(error.code(), Some(code.to_string().as_str()), "{code}");
        assert_eq!(error.violations(), [NUMERIC_CODE], "{code}");
    }
}

// `description`: at most 1024 characters, and free text that may look like markup or JSON.

/// A Partner Center body whose description is written with `\u` escapes for every character
/// (as .NET's serializer escapes non-ASCII text): `count` copies of `escaped`, each the escape
/// of one character.
fn escaped_description_body(escaped: &str, count: usize) -> String {
    format!(
        r#"{{"code":2001,"description":"{}","data":[],"source":"PartnerFD"}}"#,
        escaped.repeat(count)
    )
}

/// The 1024-character limit counts the characters the description decodes to, not the bytes
/// of its escapes: 1024 escaped characters are within it (the escapes take six or twelve bytes
/// each), 1025 are named, and the description is kept whole, decoded, either way.
#[tokio::test]
async fn a_description_of_escaped_characters_is_measured_in_decoded_characters() {
    let addr = serve(|request| {
        let (escaped, count) = match request.uri().path() {
            "/accent-at-limit" => (r"\u00e9", MAX_DESCRIPTION_CHARS),
            "/accent-over" => (r"\u00e9", MAX_DESCRIPTION_CHARS + 1),
            "/emoji-at-limit" => (r"\ud83d\ude00", MAX_DESCRIPTION_CHARS),
            _ => (r"\ud83d\ude00", MAX_DESCRIPTION_CHARS + 1),
        };
        respond(
            400,
            &[("content-type", JSON)],
            escaped_description_body(escaped, count),
        )
    })
    .await;
    for (path, character, count) in [
        ("/accent-at-limit", 'é', MAX_DESCRIPTION_CHARS),
        ("/accent-over", 'é', MAX_DESCRIPTION_CHARS + 1),
        ("/emoji-at-limit", '😀', MAX_DESCRIPTION_CHARS),
        ("/emoji-over", '😀', MAX_DESCRIPTION_CHARS + 1),
    ] {
        let error = api_error(addr, path).await;
        let expected: String = std::iter::repeat_n(character, count).collect();
        assert_eq!(error.description(), Some(expected.as_str()), "{path}");
        let named: Vec<_> = error
            .violations()
            .iter()
            .filter(|violation| !matches!(violation, Violation::WrongType { .. }))
            .cloned()
            .collect();
        if count > MAX_DESCRIPTION_CHARS {
            assert_eq!(
                named,
                [Violation::DescriptionTooLong { chars: count }],
                "{path}"
            );
        } else {
            assert!(named.is_empty(), "{path}: {named:?}");
        }
    }
}

/// A description cut at 1024 UTF-16 units (as a .NET service counts) can split an emoji's
/// surrogate pair, and a serializer that escapes non-ASCII text then sends the lone half as
/// `\ud83d`. The description is still there: every other character is kept, the lone
/// surrogate reads as U+FFFD, and it is neither empty nor over the limit.
#[tokio::test]
async fn a_description_cut_inside_a_surrogate_pair_is_kept_with_a_replacement_character() {
    // 1022 ASCII characters, one whole emoji (two units), then the first half of another:
    // 1025 UTF-16 units, 1024 characters once the lone half counts as one.
    let prefix = "x".repeat(MAX_DESCRIPTION_CHARS - 2);
    let addr = serve(move |request| {
        let description = match request.uri().path() {
            "/end" => format!(r"{prefix}\ud83d\ude00\ud83d"),
            "/middle" => r"Customer \ud83d is not ready.".to_owned(),
            _ => r"\udc00".to_owned(),
        };
        let body = format!(
            r#"{{"code":2001,"description":"{description}","data":[],"source":"PartnerFD"}}"#
        );
        respond(400, &[("content-type", JSON)], body)
    })
    .await;
    let at_the_end = format!("{}\u{1f600}\u{fffd}", "x".repeat(MAX_DESCRIPTION_CHARS - 2));
    for (path, expected) in [
        ("/end", at_the_end.as_str()),
        ("/middle", "Customer \u{fffd} is not ready."),
        ("/alone", "\u{fffd}"),
    ] {
        let error = api_error(addr, path).await;
        assert_eq!(error.description(), Some(expected), "{path}");
        assert_eq!(error.violations(), [NUMERIC_CODE], "{path}");
        let shown: String = expected.chars().take(20).collect();
        let line = format!("HTTP 400 Bad Request, code 2001: {shown}");
        assert!(error.to_string().starts_with(&line), "{path}: {error}");
    }
}

/// `data` as an array of strings (exception text) can carry a lone surrogate half too, cut
/// there as the description can be. It is still read as JSON: each lone half as U+FFFD, every
/// other value as sent, not `None` as if `data` were absent.
#[tokio::test]
async fn data_strings_cut_inside_a_surrogate_pair_are_still_read_as_json() {
    let addr = serve(|_| {
        let body = r#"{"code":2001,"description":"Cannot read the order.","data":["Order \ud83d failed","at \\u0041pi \ud83d\ude00",{"line":3}],"source":"PartnerFD"}"#;
        respond(400, &[("content-type", JSON)], body)
    })
    .await;
    let error = api_error(addr, "/").await;
    assert_eq!(
        error.data(),
        Some(&serde_json::json!([
            "Order \u{fffd} failed",
            "at \\u0041pi \u{1f600}",
            {"line": 3}
        ]))
    );
    let Payload::PartnerCenter(body) = error.payload() else {
        panic!("{:?}", error.payload())
    };
    assert_eq!(body.to_json()["data"], *error.data().unwrap());
    assert_eq!(error.violations(), [NUMERIC_CODE]);
}

/// HTML entities, unfilled placeholders, URLs and a whole JSON document encoded as a string are
/// all just text: kept as sent (after JSON unescaping), neither decoded nor parsed, with no
/// violation, and printed as they are.
#[tokio::test]
async fn entities_placeholders_urls_and_json_text_in_a_description_are_kept_as_sent() {
    const DESCRIPTIONS: [&str; 4] = [
        "The customer&#39;s tenant is not ready.",
        "Customer {customer-id} has no subscription {0}.",
        "See https://learn.microsoft.com/partner-center/?view=rest&tab=errors#codes for help.",
        r#"{"code":"Inner","message":"A nested error","details":[1,2]}"#,
    ];
    let addr = serve(|request| {
        let index: usize = request.uri().path()[1..].parse().unwrap();
        respond(
            400,
            &[("content-type", JSON)],
            serde_json::json!({
                "code": "2001",
                "description": DESCRIPTIONS[index],
                "data": [],
                "source": "PartnerApiServiceControllers",
            })
            .to_string(),
        )
    })
    .await;
    for (index, description) in DESCRIPTIONS.iter().enumerate() {
        let error = api_error(addr, &format!("/{index}")).await;
        assert!(
            matches!(error.payload(), Payload::PartnerCenter(_)),
            "{description}"
        );
        assert_eq!(error.description(), Some(*description));
        assert_eq!(error.code(), Some("2001"), "{description}");
        assert!(error.violations().is_empty(), "{:?}", error.violations());
        assert!(
            error.to_string().contains(description),
            "{description}: {error}"
        );
    }
}

// The claims challenge (Entra) on a 401, and on a 403 as some docs show it.

/// Entra's claims challenge, on a 401 or a 403, is read whole: scheme `Bearer`, an empty
/// quoted realm, the authorization URI, `insufficient_claims`, and the claims exactly as sent
/// (base64 padding included), beside the body's own fields.
#[tokio::test]
async fn an_entra_claims_challenge_is_read_on_a_401_and_on_a_403() {
    const CLAIMS: &str =
        "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19";
    const AUTHORIZE: &str = "https://login.microsoftonline.com/common/oauth2/authorize";
    let addr = serve(|request| {
        let status: u16 = request.uri().path()[1..].parse().unwrap();
        let challenge = format!(
            r#"Bearer realm="", authorization_uri="{AUTHORIZE}", error="insufficient_claims", claims="{CLAIMS}=""#
        );
        respond(
            status,
            &[
                ("content-type", JSON),
                ("www-authenticate", challenge.as_str()),
            ],
            partner_center_body(900316, "The token lacks a claim this call needs."),
        )
    })
    .await;
    for (status, kind) in [(401, ErrorKind::Unauthorized), (403, ErrorKind::Forbidden)] {
        let error = api_error(addr, &format!("/{status}")).await;
        assert_eq!(error.status().as_u16(), status);
        assert_eq!(error.kind(), kind);
        assert_eq!(error.code(), Some("900316"));
        let [challenge] = error.challenges() else {
            panic!("{status}: {:?}", error.challenges())
        };
        assert!(challenge.is_scheme("Bearer"), "{status}");
        assert_eq!(challenge.realm(), Some(""), "{status}");
        assert_eq!(challenge.param("authorization_uri"), Some(AUTHORIZE));
        assert_eq!(challenge.error(), Some("insufficient_claims"));
        assert_eq!(
            challenge.claims(),
            Some(format!("{CLAIMS}=").as_str()),
            "{status}"
        );
    }
}

// The 401 challenge as the contract prints it.

/// The contract's 401 header, `OAuth realm=urn:cpsvc:cpid:{some cid}`, word for word: one
/// challenge, scheme `OAuth`, and the realm whole, the space of its placeholder included (not a
/// realm cut at the space and a second challenge named `cid}`).
#[tokio::test]
async fn the_contracts_401_challenge_is_one_challenge_with_its_whole_realm() {
    const CHALLENGE: &str = "OAuth realm=urn:cpsvc:cpid:{some cid}";
    let addr = serve(|_| {
        respond(
            401,
            &[("content-type", JSON), ("www-authenticate", CHALLENGE)],
            partner_center_body(900309, "The token is not valid for this partner."),
        )
    })
    .await;
    let error = api_error(addr, "/").await;
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    let [challenge] = error.challenges() else {
        panic!("{:?}", error.challenges())
    };
    assert!(challenge.is_scheme("OAuth"));
    assert_eq!(challenge.realm(), Some("urn:cpsvc:cpid:{some cid}"));
    assert_eq!(challenge.token68, None);
}

// `description` sent as raw UTF-8 (not escaped): the limit counts characters, not bytes.

/// A description of 1024 characters of two, three or four bytes each (2048 to 4096 bytes of
/// UTF-8, sent raw, as serializers that do not escape non-ASCII text send it) is within the
/// limit; 1025 of them are named, with the count in characters, and kept whole.
#[tokio::test]
async fn a_raw_multi_byte_description_is_measured_in_characters_not_bytes() {
    let addr = serve(|request| {
        let (character, count) = match request.uri().path() {
            "/2-at-limit" => ('é', MAX_DESCRIPTION_CHARS),
            "/2-over" => ('é', MAX_DESCRIPTION_CHARS + 1),
            "/3-at-limit" => ('漢', MAX_DESCRIPTION_CHARS),
            "/3-over" => ('漢', MAX_DESCRIPTION_CHARS + 1),
            "/4-at-limit" => ('😀', MAX_DESCRIPTION_CHARS),
            _ => ('😀', MAX_DESCRIPTION_CHARS + 1),
        };
        let description: String = std::iter::repeat_n(character, count).collect();
        respond(
            400,
            &[("content-type", JSON)],
            partner_center_body(2001, &description),
        )
    })
    .await;
    for (path, character, count) in [
        ("/2-at-limit", 'é', MAX_DESCRIPTION_CHARS),
        ("/2-over", 'é', MAX_DESCRIPTION_CHARS + 1),
        ("/3-at-limit", '漢', MAX_DESCRIPTION_CHARS),
        ("/3-over", '漢', MAX_DESCRIPTION_CHARS + 1),
        ("/4-at-limit", '😀', MAX_DESCRIPTION_CHARS),
        ("/4-over", '😀', MAX_DESCRIPTION_CHARS + 1),
    ] {
        let error = api_error(addr, path).await;
        let expected: String = std::iter::repeat_n(character, count).collect();
        assert!(expected.len() >= 2 * MAX_DESCRIPTION_CHARS, "{path}");
        assert!(
            error
                .raw_body()
                .windows(expected.len())
                .any(|w| w == expected.as_bytes()),
            "{path}: sent raw, not escaped"
        );
        assert_eq!(error.description(), Some(expected.as_str()), "{path}");
        let mut violations = vec![NUMERIC_CODE];
        if count > MAX_DESCRIPTION_CHARS {
            violations.push(Violation::DescriptionTooLong { chars: count });
        }
        assert_eq!(error.violations(), violations, "{path}");
    }
}

// The extended envelope of some APIs, and the 2017 draft's shapes.

/// The extended envelope (`message`, `errorName`, `isRetryable`, `parameters`,
/// `errorMessageExtended`, no `source`) is read as the Partner Center schema: its fields are
/// kept and readable, the missing `source` and the numeric code are the only deviations named,
/// and the body's `isRetryable` does not make a 409 a status to come back later for.
#[tokio::test]
async fn the_extended_envelope_keeps_its_fields_and_names_only_the_missing_source() {
    const BODY: &str = r#"{"code":600061,"description":"An agreement of this kind was already confirmed.","message":"An agreement of this kind was already confirmed.","errorName":"PartnerConfirmedAgreementAlreadyExists","isRetryable":true,"parameters":{"agreementType":"MicrosoftCustomerAgreement"},"errorMessageExtended":"InternalErrorCode=600061"}"#;
    let addr = serve(|_| {
        respond(
            409,
            &[("content-type", JSON), ("ms-correlationid", "c-ext")],
            BODY,
        )
    })
    .await;
    let error = api_error(addr, "/").await;
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert!(!error.is_retryable());
    assert_eq!(error.code(), Some("600061"));
    assert_eq!(
        error.description(),
        Some("An agreement of this kind was already confirmed.")
    );
    assert_eq!(error.body_source(), None);
    assert_eq!(error.data(), None);
    assert_eq!(
        error.violations(),
        [
            NUMERIC_CODE,
            Violation::Missing {
                field: partner_center_errors::schema::Field::Source
            }
        ]
    );
    let Payload::PartnerCenter(body) = error.payload() else {
        panic!("{:?}", error.payload())
    };
    assert_eq!(
        body.error_name().as_deref(),
        Some("PartnerConfirmedAgreementAlreadyExists")
    );
    assert_eq!(body.message().as_deref(), error.description());
    assert_eq!(body.is_retryable(), Some(true));
    assert_eq!(
        body.extra.get("parameters").unwrap().to_value().unwrap(),
        serde_json::json!({"agreementType": "MicrosoftCustomerAgreement"})
    );
    assert_eq!(
        body.extra.get("errorMessageExtended").unwrap().get(),
        r#""InternalErrorCode=600061""#
    );
    assert_eq!(error.raw_body().as_ref(), BODY.as_bytes());
}

/// The 2017 draft's `data` object and capitalised `Source` are each named, and kept: the
/// object as `data`, the capitalised field among the extra fields; `body_source` reads it in
/// place of the missing `source`, which is still named.
#[tokio::test]
async fn the_drafts_object_data_and_capitalised_source_are_named_and_kept() {
    use partner_center_errors::schema::{Field, JsonType};
    let addr = serve(|_| {
        respond(
            400,
            &[("content-type", JSON)],
            r#"{"code":"2001","description":"The request is not valid.","data":{"field":"customerId"},"Source":"PartnerFD"}"#,
        )
    })
    .await;
    let error = api_error(addr, "/").await;
    assert_eq!(error.code(), Some("2001"));
    assert_eq!(
        error.data(),
        Some(&serde_json::json!({"field": "customerId"}))
    );
    assert_eq!(error.body_source(), Some("PartnerFD"));
    assert_eq!(
        error.violations(),
        [
            Violation::WrongType {
                field: Field::Data,
                expected: JsonType::Array,
                found: JsonType::Object,
            },
            Violation::Missing {
                field: Field::Source
            },
        ]
    );
    let Payload::PartnerCenter(body) = error.payload() else {
        panic!("{:?}", error.payload())
    };
    assert_eq!(
        body.extra
            .get("Source")
            .and_then(|value| value.to_str())
            .as_deref(),
        Some("PartnerFD")
    );
}

// The API reference lists `application/xml` and `text/xml` as error media types.

/// An XML error body, under either media type, is kept as XML text (what was read, whole), named
/// as not JSON, and printed without its content.
#[tokio::test]
async fn xml_error_bodies_are_kept_as_xml_and_named_not_json() {
    const XML: &str = r#"<?xml version="1.0" encoding="utf-8"?><Error><Code>2001</Code><Description>The request is not valid.</Description></Error>"#;
    let addr = serve(|request| {
        let media_type = match request.uri().path() {
            "/application" => "application/xml",
            _ => "text/xml; charset=utf-8",
        };
        respond(
            400,
            &[("content-type", media_type), ("ms-requestid", "r-xml")],
            XML,
        )
    })
    .await;
    for path in ["/application", "/text"] {
        let error = api_error(addr, path).await;
        assert_eq!(error.kind(), ErrorKind::BadRequest, "{path}");
        let Payload::Xml(text) = error.payload() else {
            panic!("{path}: {:?}", error.payload())
        };
        assert_eq!(text.as_str(), XML, "{path}");
        assert!(
            matches!(error.violations(), [Violation::NotJson { .. }]),
            "{path}: {:?}",
            error.violations()
        );
        assert_eq!((error.code(), error.description()), (None, None), "{path}");
        assert_eq!(error.ids().request_id.as_deref(), Some("r-xml"));
        let shown = error.to_string();
        assert!(shown.contains("XML body"), "{path}: {shown}");
        assert!(!shown.contains("<Error>"), "{path}: {shown}");
    }
}

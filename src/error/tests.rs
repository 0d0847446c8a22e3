use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::*;
use crate::schema::{Field, Violation, ViolationKind};

fn error(status: u16, headers: &[(&str, &str)], body: &str) -> ApiError {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    ApiError::new(
        StatusCode::from_u16(status).unwrap(),
        map,
        Bytes::copy_from_slice(body.as_bytes()),
    )
}

#[test]
fn every_documented_status_has_its_own_kind() {
    let statuses = [
        400, 401, 403, 404, 405, 406, 408, 409, 412, 429, 500, 501, 502, 503, 504,
    ];
    let kinds: std::collections::HashSet<ErrorKind> = statuses
        .iter()
        .map(|s| ErrorKind::from_status(StatusCode::from_u16(*s).unwrap()))
        .collect();
    assert_eq!(kinds.len(), statuses.len());
    assert!(!kinds.contains(&ErrorKind::Other));
    assert_eq!(
        ErrorKind::from_status(StatusCode::IM_A_TEAPOT),
        ErrorKind::Other
    );
    assert_eq!(
        ErrorKind::from_status(StatusCode::EXPECTATION_FAILED),
        ErrorKind::Other
    );
}

#[test]
fn retryable_is_exactly_429_503_504() {
    for status in 400..600u16 {
        let kind = ErrorKind::from_status(StatusCode::from_u16(status).unwrap());
        assert_eq!(
            kind.is_retryable(),
            matches!(status, 429 | 503 | 504),
            "{status}"
        );
    }
}

/// A body that says what went wrong in `message` (or ASP.NET's `Message`) rather than in
/// `description` still has its text shown; the missing `description` is still named.
#[test]
fn a_message_stands_in_for_a_missing_description() {
    let extended = error(
        409,
        &[],
        r#"{"code":600061,"message":"The agreement was already \u0061ccepted.","errorName":"X"}"#,
    );
    assert_eq!(
        extended.description(),
        Some("The agreement was already accepted.")
    );
    assert_eq!(extended.view().message(), extended.description());
    assert!(extended.violations().contains(&Violation::Missing {
        field: Field::Description
    }));
    assert_eq!(
        extended.to_string(),
        "HTTP 409 Conflict, code 600061: The agreement was already accepted."
    );
    let asp_net = error(500, &[], r#"{"Message":"An error has occurred."}"#);
    assert_eq!(asp_net.description(), Some("An error has occurred."));
    // `message` is preferred; a description that is there, even blank, is the description.
    let both = error(500, &[], r#"{"Message":"second","message":"first"}"#);
    assert_eq!(both.description(), Some("first"));
    let blank = error(
        400,
        &[],
        r#"{"code":"1","description":" ","message":"hidden"}"#,
    );
    assert_eq!(blank.description(), Some(" "));
    for body in [
        r#"{"code":"1","message":7}"#,
        r#"{"code":"1","Message":null}"#,
    ] {
        assert_eq!(error(400, &[], body).description(), None, "{body}");
    }
}

/// An auth failure's challenge error is printed: for the MFA 401 (no body) it is all the
/// response says.
#[test]
fn display_names_a_challenge_error() {
    let mfa = error(
        401,
        &[("www-authenticate", r#"Bearer error="invalid_token""#)],
        "",
    );
    assert_eq!(
        mfa.to_string(),
        "HTTP 401 Unauthorized: empty body (challenge Bearer error invalid_token)"
    );
    let claims = error(
        401,
        &[
            (
                "www-authenticate",
                r#"Bearer realm="", error="insufficient_claims", claims="e30=""#,
            ),
            ("ms-correlationid", "corr-1"),
        ],
        r#"{"code":"900316","description":"Claims are needed.","source":"PartnerFD"}"#,
    );
    assert_eq!(
        claims.to_string(),
        "HTTP 401 Unauthorized, code 900316: Claims are needed. (challenge Bearer error \
         insufficient_claims) [correlation id corr-1]"
    );
    // Partner Center's own challenge names no error; a hostile one is sanitised and bounded.
    let realm = error(
        401,
        &[("www-authenticate", "OAuth realm=urn:cpsvc:cpid:1")],
        "",
    );
    assert_eq!(realm.to_string(), "HTTP 401 Unauthorized: empty body");
    let hostile = format!("Bearer error=\"x\t{}\"", "y".repeat(500));
    let shown = error(401, &[("www-authenticate", &hostile)], "").to_string();
    assert!(shown.contains("error x\\u{9}yyy"), "{shown}");
    assert!(shown.len() < 150, "{shown}");
}

/// The 2017 draft's capitalised `Source` is the body's source when `source` is absent; the
/// missing `source` is still named, and `Source` stays among the extra fields.
#[test]
fn a_capitalised_source_stands_in_for_a_missing_source() {
    let draft = error(
        500,
        &[],
        r#"{"code":"3000","description":"Failed.","data":{},"Source":"PartnerFD"}"#,
    );
    assert_eq!(draft.body_source(), Some("PartnerFD"));
    assert!(draft.violations().contains(&Violation::Missing {
        field: Field::Source
    }));
    let crate::schema::Payload::PartnerCenter(body) = draft.payload() else {
        panic!("{:?}", draft.payload());
    };
    assert!(body.extra.get("Source").is_some());
    // `source` wins when both are there; a `Source` that is not a string is no source.
    let both = error(500, &[], r#"{"description":"d","Source":"B","source":"A"}"#);
    assert_eq!(both.body_source(), Some("A"));
    let number = error(500, &[], r#"{"description":"d","Source":5}"#);
    assert_eq!(number.body_source(), None);
}

/// Every id a support ticket needs is printed, `Request-Context` included.
#[test]
fn display_names_every_id() {
    let err = error(
        404,
        &[
            ("ms-correlationid", "corr-1"),
            ("ms-requestid", "req-1"),
            ("ms-cv", "cv.1"),
            ("ms-serverid", "srv-1"),
            ("request-context", "appId=cid-v1:3f2a9c1e"),
        ],
        r#"{"code":"600074","description":"No such customer.","data":[],"source":"PartnerFD"}"#,
    );
    assert_eq!(
        err.to_string(),
        "HTTP 404 Not Found, code 600074: No such customer. [correlation id corr-1, request id \
         req-1, cv cv.1, server id srv-1, request context appId=cid-v1:3f2a9c1e]"
    );
}

#[test]
fn display_sanitises_and_bounds_network_text() {
    let description = format!("bad\u{1b}[2Jthing\n{}", "x".repeat(5000));
    let body = serde_json::json!({"code": "x\ny", "description": description, "source": "s"});
    let err = error(
        400,
        &[("ms-correlationid", "abc"), ("ms-requestid", "req-1")],
        &body.to_string(),
    );
    let shown = err.to_string();
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.contains("bad\\u{1b}[2Jthing\\u{a}"));
    assert!(shown.contains("code x\\u{a}y"));
    assert!(shown.len() < 600, "{} bytes", shown.len());
    assert!(shown.ends_with("[correlation id abc, request id req-1]"));
}

#[test]
fn display_of_a_body_without_description_prints_no_body_bytes() {
    let err = error(
        502,
        &[],
        "<html><body>secret-ish upstream page</body></html>",
    );
    let shown = err.to_string();
    assert_eq!(shown, "HTTP 502 Bad Gateway: HTML body of 50 bytes");
}

/// Compressed bytes the layer read as sent: named as still encoded, and only then.
#[test]
fn a_body_still_encoded_is_named_as_such() {
    let compressed = "\u{1f}\u{8b}\u{8}\u{0}binary";
    let encoded = |codings: &[&str], body: &str| {
        let headers: Vec<_> = codings.iter().map(|c| ("content-encoding", *c)).collect();
        error(500, &headers, body)
    };
    let gzip = encoded(&["gzip"], compressed);
    let [Violation::Encoded { coding }, Violation::NotJson { .. }] = gzip.violations() else {
        panic!("{:?}", gzip.violations());
    };
    assert_eq!(coding, "gzip");
    assert_eq!(
        gzip.to_string(),
        "HTTP 500 Internal Server Error: body of 11 bytes still encoded as `gzip` (decompress \
         inside the layer)"
    );
    // A second header, a list, or another case: the first value naming a real coding.
    let listed = encoded(&["identity", "Identity, BR"], compressed);
    assert!(matches!(
        listed.violations(),
        [Violation::Encoded { coding }, Violation::NotJson { .. }] if coding == "Identity, BR"
    ));
    // `identity` (or nothing) is no encoding; a body that parses needed no decoding.
    for (codings, body) in [
        (&["identity"][..], compressed),
        (&[" , "][..], compressed),
        (&[][..], compressed),
        (
            &["gzip"][..],
            r#"{"code":1,"description":"d","source":"s"}"#,
        ),
    ] {
        let error = encoded(codings, body);
        let named = error
            .violations()
            .iter()
            .any(|v| v.kind() == ViolationKind::Encoded);
        assert!(!named, "{codings:?}: {:?}", error.violations());
    }
    // What the server named is bounded and sanitised, in the violation and in `Display`.
    let hostile = format!("x-\u{202e}{}", "z".repeat(5000));
    let mut headers = HeaderMap::new();
    let value = http::HeaderValue::from_bytes(hostile.as_bytes()).unwrap();
    headers.insert(http::header::CONTENT_ENCODING, value);
    let error = ApiError::new(
        StatusCode::BAD_GATEWAY,
        headers,
        Bytes::from_static(b"\x1f\x8b"),
    );
    let [Violation::Encoded { coding }, ..] = error.violations() else {
        panic!("{:?}", error.violations());
    };
    assert_eq!(coding.chars().count(), crate::schema::MAX_CODING_CHARS);
    for shown in [error.to_string(), error.violations()[0].to_string()] {
        assert!(shown.contains("x-\\u{202e}zzz"), "{shown}");
        assert!(shown.len() < 200, "{} bytes: {shown}", shown.len());
    }
}

#[test]
fn display_names_the_retry_delay_and_incompleteness() {
    let err = ApiError::from_capture(
        StatusCode::TOO_MANY_REQUESTS,
        HeaderMap::new(),
        Bytes::from_static(b"{\"statusCode\": 429, \"message\": \"Rate limit is exceeded. Try again in 57 seconds.\"}"),
        None,
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(57)));
    assert_eq!(
        err.to_string(),
        "HTTP 429 Too Many Requests: Rate limit is exceeded. Try again in 57 seconds. (retry after 57s)"
    );

    let truncated = ApiError::from_capture(
        StatusCode::INTERNAL_SERVER_ERROR,
        HeaderMap::new(),
        Bytes::new(),
        Some(Incomplete::TooLarge {
            limit: 10,
            content_length: Some(99),
        }),
    );
    assert_eq!(
        truncated.to_string(),
        "HTTP 500 Internal Server Error: body of 99 bytes is over the 10-byte cap and was not read"
    );
    // A body refused before it was read is not an empty body.
    assert_eq!(truncated.violations(), []);
}

#[test]
fn header_retry_after_wins_over_body_text() {
    let err = error(
        429,
        &[("retry-after", "5")],
        r#"{"statusCode": 429, "message": "Try again in 57 seconds."}"#,
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
}

#[test]
fn errors_are_send_sync_static_and_clone() {
    fn assert_traits<T: Send + Sync + 'static + StdError>() {}
    assert_traits::<ApiError>();
    assert_traits::<Error>();
    fn assert_clone<T: Clone>() {}
    assert_clone::<ApiError>();
}

#[test]
fn error_enum_exposes_the_api_error_and_its_source() {
    let failed = ApiError::from_capture(
        StatusCode::BAD_GATEWAY,
        HeaderMap::new(),
        Bytes::new(),
        Some(Incomplete::Failed(BodyError::new("connection reset"))),
    );
    let err = Error::Api(failed);
    assert_eq!(err.api_error().unwrap().status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        err.source().unwrap().to_string(),
        "connection reset",
        "the body failure is the source"
    );
    let schema = Error::Schema(error(400, &[], "{}"));
    assert!(schema
        .to_string()
        .starts_with("error body broke the Partner Center schema (3 violations)"));
    let service = Error::Service("refused".into());
    assert!(service.api_error().is_none());
    assert!(!service.is_retryable());
}

/// The text of each level of `error`'s chain, outermost first (at most 16 levels).
fn chain(error: &(dyn StdError + 'static)) -> Vec<String> {
    std::iter::successors(Some(error), |&level| level.source())
        .take(16)
        .map(ToString::to_string)
        .collect()
}

/// What anyhow's `{:#}` prints: every level's text, joined with ": ".
fn alternate(error: &(dyn StdError + 'static)) -> String {
    chain(error).join(": ")
}

/// A transport error with a cause of its own, as hyper's errors have.
#[derive(Debug)]
struct Transport(std::io::Error);

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("error sending request")
    }
}

impl StdError for Transport {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

fn transport() -> BoxError {
    Box::new(Transport(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection reset by peer",
    )))
}

/// One error of every variant (and `GaveUp` around each kind of last error).
fn every_variant() -> Vec<Error> {
    let failed_body = || {
        ApiError::from_capture(
            StatusCode::SERVICE_UNAVAILABLE,
            HeaderMap::new(),
            Bytes::from_static(b"{\"code\":"),
            Some(Incomplete::Failed(BodyError::new(transport()))),
        )
    };
    let gave_up = |last: Error| {
        let api_error = last.api_error().cloned();
        Error::GaveUp(GaveUp::new(
            Box::new(last),
            api_error,
            3,
            Duration::from_secs(6),
            GiveUpReason::MaxRetries,
        ))
    };
    let closed = crate::GateClosed::new("tenant-a", Duration::from_secs(30));
    vec![
        Error::Api(error(
            404,
            &[("ms-correlationid", "c-1")],
            r#"{"code":1,"description":"gone"}"#,
        )),
        Error::Api(failed_body()),
        Error::Schema(error(400, &[], "<html>no</html>")),
        Error::Schema(failed_body()),
        Error::Service(transport()),
        Error::GateClosed(closed.clone()),
        gave_up(Error::Api(failed_body())),
        gave_up(Error::Schema(error(429, &[("retry-after", "3")], "{}"))),
        gave_up(Error::Service(transport())),
        gave_up(Error::GateClosed(closed)),
    ]
}

#[test]
fn no_level_of_a_chain_repeats_its_source() {
    for error in every_variant() {
        let levels = chain(&error);
        for pair in levels.windows(2) {
            assert!(
                !pair[0].contains(&pair[1]),
                "{error:?}: level {:?} repeats its source {:?}",
                pair[0],
                pair[1]
            );
        }
        // Printed as anyhow's `{:#}` prints it, each cause appears once.
        let printed = alternate(&error);
        for level in &levels {
            assert_eq!(
                printed.matches(level.as_str()).count(),
                1,
                "{printed:?} prints {level:?} more than once"
            );
        }
    }
}

#[test]
fn a_chain_printed_in_full_says_everything_once() {
    let [_, failed, _, _, service, closed, gave_up_failed, _, gave_up_service, _] =
        &every_variant()[..]
    else {
        unreachable!()
    };
    assert_eq!(
        alternate(failed),
        "HTTP 503 Service Unavailable: text body of 8 bytes (body failed): \
         error sending request: connection reset by peer"
    );
    assert_eq!(
        alternate(service),
        "inner service failed: error sending request: connection reset by peer"
    );
    assert!(
        alternate(closed).starts_with("throttle gate closed for scope \"tenant-a\""),
        "{closed}"
    );
    assert!(closed.source().is_none());
    assert_eq!(
        alternate(gave_up_failed),
        "gave up after 3 attempts and 6s of waiting (no retries left): HTTP 503 Service \
         Unavailable: text body of 8 bytes (body failed): error sending request: \
         connection reset by peer"
    );
    assert_eq!(
        alternate(gave_up_service),
        "gave up after 3 attempts and 6s of waiting (no retries left): inner service failed: \
         error sending request: connection reset by peer"
    );
}

#[test]
fn the_gate_refusal_has_its_own_variant() {
    let closed = crate::GateClosed::new("tenant-a", Duration::from_secs(30));
    let error = Error::from(closed);
    let Error::GateClosed(found) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(found.scope(), "tenant-a");
    assert_eq!(
        error.gate_closed().map(|c| c.remaining()),
        Some(Duration::from_secs(30))
    );
    assert!(error.api_error().is_none());
    assert!(
        !error.to_string().contains("inner service failed"),
        "{error}"
    );
}

//! Upstreams that misbehave, over real loopback HTTP (hyper-util's client, a hyper or raw TCP
//! server on 127.0.0.1). Each case ends in a structured error that keeps the status, the
//! headers and every byte that was read; none panics, holds more than the cap, or runs longer
//! than the body timeout (time is tokio's paused clock wherever it matters).

use std::time::Duration;

use crate::support::{
    client, get, respond, serve, serve_script, GeneratedBody, Step, NUMERIC_CODE,
};
use bytes::Bytes;
use http::StatusCode;
use partner_center_errors::schema::{self, Payload, Violation};
use partner_center_errors::{ApiError, Error, ErrorKind, Incomplete, PartnerErrorsLayer};
use tower::{ServiceBuilder, ServiceExt};

const CAP: usize = 64 * 1024;

async fn api_error(layer: PartnerErrorsLayer, addr: std::net::SocketAddr) -> ApiError {
    let service = ServiceBuilder::new().layer(layer).service(client());
    match service.oneshot(get(addr, "/")).await {
        Err(Error::Api(error)) => error,
        other => panic!("expected Error::Api, got {other:?}"),
    }
}

fn write(bytes: &'static [u8]) -> Step {
    Step::Write(Bytes::from_static(bytes))
}

/// Asserts that a stream with no declared length was cut at the cap, `prefix` kept byte for
/// byte, not parsed as JSON, and that the error prints bounded and safe.
fn assert_cut_at_the_cap(error: &ApiError, prefix: &[u8]) {
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TooLarge {
            limit: CAP,
            content_length: None
        })
    ));
    assert_eq!(
        error.raw_body().as_ref(),
        prefix,
        "the prefix, byte for byte"
    );
    assert!(matches!(error.violations(), [Violation::NotJson { .. }]));
    assert_bounded_and_safe(error);
}

/// Bounded memory and a safe `Display`: the error holds at most the cap of body bytes and at
/// most `MAX_TEXT_BYTES` of decoded text, and prints no control character, in bounded length.
fn assert_bounded_and_safe(error: &ApiError) {
    assert!(
        error.raw_body().len() <= CAP,
        "{} bytes",
        error.raw_body().len()
    );
    if let Some(text) = error.payload().text() {
        assert!(text.len() <= schema::MAX_TEXT_BYTES);
    }
    let shown = error.to_string();
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.len() < 4096, "{} bytes", shown.len());
}

#[tokio::test(start_paused = true)]
async fn slowloris_body_is_ended_by_the_body_timeout_with_its_bytes_kept() {
    // Head, then one byte a second for an hour: far longer than the 10 s body timeout.
    let mut script = vec![write(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 3600\r\nms-correlationid: slow-1\r\n\r\n",
    )];
    for _ in 0..3600 {
        script.push(Step::Wait(Duration::from_secs(1)));
        script.push(write(b"x"));
    }
    let (addr, log) = serve_script(script).await;
    let started = tokio::time::Instant::now();
    let error = api_error(PartnerErrorsLayer::new(), addr).await;

    let Some(Incomplete::TimedOut { after }) = error.incomplete() else {
        panic!("{:?}", error.incomplete())
    };
    assert_eq!(*after, Duration::from_secs(10));
    assert!(started.elapsed() >= Duration::from_secs(10));
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error.ids().correlation_id.as_deref(), Some("slow-1"));
    // One byte a second for ten seconds: the bytes that came before the deadline are kept.
    let read = error.raw_body();
    assert!((9..=10).contains(&read.len()), "{} bytes", read.len());
    assert!(read.iter().all(|&b| b == b'x'));
    assert!(error.is_retryable());
    assert_bounded_and_safe(&error);

    // The client closed the connection: the server's drip stops at its next write or two.
    log.stopped.notified().await;
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn endless_chunked_stream_stops_at_the_cap() {
    let head = br#"{"code":3000,"description":"#;
    let (body, produced) = GeneratedBody::start(Bytes::from_static(head), u64::MAX);
    let body = std::sync::Mutex::new(Some(body));
    let addr = serve(move |_| {
        let body = body.lock().unwrap().take().expect("one call");
        let mut response = http::Response::new(body);
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        response
            .headers_mut()
            .insert("ms-requestid", "endless-1".parse().unwrap());
        response
    })
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;

    assert_cut_at_the_cap(&error, &crate::support::generated_prefix(head, CAP));
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(error.ids().request_id.as_deref(), Some("endless-1"));
    // The server stops once the client lets go (the timeout only turns a hang into a failure).
    tokio::time::timeout(Duration::from_secs(60), produced.dropped.notified())
        .await
        .expect("the server stops");
    assert!(produced.bytes() < 64 << 20, "{} bytes", produced.bytes());
}

#[tokio::test]
async fn content_length_shorter_than_the_body_keeps_the_declared_bytes() {
    // Says 20 bytes, sends 60: HTTP framing ends the body at 20.
    let (addr, _log) = serve_script(vec![write(
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 20\r\nms-requestid: short-1\r\n\r\n{\"code\":\"2001\",\"description\":\"Not valid.\",\"source\":\"PartnerFD\"}",
    )])
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;
    assert_eq!(error.raw_body().as_ref(), b"{\"code\":\"2001\",\"desc");
    assert!(error.incomplete().is_none(), "{:?}", error.incomplete());
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error.ids().request_id.as_deref(), Some("short-1"));
    assert!(matches!(error.violations(), [Violation::NotJson { .. }]));
    assert_eq!(error.payload().text(), Some("{\"code\":\"2001\",\"desc"));
    assert_bounded_and_safe(&error);
}

/// A `Content-Length` beside `Transfer-Encoding: chunked` is not the body's length (RFC 9112
/// §6.3: the chunked framing overrides it, and hyper reads the chunks): a small body declared
/// at 100,000 bytes is read whole, not refused as over the cap and left unread.
#[tokio::test]
async fn a_content_length_beside_chunked_framing_does_not_refuse_the_body() {
    let (addr, _log) = serve_script(vec![write(
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 100000\r\ntransfer-encoding: chunked\r\nms-requestid: both-1\r\n\r\n3f\r\n{\"code\":\"2001\",\"description\":\"Not valid.\",\"source\":\"PartnerFD\"}\r\n0\r\n\r\n",
    )])
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;
    assert!(error.incomplete().is_none(), "{:?}", error.incomplete());
    assert_eq!(
        error.raw_body().as_ref(),
        b"{\"code\":\"2001\",\"description\":\"Not valid.\",\"source\":\"PartnerFD\"}"
    );
    assert_eq!(error.code(), Some("2001"));
    assert_eq!(error.description(), Some("Not valid."));
    assert_eq!(error.ids().request_id.as_deref(), Some("both-1"));
    assert!(error.violations().is_empty(), "{:?}", error.violations());
}

/// A status past 599 is no HTTP status (RFC 9110 §15 has clients treat it as a 5xx), but hyper
/// hands it on: it is an error response, never a success.
#[tokio::test]
async fn a_status_past_599_is_an_error_response_not_a_success() {
    let (addr, _log) = serve_script(vec![write(
        b"HTTP/1.1 999 Odd\r\ncontent-length: 59\r\nms-requestid: odd-1\r\n\r\n{\"code\":3000,\"description\":\"Out of range.\",\"source\":\"Edge\"}",
    )])
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;
    assert_eq!(error.status().as_u16(), 999);
    assert_eq!(error.kind(), ErrorKind::Other);
    assert!(!error.is_retryable());
    assert_eq!(error.code(), Some("3000"));
    assert_eq!(error.description(), Some("Out of range."));
    assert_eq!(error.ids().request_id.as_deref(), Some("odd-1"));
}

/// A chunked error body that ends with trailers: the body is read whole (the trailers end it,
/// nothing is missing), and in pass-through mode the caller gets the bytes and then the
/// trailers, as sent.
#[tokio::test]
async fn chunked_body_with_trailers_is_read_whole_and_replayed_with_them() {
    const BODY: &[u8] = b"{\"code\":3000,\"description\":\"Try later.\",\"source\":\"PartnerFD\"}";
    let (addr, _log) = serve_script(vec![
        write(b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\ntrailer: ms-cv\r\nms-requestid: trail-1\r\n\r\n"),
        write(b"1c\r\n{\"code\":3000,\"description\":\"\r\n"),
        write(b"21\r\nTry later.\",\"source\":\"PartnerFD\"}\r\n"),
        write(b"0\r\nms-cv: trailer-cv.1\r\n\r\n"),
    ])
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;
    assert_eq!(error.raw_body().as_ref(), BODY);
    assert!(error.incomplete().is_none(), "{:?}", error.incomplete());
    assert_eq!(error.description(), Some("Try later."));
    assert_eq!(error.violations(), [NUMERIC_CODE]);
    assert_eq!(error.ids().request_id.as_deref(), Some("trail-1"));

    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client());
    let response = service.oneshot(get(addr, "/")).await.expect("passed");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let error = response
        .extensions()
        .get::<ApiError>()
        .expect("error")
        .clone();
    assert_eq!(error.raw_body().as_ref(), BODY);
    use http_body_util::BodyExt;
    let collected = response.into_body().collect().await.expect("replayed");
    let trailers = collected.trailers().cloned();
    assert_eq!(collected.to_bytes().as_ref(), BODY);
    let trailers = trailers.expect("the trailers follow the bytes");
    assert_eq!(trailers.get("ms-cv").unwrap(), "trailer-cv.1");
}

#[tokio::test]
async fn content_length_longer_than_the_body_then_close_fails_with_the_bytes_kept() {
    let (addr, _log) = serve_script(vec![write(
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5000\r\nms-requestid: long-1\r\n\r\n{\"code\":3000,\"description\":\"Half a bo",
    )])
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;
    let Some(Incomplete::Failed(failure)) = error.incomplete() else {
        panic!("{:?}", error.incomplete())
    };
    assert!(failure.get_ref().downcast_ref::<hyper::Error>().is_some());
    assert_eq!(
        error.raw_body().as_ref(),
        b"{\"code\":3000,\"description\":\"Half a bo"
    );
    assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error.ids().request_id.as_deref(), Some("long-1"));
    assert!(std::error::Error::source(&error).is_some());
    assert_bounded_and_safe(&error);
}

#[tokio::test(start_paused = true)]
async fn content_length_longer_than_the_body_then_silence_times_out_with_the_bytes_kept() {
    let (addr, _log) = serve_script(vec![
        write(b"HTTP/1.1 504 Gateway Timeout\r\ncontent-length: 5000\r\nretry-after: 7\r\n\r\n{\"code\":3000,"),
        Step::Hold,
    ])
    .await;
    let error = api_error(
        PartnerErrorsLayer::new().body_timeout(Duration::from_secs(5)),
        addr,
    )
    .await;
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TimedOut { after }) if *after == Duration::from_secs(5)
    ));
    assert_eq!(error.raw_body().as_ref(), b"{\"code\":3000,");
    assert_eq!(error.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert_bounded_and_safe(&error);
}

/// A head and then no body byte before the time limit, or before a reset: nothing was read, so
/// nothing is known about the body. It is not an empty body (no `EmptyBody`, no "empty body"
/// printed), as a body refused for its length is not: the error says why reading stopped.
#[tokio::test(start_paused = true)]
async fn a_body_that_sends_nothing_before_it_stops_is_not_called_empty() {
    let (stalled, _log) = serve_script(vec![
        write(b"HTTP/1.1 504 Gateway Timeout\r\ntransfer-encoding: chunked\r\nms-correlationid: none-1\r\n\r\n"),
        Step::Hold,
    ])
    .await;
    let error = api_error(PartnerErrorsLayer::new(), stalled).await;
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TimedOut { .. })
    ));
    assert!(error.raw_body().is_empty());
    assert_eq!(error.violations(), []);
    assert_eq!(
        error.to_string(),
        "HTTP 504 Gateway Timeout: body did not end within 10s [correlation id none-1]"
    );

    let (reset, _log) = serve_script(vec![
        write(
            b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 40\r\nms-correlationid: none-2\r\n\r\n",
        ),
        Step::Wait(Duration::from_secs(1)),
        Step::Reset,
    ])
    .await;
    let error = api_error(PartnerErrorsLayer::new(), reset).await;
    assert!(matches!(error.incomplete(), Some(Incomplete::Failed(_))));
    assert!(error.raw_body().is_empty());
    assert_eq!(error.violations(), []);
    // The stream's error is the source, not part of the line.
    assert_eq!(
        error.to_string(),
        "HTTP 502 Bad Gateway: body failed [correlation id none-2]"
    );
    assert!(std::error::Error::source(&error).is_some());
}

#[tokio::test(start_paused = true)]
async fn connection_reset_mid_body_fails_with_the_bytes_kept() {
    // Chunked: one chunk of the body, a pause (the client reads it meanwhile), then a reset.
    let (addr, log) = serve_script(vec![
        write(b"HTTP/1.1 502 Bad Gateway\r\ntransfer-encoding: chunked\r\nms-correlationid: reset-1\r\n\r\n19\r\n{\"code\":3000,\"description\r\n"),
        Step::Wait(Duration::from_secs(1)),
        Step::Reset,
    ])
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;
    let Some(Incomplete::Failed(failure)) = error.incomplete() else {
        panic!("{:?}", error.incomplete())
    };
    assert!(
        failure.get_ref().downcast_ref::<hyper::Error>().is_some(),
        "{failure:?}"
    );
    assert_eq!(error.raw_body().as_ref(), b"{\"code\":3000,\"description");
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(error.ids().correlation_id.as_deref(), Some("reset-1"));
    assert_bounded_and_safe(&error);
    log.stopped.notified().await;
}

#[tokio::test]
async fn invalid_utf8_is_kept_raw_and_decoded_lossily() {
    let body: &[u8] =
        b"{\"code\":\"2001\",\"description\":\"caf\xe9 \xff\xfe\",\"source\":\"PartnerFD\"}";
    let addr = serve(move |_| {
        respond(
            400,
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("ms-requestid", "utf8-1"),
            ],
            body,
        )
    })
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;
    assert_eq!(error.raw_body().as_ref(), body, "the bytes as sent");
    assert!(matches!(error.violations(), [Violation::NotJson { .. }]));
    let text = error.payload().text().expect("kept as text");
    assert!(text.contains("caf\u{FFFD}"), "{text:?}");
    assert_eq!(error.ids().request_id.as_deref(), Some("utf8-1"));
    assert_bounded_and_safe(&error);
}

fn nested(depth: usize) -> String {
    format!(
        r#"{{"code":"2200","description":"Deep data.","data":{}"leaf"{},"source":"PartnerFD"}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[tokio::test]
async fn data_nested_100_deep_is_kept_and_deeper_is_refused_cleanly() {
    let addr = serve(|request| {
        let depth = request.uri().path()[1..].parse().unwrap();
        respond(409, &[], nested(depth))
    })
    .await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client());

    let Err(Error::Api(error)) = service.clone().oneshot(get(addr, "/100")).await else {
        panic!("expected Error::Api")
    };
    assert!(error.violations().is_empty(), "{:?}", error.violations());
    let mut depth = 0;
    let mut value = error.data().expect("data");
    while let Some([inner]) = value.as_array().map(Vec::as_slice) {
        depth += 1;
        value = inner;
    }
    assert_eq!(depth, 100);
    assert_eq!(value, "leaf");

    // serde_json's recursion limit (128) refuses deeper nesting: a violation, not a crash.
    let Err(Error::Api(error)) = service.oneshot(get(addr, "/10000")).await else {
        panic!("expected Error::Api")
    };
    assert!(matches!(error.violations(), [Violation::NotJson { .. }]));
    assert_eq!(error.raw_body().len(), nested(10_000).len());
    assert_bounded_and_safe(&error);
}

const TEN_MB: usize = 10 * 1024 * 1024;

fn ten_mb_description_body() -> Vec<u8> {
    let head = br#"{"code":"3000","description":""#;
    let tail = br#"","data":[],"source":"PartnerFD"}"#;
    let mut body = head.to_vec();
    body.extend(crate::support::CHUNK.iter().cycle().take(TEN_MB));
    body.extend_from_slice(tail);
    body
}

#[tokio::test]
async fn ten_mb_description_stops_at_the_cap_with_the_prefix_kept() {
    let body = Bytes::from(ten_mb_description_body());
    let sent = body.clone();
    let addr = serve(move |_| {
        // Chunked, no Content-Length: the layer has to read up to the cap to find out.
        crate::support::streamed(StatusCode::INTERNAL_SERVER_ERROR, sent.clone(), 16 * 1024)
    })
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;
    assert_cut_at_the_cap(&error, &body[..CAP]);
}

#[test]
fn ten_mb_description_parsed_whole_is_kept_and_displayed_bounded() {
    let body = ten_mb_description_body();
    let parsed = schema::parse(&body, Some("application/json"));
    assert_eq!(
        parsed.violations,
        [Violation::DescriptionTooLong { chars: TEN_MB }]
    );
    assert_eq!(parsed.description().map(str::len), Some(TEN_MB));
    assert!(parsed.violations[0].to_string().len() < 100);

    let error = ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        http::HeaderMap::new(),
        body.into(),
    );
    let shown = error.to_string();
    assert!(shown.len() < 400, "{} bytes", shown.len());
    assert!(shown.ends_with('…'), "cut, and says so: {shown:?}");
}

#[tokio::test]
async fn duplicate_keys_keep_the_last_value_and_the_raw_bytes() {
    let body = r#"{"code":"1","description":"first","code":2,"description":"second","source":"PartnerFD","source":"Other"}"#;
    let addr = serve(move |_| respond(400, &[], body)).await;
    let error = api_error(PartnerErrorsLayer::new(), addr).await;
    assert_eq!(error.code(), Some("2"));
    assert_eq!(error.description(), Some("second"));
    assert_eq!(error.body_source(), Some("Other"));
    assert_eq!(error.violations(), [NUMERIC_CODE]);
    assert_eq!(error.raw_body().as_ref(), body.as_bytes());
    assert_bounded_and_safe(&error);
}

#[tokio::test]
async fn nul_and_ansi_escapes_in_the_description_are_kept_but_never_printed_raw() {
    // JSON-escaped controls: valid JSON, so the description holds the real characters.
    let escaped = r#"{"code":"2001","description":"bad\u0000id \u001b[2J\u001b]0;owned\u0007 \u009b31m done\r\nforged line","data":[],"source":"PartnerFD"}"#;
    // Raw controls inside a JSON string: not JSON at all.
    let raw: &[u8] = b"{\"code\":\"2001\",\"description\":\"bad\0id \x1b[2J\"}";
    let addr = serve(move |request| match request.uri().path() {
        "/escaped" => respond(400, &[("content-type", "application/json")], escaped),
        _ => respond(400, &[("content-type", "application/json")], raw),
    })
    .await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client());

    let Err(Error::Api(error)) = service.clone().oneshot(get(addr, "/escaped")).await else {
        panic!("expected Error::Api")
    };
    let description = error.description().expect("description");
    assert!(description.contains('\0') && description.contains('\u{1b}'));
    assert!(error.violations().is_empty(), "{:?}", error.violations());
    let shown = error.to_string();
    assert_bounded_and_safe(&error);
    assert!(
        shown.contains(
            r"bad\u{0}id \u{1b}[2J\u{1b}]0;owned\u{7} \u{9b}31m done\u{d}\u{a}forged line"
        ),
        "{shown}"
    );

    let Err(Error::Api(error)) = service.oneshot(get(addr, "/raw")).await else {
        panic!("expected Error::Api")
    };
    assert_eq!(error.raw_body().as_ref(), raw);
    assert!(matches!(error.violations(), [Violation::NotJson { .. }]));
    assert!(matches!(error.payload(), Payload::Text(_)));
    assert_bounded_and_safe(&error);
    assert_eq!(
        error.to_string(),
        format!("HTTP 400 Bad Request: text body of {} bytes", raw.len())
    );
}

proptest::proptest! {
    /// Whatever the body and ids hold, `Display` is one line with no control character, and
    /// bounded: 64 characters of code and 300 of description, each escaped to at most 10
    /// bytes, and 128 of each of four ids, plus the fixed text around them.
    #[test]
    fn display_is_one_sanitised_bounded_line_for_any_body(
        status in 400u16..600,
        code in proptest::prelude::any::<String>(),
        description in proptest::prelude::any::<String>(),
        repeat in 1usize..20,
        id in "[ -~\u{80}-\u{10ffff}]{0,300}",
        raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        as_json in proptest::prelude::any::<bool>(),
    ) {
        let body = if as_json {
            serde_json::json!({"code": code, "description": description.repeat(repeat)})
                .to_string()
                .into_bytes()
        } else {
            raw
        };
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(&id) {
            for name in ["ms-correlationid", "ms-requestid", "ms-cv", "ms-serverid"] {
                headers.insert(name, value.clone());
            }
        }
        let error = ApiError::new(StatusCode::from_u16(status).unwrap(), headers, body.into());
        let shown = error.to_string();
        proptest::prop_assert!(!shown.chars().any(char::is_control), "{:?}", shown);
        proptest::prop_assert!(shown.len() <= 4096 + 4 * 128 * 4, "{} bytes", shown.len());
    }
}

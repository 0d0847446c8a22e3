//! The layer in one `tower::ServiceBuilder` with tower-http's layers and hyper-util's client,
//! over real HTTP: where decompression, timeouts and trace go, and why.

use std::io::Write;
use std::time::Duration;

use crate::support::{client, collect, get, respond, serve};
use flate2::write::GzEncoder;
use flate2::Compression;
use http::StatusCode;
use partner_center_errors::schema::Violation;
use partner_center_errors::{ApiError, Error, ErrorKind, Incomplete, PartnerErrorsLayer};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::decompression::DecompressionLayer;

const CAP: usize = 64 * 1024;

/// The error of a call that must fail (the response types here have no `Debug`).
fn expect_error<T>(result: Result<T, Error>) -> Error {
    match result {
        Ok(_) => panic!("expected an error, got a response"),
        Err(error) => error,
    }
}

/// A Partner Center error body of `len` bytes: valid JSON whose `data` holds one long string.
fn large_body(len: usize) -> Vec<u8> {
    let head = br#"{"code":3000,"description":"Something failed.","source":"PartnerFD","data":[""#;
    let tail = br#""]}"#;
    let mut body = head.to_vec();
    body.resize(len - tail.len(), b'a');
    body.extend_from_slice(tail);
    body
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Where decompression sits, relative to the error layer.
enum Decompression {
    InsideTheLayer,
    OutsideTheLayer,
}

/// Serves `status` with `compressed` as its gzip JSON body and returns the error the layer
/// builds from it, over hyper-util's client with tower-http's decompression where asked.
async fn gzip_error(status: u16, compressed: Vec<u8>, decompression: Decompression) -> ApiError {
    let addr = serve(move |_| {
        respond(
            status,
            &[
                ("content-encoding", "gzip"),
                ("content-type", "application/json"),
            ],
            compressed.clone(),
        )
    })
    .await;
    let result = match decompression {
        Decompression::InsideTheLayer => ServiceBuilder::new()
            .layer(PartnerErrorsLayer::new())
            .layer(DecompressionLayer::new())
            .service(client())
            .oneshot(get(addr, "/"))
            .await
            .map(drop),
        Decompression::OutsideTheLayer => ServiceBuilder::new()
            .layer(DecompressionLayer::new())
            .layer(PartnerErrorsLayer::new())
            .service(client())
            .oneshot(get(addr, "/"))
            .await
            .map(drop),
    };
    expect_error(result).into_api_error().unwrap()
}

#[tokio::test]
async fn decompression_inside_the_layer_caps_decoded_bytes() {
    let decoded = large_body(16 * 1024 * 1024);
    let compressed = gzip(&decoded);
    assert!(
        compressed.len() < CAP / 2,
        "the wire carries far less than the cap: {} bytes",
        compressed.len()
    );
    let error = gzip_error(500, compressed, Decompression::InsideTheLayer).await;
    assert_eq!(
        error.raw_body().len(),
        CAP,
        "cut at the cap, in decoded bytes"
    );
    assert_eq!(
        error.raw_body().as_ref(),
        &decoded[..CAP],
        "the decoded prefix"
    );
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TooLarge {
            limit: CAP,
            content_length: None
        })
    ));
    assert_eq!(error.kind(), ErrorKind::InternalServerError);
}

const MALFORMED: &[u8] =
    br#"{"code":"2001","description":"The request is malformed.","data":[],"source":"PartnerFD"}"#;

#[tokio::test]
async fn decompression_inside_the_layer_parses_a_gzip_error_body() {
    let error = gzip_error(400, gzip(MALFORMED), Decompression::InsideTheLayer).await;
    assert_eq!(error.code(), Some("2001"));
    assert_eq!(error.description(), Some("The request is malformed."));
    assert!(error.violations().is_empty(), "{:?}", error.violations());
    assert_eq!(error.raw_body().as_ref(), MALFORMED);
}

/// The wrong order, to show why the documented one matters: outside decompression the layer
/// reads the compressed bytes and cannot parse them, and says why.
#[tokio::test]
async fn decompression_outside_the_layer_leaves_it_the_compressed_bytes() {
    let compressed = gzip(MALFORMED);
    let error = gzip_error(400, compressed.clone(), Decompression::OutsideTheLayer).await;
    assert_eq!(error.raw_body().as_ref(), compressed.as_slice());
    assert_eq!(error.code(), None);
    let [Violation::Encoded { coding }, Violation::NotJson { .. }] = error.violations() else {
        panic!("{:?}", error.violations());
    };
    assert_eq!(coding, "gzip");
    let shown = error.to_string();
    assert!(
        shown.contains("still encoded as `gzip` (decompress inside the layer)"),
        "{shown}"
    );
}

/// A server that accepts connections and never answers.
async fn silent() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

#[tokio::test(start_paused = true)]
async fn a_timeout_inside_the_layer_is_the_service_error_and_the_body_has_its_own_limit() {
    // The head never comes: tower's timeout (inside the layer) fires, as Error::Service.
    let addr = silent().await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().body_timeout(Duration::from_secs(10)))
        .timeout(Duration::from_secs(30))
        .layer(DecompressionLayer::new())
        .service(client());
    let started = tokio::time::Instant::now();
    let error = expect_error(service.clone().oneshot(get(addr, "/")).await);
    let Error::Service(inner) = error else {
        panic!("{error:?}")
    };
    assert!(inner.is::<tower::timeout::error::Elapsed>(), "{inner}");
    assert!(started.elapsed() >= Duration::from_secs(30));

    // The head comes at once, the error body stalls: the layer's body limit (10 s) applies, not
    // the request timeout, which only covers the head.
    let stalled =
        serve(|_| crate::support::stalled(StatusCode::SERVICE_UNAVAILABLE, b"{\"code\":")).await;
    let started = tokio::time::Instant::now();
    let error = expect_error(service.oneshot(get(stalled, "/")).await)
        .into_api_error()
        .unwrap();
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TimedOut { after }) if *after == Duration::from_secs(10)
    ));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(10) && elapsed < Duration::from_secs(30));
}

#[tokio::test]
async fn success_bodies_still_decompress_through_the_whole_stack() {
    let compressed = gzip(b"a compressed success");
    let addr =
        serve(move |_| respond(200, &[("content-encoding", "gzip")], compressed.clone())).await;
    let service = ServiceBuilder::new()
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(PartnerErrorsLayer::new())
        .timeout(Duration::from_secs(30))
        .layer(DecompressionLayer::new())
        .service(client());
    let response = service.oneshot(get(addr, "/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(collect(response.into_body()).await, "a compressed success");
}

/// Trace outermost: one span per call, and the layer's event inside it.
#[cfg(feature = "tracing")]
#[tokio::test]
async fn the_error_event_is_inside_tower_https_request_span() {
    let (recorder, _guard) = crate::support::events::Recorder::install();
    let addr = serve(|_| {
        respond(
            503,
            &[("retry-after", "5"), ("content-encoding", "gzip")],
            gzip(br#"{"code":"3","description":"Busy.","data":[],"source":"PartnerFD"}"#),
        )
    })
    .await;
    let service = ServiceBuilder::new()
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(PartnerErrorsLayer::new())
        .timeout(Duration::from_secs(30))
        .layer(DecompressionLayer::new())
        .service(client());
    let error = expect_error(service.oneshot(get(addr, "/v1/orders")).await);
    assert_eq!(error.api_error().unwrap().code(), Some("3"));

    let ours = recorder.events_of("partner_center_errors");
    let warn: Vec<_> = ours
        .iter()
        .filter(|event| event.field("message") == Some("partner center error response"))
        .collect();
    assert_eq!(warn.len(), 1);
    assert_eq!(
        warn[0].spans,
        ["request"],
        "inside tower-http's request span"
    );
    assert_eq!(
        warn[0].field("code"),
        Some("3"),
        "parsed after decompression"
    );
    // tower-http reports the failed call with our error's one-line Display.
    let failure = recorder
        .events()
        .into_iter()
        .find(|event| event.field("message") == Some("response failed"))
        .expect("tower-http's failure event");
    assert_eq!(failure.spans, ["request"]);
    let classification = failure.field("classification").unwrap();
    assert!(
        classification.contains("HTTP 503 Service Unavailable, code 3: Busy. (retry after 5s)"),
        "{classification}"
    );
}

//! The layer over real HTTP: a hyper server on 127.0.0.1 and hyper-util's client.

use std::time::Duration;

use crate::support::{
    client, collect, get, partner_center_body, respond, serve, ChannelBody, NUMERIC_CODE,
};
use bytes::Bytes;
use http::StatusCode;
use partner_center_errors::schema::{Envelope, Payload, Violation};
use partner_center_errors::{ApiError, Error, ErrorKind, Incomplete, PartnerErrorsLayer};
use tower::{ServiceBuilder, ServiceExt};

/// Calls `path` through the layer in its default mode and returns the structured error.
async fn api_error(layer: PartnerErrorsLayer, addr: std::net::SocketAddr, path: &str) -> ApiError {
    let service = ServiceBuilder::new().layer(layer).service(client());
    match service.oneshot(get(addr, path)).await {
        Err(Error::Api(error)) => error,
        other => panic!("expected Error::Api, got {other:?}"),
    }
}

#[tokio::test]
async fn every_documented_status_becomes_its_kind_with_the_body_fields() {
    let statuses: [(u16, ErrorKind); 15] = [
        (400, ErrorKind::BadRequest),
        (401, ErrorKind::Unauthorized),
        (403, ErrorKind::Forbidden),
        (404, ErrorKind::NotFound),
        (405, ErrorKind::MethodNotAllowed),
        (406, ErrorKind::NotAcceptable),
        (408, ErrorKind::RequestTimeout),
        (409, ErrorKind::Conflict),
        (412, ErrorKind::PreconditionFailed),
        (429, ErrorKind::TooManyRequests),
        (500, ErrorKind::InternalServerError),
        (501, ErrorKind::NotImplemented),
        (502, ErrorKind::BadGateway),
        (503, ErrorKind::ServiceUnavailable),
        (504, ErrorKind::GatewayTimeout),
    ];
    let addr = serve(|request| {
        let status: u16 = request
            .uri()
            .path()
            .trim_start_matches('/')
            .parse()
            .unwrap();
        let body = serde_json::json!({
            "code": format!("E{status}"),
            "description": format!("Status {status} for this test."),
            "data": ["first detail"],
            "source": "PartnerApiServiceControllers",
        });
        respond(
            status,
            &[
                ("content-type", "application/json"),
                ("ms-correlationid", "corr-1"),
                ("ms-requestid", "req-1"),
            ],
            body.to_string(),
        )
    })
    .await;

    for (status, kind) in statuses {
        let error = api_error(PartnerErrorsLayer::new(), addr, &format!("/{status}")).await;
        assert_eq!(error.status().as_u16(), status);
        assert_eq!(error.kind(), kind);
        assert_eq!(error.is_retryable(), matches!(status, 429 | 503 | 504));
        assert_eq!(error.code(), Some(format!("E{status}").as_str()));
        assert_eq!(
            error.description(),
            Some(format!("Status {status} for this test.").as_str())
        );
        assert_eq!(error.data(), Some(&serde_json::json!(["first detail"])));
        assert_eq!(error.body_source(), Some("PartnerApiServiceControllers"));
        assert!(error.violations().is_empty(), "{:?}", error.violations());
        assert_eq!(error.ids().correlation_id.as_deref(), Some("corr-1"));
        assert_eq!(error.ids().request_id.as_deref(), Some("req-1"));
        assert!(error.incomplete().is_none());
    }
}

#[tokio::test]
async fn numeric_code_is_normalised_and_reported_as_a_deviation() {
    let body = partner_center_body(600074, "No customer has this id.");
    let sent = body.clone();
    let addr = serve(move |_| respond(404, &[], sent.clone())).await;
    let error = api_error(PartnerErrorsLayer::new(), addr, "/").await;
    assert_eq!(error.code(), Some("600074"));
    assert_eq!(error.violations(), [NUMERIC_CODE]);
    assert_eq!(error.raw_body(), &Bytes::from(body));
}

#[tokio::test]
async fn byte_order_mark_and_charset_are_accepted() {
    let addr = serve(|_| {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice(
            br#"{"code":"2001","description":"Bad input.","data":[],"source":"PartnerFD"}"#,
        );
        respond(
            400,
            &[("content-type", "application/json; charset=utf-8")],
            body,
        )
    })
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr, "/").await;
    assert_eq!(error.code(), Some("2001"));
    assert!(error.violations().is_empty(), "{:?}", error.violations());
    assert!(
        error.raw_body().starts_with(b"\xEF\xBB\xBF"),
        "raw bytes kept as sent"
    );
}

#[tokio::test]
async fn empty_404_is_classified_as_empty() {
    let addr = serve(|_| respond(404, &[], Bytes::new())).await;
    let error = api_error(PartnerErrorsLayer::new(), addr, "/").await;
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_eq!(error.payload(), &Payload::Empty);
    assert_eq!(error.violations(), [Violation::EmptyBody]);
    assert_eq!(error.to_string(), "HTTP 404 Not Found: empty body");
}

#[tokio::test]
async fn mfa_401_with_chunked_empty_body_carries_its_challenge() {
    let addr = serve(|_| {
        let (sender, body) = ChannelBody::channel(1);
        drop(sender); // chunked, no bytes
        let mut response = http::Response::new(body);
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(
            "www-authenticate",
            r#"Bearer error="invalid_token""#.parse().unwrap(),
        );
        response
    })
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr, "/").await;
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(error.payload(), &Payload::Empty);
    let [challenge] = error.challenges() else {
        panic!("{:?}", error.challenges())
    };
    assert!(challenge.is_scheme("bearer"));
    assert_eq!(challenge.error(), Some("invalid_token"));
}

#[tokio::test]
async fn partner_center_oauth_challenge_with_unquoted_realm() {
    let addr = serve(|_| {
        respond(
            401,
            &[(
                "www-authenticate",
                "OAuth realm=urn:cpsvc:cpid:5e2d0f6c-0b3a-4f7e-9a51-2c8d7e4b1a90",
            )],
            partner_center_body(900309, "The token was not accepted."),
        )
    })
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr, "/").await;
    let [challenge] = error.challenges() else {
        panic!("{:?}", error.challenges())
    };
    assert!(challenge.is_scheme("OAuth"));
    assert_eq!(
        challenge.realm(),
        Some("urn:cpsvc:cpid:5e2d0f6c-0b3a-4f7e-9a51-2c8d7e4b1a90")
    );
}

#[tokio::test]
async fn gateway_429_is_recognised_with_its_delay() {
    let addr = serve(|_| {
        respond(
            429,
            &[("retry-after", "57"), ("content-type", "application/json")],
            r#"{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }"#,
        )
    })
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr, "/").await;
    assert!(matches!(error.payload(), Payload::Gateway(_)));
    assert_eq!(
        error.violations(),
        [Violation::ForeignEnvelope {
            envelope: Envelope::Gateway
        }]
    );
    assert_eq!(
        error.description(),
        Some("Rate limit is exceeded. Try again in 57 seconds.")
    );
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(57)));
}

#[tokio::test]
async fn html_502_keeps_its_text_and_prints_none_of_it() {
    let page =
        "<!DOCTYPE html><html><head><title>502</title></head><body>Upstream is down</body></html>";
    let addr = serve(move |_| respond(502, &[("content-type", "text/html")], page)).await;
    let error = api_error(PartnerErrorsLayer::new(), addr, "/").await;
    assert_eq!(error.kind(), ErrorKind::BadGateway);
    assert_eq!(error.payload(), &Payload::Html(page.into()));
    assert!(matches!(error.violations(), [Violation::NotJson { .. }]));
    assert!(!error.to_string().contains("Upstream is down"));
}

#[tokio::test]
async fn comma_duplicated_ids_are_deduplicated() {
    let addr = serve(|_| {
        respond(
            500,
            &[
                ("ms-correlationid", "c-9,c-9"),
                ("ms-cv", "sLRFZMWm+EKuL47u.0"),
                ("ms-serverid", "srv-1"),
            ],
            partner_center_body(3000, "Something failed."),
        )
    })
    .await;
    let error = api_error(PartnerErrorsLayer::new(), addr, "/").await;
    assert_eq!(error.ids().correlation_id.as_deref(), Some("c-9"));
    assert_eq!(
        error.ids().correlation_vector.as_deref(),
        Some("sLRFZMWm+EKuL47u.0")
    );
    assert_eq!(error.ids().server_id.as_deref(), Some("srv-1"));
}

#[tokio::test]
async fn content_length_above_the_cap_is_refused_before_any_read() {
    let addr = serve(|_| respond(500, &[("ms-requestid", "r-1")], vec![b'x'; 10_000])).await;
    let error = api_error(PartnerErrorsLayer::new().max_body_bytes(1000), addr, "/").await;
    assert!(
        matches!(
            error.incomplete(),
            Some(Incomplete::TooLarge {
                limit: 1000,
                content_length: Some(10_000)
            })
        ),
        "{:?}",
        error.incomplete()
    );
    assert!(error.raw_body().is_empty());
    assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error.ids().request_id.as_deref(), Some("r-1"));
}

/// A HEAD answered 404 with a large `Content-Length` has no body: nothing to refuse, nothing
/// read, and the error says so rather than "too large".
#[tokio::test]
async fn a_head_with_a_large_content_length_is_not_refused() {
    let addr = crate::support::serve_raw(
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 100000\r\nms-requestid: r-head\r\n\r\n",
    )
    .await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().max_body_bytes(1000))
        .service(client::<http_body_util::Full<Bytes>>());
    let request = http::Request::head(format!("http://{addr}/v1/customers/x"))
        .body(http_body_util::Full::default())
        .unwrap();
    let Err(Error::Api(error)) = service.oneshot(request).await else {
        panic!("expected Error::Api")
    };
    assert_eq!(error.status(), StatusCode::NOT_FOUND);
    assert!(error.incomplete().is_none(), "{:?}", error.incomplete());
    assert!(error.raw_body().is_empty());
    assert_eq!(error.ids().request_id.as_deref(), Some("r-head"));
    assert!(!error.to_string().contains("cap"), "{error}");
}

#[tokio::test]
async fn chunked_body_above_the_cap_is_cut_at_the_cap() {
    let addr = serve(|_| {
        crate::support::streamed(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::support::stepped(),
            100,
        )
    })
    .await;
    let error = api_error(PartnerErrorsLayer::new().max_body_bytes(1050), addr, "/").await;
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TooLarge {
            limit: 1050,
            content_length: None
        })
    ));
    assert_eq!(
        error.raw_body().as_ref(),
        &crate::support::stepped()[..1050]
    );
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
}

/// Head says 1000 bytes; the connection closes after 21.
const CUT_SHORT: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 1000\r\nms-correlationid: c-1\r\n\r\n{\"code\": 3000, \"descr";

#[tokio::test]
async fn body_failing_mid_stream_keeps_what_was_read() {
    let addr = crate::support::serve_raw(CUT_SHORT).await;
    let error = api_error(PartnerErrorsLayer::new(), addr, "/").await;
    assert!(
        matches!(error.incomplete(), Some(Incomplete::Failed(_))),
        "{:?}",
        error.incomplete()
    );
    assert_eq!(error.raw_body().as_ref(), b"{\"code\": 3000, \"descr");
    assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error.ids().correlation_id.as_deref(), Some("c-1"));
    assert!(matches!(error.violations(), [Violation::NotJson { .. }]));
    assert!(
        std::error::Error::source(&error).is_some(),
        "the body failure is the source"
    );
}

#[tokio::test(start_paused = true)]
async fn stalled_body_times_out_with_what_was_read() {
    let addr =
        serve(|_| crate::support::stalled(StatusCode::GATEWAY_TIMEOUT, b"{\"code\": 3000,")).await;
    let started = tokio::time::Instant::now();
    let layer = PartnerErrorsLayer::new().body_timeout(Duration::from_secs(30));
    let error = api_error(layer, addr, "/").await;
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TimedOut { after }) if *after == Duration::from_secs(30)
    ));
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "not before the limit"
    );
    assert!(
        b"{\"code\": 3000,".starts_with(error.raw_body()),
        "a prefix of what was sent"
    );
    assert_eq!(error.kind(), ErrorKind::GatewayTimeout);
}

#[tokio::test]
async fn strict_mode_surfaces_a_schema_error_that_keeps_everything() {
    let addr = serve(|_| respond(400, &[], r#"{"code":"1","description":"","source":"x"}"#)).await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().strict(true))
        .service(client());
    let error = service.oneshot(get(addr, "/")).await.unwrap_err();
    let Error::Schema(error) = error else {
        panic!("expected Error::Schema, got {error:?}")
    };
    assert_eq!(error.violations(), [Violation::EmptyDescription]);
    assert_eq!(error.code(), Some("1"));
    assert_eq!(
        error.raw_body().as_ref(),
        br#"{"code":"1","description":"","source":"x"}"#
    );

    // A valid body is still Error::Api in strict mode.
    let valid =
        serve(|_| respond(400, &[], r#"{"code":"1","description":"d","source":"x"}"#)).await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().strict(true))
        .service(client());
    assert!(matches!(
        service.oneshot(get(valid, "/")).await,
        Err(Error::Api(_))
    ));
}

#[tokio::test]
async fn success_responses_pass_untouched() {
    let addr = serve(|_| respond(200, &[("x-test", "yes")], "a success body")).await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let response: http::Response<hyper::body::Incoming> =
        service.oneshot(get(addr, "/")).await.expect("success");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-test"], "yes");
    assert_eq!(collect(response.into_body()).await, "a success body");
}

#[tokio::test]
async fn connect_failure_is_the_inner_service_error() {
    // Bind then drop: nothing listens on this port any more.
    let addr = crate::support::nowhere().await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let error = service.oneshot(get(addr, "/")).await.unwrap_err();
    let Error::Service(inner) = error else {
        panic!("expected Error::Service, got {error:?}")
    };
    assert!(inner
        .downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some());
}

#[tokio::test]
async fn pass_through_forwards_a_1_mib_error_body_byte_for_byte() {
    let body = crate::support::patterned(1024 * 1024, 251);
    let sent = body.clone();
    let addr = serve(move |_| crate::support::big_error(sent.clone())).await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client());
    let response = service
        .oneshot(get(addr, "/"))
        .await
        .expect("pass-through never fails on 5xx");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let error = response
        .extensions()
        .get::<ApiError>()
        .expect("error in extensions")
        .clone();
    assert_eq!(error.raw_body().len(), 64 * 1024);
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TooLarge { .. })
    ));
    assert_eq!(error.ids().request_id.as_deref(), Some("r-big"));
    let forwarded = collect(response.into_body()).await;
    assert_eq!(forwarded.len(), body.len());
    assert!(forwarded == body, "byte for byte");
}

#[tokio::test]
async fn pass_through_forwards_a_small_error_and_a_success() {
    let addr = serve(|request| match request.uri().path() {
        "/ok" => respond(200, &[], "fine"),
        _ => respond(409, &[], partner_center_body(800090, "Already exists.")),
    })
    .await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client());
    let ok = service.clone().oneshot(get(addr, "/ok")).await.unwrap();
    assert!(ok.extensions().get::<ApiError>().is_none());
    assert_eq!(collect(ok.into_body()).await, "fine");

    let conflict = service.oneshot(get(addr, "/conflict")).await.unwrap();
    let error = conflict.extensions().get::<ApiError>().unwrap().clone();
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert_eq!(error.code(), Some("800090"));
    assert_eq!(
        collect(conflict.into_body()).await,
        partner_center_body(800090, "Already exists.")
    );
}

#[tokio::test]
async fn pass_through_replays_a_mid_stream_failure_after_the_bytes() {
    let addr = crate::support::serve_raw(CUT_SHORT).await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client());
    let response = service.oneshot(get(addr, "/")).await.unwrap();
    assert!(response.extensions().get::<ApiError>().is_some());
    let mut body = response.into_body();
    use http_body_util::BodyExt;
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "{\"code\": 3000, \"descr");
    assert!(
        body.frame().await.unwrap().is_err(),
        "the failure follows the bytes"
    );
}

//! What the crate prints of hostile network text: every `Display`, `Debug` (plain and `{:#?}`),
//! serialised form and tracing event of the public types, fed a response or request that is
//! as hostile as HTTP lets it be. Each printed form must show no raw control, format or bidi
//! character, stay under a stated length, and still show the useful start of the value.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use partner_center_errors::gate::{GateClosed, ThrottleGateLayer};
use partner_center_errors::schema::Schema;
use partner_center_errors::{ApiError, BoxError, Error, PartnerErrorsLayer};
use tower::{service_fn, ServiceBuilder, ServiceExt};

/// The characters no printed form may carry raw: escape, carriage return, NUL, the C1 CSI, the
/// bidi overrides and isolates, a zero-width space.
const RAW: [char; 7] = [
    '\u{1b}', '\r', '\0', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200b}',
];

/// Hostile text as it may arrive in a body: an ANSI colour, a forged log line, NUL, a bidi
/// override; then `len` more characters.
fn hostile_text(len: usize) -> String {
    format!(
        "start\u{1b}[31m\r\nforged line\0\u{202e}\u{9b}2J\u{200b}{}",
        "x".repeat(len)
    )
}

/// Asserts that `printed` carries no raw hostile character, no line that a body forged, is
/// shorter than `max_bytes`, and shows `start`.
fn assert_safe(what: &str, printed: &str, max_bytes: usize, start: &str) {
    for raw in RAW {
        assert!(!printed.contains(raw), "{what}: raw {raw:?} in {printed:?}");
    }
    assert!(
        !printed.contains("\nforged"),
        "{what}: a forged line in {printed}"
    );
    assert!(
        printed.len() < max_bytes,
        "{what}: {} bytes, over {max_bytes}",
        printed.len()
    );
    assert!(printed.contains(start), "{what}: no {start:?} in {printed}");
}

/// A header value of `len` bytes: bidi and C1 characters as UTF-8, then bytes that are not
/// UTF-8 at all (HTTP forbids the C0 controls in header values, not these).
fn hostile_header(start: &str, len: usize) -> HeaderValue {
    let mut bytes = format!("{start}\u{202e}\u{9b}\u{2066}\u{200b}").into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bytes.resize(len, b'y');
    HeaderValue::from_bytes(&bytes).unwrap()
}

/// Hostile ids, content type and delay of 8 KiB each, and `challenges` hostile challenges.
fn hostile_headers(challenges: usize) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("ms-correlationid", hostile_header("corr", 8 * 1024));
    headers.insert("ms-requestid", hostile_header("req", 8 * 1024));
    headers.insert("ms-cv", hostile_header("cv", 8 * 1024));
    headers.insert("ms-serverid", hostile_header("srv", 8 * 1024));
    headers.insert("request-context", hostile_header("ctx", 8 * 1024));
    headers.insert("content-type", hostile_header("application/json", 8 * 1024));
    headers.insert("retry-after", hostile_header("7", 8 * 1024));
    let challenge = "Bearer realm=\"r\u{202e}\u{9b}\", error=\"invalid_token\", ";
    let challenges = format!("{}{}", challenge.repeat(challenges), "x".repeat(100));
    headers.insert(
        "www-authenticate",
        HeaderValue::from_bytes(challenges.as_bytes()).unwrap(),
    );
    headers
}

/// A Partner Center body with a 1 MiB description, hostile code and source, and `data` nested
/// 100 deep (50 arrays of objects; serde_json stops at 128) with hostile strings at every level.
fn hostile_partner_center_body() -> String {
    let description = hostile_text(1024 * 1024);
    let nested = format!(
        "{}{}{}",
        r#"[{"message":"deep\u001b[2J\u202e","k":"#.repeat(50),
        "0",
        "}]".repeat(50)
    );
    serde_json::json!({
        "code": hostile_text(10_000),
        "description": description,
        "source": hostile_text(10_000),
        "errorName": hostile_text(10_000),
    })
    .to_string()
    .replacen('}', &format!(r#","data":{nested}}}"#), 1)
}

fn hostile_graph_body() -> String {
    serde_json::json!({"error": {
        "code": hostile_text(10_000),
        "message": hostile_text(1024 * 1024),
        "target": hostile_text(10_000),
        "details": [{"code": hostile_text(10_000), "message": hostile_text(10_000)}],
        "innerError": {"request-id": hostile_text(10_000), "date": hostile_text(10_000)},
    }})
    .to_string()
}

fn hostile_problem_body() -> String {
    serde_json::json!({
        "type": hostile_text(10_000),
        "title": hostile_text(10_000),
        "status": 400,
        "detail": hostile_text(1024 * 1024),
        "instance": hostile_text(10_000),
        "traceId": hostile_text(10_000),
        "errors": {"field": [hostile_text(10_000)]},
    })
    .to_string()
}

fn hostile_errors() -> Vec<(&'static str, ApiError)> {
    let error = |schema, body: String| {
        ApiError::with_schema(
            schema,
            StatusCode::TOO_MANY_REQUESTS,
            hostile_headers(10_000),
            Bytes::from(body),
        )
    };
    vec![
        (
            "partner center",
            error(Schema::PartnerCenter, hostile_partner_center_body()),
        ),
        ("graph", error(Schema::Auto, hostile_graph_body())),
        ("problem", error(Schema::Auto, hostile_problem_body())),
        ("text", error(Schema::Auto, hostile_text(1024 * 1024))),
        (
            "gateway",
            error(
                Schema::Auto,
                serde_json::json!({"statusCode": 429, "message": hostile_text(1024 * 1024)})
                    .to_string(),
            ),
        ),
    ]
}

#[test]
fn every_printed_form_of_a_hostile_error_response_is_sanitised_and_bounded() {
    for (name, error) in hostile_errors() {
        assert!(
            name == "text" || error.description().is_some(),
            "{name}: {:?}",
            error.payload()
        );
        // Read everything lazily read, so that `Debug` shows it.
        assert!(!error.challenges().is_empty(), "{name}");
        assert_safe(name, &error.to_string(), 4 * 1024, "HTTP 429");
        assert_safe(name, &format!("{error:?}"), 32 * 1024, "corr");
        assert_safe(name, &format!("{error:#?}"), 48 * 1024, "corr");
        assert_safe(name, &format!("{:?}", error.view()), 32 * 1024, "corr");
        assert_safe(name, &format!("{:?}", error.ids()), 4 * 1024, "corr");
        assert_safe(name, &format!("{:#?}", error.ids()), 4 * 1024, "corr");
        let challenges = format!("{:?}", error.challenges());
        assert_safe(name, &challenges, 16 * 1024, "Bearer");
        assert_safe(name, &format!("{:?}", error.payload()), 16 * 1024, "start");
        assert_safe(name, &format!("{:#?}", error.payload()), 24 * 1024, "start");
        let details = format!("{:?}", error.view().details());
        assert_safe(name, &details, 16 * 1024, "[");
        for violation in error.violations() {
            assert_safe(name, &violation.to_string(), 1024, "");
            assert_safe(name, &format!("{violation:?}"), 1024, "");
        }
        assert_safe(
            name,
            &format!("{:?}", error.retry_hint()),
            1024,
            "RetryHint",
        );
        for wrapped in [Error::Api(error.clone()), Error::Schema(error.clone())] {
            assert_safe(name, &wrapped.to_string(), 4 * 1024, "HTTP 429");
            assert_safe(name, &format!("{wrapped:?}"), 32 * 1024, "corr");
            assert_safe(name, &format!("{wrapped:#?}"), 48 * 1024, "corr");
        }
        #[cfg(feature = "serde")]
        {
            let json = serde_json::to_string(&error).unwrap();
            assert_safe(name, &json, 8 * 1024, "\"status\":429");
        }
    }
}

/// A body stream that fails with an error whose text came from the network: the error that
/// holds it prints it sanitised and bounded, in `Display` and in `Debug`.
#[tokio::test]
async fn a_body_error_with_hostile_text_prints_sanitised_and_bounded() {
    #[cfg(feature = "tracing")]
    let (recorder, _guard) = crate::support::events::Recorder::install();
    let service = service_fn(|_: Request<Full<Bytes>>| async {
        let body = FailingBody {
            frame: Some(Bytes::from_static(b"{\"code\":")),
            failure: Some(hostile_text(1024 * 1024).into()),
        };
        let response = Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(body)
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(service);
    let error = service
        .oneshot(Request::new(Full::default()))
        .await
        .unwrap_err();
    let api = error.api_error().expect("an error response");
    let incomplete = api.incomplete().expect("the body failed");
    assert_safe("incomplete", &incomplete.to_string(), 4 * 1024, "start");
    assert_safe("incomplete", &format!("{incomplete:?}"), 4 * 1024, "start");
    assert_safe("incomplete", &format!("{incomplete:#?}"), 4 * 1024, "start");
    let source = std::error::Error::source(api).expect("the stream's error");
    assert_safe("source", &source.to_string(), 4 * 1024, "start");
    assert_safe("source", &format!("{source:?}"), 4 * 1024, "start");
    assert_safe("error", &format!("{error:?}"), 8 * 1024, "start");
    assert_safe("error", &format!("{error:#?}"), 8 * 1024, "start");
    assert_safe("api", &format!("{api:?}"), 8 * 1024, "start");
    #[cfg(feature = "tracing")]
    {
        let events = recorder.events_of("partner_center_errors");
        let incomplete = events
            .iter()
            .find_map(|event| event.field("incomplete"))
            .expect("the error event says why the body is incomplete");
        assert_safe("incomplete field", incomplete, 1024, "body failed: start");
        for event in &events {
            for value in event.fields.values() {
                assert_safe("event field", value, 1024, "");
            }
        }
    }
}

/// A body that sends one data frame, then fails with `failure`.
#[derive(Debug)]
struct FailingBody {
    frame: Option<Bytes>,
    failure: Option<BoxError>,
}

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let next = match self.frame.take() {
            Some(data) => Some(Ok(http_body::Frame::data(data))),
            None => self.failure.take().map(Err),
        };
        std::task::Poll::Ready(next)
    }
}

/// A scope computed from the request (here: 1 MiB of a hostile header) prints sanitised and
/// bounded in the refusal and in the gate's `Debug`.
#[tokio::test]
async fn a_hostile_scope_prints_sanitised_and_bounded() {
    let upstream = service_fn(|_: Request<Full<Bytes>>| async {
        let throttled = Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", "600")
            .body(Full::<Bytes>::default())
            .unwrap();
        Ok::<_, Infallible>(throttled)
    });
    let gate = ThrottleGateLayer::new()
        .max_wait(Duration::from_secs(1))
        .scope_by(|_: &Request<Full<Bytes>>| format!("tenant{}", hostile_text(1024 * 1024)));
    let service = ServiceBuilder::new()
        .layer(gate.clone())
        .layer(PartnerErrorsLayer::new())
        .service(upstream);
    let request = || Request::new(Full::default());
    let _throttled = service.clone().oneshot(request()).await.unwrap_err();
    let refused = service.clone().oneshot(request()).await.unwrap_err();
    let closed = GateClosed::find(&refused).expect("refused by the gate");
    assert_safe("closed", &closed.to_string(), 1024, "tenantstart");
    assert_safe("closed", &format!("{closed:?}"), 1024, "tenantstart");
    assert_safe("closed", &format!("{closed:#?}"), 1024, "tenantstart");
    assert_safe("refused", &refused.to_string(), 1024, "tenantstart");
    assert_safe("refused", &format!("{refused:#?}"), 1024, "tenantstart");
    assert_safe("layer", &format!("{gate:#?}"), 4 * 1024, "LocalStore");
    assert_safe(
        "service",
        &format!("{:?}", gate.store()),
        1024,
        "LocalStore",
    );
}

/// Every field of every event the crate emits for a hostile response: the error response, its
/// description, the retry, the give-up, and the gate's closing and opening.
#[cfg(feature = "tracing")]
#[tokio::test(start_paused = true)]
async fn every_event_field_of_a_hostile_exchange_is_sanitised_and_bounded() {
    use partner_center_errors::RetryAfterPolicy;
    let (recorder, _guard) = crate::support::events::Recorder::install();
    let body = hostile_partner_center_body();
    let upstream = service_fn(move |_: Request<Full<Bytes>>| {
        let body = body.clone();
        async move {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            *response.headers_mut() = hostile_headers(10_000);
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            Ok::<_, Infallible>(response)
        }
    });
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().max_retries(1))
        .layer(
            ThrottleGateLayer::new()
                .scope_by(|_: &Request<Full<Bytes>>| format!("tenant{}", hostile_text(1 << 20))),
        )
        .layer(
            PartnerErrorsLayer::new()
                .max_body_bytes(4 << 20)
                .client_error_level(tracing::Level::INFO),
        )
        .service(upstream);
    let result = service.oneshot(Request::new(Full::default())).await;
    assert!(matches!(result, Err(Error::GaveUp(_))), "{result:?}");
    let events = recorder.events();
    let messages: Vec<_> = events
        .iter()
        .filter_map(|event| event.field("message"))
        .collect();
    for expected in [
        "partner center error response",
        "partner center error description",
        "partner center retry",
        "partner center retries gave up",
        "throttle gate closed",
    ] {
        assert!(messages.contains(&expected), "{expected}: {messages:?}");
    }
    for event in &events {
        for (field, value) in &event.fields {
            let what = format!("{:?} {field}", event.field("message"));
            assert_safe(&what, value, 1024, "");
            if field.ends_with("_id") || field == "correlation_vector" {
                let starts = ["corr", "req", "cv", "srv"];
                assert!(starts.iter().any(|s| value.starts_with(s)), "{what}");
            }
            if ["code", "description", "scope"].contains(&field.as_str()) {
                assert!(value.contains("start"), "{what}: {value}");
            }
        }
    }
}

/// The handler's own message may quote the request it could not read (serde's "unknown variant
/// `...`" quotes it): the response's `Debug` shows it as the response body does, sanitised and
/// bounded.
#[cfg(feature = "axum")]
#[test]
fn an_axum_error_response_prints_sanitised_and_bounded() {
    use partner_center_errors::axum::ErrorResponse;
    let local = ErrorResponse::local(StatusCode::BAD_REQUEST, hostile_text(1024 * 1024));
    assert_safe("local", &format!("{local:?}"), 8 * 1024, "start");
    assert_safe("local", &format!("{local:#?}"), 8 * 1024, "start");
    for (name, error) in hostile_errors() {
        let relayed = ErrorResponse::new(error).expose_upstream(true);
        assert_safe(name, &format!("{relayed:?}"), 32 * 1024, "corr");
        assert_safe(name, &format!("{relayed:#?}"), 48 * 1024, "corr");
    }
}

/// The reqwest-middleware integration, over loopback HTTP: the error it returns prints the
/// hostile response sanitised and bounded, as anyhow's `{:#}` and `{:?}` print it too.
#[cfg(feature = "reqwest")]
#[tokio::test]
async fn a_reqwest_middleware_error_prints_sanitised_and_bounded() {
    use partner_center_errors::reqwest::{api_error, PartnerErrorsMiddleware};
    let body = hostile_partner_center_body();
    let addr = crate::support::serve(move |_| {
        let mut response = crate::support::respond(429, &[], body.clone());
        // As many challenges as hyper's client reads in one head.
        *response.headers_mut() = hostile_headers(1_000);
        response
    })
    .await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(PartnerErrorsMiddleware::new(
            PartnerErrorsLayer::new().max_body_bytes(4 << 20),
        ))
        .build();
    let error = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    let api = api_error(&error).expect("the structured error");
    assert!(api
        .description()
        .is_some_and(|text| text.starts_with("start")));
    // anyhow's `Debug` ends with a backtrace when `RUST_BACKTRACE` asks for one: the
    // program's, not the network's.
    let without_backtrace = |debug: String| {
        let end = debug.find("Stack backtrace:").unwrap_or(debug.len());
        debug[..end].to_owned()
    };
    assert_safe("display", &error.to_string(), 4 * 1024, "HTTP 429");
    let debug = without_backtrace(format!("{error:?}"));
    assert_safe("debug", &debug, 32 * 1024, "429");
    let pretty = without_backtrace(format!("{error:#?}"));
    assert_safe("pretty", &pretty, 48 * 1024, "429");
    if let reqwest_middleware::Error::Middleware(inner) = &error {
        assert_safe("anyhow", &format!("{inner:#}"), 4 * 1024, "HTTP 429");
        let debug = without_backtrace(format!("{inner:?}"));
        assert_safe("anyhow", &debug, 4 * 1024, "HTTP 429");
    }
}

/// `text` made of `c` repeated to `bytes` bytes of UTF-8.
fn escaped_only(c: char, bytes: usize) -> String {
    c.to_string().repeat(bytes / c.len_utf8())
}

/// Asks the loopback server at `addr` through the layer, for its error.
async fn error_from(addr: std::net::SocketAddr) -> ApiError {
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(crate::support::client());
    match service.oneshot(crate::support::get(addr, "/")).await {
        Err(Error::Api(error)) => error,
        other => panic!("{other:?}"),
    }
}

/// Text made only of characters that are escaped (a tag character prints as 9 bytes for its
/// 4, a C1 control as 6 for its 2) must not multiply the printed length: an escape counts as
/// the characters it prints. Every text `Display` shows at its longest: the ids at their cap
/// of 256 bytes, a 300-character description and a 64-character code, a challenge's error.
#[tokio::test]
async fn escapes_count_toward_the_display_bound() {
    let tags = |bytes| escaped_only('\u{e0041}', bytes);
    let body = serde_json::json!({"code": tags(4096), "description": tags(8192)}).to_string();
    let addr = crate::support::serve(move |_| {
        let id = escaped_only('\u{9b}', 256);
        let challenge = format!("Bearer error=\"{}\"", tags(1024));
        let headers = [
            ("ms-correlationid", id.as_str()),
            ("ms-requestid", id.as_str()),
            ("ms-cv", id.as_str()),
            ("ms-serverid", id.as_str()),
            ("request-context", id.as_str()),
            ("www-authenticate", challenge.as_str()),
        ];
        crate::support::respond(401, &headers, body.clone())
    })
    .await;
    let error = error_from(addr).await;
    assert_safe("display", &error.to_string(), 4 * 1024, "HTTP 401");
    assert_safe(
        "schema",
        &Error::Schema(error).to_string(),
        4 * 1024,
        "HTTP 401",
    );
}

/// The same for `Debug`: a head of as many escaped characters as the challenge reader takes
/// (16 KiB), and a 4 KiB body of extra fields whose names and values are escaped characters,
/// print within the bounds the fuzz targets hold them to (16 KiB for any head, 8 KiB for any
/// body).
#[tokio::test]
async fn escapes_count_toward_the_debug_bound() {
    let c1 = |bytes| escaped_only('\u{9b}', bytes);
    let params: Vec<_> = (0..16).map(|i| format!("p{i:x}=\"{}\"", c1(120))).collect();
    let challenge = format!("Bearer {}", params.join(", "));
    let challenges = vec![challenge; 8].join(", ");
    assert!(challenges.len() <= 16 * 1024);
    let addr = crate::support::serve(move |_| {
        crate::support::respond(401, &[("www-authenticate", &challenges)], "")
    })
    .await;
    let error = error_from(addr).await;
    assert_eq!(error.challenges().len(), 8);
    assert_safe("head", &format!("{error:?}"), 16 * 1024, "Bearer");
    assert_safe(
        "head",
        &format!("{:?}", error.challenges()),
        16 * 1024,
        "Bearer",
    );

    let mut body = String::from(r#"{"code":"1","description":"d""#);
    for i in 0..8 {
        body.push_str(&format!(r#","{i}{}":"{}""#, c1(260), c1(260)));
    }
    body.push('}');
    assert!(body.len() <= 4500);
    let addr =
        crate::support::serve(move |_| crate::support::respond(400, &[], body.clone())).await;
    let error = error_from(addr).await;
    let extras = error.payload().error_body().map(|body| body.extra.len());
    assert_eq!(extras, Some(8));
    assert_safe("body", &format!("{error:?}"), 8 * 1024, "PartnerCenter");
    assert_safe(
        "body",
        &format!("{:?}", error.payload()),
        8 * 1024,
        "PartnerCenter",
    );
}

//! axum integration over real HTTP: an axum app on 127.0.0.1 that calls a Partner-Center-like
//! hyper upstream through the layer, and a client that calls the app.
#![cfg(feature = "axum")]

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::{client, collect, partner_center_body, respond, serve, NUMERIC_CODE};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get as get_route;
use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use partner_center_errors::axum::{ErrorResponse, DEFAULT_SOURCE};
use partner_center_errors::middleware::PassThrough;
use partner_center_errors::{
    Error, PartnerErrors, PartnerErrorsLayer, RetryAfterPolicy, ThrottleGateLayer,
};
use serde_json::{json, Value};
use tower::{ServiceBuilder, ServiceExt};

const INTERNAL: &str = "System.NullReferenceException at PartnerFD.Orders.Submit line 42";

/// The Partner-Center-like upstream: the status is the first path segment.
async fn upstream() -> SocketAddr {
    serve(|request| {
        let status: u16 = request
            .uri()
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap_or(200);
        let ids = [
            ("content-type", "application/json"),
            ("ms-correlationid", "corr-1"),
            ("ms-requestid", "req-1"),
            ("ms-serverid", "srv-internal-9"),
            ("ms-cv", "cv.1"),
        ];
        match status {
            200 => respond(200, &ids, r#"{"id":"c-1"}"#),
            // A description that is there but says nothing (the schema wants it non-empty).
            404 if request.uri().path().ends_with("/blank") => respond(
                404,
                &ids,
                r#"{"code":600074,"description":" ","data":[],"source":"PartnerFD"}"#,
            ),
            // `data` as an object, as a 2017 draft of the schema had it.
            500 if request.uri().path().ends_with("/object-data") => respond(
                500,
                &ids,
                r#"{"code":3000,"description":"Failed.","data":{"line":42},"source":"PartnerFD"}"#,
            ),
            400 | 404 | 409 => respond(
                status,
                &ids,
                partner_center_body(600074, &format!("Status {status}: no such customer.")),
            ),
            // A delay no one should be told to wait (and the largest `Retry-After` a u64 holds).
            429 if request.uri().path().ends_with("/forever") => respond(
                429,
                &[("retry-after", "18446744073709551615")],
                "",
            ),
            405 => respond(
                405,
                &[("allow", "GET, HEAD"), ("content-type", "application/json")],
                partner_center_body(600001, "The method is not allowed on customers."),
            ),
            429 => respond(
                429,
                &[("retry-after", "57")],
                r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}"#,
            ),
            503 => respond(503, &[("retry-after-ms", "1500")], ""),
            _ => {
                let body = json!({"code": 3000, "description": INTERNAL, "data": [INTERNAL], "source": "PartnerFD"});
                respond(status, &ids, body.to_string())
            }
        }
    })
    .await
}

#[derive(Clone)]
struct Upstream {
    addr: SocketAddr,
    client: PartnerErrors<Client<HttpConnector, http_body_util::Full<Bytes>>>,
    proxy: PartnerErrors<Client<HttpConnector, axum::body::Body>, PassThrough>,
    gate: ThrottleGateLayer,
    #[cfg(feature = "reqwest")]
    reqwest: reqwest_middleware::ClientWithMiddleware,
}

/// Calls the upstream in the default mode: an error response is `Err(Error)`, which axum turns
/// into a response through `IntoResponse`.
async fn customer(State(up): State<Upstream>, Path(path): Path<String>) -> Result<String, Error> {
    let response = up
        .client
        .oneshot(crate::support::get(up.addr, &format!("/{path}")))
        .await?;
    Ok(String::from_utf8_lossy(&collect(response.into_body()).await).into_owned())
}

/// The same, with the upstream's details exposed.
async fn customer_exposed(State(up): State<Upstream>, Path(path): Path<String>) -> Response {
    match up
        .client
        .oneshot(crate::support::get(up.addr, &format!("/{path}")))
        .await
    {
        Ok(_) => StatusCode::OK.into_response(),
        Err(error) => ErrorResponse::new(error)
            .expose_upstream(true)
            .source("TestApp")
            .into_response(),
    }
}

/// Forwards the request as it is, through the layer in pass-through mode.
async fn proxy(State(up): State<Upstream>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("http://{}{}", up.addr, path.trim_start_matches("/proxy"))
        .parse()
        .unwrap();
    parts.headers.remove(http::header::HOST);
    match up.proxy.oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(error) => Error::Service(error.into()).into_response(),
    }
}

/// Calls the upstream through the retry policy, which waits at most 10 s: a longer delay gives up
/// at once with `Error::GaveUp`.
async fn retried(State(up): State<Upstream>, Path(path): Path<String>) -> Result<String, Error> {
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().max_wait(Duration::from_secs(10)))
        .service(up.client);
    service
        .oneshot(crate::support::get(up.addr, &format!("/{path}")))
        .await?;
    Ok("done".to_owned())
}

/// Mixes its own failures with upstream errors in one return type: an id that is not digits is
/// the caller's mistake (400), found before any call; the upstream's errors go through `?`.
async fn mixed(
    State(up): State<Upstream>,
    Path(id): Path<String>,
) -> Result<String, ErrorResponse> {
    if !id.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ErrorResponse::local(
            StatusCode::BAD_REQUEST,
            format!("customer id {id:?} must be digits"),
        ));
    }
    let response = up
        .client
        .oneshot(crate::support::get(up.addr, &format!("/{id}")))
        .await?;
    Ok(String::from_utf8_lossy(&collect(response.into_body()).await).into_owned())
}

/// Calls the upstream through a throttle gate that waits at most 10 s: after a 429 with
/// `Retry-After: 57`, the next call is refused without being sent.
async fn gated(State(up): State<Upstream>, Path(path): Path<String>) -> Result<String, Error> {
    let service = ServiceBuilder::new().layer(up.gate).service(up.client);
    service
        .oneshot(crate::support::get(up.addr, &format!("/{path}")))
        .await?;
    Ok("done".to_owned())
}

/// Calls the upstream through a stack whose error type is a `BoxError` (tower's `timeout`
/// outside the retry, as the retry policy's docs advise) and answers its failure as the
/// `axum_proxy` example answers a boxed one: `Error::Service` around it.
async fn boxed(State(up): State<Upstream>, Path(path): Path<String>) -> Response {
    let service = ServiceBuilder::new()
        .timeout(Duration::from_secs(30))
        .retry(RetryAfterPolicy::new().max_wait(Duration::from_secs(10)))
        .layer(up.gate)
        .service(up.client);
    match service
        .oneshot(crate::support::get(up.addr, &format!("/{path}")))
        .await
    {
        Ok(_) => "done".into_response(),
        Err(error) => Error::Service(error).into_response(),
    }
}

/// Answers in the schema the caller's `Accept` asks for.
async fn negotiated(
    State(up): State<Upstream>,
    Path(path): Path<String>,
    headers: http::HeaderMap,
) -> Result<String, ErrorResponse> {
    let response = up
        .client
        .oneshot(crate::support::get(up.addr, &format!("/{path}")))
        .await
        .map_err(|error| ErrorResponse::new(error).negotiate(&headers))?;
    Ok(String::from_utf8_lossy(&collect(response.into_body()).await).into_owned())
}

/// Calls the upstream through reqwest-middleware (a throttle gate that waits at most 10 s, then
/// the error middleware) and lets `?` turn reqwest-middleware's error into the response.
#[cfg(feature = "reqwest")]
async fn via_reqwest(
    State(up): State<Upstream>,
    Path(path): Path<String>,
) -> Result<String, ErrorResponse> {
    let response = up
        .reqwest
        .get(format!("http://{}/{path}", up.addr))
        .send()
        .await?;
    let text = response.text().await.map_err(|error| {
        ErrorResponse::local(StatusCode::BAD_GATEWAY, error.without_url().to_string())
    })?;
    Ok(text)
}

async fn app(upstream: SocketAddr) -> SocketAddr {
    let state = Upstream {
        addr: upstream,
        client: ServiceBuilder::new()
            .layer(PartnerErrorsLayer::new())
            .service(client()),
        proxy: ServiceBuilder::new()
            .layer(PartnerErrorsLayer::new().pass_through())
            .service(client()),
        gate: ThrottleGateLayer::new().max_wait(Duration::from_secs(10)),
        #[cfg(feature = "reqwest")]
        reqwest: {
            use partner_center_errors::reqwest::{PartnerErrorsMiddleware, ThrottleGateMiddleware};
            let gate = ThrottleGateLayer::new().max_wait(Duration::from_secs(10));
            reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                .with(ThrottleGateMiddleware::new(gate))
                .with(PartnerErrorsMiddleware::new(PartnerErrorsLayer::new()))
                .build()
        },
    };
    let router = Router::new()
        .route("/customers/{*path}", get_route(customer))
        .route("/exposed/{*path}", get_route(customer_exposed))
        .route("/proxy/{*path}", get_route(proxy).post(proxy))
        .route("/retried/{*path}", get_route(retried))
        .route("/mixed/{id}", get_route(mixed))
        .route("/gated/{*path}", get_route(gated))
        .route("/boxed/{*path}", get_route(boxed))
        .route("/negotiated/{*path}", get_route(negotiated));
    #[cfg(feature = "reqwest")]
    let router = router.route("/reqwest/{*path}", get_route(via_reqwest));
    let router = router.with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Calls the app; returns the status, headers and body.
async fn call(app: SocketAddr, path: &str) -> (StatusCode, http::HeaderMap, Bytes) {
    let response = client()
        .request(crate::support::get(app, path))
        .await
        .expect("the app answers");
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, collect(body).await)
}

fn json_of(body: &Bytes) -> Value {
    serde_json::from_slice(body).expect("a JSON body")
}

#[tokio::test]
async fn client_errors_keep_their_status_code_and_description() {
    let app = app(upstream().await).await;
    for status in [400u16, 404, 409] {
        let (sent, headers, body) = call(app, &format!("/customers/{status}/x")).await;
        assert_eq!(sent.as_u16(), status);
        assert_eq!(headers["content-type"], "application/json; charset=utf-8");
        assert_eq!(headers["ms-correlationid"], "corr-1");
        assert_eq!(headers["ms-requestid"], "req-1");
        assert!(
            headers.get("ms-serverid").is_none(),
            "upstream internals stay inside"
        );
        assert!(headers.get("ms-cv").is_none());
        assert_eq!(
            json_of(&body),
            json!({
                "code": "600074",
                "description": format!("Status {status}: no such customer."),
                "data": [],
                "source": DEFAULT_SOURCE,
            })
        );
    }
}

#[tokio::test]
async fn server_and_auth_errors_become_gateway_errors_without_internals() {
    let app = app(upstream().await).await;
    for (upstream_status, sent_status, description) in [
        (500u16, 502u16, "The upstream service failed."),
        (501, 502, "The upstream service failed."),
        (502, 502, "The upstream service failed."),
        (
            401,
            502,
            "The upstream service refused this service's credentials.",
        ),
        (
            403,
            502,
            "The upstream service refused this service's credentials.",
        ),
        (504, 504, "The upstream service did not answer in time."),
        (408, 504, "The upstream service did not answer in time."),
    ] {
        let (sent, _, body) = call(app, &format!("/customers/{upstream_status}")).await;
        assert_eq!(sent.as_u16(), sent_status, "upstream {upstream_status}");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("NullReference"), "{text}");
        assert!(!text.contains("PartnerFD"), "{text}");
        let json = json_of(&body);
        assert_eq!(json["description"], description);
        // The upstream code is hidden with its description: the code is the status sent.
        assert_eq!(json["code"], sent_status.to_string());
        assert_eq!(json["data"], json!([]));
        assert_eq!(json["source"], DEFAULT_SOURCE);
    }
}

#[tokio::test]
async fn a_relayed_delay_is_at_most_a_day_as_the_gate_waits() {
    let app = app(upstream().await).await;
    let (sent, headers, _) = call(app, "/customers/429/forever").await;
    assert_eq!(sent, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        headers["retry-after"].to_str().unwrap(),
        partner_center_errors::gate::MAX_WINDOW
            .as_secs()
            .to_string()
    );
}

#[tokio::test]
async fn a_relayed_405_says_which_methods_are_allowed() {
    // RFC 9110: a 405 carries `Allow`; the upstream's list is the one that holds.
    let app = app(upstream().await).await;
    let (sent, headers, _) = call(app, "/customers/405").await;
    assert_eq!(sent, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, HEAD");
}

#[tokio::test]
async fn throttling_keeps_its_status_and_the_retry_delay() {
    let app = app(upstream().await).await;
    let (sent, headers, body) = call(app, "/customers/429").await;
    assert_eq!(sent, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "57");
    let json = json_of(&body);
    assert_eq!(json["code"], "429", "no upstream code: the status");
    assert_eq!(
        json["description"],
        "Rate limit is exceeded. Try again in 57 seconds."
    );

    let (sent, headers, body) = call(app, "/customers/503").await;
    assert_eq!(sent, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        headers["retry-after"], "2",
        "1500 ms rounded up to whole seconds"
    );
    assert_eq!(
        json_of(&body)["description"],
        "The upstream service is unavailable; retry later."
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway() {
    let nowhere = crate::support::nowhere().await;
    let app = app(nowhere).await;
    let (sent, _, body) = call(app, "/customers/404").await;
    assert_eq!(sent, StatusCode::BAD_GATEWAY);
    let json = json_of(&body);
    assert_eq!(json["code"], "502");
    assert_eq!(
        json["description"],
        "The upstream service could not be reached."
    );
}

#[tokio::test]
async fn exposing_the_upstream_is_opt_in_and_complete() {
    let app = app(upstream().await).await;
    let (sent, _, body) = call(app, "/exposed/500").await;
    assert_eq!(sent, StatusCode::BAD_GATEWAY, "same status");
    let json = json_of(&body);
    assert_eq!(json["description"], INTERNAL);
    assert_eq!(json["data"], json!([INTERNAL]));
    assert_eq!(json["source"], "PartnerFD");
    let upstream = &json["upstream"];
    assert_eq!(upstream["status"], 500);
    assert_eq!(upstream["ids"]["server_id"], "srv-internal-9");
    assert_eq!(upstream["ids"]["correlation_vector"], "cv.1");
    let numeric_code = NUMERIC_CODE;
    assert_eq!(upstream["violations"], json!([numeric_code.to_string()]));
    let raw: Value = serde_json::from_str(upstream["body"].as_str().unwrap()).unwrap();
    assert_eq!(raw["description"], INTERNAL);

    // The source setting applies when the upstream named none.
    let (_, _, body) = call(app, "/exposed/429").await;
    assert_eq!(json_of(&body)["source"], "TestApp");
}

#[tokio::test]
async fn the_pass_through_proxy_relays_errors_byte_for_byte() {
    let up = upstream().await;
    let app = app(up).await;
    for path in ["/409/x", "/500", "/200"] {
        let direct = call(up, path).await;
        let proxied = call(app, &format!("/proxy{path}")).await;
        assert_eq!(proxied.0, direct.0, "{path}");
        assert_eq!(proxied.2, direct.2, "{path}: same bytes");
        for name in [
            "content-type",
            "ms-correlationid",
            "ms-serverid",
            "content-length",
        ] {
            assert_eq!(proxied.1.get(name), direct.1.get(name), "{path}: {name}");
        }
    }
}

#[tokio::test]
async fn the_pass_through_proxy_streams_an_error_body_past_the_cap() {
    let body = crate::support::patterned(2 * 1024 * 1024, 249);
    let sent = body.clone();
    let up =
        serve(move |_| crate::support::streamed(StatusCode::BAD_GATEWAY, sent.clone(), 16 * 1024))
            .await;
    let app = app(up).await;
    let response = client()
        .request(crate::support::get(app, "/proxy/big"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let forwarded = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(forwarded.len(), body.len());
    assert!(forwarded == body, "byte for byte");
}

#[tokio::test]
async fn a_retry_policy_that_gave_up_answers_with_its_last_error() {
    let app = app(upstream().await).await;
    // Retry-After: 57 is over the policy's 10 s: it gives up at once, and the caller is told to
    // come back when the upstream said.
    let (sent, headers, body) = call(app, "/retried/429").await;
    assert_eq!(sent, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "57");
    assert_eq!(
        json_of(&body)["description"],
        "Rate limit is exceeded. Try again in 57 seconds."
    );
}

#[tokio::test]
async fn a_handler_answers_its_own_failures_with_their_own_status() {
    let app = app(upstream().await).await;
    let (sent, _, body) = call(app, "/mixed/not-an-id").await;
    assert_eq!(
        sent,
        StatusCode::BAD_REQUEST,
        "the caller's mistake, not a 502"
    );
    let json = json_of(&body);
    assert_eq!(json["code"], "400");
    assert_eq!(
        json["description"],
        "customer id \"not-an-id\" must be digits"
    );
    assert_eq!(json["source"], DEFAULT_SOURCE);
    // The same handler relays the upstream's errors as before.
    let (sent, headers, body) = call(app, "/mixed/404").await;
    assert_eq!(sent, StatusCode::NOT_FOUND);
    assert_eq!(headers["ms-correlationid"], "corr-1");
    assert_eq!(json_of(&body)["code"], "600074");
    let (sent, _, _) = call(app, "/mixed/500").await;
    assert_eq!(sent, StatusCode::BAD_GATEWAY);
    let (sent, _, body) = call(app, "/mixed/200").await;
    assert_eq!(sent, StatusCode::OK);
    assert_eq!(body, Bytes::from_static(br#"{"id":"c-1"}"#));
}

#[tokio::test]
async fn a_refusal_of_the_throttle_gate_is_a_503_with_retry_after() {
    let app = app(upstream().await).await;
    let (sent, _, _) = call(app, "/gated/429").await;
    assert_eq!(sent, StatusCode::TOO_MANY_REQUESTS);
    // 57 s is over the gate's 10 s: refused at once, not sent, and not "upstream failed".
    let (sent, headers, body) = call(app, "/gated/200").await;
    assert_eq!(sent, StatusCode::SERVICE_UNAVAILABLE);
    let seconds: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((50..=57).contains(&seconds), "{seconds}");
    let json = json_of(&body);
    assert_eq!(json["code"], "503");
    assert_eq!(
        json["description"],
        "The upstream service is throttled; retry later."
    );
}

/// The app's own answers are in Partner Center's schema, as the crate itself reads it: no
/// violation at all, whatever the upstream sent.
fn assert_in_the_schema(headers: &http::HeaderMap, body: &Bytes) {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let parsed = partner_center_errors::schema::parse(body, content_type);
    assert!(
        parsed.violations.is_empty(),
        "{:?} in {}",
        parsed.violations,
        String::from_utf8_lossy(body)
    );
}

#[tokio::test]
async fn a_blank_upstream_description_is_not_relayed_blank() {
    let app = app(upstream().await).await;
    let (sent, headers, body) = call(app, "/customers/404/blank").await;
    assert_eq!(sent, StatusCode::NOT_FOUND);
    assert_in_the_schema(&headers, &body);
    assert_eq!(json_of(&body)["description"], "Not Found");
}

/// A crate error boxed by a layer outside the stack (`tower::timeout`) and answered as
/// `Error::Service` keeps what it says: the upstream's client error, the throttled answer the
/// policy gave up on, and the gate's refusal.
#[tokio::test]
async fn a_boxed_crate_error_answers_as_itself() {
    let app = app(upstream().await).await;
    let (sent, headers, body) = call(app, "/boxed/404/x").await;
    assert_eq!(sent, StatusCode::NOT_FOUND);
    assert_eq!(headers["ms-correlationid"], "corr-1");
    assert_eq!(
        json_of(&body)["description"],
        "Status 404: no such customer."
    );

    let (sent, headers, body) = call(app, "/boxed/429").await;
    assert_eq!(sent, StatusCode::TOO_MANY_REQUESTS, "{body:?}");
    assert_eq!(headers["retry-after"], "57");

    // The 429 closed the gate for 57 s, over its 10 s: the next call is refused unsent.
    let (sent, headers, body) = call(app, "/boxed/200").await;
    assert_eq!(sent, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
    let seconds: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((50..=57).contains(&seconds), "{seconds}");
    assert_in_the_schema(&headers, &body);
}

/// The layer on an axum `Router` itself, in pass-through mode: the router's own error
/// responses go out untouched, and the structured error is in their extensions for a layer
/// outside it (here, one that copies its code into a header).
#[tokio::test]
async fn the_layer_in_pass_through_mode_wraps_an_axum_router() {
    let router = Router::new()
        .route(
            "/missing",
            get_route(|| async {
                (
                    StatusCode::NOT_FOUND,
                    [("content-type", "application/json")],
                    partner_center_body(600074, "No such customer."),
                )
            }),
        )
        .layer(PartnerErrorsLayer::new().pass_through())
        .layer(axum::middleware::map_response(
            |mut response: Response| async move {
                let code = response
                    .extensions()
                    .get::<partner_center_errors::ApiError>()
                    .and_then(|error| error.code().map(str::to_owned));
                if let Some(code) = code {
                    response
                        .headers_mut()
                        .insert("x-seen-code", code.parse().unwrap());
                }
                response
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (sent, headers, body) = call(addr, "/missing").await;
    assert_eq!(sent, StatusCode::NOT_FOUND);
    assert_eq!(headers["x-seen-code"], "600074");
    assert_eq!(body, partner_center_body(600074, "No such customer."));
}

/// Exposed, the answer is still in the schema: `data` is sent on only when it is the array the
/// schema wants; any other shape stays in the raw body of the `upstream` object.
#[tokio::test]
async fn an_exposed_answer_keeps_the_schema_whatever_the_upstream_data() {
    let app = app(upstream().await).await;
    let (_, headers, body) = call(app, "/exposed/500").await;
    assert_in_the_schema(&headers, &body);
    assert_eq!(
        json_of(&body)["data"],
        json!([INTERNAL]),
        "an array goes on"
    );
    let (_, headers, body) = call(app, "/exposed/500/object-data").await;
    assert_in_the_schema(&headers, &body);
    let json = json_of(&body);
    assert_eq!(json["data"], json!([]));
    let raw: Value = serde_json::from_str(json["upstream"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(raw["data"], json!({"line": 42}), "kept in the raw body");
}

/// Calls the app with `method`; returns the status, headers and body.
async fn call_with(
    app: SocketAddr,
    method: http::Method,
    path: &str,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{app}{path}"))
        .body(http_body_util::Full::<Bytes>::default())
        .unwrap();
    let response = client().request(request).await.expect("the app answers");
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, collect(body).await)
}

/// Pass-through relays what the layer did not read in full as the upstream sent it: a
/// `Content-Length` over the cap (refused before any read), a gzip body (read compressed, as no
/// decompression sits inside), and the head of a `HEAD`.
#[tokio::test]
async fn the_pass_through_proxy_relays_refused_compressed_and_head_answers_as_they_are() {
    use std::io::Write;
    let large = crate::support::patterned(70_000, 251);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(partner_center_body(3000, "Failed.").as_bytes())
        .unwrap();
    let gzipped = Bytes::from(encoder.finish().unwrap());
    let (large_body, gzip_body) = (large.clone(), gzipped.clone());
    let up = serve(move |request| match request.uri().path() {
        "/large" => respond(500, &[("ms-requestid", "r-large")], large_body.clone()),
        "/gzip" => respond(
            500,
            &[
                ("content-encoding", "gzip"),
                ("content-type", "application/json"),
            ],
            gzip_body.clone(),
        ),
        _ => respond(404, &[("content-type", "application/json")], "{}"),
    })
    .await;
    let app = app(up).await;
    for (method, path) in [
        (http::Method::GET, "/large"),
        (http::Method::GET, "/gzip"),
        (http::Method::HEAD, "/large"),
        (http::Method::HEAD, "/missing"),
    ] {
        let direct = call_with(up, method.clone(), path).await;
        let proxied = call_with(app, method.clone(), &format!("/proxy{path}")).await;
        assert_eq!(proxied.0, direct.0, "{method} {path}");
        assert!(proxied.2 == direct.2, "{method} {path}: same bytes");
        for name in [
            "content-length",
            "content-encoding",
            "content-type",
            "ms-requestid",
        ] {
            assert_eq!(
                proxied.1.get(name),
                direct.1.get(name),
                "{method} {path}: {name}"
            );
        }
    }
    assert!(call_with(app, http::Method::GET, "/proxy/large").await.2 == large);
    assert!(call_with(app, http::Method::GET, "/proxy/gzip").await.2 == gzipped);
}

/// An error body with a `Content-Length` that stalls past the layer's read deadline: the layer
/// stops reading (its error says so), and the caller still gets every byte, as sent.
#[tokio::test(start_paused = true)]
async fn the_pass_through_proxy_relays_a_body_that_outlived_the_deadline() {
    use crate::support::{serve_script, Step};
    let body = br#"{"code":3000,"description":"Busy.","data":[],"source":"PartnerFD"}"#;
    let (first, rest) = body.split_at(13);
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let (up, _log) = serve_script(vec![
        Step::Write(Bytes::from(head)),
        Step::Write(Bytes::from_static(first)),
        Step::Wait(Duration::from_secs(15)),
        Step::Write(Bytes::from_static(rest)),
    ])
    .await;
    // The layer alone: it stopped reading at its deadline, and says so.
    let response = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client())
        .oneshot(crate::support::get(up, "/busy"))
        .await
        .unwrap();
    let error = response
        .extensions()
        .get::<partner_center_errors::ApiError>();
    assert!(
        matches!(
            error.and_then(|error| error.incomplete()),
            Some(partner_center_errors::Incomplete::TimedOut { .. })
        ),
        "{error:?}"
    );
    assert_eq!(
        collect(response.into_body()).await.as_ref(),
        body.as_slice()
    );

    // Through the proxy: the caller gets every byte, with the upstream's length.
    let app = app(up).await;
    let (sent, headers, relayed) = tokio::time::timeout(
        Duration::from_secs(60),
        call_with(app, http::Method::GET, "/proxy/busy"),
    )
    .await
    .expect("relayed within a minute");
    assert_eq!(sent, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["content-length"], body.len().to_string().as_str());
    assert_eq!(relayed.as_ref(), body.as_slice());
}

/// A negotiated answer says that it depends on `Accept`: a 404 may be stored by a shared cache
/// (RFC 9111 lets it), which must not hand problem details to a caller that asked for JSON.
#[tokio::test]
async fn a_negotiated_answer_varies_by_accept() {
    let app = app(upstream().await).await;
    for accept in ["application/problem+json", "application/json"] {
        let request = http::Request::get(format!("http://{app}/negotiated/404/x"))
            .header(http::header::ACCEPT, accept)
            .body(http_body_util::Full::<Bytes>::default())
            .unwrap();
        let response = client().request(request).await.expect("the app answers");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{accept}");
        let vary: Vec<_> = response
            .headers()
            .get_all(http::header::VARY)
            .iter()
            .collect();
        assert_eq!(vary, ["accept"], "{accept}");
    }
    // Not negotiated: nothing varies.
    let (_, headers, _) = call(app, "/customers/404/x").await;
    assert!(headers.get(http::header::VARY).is_none());
}

/// A handler calling through reqwest-middleware answers with `?` as one calling through the
/// tower stack does: the upstream's client error with its status and description, its
/// throttling with the delay, the gate's refusal as a 503 with `Retry-After`, and a failure
/// with no answer as a 502.
#[cfg(feature = "reqwest")]
#[tokio::test]
async fn a_handler_calling_through_reqwest_middleware_answers_with_the_question_mark() {
    let app = app(upstream().await).await;
    let (sent, _, body) = call(app, "/reqwest/200").await;
    assert_eq!(
        (sent, body),
        (StatusCode::OK, Bytes::from_static(br#"{"id":"c-1"}"#))
    );

    let (sent, headers, body) = call(app, "/reqwest/404/x").await;
    assert_eq!(sent, StatusCode::NOT_FOUND);
    assert_eq!(headers["ms-correlationid"], "corr-1");
    assert_eq!(
        json_of(&body)["description"],
        "Status 404: no such customer."
    );
    assert_in_the_schema(&headers, &body);

    let (sent, headers, _) = call(app, "/reqwest/429").await;
    assert_eq!(sent, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "57");
    let (sent, headers, body) = call(app, "/reqwest/200").await;
    assert_eq!(sent, StatusCode::SERVICE_UNAVAILABLE, "refused by the gate");
    let seconds: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((50..=57).contains(&seconds), "{seconds}");
    assert_eq!(
        json_of(&body)["description"],
        "The upstream service is throttled; retry later."
    );

    let unreachable = crate::support::nowhere().await;
    let app = self::app(unreachable).await;
    let (sent, _, body) = call(app, "/reqwest/404").await;
    assert_eq!(sent, StatusCode::BAD_GATEWAY);
    assert_eq!(
        json_of(&body)["description"],
        "The upstream service could not be reached."
    );
}

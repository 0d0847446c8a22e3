//! The reqwest-middleware integration over real HTTP: reqwest's client, the middleware, and a
//! hyper server on 127.0.0.1.
#![cfg(feature = "reqwest")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{partner_center_body, respond, serve, ServerBody};
use bytes::Bytes;
use http::StatusCode;
use partner_center_errors::reqwest::{
    api_error, partner_error, PartnerErrorsMiddleware, PartnerRetryableStrategy,
    RetryAfterMiddleware,
};
use partner_center_errors::schema::{Schema, Violation};
use partner_center_errors::{
    ApiError, Error, ErrorKind, Incomplete, PartnerErrorsLayer, RetryAfterPolicy,
};
use partner_center_errors::{GaveUp, GiveUpReason};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware};
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::RetryTransientMiddleware;
use tokio::time::Instant;

/// Sends a GET of `url` that must fail, and returns its error.
async fn failed(client: &ClientWithMiddleware, url: String) -> reqwest_middleware::Error {
    client.get(url).send().await.unwrap_err()
}

fn client_with(middleware: impl Middleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    method: http::Method,
    headers: http::HeaderMap,
}

/// A server that records every request and answers the n-th (from 0) with `answer(n)`.
async fn recording<F>(answer: F) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>)
where
    F: Fn(usize) -> http::Response<ServerBody> + Send + Sync + 'static,
{
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let addr = serve(move |request| {
        let mut log = log.lock().unwrap();
        log.push(Seen {
            at: Instant::now(),
            method: request.method().clone(),
            headers: request.headers().clone(),
        });
        answer(log.len() - 1)
    })
    .await;
    (addr, seen)
}

fn requests(seen: &Arc<Mutex<Vec<Seen>>>) -> Vec<Seen> {
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn error_response_becomes_the_crate_error_behind_middleware_error() {
    let addr = serve(|_| {
        respond(
            404,
            &[
                ("content-type", "application/json"),
                ("ms-correlationid", "corr-7"),
                ("ms-requestid", "req-7"),
            ],
            partner_center_body(600074, "No customer has this id."),
        )
    })
    .await;
    let client = client_with(PartnerErrorsMiddleware::default());
    let error = failed(&client, format!("http://{addr}/v1/customers/x")).await;
    assert!(error.is_middleware());
    let reqwest_middleware::Error::Middleware(inner) = &error else {
        panic!("{error:?}")
    };
    // The documented downcast, by hand, and through the helper.
    assert!(matches!(inner.downcast_ref::<Error>(), Some(Error::Api(_))));
    let api = api_error(&error).expect("structured error");
    assert_eq!(api.kind(), ErrorKind::NotFound);
    assert_eq!(api.code(), Some("600074"));
    assert_eq!(api.description(), Some("No customer has this id."));
    assert_eq!(api.ids().correlation_id.as_deref(), Some("corr-7"));
    assert_eq!(api.ids().request_id.as_deref(), Some("req-7"));
    assert_eq!(
        api.raw_body(),
        &Bytes::from(partner_center_body(600074, "No customer has this id."))
    );
    assert_eq!(error.to_string(), api.to_string(), "Display is the error's");
}

#[tokio::test]
async fn success_responses_pass_untouched() {
    let addr = serve(|_| respond(200, &[("x-test", "yes")], "a success body")).await;
    let client = client_with(PartnerErrorsMiddleware::default());
    let response = client
        .get(format!("http://{addr}/ok?page=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-test"], "yes");
    assert_eq!(response.url().as_str(), format!("http://{addr}/ok?page=2"));
    assert!(response.extensions().get::<ApiError>().is_none());
    assert_eq!(response.text().await.unwrap(), "a success body");
}

#[tokio::test]
async fn the_layers_cap_applies_to_declared_and_streamed_bodies() {
    let addr = serve(|request| {
        if request.uri().path() == "/declared" {
            return respond(500, &[("ms-requestid", "r-1")], vec![b'x'; 10_000]);
        }
        crate::support::streamed(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::support::stepped(),
            100,
        )
    })
    .await;
    let layer = PartnerErrorsLayer::new().max_body_bytes(1050);
    let client = client_with(PartnerErrorsMiddleware::new(layer));

    let error = failed(&client, format!("http://{addr}/declared")).await;
    let api = api_error(&error).unwrap();
    assert!(matches!(
        api.incomplete(),
        Some(Incomplete::TooLarge {
            limit: 1050,
            content_length: Some(10_000)
        })
    ));
    assert!(api.raw_body().is_empty(), "refused before any read");
    assert_eq!(api.ids().request_id.as_deref(), Some("r-1"));

    let error = failed(&client, format!("http://{addr}/streamed")).await;
    let api = api_error(&error).unwrap();
    assert!(matches!(
        api.incomplete(),
        Some(Incomplete::TooLarge {
            limit: 1050,
            content_length: None
        })
    ));
    assert_eq!(api.raw_body().as_ref(), &crate::support::stepped()[..1050]);
}

#[tokio::test(start_paused = true)]
async fn the_layers_body_timeout_applies() {
    let addr =
        serve(|_| crate::support::stalled(StatusCode::GATEWAY_TIMEOUT, b"{\"code\": 3000,")).await;
    let layer = PartnerErrorsLayer::new().body_timeout(Duration::from_secs(30));
    let client = client_with(PartnerErrorsMiddleware::new(layer));
    let started = Instant::now();
    let error = failed(&client, format!("http://{addr}/")).await;
    let api = api_error(&error).unwrap();
    assert!(matches!(
        api.incomplete(),
        Some(Incomplete::TimedOut { after }) if *after == Duration::from_secs(30)
    ));
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert!(b"{\"code\": 3000,".starts_with(api.raw_body()));
}

#[tokio::test]
async fn strict_mode_gives_a_schema_error() {
    let addr = serve(|_| respond(400, &[], r#"{"code":"1","description":"","source":"x"}"#)).await;
    let client = client_with(PartnerErrorsMiddleware::new(
        PartnerErrorsLayer::new().strict(true),
    ));
    let error = failed(&client, format!("http://{addr}/")).await;
    let Some(Error::Schema(schema)) = partner_error(&error) else {
        panic!("{error:?}")
    };
    assert_eq!(schema.violations(), [Violation::EmptyDescription]);
    assert_eq!(api_error(&error).unwrap().code(), Some("1"));
}

#[tokio::test]
async fn transport_failures_stay_reqwest_errors() {
    let addr = crate::support::nowhere().await;
    let client = client_with(PartnerErrorsMiddleware::default());
    let error = failed(&client, format!("http://{addr}/")).await;
    assert!(matches!(error, reqwest_middleware::Error::Reqwest(ref e) if e.is_connect()));
    assert!(partner_error(&error).is_none());
}

#[tokio::test]
async fn pass_through_rebuilds_the_response_with_url_headers_and_whole_body() {
    let body = crate::support::patterned(1024 * 1024, 251);
    let sent = body.clone();
    let addr = serve(move |_| {
        let mut response = crate::support::big_error(sent.clone());
        response
            .headers_mut()
            .append("x-many", "one".parse().unwrap());
        response
            .headers_mut()
            .append("x-many", "two".parse().unwrap());
        response
    })
    .await;
    let client = client_with(PartnerErrorsMiddleware::new(
        PartnerErrorsLayer::new().pass_through(),
    ));
    let url = format!("http://{addr}/v1/orders?size=1&seek=abc");
    let response = client.get(&url).send().await.expect("pass-through is Ok");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.url().as_str(), url, "URL intact");
    assert_eq!(response.headers()["ms-requestid"], "r-big");
    let many: Vec<_> = response.headers().get_all("x-many").iter().collect();
    assert_eq!(many, ["one", "two"], "headers intact, repeated ones too");
    assert_eq!(response.remote_addr(), Some(addr), "connection info kept");
    let error = response.extensions().get::<ApiError>().unwrap().clone();
    assert_eq!(error.raw_body().len(), 64 * 1024);
    assert_eq!(error.ids().request_id.as_deref(), Some("r-big"));
    // reqwest's own helpers still work on the rebuilt response.
    let status_error = response.error_for_status_ref().unwrap_err();
    assert_eq!(status_error.url().map(|u| u.as_str()), Some(url.as_str()));
    let forwarded = response.bytes().await.unwrap();
    assert_eq!(forwarded.len(), body.len());
    assert!(forwarded == body, "byte for byte");
}

#[tokio::test(start_paused = true)]
async fn reqwest_retry_with_our_strategy_retries_only_transient_kinds() {
    // 503, 503, then 200.
    let (addr, seen) = recording(|n| match n {
        0 | 1 => respond(503, &[], partner_center_body(3000, "Busy.")),
        _ => respond(200, &[], "done"),
    })
    .await;
    let client = reqwest_retry_client();
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "done");
    assert_eq!(requests(&seen).len(), 3);

    // A 500 is fatal for Partner Center (reqwest-retry's default would retry it).
    let (addr, seen) = recording(|_| respond(500, &[], partner_center_body(3000, "Failed."))).await;
    let error = failed(&client, format!("http://{addr}/")).await;
    assert_eq!(requests(&seen).len(), 1);
    assert_eq!(
        api_error(&error).map(ApiError::kind),
        Some(ErrorKind::InternalServerError),
        "found through reqwest-retry's RetryError"
    );

    // Exhausted retries: still found, through RetryError::WithRetries.
    let (addr, seen) = recording(|_| respond(429, &[], "")).await;
    let error = failed(&client, format!("http://{addr}/")).await;
    assert_eq!(requests(&seen).len(), 4);
    assert!(error.to_string().contains("after 3 retries"), "{error}");
    assert_eq!(
        api_error(&error).map(ApiError::kind),
        Some(ErrorKind::TooManyRequests)
    );
}

/// reqwest's client with reqwest-retry first: 3 retries, exponential backoff, classified by
/// this crate's strategy.
fn reqwest_retry_first() -> ClientBuilder {
    let policy = ExponentialBackoff::builder().build_with_max_retries(3);
    ClientBuilder::new(reqwest::Client::new()).with(
        RetryTransientMiddleware::new_with_policy_and_strategy(policy, PartnerRetryableStrategy),
    )
}

/// reqwest-retry over the error middleware.
fn reqwest_retry_client() -> ClientWithMiddleware {
    reqwest_retry_first()
        .with(PartnerErrorsMiddleware::default())
        .build()
}

fn retry_client(policy: RetryAfterPolicy) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(RetryAfterMiddleware::new(policy))
        .with(PartnerErrorsMiddleware::default())
        .build()
}

/// The policy's give-up, found in the middleware's error.
fn gave_up(error: &reqwest_middleware::Error) -> &GaveUp {
    match partner_error(error) {
        Some(Error::GaveUp(gave_up)) => gave_up,
        other => panic!("expected Error::GaveUp, got {other:?} from {error:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_to_the_millisecond() {
    let (addr, seen) = recording(|n| match n {
        0 => respond(
            429,
            &[("retry-after", "57"), ("content-type", "application/json")],
            r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}"#,
        ),
        _ => respond(200, &[], "done"),
    })
    .await;
    let client = retry_client(RetryAfterPolicy::new());
    let response = client
        .get(format!("http://{addr}/v1/customers"))
        .header("ms-requestid", "idem-1")
        .header("ms-correlationid", "corr-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "done");
    let seen = requests(&seen);
    assert_eq!(seen.len(), 2, "retried exactly once");
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_secs(57), "not early: {waited:?}");
    assert!(
        waited < Duration::from_secs(58),
        "the server's delay, not a backoff: {waited:?}"
    );
    assert!(seen[0].headers.get("retry-attempt").is_none());
    assert_eq!(seen[1].headers["retry-attempt"], "1");
    for request in &seen {
        assert_eq!(
            request.headers["ms-requestid"], "idem-1",
            "same idempotency key"
        );
        assert_eq!(request.headers["ms-correlationid"], "corr-1");
    }
}

#[tokio::test(start_paused = true)]
async fn the_gateway_body_delay_and_the_millisecond_headers_are_honoured() {
    // No header: the gateway's "Try again in 3 seconds", which only the parsed body knows.
    let (addr, seen) = recording(|n| match n {
        0 => respond(
            429,
            &[],
            r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 3 seconds."}"#,
        ),
        1 => respond(503, &[("retry-after-ms", "1500")], ""),
        _ => respond(200, &[], "done"),
    })
    .await;
    let client = retry_client(RetryAfterPolicy::new());
    client.get(format!("http://{addr}/")).send().await.unwrap();
    let seen = requests(&seen);
    assert_eq!(seen.len(), 3);
    let first = seen[1].at - seen[0].at;
    let second = seen[2].at - seen[1].at;
    assert!(
        first >= Duration::from_secs(3) && first < Duration::from_millis(3100),
        "{first:?}"
    );
    assert!(
        second >= Duration::from_millis(1500) && second < Duration::from_millis(1600),
        "{second:?}"
    );
    assert_eq!(seen[2].headers["retry-attempt"], "2");
}

#[tokio::test(start_paused = true)]
async fn without_a_server_delay_the_policy_backs_off_within_its_bounds() {
    let (addr, seen) = recording(|n| match n {
        0 | 1 => respond(503, &[], ""),
        _ => respond(200, &[], "done"),
    })
    .await;
    let policy = RetryAfterPolicy::new().base_delay(Duration::from_secs(2));
    let client = retry_client(policy);
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = requests(&seen);
    assert_eq!(seen.len(), 3);
    // Full jitter: the first wait in [0, 2 s], the second in [0, 4 s].
    let first = seen[1].at - seen[0].at;
    let second = seen[2].at - seen[1].at;
    assert!(first <= Duration::from_millis(2010), "{first:?}");
    assert!(second <= Duration::from_millis(4010), "{second:?}");
}

#[tokio::test(start_paused = true)]
async fn a_delay_above_max_wait_gives_up_at_once_with_the_delay() {
    let (addr, seen) = recording(|_| respond(429, &[("retry-after", "600")], "")).await;
    let client = retry_client(RetryAfterPolicy::new().max_wait(Duration::from_secs(120)));
    let started = Instant::now();
    let error = failed(&client, format!("http://{addr}/")).await;
    assert_eq!(started.elapsed(), Duration::ZERO, "no wait at all");
    assert_eq!(requests(&seen).len(), 1);
    let gave_up = gave_up(&error);
    assert_eq!(gave_up.reason(), GiveUpReason::WaitTooLong);
    assert_eq!(gave_up.attempts(), 1);
    let api = api_error(&error).expect("the last structured error");
    assert_eq!(api.retry_after(), Some(Duration::from_secs(600)));
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_say_how_many_and_how_long() {
    let (addr, seen) = recording(|_| respond(503, &[("retry-after", "1")], "")).await;
    let client = retry_client(RetryAfterPolicy::new().max_retries(2));
    let error = failed(&client, format!("http://{addr}/")).await;
    assert_eq!(requests(&seen).len(), 3);
    let gave_up = gave_up(&error);
    assert_eq!(gave_up.reason(), GiveUpReason::MaxRetries);
    assert_eq!(gave_up.attempts(), 3);
    assert_eq!(gave_up.waited(), Duration::from_secs(2));
    assert!(matches!(gave_up.last_error(), Error::Api(_)));
    assert_eq!(
        api_error(&error).unwrap().kind(),
        ErrorKind::ServiceUnavailable
    );
    assert!(
        error.to_string().starts_with("gave up after 3 attempts"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn errors_the_policy_does_not_retry_come_back_as_they_are() {
    let (addr, seen) =
        recording(|_| respond(409, &[], partner_center_body(800090, "Exists."))).await;
    let client = retry_client(RetryAfterPolicy::new());
    let error = client
        .post(format!("http://{addr}/"))
        .body("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(requests(&seen).len(), 1);
    assert!(matches!(partner_error(&error), Some(Error::Api(_))));
    assert_eq!(api_error(&error).unwrap().kind(), ErrorKind::Conflict);
}

#[tokio::test(start_paused = true)]
async fn post_after_504_is_retried_only_with_an_idempotency_key() {
    let answer = |n: usize| match n {
        0 => respond(504, &[("retry-after", "1")], ""),
        _ => respond(201, &[], "created"),
    };
    let (addr, seen) = recording(answer).await;
    let client = retry_client(RetryAfterPolicy::new());
    let error = client
        .post(format!("http://{addr}/v1/orders"))
        .body("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        requests(&seen).len(),
        1,
        "POST without MS-RequestId: not replayed"
    );
    assert_eq!(gave_up(&error).reason(), GiveUpReason::NotIdempotent);
    assert_eq!(api_error(&error).unwrap().kind(), ErrorKind::GatewayTimeout);

    let (addr, seen) = recording(answer).await;
    let response = client
        .post(format!("http://{addr}/v1/orders"))
        .header("MS-RequestId", "order-1")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let seen = requests(&seen);
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.method == http::Method::POST));

    // 429 means the server did not process it: a POST is replayed without a key.
    let (addr, seen) = recording(|n| match n {
        0 => respond(429, &[("retry-after", "1")], ""),
        _ => respond(201, &[], "created"),
    })
    .await;
    client
        .post(format!("http://{addr}/v1/orders"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(requests(&seen).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_streaming_request_body_is_sent_once() {
    let (addr, seen) = recording(|_| respond(503, &[("retry-after", "1")], "")).await;
    let client = retry_client(RetryAfterPolicy::new());
    let body = reqwest::Body::wrap(http_body_util::Full::new(Bytes::from_static(b"{}")));
    let error = client
        .put(format!("http://{addr}/"))
        .body(body)
        .send()
        .await
        .unwrap_err();
    assert_eq!(requests(&seen).len(), 1);
    assert!(matches!(partner_error(&error), Some(Error::Api(_))));
}

#[tokio::test(start_paused = true)]
async fn pass_through_responses_are_not_retried_as_with_the_tower_policy() {
    let (addr, seen) = recording(|_| respond(429, &[("retry-after", "1")], "")).await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RetryAfterMiddleware::new(RetryAfterPolicy::new()))
        .with(PartnerErrorsMiddleware::new(
            PartnerErrorsLayer::new().pass_through(),
        ))
        .build();
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.extensions().get::<ApiError>().is_some());
    assert_eq!(requests(&seen).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn inside_a_pass_through_error_middleware_the_last_response_goes_on_as_a_response() {
    let (addr, seen) = recording(|_| respond(429, &[("retry-after", "1")], "")).await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(PartnerErrorsMiddleware::new(
            PartnerErrorsLayer::new().pass_through(),
        ))
        .with(RetryAfterMiddleware::new(
            RetryAfterPolicy::new().max_retries(1),
        ))
        .build();
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(requests(&seen).len(), 2, "retried once, as the policy says");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let error = response
        .extensions()
        .get::<ApiError>()
        .expect("its ApiError");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
}

/// The retry middleware inside the error middleware: it sees raw error responses.
fn retry_inside_client(policy: RetryAfterPolicy) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(PartnerErrorsMiddleware::default())
        .with(RetryAfterMiddleware::new(policy))
        .build()
}

/// What a user reads of a failed call, to compare the two orders.
fn summary(error: &reqwest_middleware::Error) -> (String, Option<(u32, Duration, GiveUpReason)>) {
    let gave_up = match partner_error(error) {
        Some(Error::GaveUp(gave_up)) => {
            Some((gave_up.attempts(), gave_up.waited(), gave_up.reason()))
        }
        _ => None,
    };
    let api = api_error(error).expect("a structured error");
    let text = format!(
        "{:?} {:?} {:?} {:?}",
        api.status(),
        api.code(),
        api.description(),
        api.retry_after()
    );
    (text, gave_up)
}

#[tokio::test(start_paused = true)]
async fn the_order_of_the_two_middlewares_does_not_matter() {
    let answer = |n: usize| match n % 4 {
        0 => respond(429, &[("retry-after", "2")], ""),
        1 => respond(
            429,
            &[],
            r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 3 seconds."}"#,
        ),
        2 => respond(404, &[], partner_center_body(600074, "No customer.")),
        _ => respond(200, &[], "done"),
    };
    let mut outcomes = Vec::new();
    for client in [
        retry_client(RetryAfterPolicy::new()),
        retry_inside_client(RetryAfterPolicy::new()),
    ] {
        let (addr, seen) = recording(answer).await;
        let started = Instant::now();
        let error = failed(&client, format!("http://{addr}/")).await;
        // Waited for the header's 2 s, then for the body's "Try again in 3 seconds".
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(requests(&seen).len(), 3);
        outcomes.push(summary(&error));
        // A first error that is not retried comes back as the plain structured error.
        let (addr, seen) =
            recording(|_| respond(404, &[], partner_center_body(600074, "No customer."))).await;
        let error = failed(&client, format!("http://{addr}/")).await;
        assert_eq!(requests(&seen).len(), 1);
        assert!(
            matches!(partner_error(&error), Some(Error::Api(_))),
            "{error:?}"
        );
        outcomes.push(summary(&error));
        // A 429 retried into a success is a success.
        let (addr, seen) = recording(|n| {
            if n == 0 {
                respond(429, &[("retry-after", "1")], "")
            } else {
                respond(200, &[], "done")
            }
        })
        .await;
        let response = client.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "done");
        assert_eq!(requests(&seen).len(), 2);
    }
    assert_eq!(outcomes[0], outcomes[2], "the same give-up either way");
    assert_eq!(outcomes[1], outcomes[3], "the same error either way");
    assert_eq!(
        outcomes[0].1,
        Some((3, Duration::from_secs(5), GiveUpReason::NotRetryable))
    );
    assert!(outcomes[0].0.contains("600074"), "{:?}", outcomes[0]);
}

/// The order does not matter with the error middleware's own settings either: inside it, the
/// retry middleware reads the raw error responses as that middleware would (its schema, its
/// strict mode, its cap: the Graph body is over it and refused unread), so the give-up carries
/// the same structured error.
#[tokio::test(start_paused = true)]
async fn the_order_does_not_matter_with_the_error_middlewares_own_settings() {
    const GRAPH_429: &str = r#"{"error":{"code":"TooManyRequests","message":"Slow down."}}"#;
    let layer = PartnerErrorsLayer::new()
        .schema(Schema::Graph)
        .strict(true)
        .max_body_bytes(40);
    let outside = ClientBuilder::new(reqwest::Client::new())
        .with(RetryAfterMiddleware::new(
            RetryAfterPolicy::new().max_retries(1),
        ))
        .with(PartnerErrorsMiddleware::new(layer))
        .build();
    let inside = ClientBuilder::new(reqwest::Client::new())
        .with(PartnerErrorsMiddleware::new(layer))
        .with(RetryAfterMiddleware::new(
            RetryAfterPolicy::new().max_retries(1),
        ))
        .build();
    for (path, strict, read) in [("/graph", false, 0), ("/html", true, 17)] {
        let mut outcomes = Vec::new();
        for client in [&outside, &inside] {
            let (addr, seen) = recording(move |_| match path {
                "/graph" => respond(429, &[("retry-after", "1")], GRAPH_429),
                _ => respond(503, &[("retry-after", "1")], "<html>busy</html>"),
            })
            .await;
            let error = failed(client, format!("http://{addr}{path}")).await;
            assert_eq!(requests(&seen).len(), 2);
            let gave_up = gave_up(&error);
            assert_eq!(gave_up.reason(), GiveUpReason::MaxRetries);
            assert_eq!(
                matches!(gave_up.last_error(), Error::Schema(_)),
                strict,
                "{path}: {:?}",
                gave_up.last_error()
            );
            let api = gave_up.api_error().unwrap();
            outcomes.push((
                api.schema(),
                api.violations().to_vec(),
                api.raw_body().len(),
            ));
        }
        assert_eq!(
            outcomes[0], outcomes[1],
            "{path}: the same error either way"
        );
        assert_eq!(outcomes[0].0, Schema::Graph, "{path}");
        assert_eq!(outcomes[0].2, read, "{path}: the layer's cap");
    }
}

/// Without an error middleware, the retry middleware retries raw error responses by itself and
/// hands on one it does not retry as it came: status, headers, whole body, no extension added.
#[tokio::test(start_paused = true)]
async fn the_retry_middleware_alone_retries_raw_errors_and_hands_on_the_rest_as_they_came() {
    let client = client_with(RetryAfterMiddleware::new(RetryAfterPolicy::new()));
    let (addr, seen) = recording(|n| match n {
        0 => respond(503, &[("retry-after", "1")], ""),
        _ => respond(200, &[], "done"),
    })
    .await;
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(requests(&seen).len(), 2, "the 503 was retried");
    assert_eq!(response.text().await.unwrap(), "done");

    let body = partner_center_body(600074, "No customer.");
    let answer = body.clone();
    let (addr, seen) =
        recording(move |_| respond(404, &[("ms-correlationid", "c-7")], answer.clone())).await;
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(requests(&seen).len(), 1);
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["ms-correlationid"], "c-7");
    assert!(response.extensions().get::<ApiError>().is_none());
    assert_eq!(response.text().await.unwrap(), body);
}

/// The two give-ups the other tests leave out, for the same reasons as the tower policy: a
/// wait that would end past the total time, and a budget with nothing to withdraw.
#[tokio::test(start_paused = true)]
async fn out_of_time_and_out_of_budget_give_up_as_with_the_tower_policy() {
    let (addr, seen) = recording(|_| respond(503, &[("retry-after", "4")], "")).await;
    let policy = RetryAfterPolicy::new()
        .max_retries(10)
        .max_total_time(Duration::from_secs(10));
    let error = failed(&retry_client(policy), format!("http://{addr}/")).await;
    // Waits end at 4 s and 8 s; one ending at 12 s would be past 10 s.
    let out_of_time = gave_up(&error);
    assert_eq!(out_of_time.reason(), GiveUpReason::OutOfTime);
    assert_eq!(
        (out_of_time.attempts(), out_of_time.waited()),
        (3, Duration::from_secs(8))
    );
    assert_eq!(requests(&seen).len(), 3);

    let (addr, seen) = recording(|_| respond(429, &[("retry-after", "1")], "")).await;
    let empty = tower::retry::budget::TpsBudget::new(Duration::from_secs(1), 0, 0.0);
    let error = failed(
        &retry_client(RetryAfterPolicy::new().budget(empty)),
        format!("http://{addr}/"),
    )
    .await;
    let out_of_budget = gave_up(&error);
    assert_eq!(out_of_budget.reason(), GiveUpReason::BudgetSpent);
    assert_eq!(
        (out_of_budget.attempts(), out_of_budget.waited()),
        (1, Duration::ZERO)
    );
    assert_eq!(requests(&seen).len(), 1);
}

/// A call dropped while it waits for the server's delay sends nothing more (tokio's paused
/// clock: a 57 s `Retry-After`, the drop 30 s into the wait).
#[tokio::test(start_paused = true)]
async fn a_call_dropped_during_its_wait_sends_nothing_more() {
    let (addr, seen) = recording(|_| respond(429, &[("retry-after", "57")], "")).await;
    let client = retry_client(RetryAfterPolicy::new());
    let call = tokio::spawn(async move { client.get(format!("http://{addr}/")).send().await });
    for _ in 0..1000 {
        if !requests(&seen).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(requests(&seen).len(), 1, "the first attempt arrived");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!call.is_finished(), "still waiting out the 57 s");
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(requests(&seen).len(), 1, "no retry after the drop");
}

/// reqwest follows redirects: the error is the final response's, and a pass-through response
/// keeps the final URL (the one reqwest reports), not the one asked for.
#[tokio::test]
async fn after_a_redirect_the_final_error_response_is_captured_with_its_url() {
    let addr = serve(|request| match request.uri().path() {
        "/v1/old" => respond(302, &[("location", "/v1/new?page=2")], ""),
        _ => respond(
            404,
            &[("ms-requestid", "r-final")],
            partner_center_body(600074, "No customer has this id."),
        ),
    })
    .await;
    let client = client_with(PartnerErrorsMiddleware::default());
    let error = failed(&client, format!("http://{addr}/v1/old")).await;
    let api = api_error(&error).expect("the final response's error");
    assert_eq!(api.kind(), ErrorKind::NotFound);
    assert_eq!(api.ids().request_id.as_deref(), Some("r-final"));

    let client = client_with(PartnerErrorsMiddleware::new(
        PartnerErrorsLayer::new().pass_through(),
    ));
    let response = client
        .get(format!("http://{addr}/v1/old"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.url().as_str(),
        format!("http://{addr}/v1/new?page=2")
    );
    assert_eq!(
        response.extensions().get::<ApiError>().unwrap().code(),
        Some("600074")
    );
}

/// reqwest puts the request URL in its errors, query included, where a SAS token
/// (`?sig=...`) lives. The retry middleware's `Error::GaveUp` around a reqwest failure (here
/// reqwest's timeout on the retry) prints the host and path, never the query.
#[tokio::test(start_paused = true)]
async fn a_give_up_on_a_reqwest_failure_never_prints_the_query_of_its_url() {
    let addr = crate::support::a_503_then_too_slow().await;
    let reqwest_client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let client = ClientBuilder::new(reqwest_client)
        .with(RetryAfterMiddleware::new(RetryAfterPolicy::new()))
        .with(PartnerErrorsMiddleware::default())
        .build();
    let error = failed(&client, format!("http://{addr}/v1/invoices?sig=SAS-SECRET")).await;
    assert!(matches!(gave_up(&error).last_error(), Error::Service(_)));
    let mut shown = format!("{error:?}\n{error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        shown.push_str(&format!("\n{cause}"));
        source = cause.source();
    }
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains(&format!("{addr}/v1/invoices")), "{shown}");
}

/// `PartnerRetryableStrategy` sees only the result, never the request: unlike the crate's
/// policy, it cannot keep a `POST` answered 504 without `MS-RequestId` from being replayed by
/// reqwest-retry (as its docs say), and it leaves connect failures to reqwest-retry's default.
#[tokio::test(start_paused = true)]
async fn the_strategy_cannot_hold_back_a_post_after_504_without_a_key() {
    let (addr, seen) = recording(|n| match n {
        0 => respond(504, &[], ""),
        _ => respond(201, &[], "created"),
    })
    .await;
    let client = reqwest_retry_client();
    let response = client
        .post(format!("http://{addr}/v1/orders"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let seen = requests(&seen);
    assert_eq!(seen.len(), 2, "replayed without an idempotency key");
    assert!(seen.iter().all(|s| s.method == http::Method::POST));
    assert!(seen[1].headers.get("ms-requestid").is_none());

    // A connect failure is transient to reqwest-retry (the crate's policy hands it back).
    let strategy = PartnerRetryableStrategy;
    let refused = reqwest::Client::new()
        .get(format!("http://{}/", crate::support::nowhere().await))
        .send()
        .await
        .unwrap_err();
    let classified = reqwest_retry::RetryableStrategy::handle(
        &strategy,
        &Err(reqwest_middleware::Error::Reqwest(refused)),
    );
    assert!(matches!(
        classified,
        Some(reqwest_retry::Retryable::Transient)
    ));
}

/// reqwest-retry kept for connect failures, with the crate's retry middleware inside it for
/// the server's delays: once the policy gives up (here a delay of an hour, past `max_wait`;
/// a `POST` answered 504 without `MS-RequestId`), reqwest-retry must not retry on its own
/// schedule, seconds later, what the server asked to see again in an hour at the earliest.
#[tokio::test(start_paused = true)]
async fn reqwest_retry_outside_the_retry_middleware_leaves_its_give_ups_alone() {
    let client = reqwest_retry_first()
        .with(RetryAfterMiddleware::new(RetryAfterPolicy::new()))
        .with(PartnerErrorsMiddleware::default())
        .build();

    let (addr, seen) = recording(|_| respond(429, &[("retry-after", "3600")], "")).await;
    let error = failed(&client, format!("http://{addr}/")).await;
    assert_eq!(gave_up(&error).reason(), GiveUpReason::WaitTooLong);
    assert_eq!(
        requests(&seen).len(),
        1,
        "nothing sent before the hour is up"
    );

    let (addr, seen) = recording(|_| respond(504, &[], "")).await;
    let error = client
        .post(format!("http://{addr}/v1/orders"))
        .body("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(gave_up(&error).reason(), GiveUpReason::NotIdempotent);
    assert_eq!(requests(&seen).len(), 1, "no replay without MS-RequestId");
}

/// The same with a pass-through error middleware between them: the policy's give-up goes on as
/// the last error response, `Ok`, and reqwest-retry must leave it alone as it leaves an
/// `Error::GaveUp`, not retry on its own schedule what the server asked to see in an hour.
#[tokio::test(start_paused = true)]
async fn reqwest_retry_leaves_a_give_up_handed_on_by_a_pass_through_middleware_alone() {
    let client = reqwest_retry_first()
        .with(PartnerErrorsMiddleware::new(
            PartnerErrorsLayer::new().pass_through(),
        ))
        .with(RetryAfterMiddleware::new(RetryAfterPolicy::new()))
        .build();

    let (addr, seen) = recording(|_| respond(429, &[("retry-after", "3600")], "")).await;
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.extensions().get::<ApiError>().is_some());
    assert_eq!(
        requests(&seen).len(),
        1,
        "nothing sent before the hour is up"
    );
}

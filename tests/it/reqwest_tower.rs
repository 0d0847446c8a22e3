//! The layer around reqwest 0.13's `Client` as a `tower::Service<reqwest::Request>`, over real
//! HTTP to a hyper server on 127.0.0.1.
#![cfg(feature = "reqwest")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{partner_center_body, respond, serve};
use bytes::Bytes;
use http::StatusCode;
use partner_center_errors::GiveUpReason;
use partner_center_errors::{
    ApiError, Error, ErrorKind, Incomplete, PartnerErrorsLayer, RetryAfterPolicy,
};
use tower::{Service, ServiceBuilder, ServiceExt};

fn get(client: &reqwest::Client, url: &str) -> reqwest::Request {
    client.get(url).build().expect("request")
}

#[tokio::test]
async fn success_comes_back_as_the_same_reqwest_response() {
    let addr = serve(|_| respond(200, &[("x-test", "yes")], "a success body")).await;
    let client = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client.clone());
    let url = format!("http://{addr}/v1/customers?size=5");
    let response: reqwest::Response = service.oneshot(get(&client, &url)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().as_str(), url);
    assert_eq!(response.headers()["x-test"], "yes");
    assert_eq!(response.remote_addr(), Some(addr));
    assert_eq!(response.text().await.unwrap(), "a success body");
}

#[tokio::test]
async fn error_response_becomes_error_api_with_the_layers_cap() {
    let addr = serve(|request| match request.uri().path() {
        "/small" => respond(
            401,
            &[
                ("ms-correlationid", "corr-2"),
                (
                    "www-authenticate",
                    "OAuth realm=urn:cpsvc:cpid:5e2d0f6c-0b3a-4f7e-9a51-2c8d7e4b1a90",
                ),
            ],
            partner_center_body(900309, "The token was not accepted."),
        ),
        _ => crate::support::streamed(StatusCode::BAD_GATEWAY, crate::support::stepped(), 100),
    })
    .await;
    let client = reqwest::Client::new();
    let mut service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().max_body_bytes(1050))
        .service(client.clone());

    let request = get(&client, &format!("http://{addr}/small"));
    let error = service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    let Error::Api(error) = error else {
        panic!("{error:?}")
    };
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert_eq!(error.code(), Some("900309"));
    assert_eq!(error.ids().correlation_id.as_deref(), Some("corr-2"));
    assert!(error.challenges()[0].is_scheme("OAuth"));

    let request = get(&client, &format!("http://{addr}/large"));
    let error = service
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    let error = error.into_api_error().unwrap();
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
}

#[tokio::test(start_paused = true)]
async fn the_body_timeout_applies() {
    let addr =
        serve(|_| crate::support::stalled(StatusCode::SERVICE_UNAVAILABLE, b"{\"code\":")).await;
    let client = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().body_timeout(Duration::from_secs(5)))
        .service(client.clone());
    let started = tokio::time::Instant::now();
    let error = service
        .oneshot(get(&client, &format!("http://{addr}/")))
        .await
        .unwrap_err()
        .into_api_error()
        .unwrap();
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TimedOut { after }) if *after == Duration::from_secs(5)
    ));
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[tokio::test]
async fn pass_through_rebuilds_the_reqwest_response() {
    let body: Bytes = (0..200_000u32)
        .map(|i| (i % 253) as u8)
        .collect::<Vec<_>>()
        .into();
    let sent = body.clone();
    let addr = serve(move |_| {
        respond(
            503,
            &[("retry-after", "7"), ("ms-requestid", "r-9")],
            sent.clone(),
        )
    })
    .await;
    let client = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client.clone());
    let url = format!("http://{addr}/v1/orders/7?x=1");
    let response = service.oneshot(get(&client, &url)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.url().as_str(), url);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["content-length"], "200000");
    let error = response.extensions().get::<ApiError>().unwrap().clone();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert!(matches!(
        error.incomplete(),
        Some(Incomplete::TooLarge {
            content_length: Some(200_000),
            ..
        })
    ));
    let forwarded = response.bytes().await.unwrap();
    assert!(forwarded == body, "byte for byte, past the cap");
}

#[tokio::test]
async fn connect_failure_is_error_service_with_the_reqwest_error() {
    let addr = crate::support::nowhere().await;
    let client = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client.clone());
    let error = service
        .oneshot(get(&client, &format!("http://{addr}/")))
        .await
        .unwrap_err();
    let Error::Service(inner) = error else {
        panic!("{error:?}")
    };
    let reqwest_error = inner.downcast_ref::<reqwest::Error>().unwrap();
    assert!(reqwest_error.is_connect());
}

#[tokio::test]
async fn composes_with_tower_layers_and_spawns() {
    fn assert_spawnable<S>(_: &S)
    where
        S: Service<reqwest::Request> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Send + Sync + 'static,
    {
    }
    let addr = serve(|request| match request.uri().path() {
        "/ok" => respond(200, &[], "ok"),
        _ => respond(404, &[], partner_center_body(600074, "Not found.")),
    })
    .await;
    let client = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .concurrency_limit(4)
        .layer(PartnerErrorsLayer::new())
        .service(client.clone());
    let pass_through = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client.clone());
    assert_spawnable(&pass_through);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let service = service.clone();
        let path = if i % 2 == 0 { "/ok" } else { "/missing" };
        let request = get(&client, &format!("http://{addr}{path}"));
        tasks.push(tokio::spawn(service.oneshot(request)));
    }
    let mut ok = 0;
    let mut not_found = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(response) => {
                assert_eq!(response.text().await.unwrap(), "ok");
                ok += 1;
            }
            Err(Error::Api(error)) if error.kind() == ErrorKind::NotFound => not_found += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((ok, not_found), (4, 4));
}

/// The server's view of each request: when it came and its `Retry-Attempt`.
type Seen = Arc<Mutex<Vec<(tokio::time::Instant, Option<String>)>>>;

async fn throttling(
    script: fn(usize) -> http::Response<crate::support::ServerBody>,
) -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let addr = serve(move |request| {
        let mut log = log.lock().unwrap();
        let attempt = request
            .headers()
            .get("retry-attempt")
            .map(|value| value.to_str().unwrap().to_owned());
        log.push((tokio::time::Instant::now(), attempt));
        script(log.len() - 1)
    })
    .await;
    (addr, seen)
}

#[tokio::test(start_paused = true)]
async fn the_retry_policy_around_the_reqwest_stack_waits_for_retry_after() {
    let (addr, seen) = throttling(|n| match n {
        0 => respond(429, &[("retry-after", "57")], ""),
        _ => respond(200, &[], "done"),
    })
    .await;
    let client = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new())
        .layer(PartnerErrorsLayer::new())
        .service(client.clone());
    let request = client
        .get(format!("http://{addr}/v1/customers"))
        .header("MS-RequestId", "r-1")
        .build()
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "done");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].0 - seen[0].0;
    assert!(
        waited >= Duration::from_secs(57) && waited < Duration::from_secs(58),
        "{waited:?}"
    );
    assert_eq!(seen[0].1, None);
    assert_eq!(seen[1].1.as_deref(), Some("1"));
}

#[tokio::test(start_paused = true)]
async fn the_retry_policy_gives_up_with_the_last_error_and_never_replays_a_stream() {
    let (addr, seen) = throttling(|_| respond(503, &[("retry-after", "2")], "")).await;
    let client = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().max_retries(1))
        .layer(PartnerErrorsLayer::new())
        .service(client.clone());

    let request = client.get(format!("http://{addr}/")).build().unwrap();
    let error = service.clone().oneshot(request).await.unwrap_err();
    let Error::GaveUp(gave_up) = error else {
        panic!("{error:?}")
    };
    assert_eq!(gave_up.reason(), GiveUpReason::MaxRetries);
    assert_eq!(
        (gave_up.attempts(), gave_up.waited()),
        (2, Duration::from_secs(2))
    );
    assert_eq!(
        gave_up.api_error().unwrap().kind(),
        ErrorKind::ServiceUnavailable
    );
    assert_eq!(seen.lock().unwrap().len(), 2);

    // A streamed body cannot be cloned: sent once, its error as it is.
    let body = reqwest::Body::wrap(http_body_util::Full::new(Bytes::from_static(b"{}")));
    let request = client
        .put(format!("http://{addr}/"))
        .body(body)
        .build()
        .unwrap();
    let error = service.oneshot(request).await.unwrap_err();
    assert!(matches!(error, Error::Api(_)), "{error:?}");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

/// Inside the layer, over `reqwest::Client` as over hyper-util's client, the policy sees the
/// raw error responses (`Ok` with a 4xx/5xx status) and retries them by the same rules, after
/// the delay in their headers; the layer outside makes the last one an `Error::Api`.
#[tokio::test(start_paused = true)]
async fn inside_the_layer_the_policy_retries_raw_reqwest_error_responses() {
    let inside = |client: reqwest::Client, policy: RetryAfterPolicy| {
        ServiceBuilder::new()
            .layer(PartnerErrorsLayer::new())
            .retry(policy)
            .map_err(partner_center_errors::BoxError::from)
            .service(client)
    };
    let (addr, seen) = throttling(|n| match n {
        0 => respond(429, &[("retry-after", "2")], ""),
        1 => respond(503, &[("retry-after-ms", "1500")], ""),
        _ => respond(200, &[], "done"),
    })
    .await;
    let client = reqwest::Client::new();
    let request = get(&client, &format!("http://{addr}/v1/customers"));
    let response = inside(client.clone(), RetryAfterPolicy::new())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "done");
    let seen = seen.lock().unwrap().clone();
    let gaps: Vec<Duration> = seen.windows(2).map(|pair| pair[1].0 - pair[0].0).collect();
    assert_eq!(gaps, [Duration::from_secs(2), Duration::from_millis(1500)]);
    assert_eq!(seen[2].1.as_deref(), Some("2"));

    // When it stops, the last response goes on to the layer, which makes it an `Error::Api`.
    let (addr, seen) = throttling(|_| respond(503, &[("retry-after", "1")], "")).await;
    let request = get(&client, &format!("http://{addr}/"));
    let result = inside(client.clone(), RetryAfterPolicy::new().max_retries(2))
        .oneshot(request)
        .await;
    assert_eq!(seen.lock().unwrap().len(), 3);
    match result {
        Err(Error::Api(error)) => assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE),
        other => panic!("the last response as the layer's error, got {other:?}"),
    }
}

/// Everything a chain printer (anyhow's `{:#}`) and `{:?}` show of an error.
fn printed(error: &(dyn std::error::Error + 'static)) -> String {
    let mut shown = format!("{error:?}\n{error}");
    let mut source = error.source();
    while let Some(cause) = source {
        shown.push_str(&format!("\n{cause}"));
        source = cause.source();
    }
    shown
}

/// reqwest puts the request URL in its errors, query included, where a SAS token
/// (`?sig=...`) lives; hyper-util's errors, the reference, carry no URL. The `Error::Service`
/// the layer makes of a reqwest failure prints the host and path, never the query.
#[tokio::test]
async fn a_reqwest_failure_never_prints_the_query_of_its_url() {
    let addr = crate::support::nowhere().await;
    let client = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client.clone());
    let url = format!("http://{addr}/v1/invoices?sv=2024&sig=SAS-SECRET#frag-SECRET");
    let error = service.oneshot(get(&client, &url)).await.unwrap_err();
    let shown = printed(&error);
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains(&format!("{addr}/v1/invoices")), "{shown}");
    let Error::Service(inner) = &error else {
        panic!("{error:?}")
    };
    let reqwest_error = inner.downcast_ref::<reqwest::Error>().unwrap();
    assert!(reqwest_error.is_connect(), "still reqwest's error");
}

/// The same for the last error of `Error::GaveUp`: a retry that ends in reqwest's timeout.
#[tokio::test(start_paused = true)]
async fn a_give_up_on_a_reqwest_failure_never_prints_the_query_of_its_url() {
    let addr = crate::support::a_503_then_too_slow().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new())
        .layer(PartnerErrorsLayer::new())
        .service(client.clone());
    let url = format!("http://{addr}/v1/invoices?sig=SAS-SECRET");
    let error = service.oneshot(get(&client, &url)).await.unwrap_err();
    let Error::GaveUp(gave_up) = &error else {
        panic!("{error:?}")
    };
    assert!(matches!(gave_up.last_error(), Error::Service(_)));
    let shown = printed(&error);
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains(&format!("{addr}/v1/invoices")), "{shown}");
}

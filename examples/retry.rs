//! Retries: the Retry-After-aware policy around the error layer around hyper-util's client,
//! against a Partner-Center-like upstream that throttles.
//!
//! The example starts the upstream itself, on 127.0.0.1, makes five calls and exits (in about
//! two seconds: the upstream asks for short delays):
//!
//! ```text
//! cargo run --example retry
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use partner_center_errors::GiveUpReason;
use partner_center_errors::{Error, PartnerErrorsLayer, RetryAfterPolicy};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let started = Instant::now();
    let upstream = start_upstream(started).await?;
    println!("Partner-Center-like upstream listening on http://{upstream}\n");

    // The whole stack: retry outside, the error layer inside it, the client at the bottom.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut service = ServiceBuilder::new()
        .retry(
            RetryAfterPolicy::new()
                // Short backoffs for the demo; the default base is 3 s.
                .base_delay(Duration::from_millis(500)),
        )
        .layer(PartnerErrorsLayer::new())
        .service(client);

    let calls: [(Method, &str, bool, Expect); 5] = [
        // 429 with `Retry-After: 1`, then 200: one retry, one second later.
        (Method::GET, "/v1/customers", false, Expect::Success(2)),
        // 503 with `retry-after-ms: 250` twice, then 200.
        (Method::GET, "/v1/subscriptions", false, Expect::Success(3)),
        // POST + 504: retried, because the request carries MS-RequestId.
        (
            Method::POST,
            "/v1/customers/c/carts",
            true,
            Expect::Success(2),
        ),
        // POST + 504 without MS-RequestId: the server may have done the work; not retried.
        (
            Method::POST,
            "/v1/customers/c/orders",
            false,
            Expect::GaveUp(GiveUpReason::NotIdempotent),
        ),
        // 429 asking for an hour: more than the 180 s the policy waits; handed back at once.
        (
            Method::GET,
            "/v1/invoices",
            false,
            Expect::GaveUp(GiveUpReason::WaitTooLong),
        ),
    ];

    for (method, path, request_id, expect) in calls {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("http://{upstream}{path}"))
            .header("MS-CorrelationId", "2f6c1d0e-5b8a-4c3e-9f21-7a0b4d6e8c15")
            .header("content-type", "application/json");
        if request_id {
            request = request.header("MS-RequestId", "b41c7e90-13d2-4a6f-8e55-0c9d2b7f3a61");
        }
        let body = if method == Method::POST {
            r#"{"lineItems":[]}"#
        } else {
            ""
        };
        let request = request.body(Full::new(Bytes::from_static(body.as_bytes())))?;

        println!("{method} {path}");
        let before = Instant::now();
        let result = service.ready().await?.call(request).await;
        let took = before.elapsed();
        match (result, expect) {
            (Ok(response), Expect::Success(attempts)) => {
                println!("  => {} after {took:.1?}", response.status());
                check(
                    arrivals(path) == attempts,
                    "the expected number of attempts",
                )?;
            }
            (Err(Error::GaveUp(gave_up)), Expect::GaveUp(reason)) => {
                println!("  => {gave_up}");
                if let Some(delay) = gave_up.api_error().and_then(|error| error.retry_after()) {
                    println!(
                        "     (schedule it for later: the server takes it again in {delay:?})"
                    );
                }
                check(gave_up.reason() == reason, "the expected reason")?;
            }
            (other, _) => return Err(format!("unexpected outcome: {other:?}").into()),
        }
        println!();
    }
    println!("done in {:.1?}", started.elapsed());
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Success(u32),
    GaveUp(GiveUpReason),
}

fn check(ok: bool, what: &str) -> Result<(), BoxError> {
    if ok {
        Ok(())
    } else {
        Err(format!("the example did not see {what}").into())
    }
}

/// Requests per path so far (the upstream's count).
static ARRIVALS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

fn arrivals(path: &str) -> u32 {
    ARRIVALS
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|map| map.get(path).copied())
        .unwrap_or(0)
}

/// Answers the `n`th request (0-based) to `path` like a throttled Partner Center would.
fn answer(path: &str, n: u32) -> Response<Full<Bytes>> {
    let response = |status: StatusCode, headers: &[(&str, &str)], body: &'static str| {
        let mut builder = Response::builder()
            .status(status)
            .header("ms-correlationid", "2f6c1d0e-5b8a-4c3e-9f21-7a0b4d6e8c15");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("valid response")
    };
    let gateway_429 =
        r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."}"#;
    let ok = || {
        response(
            StatusCode::OK,
            &[("content-type", "application/json")],
            r#"{"items":[]}"#,
        )
    };
    match (path, n) {
        ("/v1/customers", 0) => response(
            StatusCode::TOO_MANY_REQUESTS,
            &[("retry-after", "1")],
            gateway_429,
        ),
        ("/v1/subscriptions", 0 | 1) => response(
            StatusCode::SERVICE_UNAVAILABLE,
            &[("retry-after-ms", "250")],
            "Service Unavailable",
        ),
        ("/v1/customers/c/carts" | "/v1/customers/c/orders", 0) => response(
            StatusCode::GATEWAY_TIMEOUT,
            &[("content-type", "text/html")],
            "<html><body><h1>504 Gateway Time-out</h1></body></html>",
        ),
        ("/v1/invoices", _) => response(
            StatusCode::TOO_MANY_REQUESTS,
            &[("retry-after", "3600")],
            r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 3600 seconds."}"#,
        ),
        _ => ok(),
    }
}

async fn start_upstream(started: Instant) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<Incoming>| async move {
                        let path = request.uri().path().to_owned();
                        let n = {
                            let mut arrivals = ARRIVALS.lock().unwrap();
                            let count = arrivals
                                .get_or_insert_with(HashMap::new)
                                .entry(path.clone())
                                .or_insert(0);
                            *count += 1;
                            *count - 1
                        };
                        let attempt = request
                            .headers()
                            .get("retry-attempt")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or("-");
                        let response = answer(&path, n);
                        println!(
                            "  upstream at {:>5.2?}: {} {path} (Retry-Attempt: {attempt}) -> {}",
                            started.elapsed(),
                            request.method(),
                            response.status().as_u16()
                        );
                        Ok::<_, Infallible>(response)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

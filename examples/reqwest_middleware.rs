//! reqwest-middleware: Partner Center errors as structured errors, and retries that wait as long
//! as the server asked.
//!
//! Starts a Partner-Center-like upstream on 127.0.0.1, calls it through a
//! `reqwest_middleware::ClientWithMiddleware` and prints what each call returned; exits when done
//! (about two seconds, most of it the server's own retry delays).
//!
//! ```text
//! cargo run --example reqwest_middleware --features reqwest
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use partner_center_errors::reqwest::{
    api_error, partner_error, PartnerErrorsMiddleware, RetryAfterMiddleware,
};
use partner_center_errors::{ApiError, Error, PartnerErrorsLayer, RetryAfterPolicy};
use reqwest_middleware::ClientBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let upstream = start_upstream().await?;
    println!("Partner-Center-like upstream listening on http://{upstream}\n");

    // One set of settings, shared by the tower layer and the middleware.
    let layer = PartnerErrorsLayer::new()
        .max_body_bytes(16 * 1024)
        .body_timeout(Duration::from_secs(5));
    // The crate's retry policy, the same as in a tower stack: waits the server's delay exactly,
    // backs off with jitter without one, gives up at once on a delay over `max_wait`.
    let policy = RetryAfterPolicy::new()
        .max_retries(2)
        .base_delay(Duration::from_millis(100))
        .max_wait(Duration::from_secs(30));
    // Retry first (outside), so that it sees the structured errors the capture makes.
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RetryAfterMiddleware::new(policy))
        .with(PartnerErrorsMiddleware::new(layer))
        .build();

    for path in [
        "/v1/customers",
        "/v1/customers/not-a-guid",
        "/v1/subscriptions",
        "/v1/orders",
        "/v1/invoices",
    ] {
        println!("GET {path}");
        let started = Instant::now();
        let result = client
            .get(format!("http://{upstream}{path}"))
            .header("MS-CorrelationId", "2f6c1d0e-5b8a-4c3e-9f21-7a0b4d6e8c15")
            .header("MS-RequestId", "b41c7e90-13d2-4a6f-8e55-0c9d2b7f3a61")
            .send()
            .await;
        let took = started.elapsed();
        match result {
            Ok(response) => println!(
                "  success: {} after {took:.1?}, body {:?}",
                response.status(),
                response.text().await?
            ),
            Err(error) => {
                if let Some(Error::GaveUp(gave_up)) = partner_error(&error) {
                    println!(
                        "  gave up: {} attempts, {:?} waited, because {}",
                        gave_up.attempts(),
                        gave_up.waited(),
                        gave_up.reason()
                    );
                }
                match api_error(&error) {
                    Some(api) => describe(api, took),
                    None => return Err(error.into()),
                }
            }
        }
        println!();
    }

    // Pass-through mode: every response comes back, rebuilt with its URL and headers, and the
    // structured error rides in its extensions.
    let proxy = ClientBuilder::new(reqwest::Client::new())
        .with(PartnerErrorsMiddleware::new(layer.pass_through()))
        .build();
    let response = proxy
        .get(format!(
            "http://{upstream}/v1/customers/not-a-guid?view=full"
        ))
        .send()
        .await?;
    println!("pass-through GET {}", response.url());
    println!(
        "  status {}, content-type {:?}",
        response.status(),
        response.headers()["content-type"]
    );
    if let Some(error) = response.extensions().get::<ApiError>() {
        println!("  error in extensions: {error}");
    }
    println!("  body forwarded as sent: {}", response.text().await?);
    Ok(())
}

fn describe(error: &ApiError, took: Duration) {
    println!("  error:   {error}");
    println!(
        "  kind {:?}, code {:?}, {} schema violation(s), after {took:.1?}",
        error.kind(),
        error.code(),
        error.violations().len()
    );
    if error.is_retryable() {
        println!("  the server asked for a wait of {:?}", error.retry_after());
    }
}

async fn start_upstream() -> std::io::Result<SocketAddr> {
    let throttled = Arc::new(AtomicUsize::new(0));
    let json = |status: StatusCode, headers: &[(&'static str, &'static str)], body: &str| {
        let mut map = HeaderMap::new();
        map.insert(
            "content-type",
            "application/json; charset=utf-8".parse().expect("header"),
        );
        map.insert(
            "ms-correlationid",
            "2f6c1d0e-5b8a-4c3e-9f21-7a0b4d6e8c15"
                .parse()
                .expect("header"),
        );
        for (name, value) in headers {
            map.insert(*name, value.parse().expect("header"));
        }
        (status, map, body.to_owned()).into_response()
    };
    let router = Router::new()
        .route("/v1/customers", get(move || async move { json(StatusCode::OK, &[], r#"{"totalCount":0,"items":[]}"#) }))
        .route(
            "/v1/customers/not-a-guid",
            get(move || async move {
                json(
                    StatusCode::BAD_REQUEST,
                    &[],
                    r#"{"code":2000,"description":"The customer id is not a valid GUID.","data":[],"source":"PartnerFD"}"#,
                )
            }),
        )
        // Throttles the first call with the gateway's own envelope, then answers.
        .route(
            "/v1/subscriptions",
            get(move || {
                let throttled = throttled.clone();
                async move {
                    if throttled.fetch_add(1, Ordering::SeqCst) == 0 {
                        json(
                            StatusCode::TOO_MANY_REQUESTS,
                            &[("retry-after", "1")],
                            r#"{"statusCode":429,"message":"Rate limit is exceeded. Try again in 1 seconds."}"#,
                        )
                    } else {
                        json(StatusCode::OK, &[], r#"{"totalCount":1}"#)
                    }
                }
            }),
        )
        // Always busy, asking for 200 ms: retried twice, then given up.
        .route(
            "/v1/orders",
            get(move || async move { json(StatusCode::SERVICE_UNAVAILABLE, &[("retry-after-ms", "200")], "") }),
        )
        // Not retryable: a 500 is returned at once.
        .route(
            "/v1/invoices",
            get(move || async move {
                json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &[],
                    r#"{"code":3000,"description":"Something failed.","data":[],"source":"PartnerFD"}"#,
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

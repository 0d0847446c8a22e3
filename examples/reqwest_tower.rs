//! reqwest's `Client` as a tower service, wrapped by the error layer and the retry policy.
//!
//! reqwest 0.13's `Client` implements `tower::Service<reqwest::Request>`, and so does the layer
//! around it: requests and responses stay reqwest's own types, successes come back untouched.
//! `RetryAfterPolicy` goes outside, as in any tower stack. Starts a Partner-Center-like upstream
//! on 127.0.0.1, calls it, prints what each call returned, and exits (in about a second: one
//! call waits for the server's `Retry-After: 1`).
//!
//! ```text
//! cargo run --example reqwest_tower --features reqwest
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use partner_center_errors::{ApiError, Error, PartnerErrorsLayer, RetryAfterPolicy};
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let upstream = start_upstream().await?;
    println!("Partner-Center-like upstream listening on http://{upstream}\n");

    let client = reqwest::Client::new();
    let mut service = ServiceBuilder::new()
        .concurrency_limit(16)
        // Waits the server's delay, up to 30 s; a longer one gives up at once.
        .retry(RetryAfterPolicy::new().max_wait(Duration::from_secs(30)))
        .layer(PartnerErrorsLayer::new().max_body_bytes(16 * 1024))
        .service(client.clone());

    for path in [
        "/v1/customers",
        "/v1/customers/unknown",
        "/v1/orders",
        "/v1/subscriptions",
        "/v1/products",
    ] {
        println!("GET {path}");
        let request = client
            .get(format!("http://{upstream}{path}"))
            .header("MS-CorrelationId", "2f6c1d0e-5b8a-4c3e-9f21-7a0b4d6e8c15")
            .header("MS-RequestId", "b41c7e90-13d2-4a6f-8e55-0c9d2b7f3a61")
            .build()?;
        let started = Instant::now();
        match service.ready().await?.call(request).await {
            Ok(response) => {
                let (status, url) = (response.status(), response.url().clone());
                println!(
                    "  success: {status} from {url} after {:.1?}, body {:?}",
                    started.elapsed(),
                    response.text().await?
                );
            }
            Err(Error::Api(error)) => describe(&error),
            Err(Error::GaveUp(gave_up)) => {
                println!(
                    "  gave up: {} attempt(s), {:?} waited, because {}",
                    gave_up.attempts(),
                    gave_up.waited(),
                    gave_up.reason()
                );
                if let Some(error) = gave_up.api_error() {
                    describe(error);
                }
            }
            Err(other) => return Err(other.into()),
        }
        println!();
    }

    // Pass-through: the reqwest::Response comes back rebuilt, URL and headers intact.
    let proxy = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client.clone());
    let request = client
        .get(format!("http://{upstream}/v1/subscriptions?page=2"))
        .build()?;
    let response = proxy.oneshot(request).await?;
    println!("pass-through GET {}", response.url());
    println!(
        "  status {}, retry-after {:?}",
        response.status(),
        response.headers()["retry-after"]
    );
    if let Some(error) = response.extensions().get::<ApiError>() {
        println!(
            "  error in extensions: retry after {:?}",
            error.retry_after()
        );
    }
    println!("  body forwarded as sent: {}", response.text().await?);
    Ok(())
}

fn describe(error: &ApiError) {
    println!("  error:   {error}");
    println!(
        "  kind {:?}, code {:?}, payload {:?}",
        error.kind(),
        error.code(),
        payload_name(error)
    );
}

fn payload_name(error: &ApiError) -> &'static str {
    use partner_center_errors::schema::Payload;
    match error.payload() {
        Payload::PartnerCenter(_) => "Partner Center schema",
        Payload::Gateway(_) => "gateway envelope",
        Payload::Html(_) => "HTML",
        Payload::Empty => "empty",
        _ => "other",
    }
}

async fn start_upstream() -> std::io::Result<SocketAddr> {
    let orders = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        // Busy once, for a second; then answers.
        .route(
            "/v1/orders",
            get(move || {
                let orders = orders.clone();
                async move {
                    if orders.fetch_add(1, Ordering::SeqCst) == 0 {
                        (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")], "").into_response()
                    } else {
                        (StatusCode::OK, r#"{"totalCount":3}"#).into_response()
                    }
                }
            }),
        )
        .route("/v1/customers", get(|| async { (StatusCode::OK, r#"{"totalCount":0,"items":[]}"#) }))
        .route(
            "/v1/customers/unknown",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    [("content-type", "application/json"), ("ms-correlationid", "2f6c1d0e-5b8a-4c3e-9f21-7a0b4d6e8c15")],
                    r#"{"code":600074,"description":"No customer has this id.","data":[],"source":"PartnerFD"}"#,
                )
                    .into_response()
            }),
        )
        .route(
            "/v1/subscriptions",
            get(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "57"), ("content-type", "application/json")],
                    r#"{"statusCode":429,"message":"Rate limit is exceeded. Try again in 57 seconds."}"#,
                )
                    .into_response()
            }),
        )
        .route(
            "/v1/products",
            get(|| async {
                (
                    StatusCode::BAD_GATEWAY,
                    [("content-type", "text/html")],
                    "<html><body><h1>502 Bad Gateway</h1></body></html>",
                )
                    .into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

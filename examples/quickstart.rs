//! Quickstart: calls a Partner-Center-like upstream through the error layer and prints what
//! each error response said.
//!
//! The example starts the upstream itself, on 127.0.0.1, and exits when it has called each
//! route once:
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use partner_center_errors::{Error, PartnerErrorsLayer};
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let upstream = start_upstream().await?;
    println!("Partner-Center-like upstream listening on http://{upstream}\n");

    // The client stack: hyper-util's client, wrapped by the error layer.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().max_body_bytes(16 * 1024))
        .service(client);

    for path in [
        "/v1/customers",
        "/v1/customers/not-a-guid",
        "/v1/invoices",
        "/v1/subscriptions",
        "/v1/orders",
        "/v1/products",
    ] {
        let request = Request::get(format!("http://{upstream}{path}"))
            .header("MS-CorrelationId", "2f6c1d0e-5b8a-4c3e-9f21-7a0b4d6e8c15")
            .body(Full::default())?;
        println!("GET {path}");
        match service.ready().await?.call(request).await {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                println!(
                    "  success: {status}, {} body bytes (untouched by the layer)",
                    body.len()
                );
            }
            Err(Error::Api(error)) => {
                println!("  error:   {error}");
                println!(
                    "  kind {:?}, code {:?}, source {:?}, {} bytes read",
                    error.kind(),
                    error.code(),
                    error.body_source(),
                    error.raw_body().len()
                );
                for violation in error.violations() {
                    println!("  schema:  {violation}");
                }
                for challenge in error.challenges() {
                    println!(
                        "  auth:    scheme {}, realm {:?}, error {:?}",
                        challenge.scheme,
                        challenge.realm(),
                        challenge.error()
                    );
                }
                if error.is_retryable() {
                    println!("  retry:   yes, after {:?}", error.retry_after());
                }
            }
            Err(other) => return Err(other.into()),
        }
        println!();
    }
    Ok(())
}

/// Answers like Partner Center does, including the ways real responses bend the contract.
fn answer(path: &str) -> Response<Full<Bytes>> {
    let json = |status: StatusCode, body: serde_json::Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json; charset=utf-8")
            .header("ms-correlationid", "2f6c1d0e-5b8a-4c3e-9f21-7a0b4d6e8c15")
            .header("ms-requestid", "b41c7e90-13d2-4a6f-8e55-0c9d2b7f3a61")
            .header("ms-cv", "mQ3hT9xvQ0yB7LkP.0")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("valid response")
    };
    match path {
        "/v1/customers" => json(StatusCode::OK, serde_json::json!({"totalCount": 0, "items": []})),
        // The wire sends `code` as a number.
        "/v1/customers/not-a-guid" => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"code": 2000, "description": "The customer id is not a valid GUID.", "data": [], "source": "PartnerFD"}),
        ),
        // The token was issued for another audience.
        "/v1/invoices" => {
            let mut response = json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"code": 900316, "description": "The access token was not issued for this API.", "source": "PartnerFD"}),
            );
            response.headers_mut().insert(
                "www-authenticate",
                "OAuth realm=urn:cpsvc:cpid:6a1f3b2c-8d4e-4f5a-9b0c-1d2e3f4a5b6c".parse().expect("header"),
            );
            response
        }
        // The gateway throttles with a body of its own shape.
        "/v1/subscriptions" => {
            let mut response = json(
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}),
            );
            response.headers_mut().insert("retry-after", "57".parse().expect("header"));
            response
        }
        // A description past the 1024-character limit.
        "/v1/orders" => json(
            StatusCode::CONFLICT,
            serde_json::json!({"code": "800090", "description": "The order conflicts with an existing one. ".repeat(30), "data": [], "source": "PartnerApiServiceControllers"}),
        ),
        // A load balancer's page.
        _ => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .header("content-type", "text/html")
            .body(Full::new(Bytes::from_static(
                b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
            )))
            .expect("valid response"),
    }
}

async fn start_upstream() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|request: Request<Incoming>| async move {
                    Ok::<_, Infallible>(answer(request.uri().path()))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

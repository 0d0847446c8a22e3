//! An axum proxy in front of a Partner-Center-like upstream.
//!
//! - `/v1/...` is forwarded as it is through the error layer in pass-through mode: upstream
//!   errors reach the caller faithfully (status, headers, body byte for byte), and each one is
//!   logged as one structured `tracing` event (status, kind, code, ids, violations, bytes read;
//!   no body text).
//! - `/summary/{id}` calls the upstream in the default mode and returns
//!   `Result<Json<_>, ErrorResponse>`: an upstream error (`?` on the crate's `Error`) becomes a
//!   sound status and a JSON body in Partner Center's schema, with upstream internals left out;
//!   the handler's own failures (an id it refuses before calling) keep their own status.
//!
//! The example starts the upstream and the proxy on 127.0.0.1, calls the proxy with a real
//! client, prints what happened, and exits.
//!
//! ```text
//! cargo run --example axum_proxy --features axum,tracing
//! ```

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use partner_center_errors::axum::ErrorResponse;
use partner_center_errors::middleware::PassThrough;
use partner_center_errors::{ApiError, Error, PartnerErrors, PartnerErrorsLayer};
use tower::{ServiceBuilder, ServiceExt};

/// What the proxy holds: where the upstream is, and the two client stacks.
#[derive(Clone)]
struct Proxy {
    upstream: SocketAddr,
    /// Pass-through: every upstream response goes back to the caller.
    forward: PartnerErrors<Client<HttpConnector, Body>, PassThrough>,
    /// Default mode: an upstream error is `Err(Error::Api(..))`.
    call: PartnerErrors<Client<HttpConnector, Full<Bytes>>>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(true)
        .without_time()
        .with_ansi(false)
        .init();

    let upstream = serve(upstream_app()).await?;
    let layer = PartnerErrorsLayer::new().max_body_bytes(16 * 1024);
    let proxy = Proxy {
        upstream,
        forward: ServiceBuilder::new()
            .layer(layer.pass_through())
            .service(Client::builder(TokioExecutor::new()).build_http()),
        call: ServiceBuilder::new()
            .layer(layer)
            .service(Client::builder(TokioExecutor::new()).build_http()),
    };
    let app = Router::new()
        .route("/summary/{id}", get(summary))
        .fallback(forward)
        .with_state(proxy);
    let proxy_addr = serve(app).await?;
    println!("upstream on http://{upstream}, proxy on http://{proxy_addr}\n");

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    println!(
        "Forwarded through the proxy (pass-through), compared with the upstream's own answer:"
    );
    for path in [
        "/v1/customers",
        "/v1/customers/not-a-guid",
        "/v1/invoices",
        "/v1/subscriptions",
        "/v1/products",
    ] {
        let (status, headers, body) = fetch(&client, proxy_addr, path).await?;
        let (_, _, direct) = fetch(&client, upstream, path).await?;
        println!(
            "  GET {path:<26} -> {status}, {} bytes, identical to the upstream's: {}{}",
            body.len(),
            body == direct,
            headers
                .get(header::RETRY_AFTER)
                .map(|v| format!(", Retry-After {v:?}"))
                .unwrap_or_default(),
        );
    }

    println!("\nAnswered by the proxy itself (IntoResponse for the structured error and its own failures):");
    for id in [
        "7d5e3b1a",
        "not-a-guid",
        "fails",
        "throttled",
        "%3Cscript%3E",
    ] {
        let path = format!("/summary/{id}");
        let (status, headers, body) = fetch(&client, proxy_addr, &path).await?;
        println!(
            "  GET {path:<22} -> {status} {}",
            String::from_utf8_lossy(&body)
        );
        if let Some(value) = headers.get(header::RETRY_AFTER) {
            println!("      Retry-After: {value:?}");
        }
    }
    Ok(())
}

/// Forwards any request to the upstream, as it is, and relays the answer as it is.
async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = match Uri::try_from(format!("http://{}{path}", proxy.upstream)) {
        Ok(uri) => uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    parts.headers.remove(header::HOST);
    let method = parts.method.clone();
    match proxy
        .forward
        .oneshot(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => {
            // The layer has already logged the error event; this adds the route it was on.
            if let Some(error) = response.extensions().get::<ApiError>() {
                tracing::info!(
                    target: "axum_proxy",
                    %method,
                    path,
                    status = error.status().as_u16(),
                    kind = ?error.kind(),
                    correlation_id = error.ids().correlation_id.as_deref(),
                    "relayed an upstream error"
                );
            }
            response.map(Body::new)
        }
        // No answer at all: a 502 in Partner Center's schema.
        Err(error) => Error::Service(error.into()).into_response(),
    }
}

/// Calls the upstream for one customer; an upstream error becomes the proxy's own answer, and
/// an id the proxy refuses is the caller's mistake (400), not "upstream failed".
async fn summary(
    State(proxy): State<Proxy>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ErrorResponse> {
    let valid = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-';
    if id.is_empty() || id.len() > 64 || !id.bytes().all(valid) {
        return Err(ErrorResponse::local(
            StatusCode::BAD_REQUEST,
            "A customer id is 1 to 64 letters, digits or dashes.",
        ));
    }
    let request = axum::http::Request::get(format!("http://{}/v1/customers/{id}", proxy.upstream))
        .header("MS-CorrelationId", "5c2b9e74-0d1f-4e63-a8b7-3f6a1c9d2e40")
        .body(Full::default())
        .map_err(|_| {
            ErrorResponse::local(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not build the request.",
            )
        })?;
    let response = proxy.call.oneshot(request).await?;
    // The layer caps error bodies only: a success body is read here, under a cap of its own.
    let body = Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(Error::Service)?
        .to_bytes();
    let customer: serde_json::Value =
        serde_json::from_slice(&body).map_err(|error| Error::Service(error.into()))?;
    Ok(Json(
        serde_json::json!({"id": id, "name": customer["companyName"]}),
    ))
}

async fn fetch(
    client: &Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    path: &str,
) -> Result<(StatusCode, axum::http::HeaderMap, Bytes), Box<dyn std::error::Error + Send + Sync>> {
    let response = client.get(format!("http://{addr}{path}").parse()?).await?;
    let (parts, body) = response.into_parts();
    Ok((
        parts.status,
        parts.headers,
        body.collect().await?.to_bytes(),
    ))
}

async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// Answers like Partner Center, including the ways real responses bend the contract.
fn upstream_app() -> Router {
    fn json(status: StatusCode, body: serde_json::Value) -> Response {
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert(
            "ms-correlationid",
            HeaderValue::from_static("5c2b9e74-0d1f-4e63-a8b7-3f6a1c9d2e40"),
        );
        headers.insert(
            "ms-requestid",
            HeaderValue::from_static("e8a1f0c2-6b7d-4c39-9e15-2a4f8d0b7c63"),
        );
        headers.insert("ms-serverid", HeaderValue::from_static("pcfd-westus-17"));
        response
    }
    Router::new()
        .route("/v1/customers", get(|| async { json(StatusCode::OK, serde_json::json!({"totalCount": 0, "items": []})) }))
        .route(
            "/v1/customers/{id}",
            get(|Path(id): Path<String>| async move {
                match id.as_str() {
                    "7d5e3b1a" => json(StatusCode::OK, serde_json::json!({"id": id, "companyName": "Contoso"})),
                    "not-a-guid" => json(
                        StatusCode::BAD_REQUEST,
                        serde_json::json!({"code": 2000, "description": "The customer id is not a valid GUID.", "data": [], "source": "PartnerFD"}),
                    ),
                    "throttled" => {
                        let mut response = json(
                            StatusCode::TOO_MANY_REQUESTS,
                            serde_json::json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}),
                        );
                        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("57"));
                        response
                    }
                    _ => json(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        serde_json::json!({"code": 3000, "description": "NullReferenceException in CustomerProfileProvider.Get", "data": ["at PartnerFD.Customers line 212"], "source": "PartnerFD"}),
                    ),
                }
            }),
        )
        .route(
            "/v1/invoices",
            get(|| async {
                let mut response = json(
                    StatusCode::UNAUTHORIZED,
                    serde_json::json!({"code": 900316, "description": "The access token was not issued for this API.", "source": "PartnerFD"}),
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("OAuth realm=urn:cpsvc:cpid:6a1f3b2c-8d4e-4f5a-9b0c-1d2e3f4a5b6c"),
                );
                response
            }),
        )
        .route(
            "/v1/subscriptions",
            get(|| async {
                let mut response = json(
                    StatusCode::TOO_MANY_REQUESTS,
                    serde_json::json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}),
                );
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("57"));
                response
            }),
        )
        .route(
            "/v1/products",
            get(|| async {
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
                )
                    .into_response()
            }),
        )
}

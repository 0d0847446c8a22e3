//! How the crate's bodies frame on the wire: hyper sends a body whose `size_hint` is exact with
//! a `Content-Length`, and HTTP/1 carries trailers only in chunked framing, so a body that still
//! has trailers to send must not claim an exact length. Over real loopback HTTP (hyper-util's
//! client, hyper servers on 127.0.0.1).

use std::sync::{Arc, Mutex};

use crate::support::{
    client, get, respond, serve, serve_async, serve_raw, ChannelBody, ServerBody,
};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::WithTrailers;
use http_body_util::BodyExt;
use partner_center_errors::retry::{BufferRequestLayer, BufferedBody};
use partner_center_errors::PartnerErrorsLayer;
use tower::{ServiceBuilder, ServiceExt};

/// What a server saw of one request: its `Content-Length`, its bytes and its trailers.
type Seen = (Option<String>, Bytes, Option<HeaderMap>);

/// A server that records what each request carried, and answers 200.
async fn recording() -> (std::net::SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let addr = serve_async(move |request: Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let (parts, body) = request.into_parts();
            let length = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .map(|value| value.to_str().unwrap().to_owned());
            let collected = body.collect().await.expect("request body");
            let trailers = collected.trailers().cloned();
            log.lock()
                .unwrap()
                .push((length, collected.to_bytes(), trailers));
            respond(200, &[], "")
        }
    })
    .await;
    (addr, seen)
}

type Trailed =
    WithTrailers<ServerBody, std::future::Ready<Option<Result<HeaderMap, std::io::Error>>>>;

fn checksum() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    trailers
}

/// `abc`, streamed (length unknown), then an `x-checksum` trailer.
fn trailed() -> Trailed {
    let (sender, body) = ChannelBody::channel(1);
    sender.try_send(Ok(Bytes::from_static(b"abc"))).unwrap();
    drop(sender);
    body.with_trailers(std::future::ready(Some(Ok(checksum()))))
}

/// A streamed POST of `abc` that ends with an `x-checksum` trailer, announced in `Trailer`.
fn trailed_post(addr: std::net::SocketAddr) -> Request<Trailed> {
    Request::post(format!("http://{addr}/v1/customers/c/orders"))
        .header(http::header::TRAILER, "x-checksum")
        .body(trailed())
        .unwrap()
}

/// A request body with trailers, buffered for replay, still reaches the server with them: sent
/// as it came (chunked, length unknown) they arrive; buffered, the body must not claim an exact
/// length, or hyper sends a `Content-Length` and drops the trailers.
#[tokio::test]
async fn a_buffered_request_body_keeps_its_trailers_on_the_wire() {
    let (addr, seen) = recording().await;
    let direct = crate::support::client::<Trailed>();
    let response = direct.oneshot(trailed_post(addr)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let buffered = ServiceBuilder::new()
        .layer(BufferRequestLayer::new())
        .service(crate::support::client::<BufferedBody<Trailed>>());
    let response = buffered.oneshot(trailed_post(addr)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let seen = seen.lock().unwrap().clone();
    let expected = (None, Bytes::from_static(b"abc"), Some(checksum()));
    assert_eq!(seen[0], expected, "sent as it came");
    assert_eq!(seen[1], expected, "buffered for replay");
}

/// `request` with `TE: trailers`, without which a hyper server sends no trailers.
fn wanting_trailers<B>(mut request: Request<B>) -> Request<B> {
    let te = http::HeaderValue::from_static("trailers");
    request.headers_mut().insert(http::header::TE, te);
    request
}

/// A proxy forwards an error response of pass-through mode as it forwards a success: chunked,
/// with its trailers. The upstream answers `/ok` with 200 and `/busy` with 503, each with a
/// streamed body and a trailer; the proxy, as proxies do, drops the hop-by-hop
/// `Transfer-Encoding` and lets its server frame the body again.
#[tokio::test]
async fn a_proxy_forwards_a_passed_error_response_with_its_trailers() {
    let upstream = serve(|request| {
        let status = match request.uri().path() {
            "/ok" => StatusCode::OK,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut response = Response::new(trailed().boxed());
        *response.status_mut() = status;
        let announced = http::HeaderValue::from_static("x-checksum");
        response
            .headers_mut()
            .insert(http::header::TRAILER, announced);
        response
    })
    .await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client());
    let proxy = serve_async(move |request: Request<hyper::body::Incoming>| {
        let forwarded = service
            .clone()
            .oneshot(wanting_trailers(get(upstream, request.uri().path())));
        async move {
            let (mut parts, body) = forwarded.await.expect("passed").into_parts();
            parts.headers.remove(http::header::TRANSFER_ENCODING);
            Response::from_parts(parts, body.map_err(std::io::Error::other).boxed())
        }
    })
    .await;

    for (path, status) in [("/ok", 200), ("/busy", 503)] {
        let request = wanting_trailers(get(proxy, path));
        let response = client().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
        let length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .cloned();
        let collected = response.into_body().collect().await.expect("forwarded");
        let trailers = collected.trailers().cloned();
        assert_eq!(
            (length, collected.to_bytes(), trailers),
            (None, Bytes::from_static(b"abc"), Some(checksum())),
            "{path}"
        );
    }
}

/// A proxy relays an error body of pass-through mode that failed mid-body (the upstream's
/// connection broke) as a failure, never as a complete, shorter response: the replayed bytes
/// must not claim an exact length while a failure is still to come, or the proxy's server sends
/// a `Content-Length` of the bytes read, ends the response cleanly and never sees the failure.
#[tokio::test]
async fn a_proxy_relays_a_passed_body_that_failed_as_a_failure() {
    // One chunk of the body, then the connection closes before the chunked body's end.
    let upstream = serve_raw(
        b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n8\r\n{\"code\":\r\n",
    )
    .await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client());
    let proxy = serve_async(move |request: Request<hyper::body::Incoming>| {
        let forwarded = service.clone().oneshot(get(upstream, request.uri().path()));
        async move {
            let (mut parts, body) = forwarded.await.expect("passed").into_parts();
            parts.headers.remove(http::header::TRANSFER_ENCODING);
            Response::from_parts(parts, body.map_err(std::io::Error::other).boxed())
        }
    })
    .await;

    // hyper's server may fail the relay before its head is out (the replay's bytes and its
    // failure are ready at once) or after it; either way the client sees a failure.
    let relayed = match client().oneshot(get(proxy, "/broken")).await {
        Err(error) => Err(error.to_string()),
        Ok(response) => {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            let length = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .cloned();
            let body = response.into_body().collect().await;
            body.map(|body| (length, body.to_bytes()))
                .map_err(|error| error.to_string())
        }
    };
    assert!(relayed.is_err(), "relayed as complete: {relayed:?}");
}

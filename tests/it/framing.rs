//! How the crate's bodies frame on the wire: hyper sends a body whose `size_hint` is exact with
//! a `Content-Length`, and HTTP/1 carries trailers only in chunked framing, so a body that still
//! has trailers to send must not claim an exact length. Over real loopback HTTP (hyper-util's
//! client, a hyper server on 127.0.0.1).

use std::sync::{Arc, Mutex};

use crate::support::{respond, serve_async, ChannelBody, ServerBody};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::combinators::WithTrailers;
use http_body_util::BodyExt;
use partner_center_errors::retry::{BufferRequestLayer, BufferedBody};
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

/// A streamed POST of `abc` that ends with an `x-checksum` trailer, announced in `Trailer`.
fn trailed_post(addr: std::net::SocketAddr) -> Request<Trailed> {
    let (sender, body) = ChannelBody::channel(1);
    sender.try_send(Ok(Bytes::from_static(b"abc"))).unwrap();
    drop(sender);
    let body = body.with_trailers(std::future::ready(Some(Ok(checksum()))));
    Request::post(format!("http://{addr}/v1/customers/c/orders"))
        .header(http::header::TRAILER, "x-checksum")
        .body(body)
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

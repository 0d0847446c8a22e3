//! Request replay under the retry policy, from outside: bodies at and past the buffer limit,
//! bodies that fail or never end, over real HTTP (hyper-util's client, a hyper server on
//! 127.0.0.1, tokio's paused clock).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::support::{arrivals, patterned, respond, scripted, ChannelBody, ServerBody};
use bytes::Bytes;
use http::{Request, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use partner_center_errors::retry::{BufferRequestLayer, BufferedBody};
use partner_center_errors::{Error, PartnerErrorsLayer, RetryAfterPolicy};
use tower::{ServiceBuilder, ServiceExt};

type BufferedClient = Client<HttpConnector, BufferedBody<ServerBody>>;

/// The documented replay stack over hyper-util's client: buffering (at most `limit` bytes of a
/// request body), the retry policy, the error layer.
fn replaying(
    limit: usize,
) -> impl tower::Service<
    Request<ServerBody>,
    Response = http::Response<hyper::body::Incoming>,
    Error = Error,
    Future: Send,
> + Clone {
    let client: BufferedClient = crate::support::client();
    ServiceBuilder::new()
        .layer(BufferRequestLayer::new().max_body_bytes(limit))
        .retry(RetryAfterPolicy::new())
        .layer(PartnerErrorsLayer::new())
        .service(client)
}

/// A POST whose `body` is fed through a channel in frames of `frame` bytes: no length known.
fn channel_post(addr: SocketAddr, body: Bytes, frame: usize) -> Request<ServerBody> {
    let frames = body.len().div_ceil(frame.max(1)).max(1);
    let (sender, channel) = ChannelBody::channel(frames);
    for part in body.chunks(frame.max(1)) {
        sender.try_send(Ok(body.slice_ref(part))).unwrap();
    }
    drop(sender);
    Request::post(format!("http://{addr}/v1/customers/c/orders"))
        .header("MS-RequestId", "e0c1d2a3-0000-4000-8000-000000000001")
        .body(channel)
        .unwrap()
}

/// Bodies of one byte less than the limit, the limit, and one byte more, in frames that do
/// and do not line up with it: those that fit are replayed byte for byte, the larger one is
/// sent once, whole.
#[tokio::test(start_paused = true)]
async fn bodies_at_and_past_the_buffer_limit() {
    let limit = 1000;
    for frame in [1, 7, 100, 999, 1000, 1001, 4096] {
        for len in [0, limit - 1, limit, limit + 1, 3 * limit + 5] {
            let (addr, log) = scripted(|n, _| match n {
                0 => respond(503, &[("retry-after", "1")], ""),
                _ => respond(200, &[], ""),
            })
            .await;
            let service = replaying(limit);
            let body = patterned(len, 251);
            let result = service
                .oneshot(channel_post(addr, body.clone(), frame))
                .await;
            let seen = arrivals(&log);
            if len <= limit {
                assert_eq!(result.unwrap().status(), StatusCode::OK, "{frame} {len}");
                assert_eq!(seen.len(), 2, "{frame} {len}");
            } else {
                assert!(
                    matches!(result, Err(Error::Api(_))),
                    "{frame} {len}: {result:?}"
                );
                assert_eq!(seen.len(), 1, "{frame} {len}");
            }
            for arrival in &seen {
                assert_eq!(arrival.body, body, "frame {frame}, len {len}");
            }
        }
    }
}

/// A body that fails after some bytes: the first attempt carries them, the failure ends it
/// (the server never sees a complete body), and nothing is retried.
#[tokio::test(start_paused = true)]
async fn a_body_that_fails_mid_stream_is_sent_once_and_never_replayed() {
    for limit in [4, 1024] {
        let (addr, log) = scripted(|_, _| respond(429, &[("retry-after", "1")], "")).await;
        let service = replaying(limit);
        let (sender, body) = ChannelBody::channel(4);
        sender
            .try_send(Ok(Bytes::from_static(b"{\"qty\":")))
            .unwrap();
        sender.try_send(Err(io::Error::other("disk gone"))).unwrap();
        drop(sender);
        let request = Request::post(format!("http://{addr}/v1/orders"))
            .body(body)
            .unwrap();
        let result = tokio::time::timeout(Duration::from_secs(60), service.oneshot(request)).await;
        let result = result.expect("no hang");
        assert!(
            matches!(result, Err(Error::Service(_))),
            "{limit}: {result:?}"
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(arrivals(&log).is_empty(), "no complete body ever arrived");
    }
}

/// A body that never ends, read up front: the buffer stops at its limit, the one attempt streams
/// on, the server's early 429 comes back as it is (no retry, no hang).
#[tokio::test(start_paused = true)]
async fn an_endless_body_is_sent_once_and_the_early_answer_comes_back() {
    let addr = crate::support::serve_async(|request: Request<hyper::body::Incoming>| async move {
        use http_body_util::BodyExt;
        let mut body = request.into_body();
        let mut read = 0;
        while read < 100_000 {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
        respond(429, &[("retry-after", "1")], "")
    })
    .await;
    let (body, produced) = crate::support::GeneratedBody::start("", u64::MAX);
    let service = replaying(partner_center_errors::retry::DEFAULT_MAX_BODY_BYTES);
    let request = Request::post(format!("http://{addr}/v1/orders"))
        .body(body)
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), service.oneshot(request))
        .await
        .expect("no hang");
    assert!(
        matches!(&result, Err(Error::Api(error)) if error.status() == StatusCode::TOO_MANY_REQUESTS)
            || matches!(&result, Err(Error::Service(_))),
        "{result:?}"
    );
    assert!(produced.bytes() >= 100_000);
}

/// reqwest-middleware: a POST body is replayed byte for byte, with the same `MS-RequestId` and
/// `MS-CorrelationId` and `Retry-Attempt` counting up.
#[cfg(feature = "reqwest")]
#[tokio::test(start_paused = true)]
async fn reqwest_replays_a_post_body_byte_for_byte() {
    use partner_center_errors::reqwest::{PartnerErrorsMiddleware, RetryAfterMiddleware};
    let (addr, log) = scripted(|n, _| match n {
        0 => respond(429, &[("retry-after", "2")], ""),
        1 => respond(503, &[("retry-after-ms", "1500")], ""),
        _ => respond(201, &[], ""),
    })
    .await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryAfterMiddleware::new(RetryAfterPolicy::new()))
        .with(PartnerErrorsMiddleware::default())
        .build();
    let body = patterned(70_000, 253);
    let response = client
        .post(format!("http://{addr}/v1/orders"))
        .header("MS-RequestId", "r-9")
        .header("MS-CorrelationId", "c-9")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let seen = arrivals(&log);
    assert_eq!(seen.len(), 3);
    assert_eq!(
        crate::support::gaps(&seen),
        [Duration::from_secs(2), Duration::from_millis(1500)]
    );
    for (n, arrival) in seen.iter().enumerate() {
        assert_eq!(arrival.body, body);
        assert_eq!(arrival.headers["ms-requestid"], "r-9");
        assert_eq!(arrival.headers["ms-correlationid"], "c-9");
        let attempt = arrival
            .headers
            .get("retry-attempt")
            .map(|v| v.to_str().unwrap());
        assert_eq!(attempt, (n > 0).then(|| n.to_string()).as_deref());
    }
}

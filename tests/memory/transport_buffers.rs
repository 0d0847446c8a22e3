//! An error kept after its response is gone holds its own bytes, not the connection's: hyper
//! hands out the head's header values and a body's frames as slices of its read buffer, which
//! grows to about 408 KiB on a connection that has carried a large body, and any one slice kept
//! keeps the whole buffer alive. A 404 of 79 bytes, read on such a connection, kept 419 KB
//! until the error copied what it keeps out of that buffer.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use partner_center_errors::{ApiError, Error, PartnerErrorsLayer};
use tower::{Layer, ServiceExt};

use crate::support::{client, get, partner_center_body, serve, ServerBody};

/// The most an error with a small body and a few headers may keep, its own structures
/// included: the body and headers are some 130 bytes here, hyper's read buffer 408 KiB.
const KEPT_AT_MOST: usize = 4 * 1024;

/// Bytes freed by dropping `error` once everything else of its exchange is gone.
async fn kept_by(error: ApiError) -> usize {
    // Let the connection's tasks end, and free their buffers, before counting.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let with = dhat::HeapStats::get().curr_bytes;
    drop(error);
    with - dhat::HeapStats::get().curr_bytes
}

#[test]
fn a_kept_error_does_not_keep_the_connections_read_buffer() {
    let _counting = crate::counting();
    let runtime = crate::runtime();
    runtime.block_on(async {
        let addr = serve(|request| {
            let (status, body) = if request.uri().path() == "/large" {
                (StatusCode::OK, Bytes::from(vec![b'x'; 1 << 20]))
            } else {
                let body = partner_center_body(600074, "no such customer");
                (StatusCode::NOT_FOUND, Bytes::from(body))
            };
            let body: ServerBody = Full::new(body).map_err(|never| match never {}).boxed();
            Response::builder().status(status).body(body).unwrap()
        })
        .await;
        for pass_through in [false, true] {
            let client = client::<Full<Bytes>>();
            // A large body first: hyper's read buffer for this connection grows to its most.
            let large = client.request(get(addr, "/large")).await.unwrap();
            let large = large.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(large.len(), 1 << 20);
            drop(large);

            // Then a 404 on the same connection.
            let layer = PartnerErrorsLayer::new();
            let error = if pass_through {
                let service = layer.pass_through().layer(client.clone());
                let response = service.oneshot(get(addr, "/404")).await.unwrap();
                let error = response.extensions().get::<ApiError>().unwrap().clone();
                drop(response);
                error
            } else {
                let service = layer.layer(client.clone());
                let Err(Error::Api(error)) = service.oneshot(get(addr, "/404")).await else {
                    panic!("expected Error::Api")
                };
                error
            };
            assert_eq!(error.code(), Some("600074"));
            assert_eq!(error.description(), Some("no such customer"));
            assert!(error.headers().contains_key("content-length"));
            drop(client);
            let kept = kept_by(error).await;
            println!("pass_through={pass_through}: the error kept {kept} bytes");
            assert!(
                kept <= KEPT_AT_MOST,
                "pass_through={pass_through}: the error kept {kept} bytes"
            );
        }
    });
}

/// Headers a response may carry: hyper-util's client takes at most 100, in a head of at most
/// about 400 KiB.
const HEADERS: usize = 90;
const HEADER_BYTES: usize = 4 * 1024;

/// An error keeps every header of its response, and no more than their bytes and the map's
/// own structure: a head of 90 headers of 4 KiB is kept as 368 KiB and some 16 KiB more, on
/// top of the cap for the body (the cap does not count the head).
#[test]
fn a_kept_error_keeps_its_whole_head_and_no_more() {
    let _counting = crate::counting();
    let runtime = crate::runtime();
    runtime.block_on(async {
        let addr = serve(|_request| {
            let mut response = Response::builder().status(StatusCode::SERVICE_UNAVAILABLE);
            for n in 0..HEADERS {
                response = response.header(format!("x-filler-{n}"), "v".repeat(HEADER_BYTES));
            }
            let body = Bytes::from(partner_center_body(600074, "busy"));
            let body: ServerBody = Full::new(body).map_err(|never| match never {}).boxed();
            response.body(body).unwrap()
        })
        .await;
        let client = client::<Full<Bytes>>();
        let service = PartnerErrorsLayer::new().layer(client.clone());
        let Err(Error::Api(error)) = service.oneshot(get(addr, "/")).await else {
            panic!("expected Error::Api")
        };
        let head: usize = error
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        assert!(error.headers().len() > HEADERS);
        assert!(head > HEADERS * HEADER_BYTES);
        drop(client);
        let kept = kept_by(error).await;
        println!("a head of {head} bytes: the error kept {kept} bytes");
        assert!(kept <= head + 16 * 1024, "head {head}: kept {kept}");
    });
}

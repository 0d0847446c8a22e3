//! "An open gate on the Redis store allocates nothing", counted with dhat: 100 successful calls
//! through the gate on a connected Redis store allocate exactly as many blocks as through the
//! in-process gate and through no gate at all. One test per binary (dhat's global allocator
//! counts the whole process). The calls are polled by hand, once each, and never yield: the
//! store's background task and the Redis connection cannot run while blocks are counted.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use partner_center_errors::redis::RedisStore;
use partner_center_errors::{PartnerErrorsLayer, ThrottleGateLayer};
use tower::{service_fn, Layer, Service};

const CALLS: usize = 100;

/// Polls `future` once: every service here answers at once.
fn at_once<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an open gate over an in-process upstream never waits"),
    }
}

/// Blocks allocated by `CALLS` calls of `service`, requests built beforehand, responses kept
/// until counted.
fn blocks_of_calls<S>(mut service: S) -> u64
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let requests: Vec<_> = (0..CALLS)
        .map(|n| Request::get(format!("/v1/customers/{n}")).body(Full::default()))
        .collect::<Result<_, _>>()
        .unwrap();
    let mut responses = Vec::with_capacity(CALLS);
    let before = dhat::HeapStats::get().total_blocks;
    for request in requests {
        at_once(std::future::poll_fn(|cx| service.poll_ready(cx))).unwrap();
        responses.push(at_once(service.call(request)).unwrap());
    }
    let blocks = dhat::HeapStats::get().total_blocks - before;
    assert!(responses
        .iter()
        .all(|response| response.status().is_success()));
    blocks
}

#[test]
fn an_open_gate_on_the_redis_store_adds_no_allocation() {
    let _counting = crate::counting();
    let server = crate::redis_server::RedisServer::start().expect("redis-server starts");
    let runtime = crate::runtime();
    let store = runtime.block_on(async {
        let store = RedisStore::builder(server.url()).build().unwrap();
        for _ in 0..500 {
            if store.is_connected() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        store
    });
    assert!(store.is_connected(), "connected within 5 s");
    let upstream = || {
        PartnerErrorsLayer::new().layer(service_fn(|_request| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
        }))
    };
    let redis_gate = ThrottleGateLayer::with_store(store);
    let local_gate = ThrottleGateLayer::new();
    // Warm up whatever allocates once per process.
    blocks_of_calls(redis_gate.layer(upstream()));

    let none = blocks_of_calls(upstream());
    let local = blocks_of_calls(local_gate.layer(upstream()));
    let redis = blocks_of_calls(redis_gate.layer(upstream()));
    assert_eq!(
        (local, redis),
        (none, none),
        "blocks: no gate, in-process, Redis"
    );
    assert!(redis_gate.store().is_connected());
}

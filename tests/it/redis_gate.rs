//! The gate on the Redis store over loopback HTTP: two gates (two processes' worth) share one
//! window and one probe; and with Redis stopped mid-run and started again on the same port,
//! requests keep flowing and the shared state comes back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::redis_server::RedisServer;
use crate::support::scenario;
use crate::support::{client, respond, serve};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use partner_center_errors::gate::{GateStore, ThrottleGateLayer};
use partner_center_errors::redis::RedisStore;
use partner_center_errors::PartnerErrorsLayer;
use tower::{ServiceBuilder, ServiceExt};

/// Most requests the steady flow sends.
const MAX_FLOW: usize = 20_000;

/// Waits until `condition` holds, checking every 10 ms, at most `limit`.
async fn within(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..limit.as_millis() / 10 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within {limit:?}: {what}");
}

fn gate(
    server: &RedisServer,
) -> ThrottleGateLayer<partner_center_errors::gate::SharedScope, RedisStore> {
    let store = RedisStore::builder(server.url())
        .key_prefix("fault:")
        .build()
        .expect("a valid URL, inside a runtime");
    ThrottleGateLayer::with_store(store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_mid_run_requests_keep_flowing_and_state_comes_back() {
    // 429 with a 2 s delay on /throttle, 200 elsewhere.
    let addr = serve(|request| {
        if request.uri().path() == "/throttle" {
            respond(429, &[("retry-after", "2")], Bytes::new())
        } else {
            respond(200, &[], Bytes::new())
        }
    })
    .await;
    let mut server = RedisServer::start().expect("redis-server starts");
    let port = server.port();
    let (gate_a, gate_b) = (gate(&server), gate(&server));
    within(Duration::from_secs(2), "both connected", || {
        gate_a.store().is_connected() && gate_b.store().is_connected()
    })
    .await;
    let a = ServiceBuilder::new()
        .layer(gate_a.clone())
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let b = ServiceBuilder::new()
        .layer(gate_b.clone())
        .layer(PartnerErrorsLayer::new())
        .service(client());

    // Process b's steady flow of requests, every one of which must succeed.
    let served = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flow = tokio::spawn({
        let (served, stop) = (served.clone(), stop.clone());
        async move {
            for n in 0..MAX_FLOW {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let request = Request::get(format!("http://{addr}/b/{n}"))
                    .body(Full::<Bytes>::default())
                    .unwrap();
                let response = b.clone().oneshot(request).await.expect("b's call succeeds");
                assert_eq!(response.status(), StatusCode::OK);
                served.fetch_add(1, Ordering::AcqRel);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });

    server.stop();
    within(Duration::from_secs(2), "both see Redis go", || {
        !gate_a.store().is_connected() && !gate_b.store().is_connected()
    })
    .await;
    let before = served.load(Ordering::Acquire);
    within(
        Duration::from_secs(5),
        "b's requests flow while Redis is down",
        || served.load(Ordering::Acquire) >= before + 20,
    )
    .await;

    // a is throttled while Redis is down: a's gate closes at once, b cannot know yet.
    let throttled = a
        .clone()
        .oneshot(
            Request::get(format!("http://{addr}/throttle"))
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .expect_err("a 429");
    assert_eq!(
        throttled.api_error().map(|error| error.status()),
        Some(StatusCode::TOO_MANY_REQUESTS)
    );
    assert!(gate_a.store().any_closed());
    assert!(!gate_b.store().any_closed());

    let _server = RedisServer::start_on(port).expect("redis-server starts again");
    within(
        Duration::from_secs(1),
        "b learns of a's closing within 1 s of Redis's return",
        || gate_b.store().any_closed(),
    )
    .await;
    within(
        Duration::from_secs(2),
        "b's gate holds its requests",
        || gate_b.counts().held > 0,
    )
    .await;

    stop.store(true, Ordering::Release);
    tokio::time::timeout(Duration::from_secs(10), flow)
        .await
        .expect("b's flow ends once the window does: no hang")
        .expect("no panic in b's flow");
    assert_eq!(gate_b.counts().rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gates_on_one_redis_share_the_window_and_send_one_probe() {
    let server = RedisServer::start().expect("redis-server starts");
    let (addr, upstream) = scenario::upstream().await.expect("upstream");
    let gates = [gate(&server), gate(&server)];
    within(Duration::from_secs(2), "both connected", || {
        gates.iter().all(|gate| gate.store().is_connected())
    })
    .await;
    // Workers of both gates start 50 ms apart, all inside the upstream's 1 s window.
    let workers: Vec<_> = (0..scenario::WORKERS)
        .flat_map(|worker| (0..2).map(move |process| (process, worker)))
        .map(|(process, worker)| {
            let service = scenario::stack(gates[process].clone());
            tokio::spawn(scenario::worker_calls(service, addr, process, worker))
        })
        .collect();
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(30), worker)
            .await
            .expect("no hang")
            .expect("no panic")
            .expect("every call succeeds");
    }

    let outcome = upstream.outcome();
    assert_eq!(
        outcome.served,
        2 * scenario::WORKERS * scenario::CALLS,
        "{outcome:?}"
    );
    // One 429 opened the window; the other gate heard of it through Redis, not from a 429.
    assert_eq!(outcome.premature_total(), 0, "{outcome:?}");
    assert_eq!(outcome.throttled, 1, "{outcome:?}");
    let probes: u64 = gates.iter().map(|gate| gate.counts().probes).sum();
    assert_eq!(probes, 1, "one probe for both gates");
    assert!(gates.iter().all(|gate| gate.counts().held > 0));
}

#[cfg(feature = "reqwest")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reqwest_middleware_gate_on_redis_is_held_by_a_tower_gate_429() {
    use partner_center_errors::reqwest::{
        PartnerErrorsMiddleware, RetryAfterMiddleware, ThrottleGateMiddleware,
    };
    use partner_center_errors::RetryAfterPolicy;

    let server = RedisServer::start().expect("redis-server starts");
    let (addr, upstream) = scenario::upstream().await.expect("upstream");
    let (tower_gate, reqwest_gate) = (gate(&server), gate(&server));
    within(Duration::from_secs(2), "both connected", || {
        tower_gate.store().is_connected() && reqwest_gate.store().is_connected()
    })
    .await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryAfterMiddleware::new(
            RetryAfterPolicy::new().no_budget().max_retries(5),
        ))
        .with(ThrottleGateMiddleware::new(reqwest_gate.clone()))
        .with(PartnerErrorsMiddleware::new(PartnerErrorsLayer::new()))
        .build();

    // The tower gate's first call opens the upstream's window and closes the shared scope.
    let first = tokio::spawn(scenario::worker_calls(
        scenario::stack(tower_gate.clone()),
        addr,
        0,
        0,
    ));
    within(
        Duration::from_secs(2),
        "the reqwest gate hears of it",
        || reqwest_gate.store().any_closed(),
    )
    .await;
    let response = client
        .get(format!("http://{addr}/p1/w0/c0"))
        .send()
        .await
        .expect("the held call succeeds after the window");
    assert_eq!(response.status(), StatusCode::OK);
    first
        .await
        .unwrap()
        .expect("the tower gate's calls succeed");

    let outcome = upstream.outcome();
    assert_eq!(outcome.premature_total(), 0, "{outcome:?}");
    assert_eq!(outcome.throttled, 1, "{outcome:?}");
    assert_eq!(reqwest_gate.counts().held, 1);
}

//! The three pieces stacked as the README tells users to stack them, over loopback:
//! `retry(RetryAfterPolicy) -> ThrottleGateLayer -> PartnerErrorsLayer -> client`, with the
//! tower pieces users put around or inside it. tokio's clock is paused: the server stamps
//! each arrival with it, so "when did the retry arrive" is exact and nothing sleeps for real.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use partner_center_errors::{
    Error, GateClosed, GiveUpReason, PartnerErrorsLayer, RetryAfterPolicy, ThrottleGateLayer,
};
use tower::{ServiceBuilder, ServiceExt};

use crate::support::{arrivals, client, gaps, respond, scripted};

/// Longer than any scenario here takes on the paused clock: a stack that hangs fails the test
/// instead of hanging it.
const HANG: Duration = Duration::from_secs(3600);

fn get(addr: std::net::SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .expect("request")
}

/// A `concurrency_limit` between the gate and the error layer must not starve the retry the
/// gate holds: the retry's own service keeps the slot it reserved in `poll_ready`, and the
/// request it hands over must be sent with that slot, not wait for a second one.
#[tokio::test(start_paused = true)]
async fn a_concurrency_limit_inside_the_gate_lets_the_held_retry_through() {
    let (addr, log) = scripted(|n, _| match n {
        0 => respond(429, &[("retry-after", "1")], ""),
        _ => respond(200, &[], ""),
    })
    .await;
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().no_budget())
        .layer(ThrottleGateLayer::new())
        .concurrency_limit(1)
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let call = service.oneshot(get(addr, "/v1/customers"));
    let result = tokio::time::timeout(HANG, call).await;
    let seen = arrivals(&log);
    let response = result
        .unwrap_or_else(|_| panic!("the retry never went out; the upstream saw {}", seen.len()))
        .expect("the retry succeeds");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(gaps(&seen), [Duration::from_secs(1)]);
}

/// A retry the gate refuses (another request's answer extended the window past the wait
/// limit while this one waited its own delay) ends the retries; what comes out must still say
/// "throttled, come back at `opens_at`": `Error::gate_closed` and `GateClosed::find` find the
/// refusal inside `Error::GaveUp`, as `Error::api_error` finds a last error response there.
#[tokio::test(start_paused = true)]
async fn a_retry_the_gate_refuses_still_carries_the_refusal_for_the_caller() {
    let (addr, log) = scripted(|_, arrival| match arrival.path.as_str() {
        "/short" => respond(429, &[("retry-after", "2")], ""),
        _ => respond(429, &[("retry-after", "600")], ""),
    })
    .await;
    let gate = ThrottleGateLayer::new();
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().no_budget())
        .layer(gate.clone())
        .layer(PartnerErrorsLayer::new())
        .service(client());
    // Both are sent while the gate is open; the long window closes it for 600 s.
    let short = service.clone().oneshot(get(addr, "/short"));
    let long = service.oneshot(get(addr, "/long"));
    let (short, long) = tokio::time::timeout(HANG, async { tokio::join!(short, long) })
        .await
        .expect("both calls end");

    let Err(Error::GaveUp(long)) = long else {
        panic!("{long:?}")
    };
    assert_eq!(long.reason(), GiveUpReason::WaitTooLong);
    let error = short.expect_err("refused");
    let Error::GaveUp(gave_up) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(gave_up.reason(), GiveUpReason::GateClosed);
    assert!(matches!(gave_up.last_error(), Error::GateClosed(_)));
    assert!(
        error
            .to_string()
            .contains("the throttle gate refused the retry"),
        "{error}"
    );
    assert_eq!(arrivals(&log).len(), 2, "the refused retry was not sent");
    assert_eq!(gate.counts().rejected, 1);

    let closed = error.gate_closed().expect("the refusal, through GaveUp");
    assert!(closed.remaining() > Duration::from_secs(590), "{closed:?}");
    let found = GateClosed::find(&error).expect("found through GaveUp");
    assert_eq!(found.opens_at(), closed.opens_at());
    #[cfg(feature = "axum")]
    {
        use axum_core::response::IntoResponse;
        let response = partner_center_errors::axum::ErrorResponse::from(error).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
    }
}

/// `tower::timeout` outside the stack (a deadline on the whole call, as the retry's docs
/// advise) boxes every error: the gate's refusal is then a `BoxError` around the crate's
/// `Error::GateClosed`, and `GateClosed::find` must still find it.
#[tokio::test(start_paused = true)]
async fn a_refusal_boxed_by_a_timeout_outside_the_stack_is_still_found() {
    let (addr, log) = scripted(|_, _| respond(429, &[("retry-after", "600")], "")).await;
    let service = ServiceBuilder::new()
        .timeout(Duration::from_secs(30))
        .retry(RetryAfterPolicy::new().no_budget())
        .layer(ThrottleGateLayer::new())
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let first = service.clone().oneshot(get(addr, "/v1/customers")).await;
    let first = first.expect_err("throttled for 600 s");
    let first = first.downcast_ref::<Error>().expect("the crate's error");
    assert!(
        matches!(first, Error::GaveUp(gave_up) if gave_up.reason() == GiveUpReason::WaitTooLong)
    );

    let refused = service.oneshot(get(addr, "/v1/customers")).await;
    let refused = refused.expect_err("refused by the gate");
    assert!(
        matches!(refused.downcast_ref::<Error>(), Some(Error::GateClosed(_))),
        "{refused:?}"
    );
    let closed = GateClosed::find(&refused).expect("found inside the BoxError");
    assert!(closed.remaining() > Duration::from_secs(590), "{closed:?}");
    assert_eq!(arrivals(&log).len(), 1, "the refused request was not sent");
}

/// A throttled answer: status, headers, body, and the window it asks for in milliseconds.
type Throttled = (
    u16,
    &'static [(&'static str, &'static str)],
    &'static str,
    u64,
);

/// One throttled answer in each form the wire carries its delay.
const THROTTLED: [Throttled; 5] = [
    (429, &[("retry-after", "2")], "", 2000),
    (429, &[("retry-after-ms", "1500")], "", 1500),
    (
        429,
        &[
            ("date", "Tue, 01 Dec 2026 03:00:00 GMT"),
            ("retry-after", "Tue, 01 Dec 2026 03:00:04 GMT"),
        ],
        "",
        4000,
    ),
    (
        429,
        &[("content-type", "application/json")],
        r#"{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 3 seconds." }"#,
        3000,
    ),
    (503, &[("retry-after", "2")], "", 2000),
];

/// For each of [`THROTTLED`], through a fresh stack from `get_twice`: a first call throttled
/// once, and a second call 100 ms later, inside the window. Both must succeed, and everything
/// after the first request must reach the upstream exactly when the window ends.
async fn assert_held_exactly_until_the_window_ends<F, Fut>(get_twice: F)
where
    F: Fn(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = (StatusCode, StatusCode)>,
{
    for (status, headers, body, millis) in THROTTLED {
        let (addr, log) = scripted(move |n, _| match n {
            0 => respond(status, headers, body),
            _ => respond(200, &[], ""),
        })
        .await;
        let statuses = tokio::time::timeout(HANG, get_twice(addr))
            .await
            .expect("both calls end");
        assert_eq!(statuses, (StatusCode::OK, StatusCode::OK), "{headers:?}");
        let seen = arrivals(&log);
        let paths: Vec<&str> = seen.iter().map(|arrival| arrival.path.as_str()).collect();
        assert_eq!(paths.len(), 3, "{headers:?}: {paths:?}");
        assert_eq!(paths[0], "/first");
        let window = Duration::from_millis(millis);
        let after_the_first: Vec<Duration> = seen[1..]
            .iter()
            .map(|arrival| arrival.at - seen[0].at)
            .collect();
        assert_eq!(after_the_first, [window, window], "{headers:?}: {paths:?}");
    }
}

/// One throttled answer, in each form the wire carries its delay, through the whole stack:
/// the retry of the throttled call and a second call that arrives inside the window both go
/// out exactly when the window ends, never earlier, and the retry is not held a second time
/// by the gate after waiting its delay (no double wait).
#[tokio::test(start_paused = true)]
async fn every_form_of_delay_holds_the_retry_and_the_others_exactly_until_it_ends() {
    assert_held_exactly_until_the_window_ends(|addr| async move {
        let service = ServiceBuilder::new()
            .retry(RetryAfterPolicy::new().no_budget())
            .layer(ThrottleGateLayer::new())
            .layer(PartnerErrorsLayer::new())
            .service(client());
        let first = service.clone().oneshot(get(addr, "/first"));
        let second = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            service.oneshot(get(addr, "/second")).await
        };
        let (first, second) = tokio::join!(first, second);
        (
            first.expect("retried").status(),
            second.expect("held").status(),
        )
    })
    .await;
}

/// The same through the reqwest-middleware twin stack.
#[cfg(feature = "reqwest")]
#[tokio::test(start_paused = true)]
async fn the_reqwest_twin_holds_every_form_of_delay_exactly_until_it_ends() {
    use partner_center_errors::reqwest::{
        PartnerErrorsMiddleware, RetryAfterMiddleware, ThrottleGateMiddleware,
    };

    assert_held_exactly_until_the_window_ends(|addr| async move {
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(RetryAfterMiddleware::new(
                RetryAfterPolicy::new().no_budget(),
            ))
            .with(ThrottleGateMiddleware::new(ThrottleGateLayer::new()))
            .with(PartnerErrorsMiddleware::new(PartnerErrorsLayer::new()))
            .build();
        let first = client.get(format!("http://{addr}/first")).send();
        let second = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.get(format!("http://{addr}/second")).send().await
        };
        let (first, second) = tokio::join!(first, second);
        (
            first.expect("retried").status(),
            second.expect("held").status(),
        )
    })
    .await;
}

/// A 429 without a delay: the gate closes for its first backoff (1 s) and the policy draws its
/// own (up to 3 s). The retry goes out at the later of the two, not after both in a row, and
/// nothing goes out before the gate's window ends.
#[tokio::test(start_paused = true)]
async fn without_a_delay_the_retry_waits_the_longer_backoff_not_both() {
    for _ in 0..20 {
        let (addr, log) = scripted(|n, _| match n {
            0 => respond(429, &[], ""),
            _ => respond(200, &[], ""),
        })
        .await;
        let service = ServiceBuilder::new()
            .retry(RetryAfterPolicy::new().no_budget())
            .layer(ThrottleGateLayer::new())
            .layer(PartnerErrorsLayer::new())
            .service(client());
        let call = service.oneshot(get(addr, "/first"));
        let response = tokio::time::timeout(HANG, call).await.expect("ends");
        assert_eq!(response.expect("retried").status(), StatusCode::OK);
        let [gap] = gaps(&arrivals(&log))[..] else {
            panic!("one retry")
        };
        assert!(
            gap >= Duration::from_secs(1),
            "sent inside the gate's window: {gap:?}"
        );
        assert!(gap <= Duration::from_secs(3), "waited twice: {gap:?}");
    }
}

/// What `GaveUp` counts when the gate held a retry behind a longer window than its own delay:
/// `waited` is the policy's own waits (the server's delay it was given), not the time the gate
/// held the retry on top; `attempts` counts the attempts the policy saw come back.
#[tokio::test(start_paused = true)]
async fn gave_up_counts_the_policys_waits_not_the_time_held_at_the_gate() {
    // First attempts: 2 s for /short, 10 s for /long; retries: /long is served, /short is
    // throttled again.
    let (addr, log) = scripted(|_, arrival| {
        let retry = arrival.headers.contains_key("retry-attempt");
        let delay = match (arrival.path.as_str(), retry) {
            ("/long", true) => return respond(200, &[], ""),
            ("/long", false) => "10",
            (_, false) => "2",
            (_, true) => "1",
        };
        respond(429, &[("retry-after", delay)], "")
    })
    .await;
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().no_budget().max_retries(1))
        .layer(ThrottleGateLayer::new())
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let short = service.clone().oneshot(get(addr, "/short"));
    let long = service.oneshot(get(addr, "/long"));
    let (short, _) = tokio::time::timeout(HANG, async { tokio::join!(short, long) })
        .await
        .expect("both calls end");
    let Err(Error::GaveUp(gave_up)) = short else {
        panic!("{short:?}")
    };
    assert_eq!(gave_up.reason(), GiveUpReason::MaxRetries);
    assert_eq!(gave_up.attempts(), 2);
    assert_eq!(
        gave_up.waited(),
        Duration::from_secs(2),
        "the policy's own wait"
    );
    let seen = arrivals(&log);
    let short: Vec<_> = seen
        .iter()
        .filter(|arrival| arrival.path == "/short")
        .collect();
    assert_eq!(short.len(), 2);
    assert_eq!(
        short[1].at - short[0].at,
        Duration::from_secs(10),
        "held by the gate until the longer window ended"
    );
}

/// Pass-through mode under the gate and the retry (the README's stack, with the error layer's
/// `pass_through()` and `map_err(BoxError::from)` so that the client's error type can hold the
/// gate's refusal): the 429 goes on to the caller as a response, unretried; it still closes
/// the gate, a call inside the window is held until it ends, and a call past the wait limit
/// is refused unsent, findable with `GateClosed::find`.
#[tokio::test(start_paused = true)]
async fn pass_through_under_the_gate_and_the_retry() {
    let (addr, log) = scripted(|n, _| match n {
        0 => respond(429, &[("retry-after", "2")], ""),
        1 => respond(200, &[], ""),
        _ => respond(429, &[("retry-after", "600")], ""),
    })
    .await;
    let gate = ThrottleGateLayer::new().max_wait(Duration::from_secs(60));
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().no_budget())
        .layer(gate.clone())
        .map_err(partner_center_errors::BoxError::from)
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client());
    let first = service.clone().oneshot(get(addr, "/first"));
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        service.clone().oneshot(get(addr, "/second")).await
    };
    let (first, second) = tokio::time::timeout(HANG, async { tokio::join!(first, second) })
        .await
        .expect("both calls end");
    let first = first.expect("the 429, passed through");
    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(first
        .extensions()
        .get::<partner_center_errors::ApiError>()
        .is_some());
    assert_eq!(second.expect("held").status(), StatusCode::OK);
    assert_eq!(gaps(&arrivals(&log)), [Duration::from_secs(2)]);

    let third = service.clone().oneshot(get(addr, "/third")).await;
    assert_eq!(third.expect("passed through").status(), 429);
    let refused = service.oneshot(get(addr, "/fourth")).await;
    let refused = refused.expect_err("refused");
    let closed = GateClosed::find(&refused).expect("the refusal");
    assert!(closed.remaining() > Duration::from_secs(590), "{closed:?}");
    assert_eq!(arrivals(&log).len(), 3, "the refused call was not sent");
    assert_eq!(gate.counts().rejected, 1);
}

/// Per-tenant scopes with retries: tenant A's retry stays in A's scope (it is the probe of A's
/// window, sent when it ends), and tenant B's calls inside A's window are neither held nor
/// counted as held.
#[tokio::test(start_paused = true)]
async fn a_tenants_retry_stays_in_its_scope_and_holds_no_other_tenant() {
    let (addr, log) = scripted(|n, arrival| match (n, arrival.path.as_str()) {
        (0, "/a/customers") => respond(429, &[("retry-after", "5")], ""),
        _ => respond(200, &[], ""),
    })
    .await;
    fn tenant(request: &Request<Full<Bytes>>) -> String {
        request
            .uri()
            .path()
            .split('/')
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    }
    let gate = ThrottleGateLayer::new().scope_by(tenant as fn(&Request<Full<Bytes>>) -> String);
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().no_budget())
        .layer(gate.clone())
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let a = service.clone().oneshot(get(addr, "/a/customers"));
    let b = async {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let response = service.clone().oneshot(get(addr, "/b/customers")).await;
            statuses.push(response.expect("B is not held").status());
        }
        statuses
    };
    let (a, b) = tokio::time::timeout(HANG, async { tokio::join!(a, b) })
        .await
        .expect("the calls end");
    assert_eq!(a.expect("A retried").status(), StatusCode::OK);
    assert_eq!(b, [StatusCode::OK; 3]);
    let seen = arrivals(&log);
    let at = |path: &str| -> Vec<Duration> {
        seen.iter()
            .filter(|arrival| arrival.path == path)
            .map(|arrival| arrival.at - seen[0].at)
            .collect()
    };
    assert_eq!(at("/a/customers"), [Duration::ZERO, Duration::from_secs(5)]);
    assert_eq!(
        at("/b/customers"),
        [100, 200, 300].map(Duration::from_millis)
    );
    let counts = gate.counts();
    assert_eq!(
        (counts.held, counts.probes, counts.closings),
        (0, 1, 1),
        "{counts:?}"
    );
    assert!(
        partner_center_errors::gate::GateStore::is_empty(gate.store()),
        "A's scope opened again"
    );
}

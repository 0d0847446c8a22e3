//! The three pieces stacked as the README tells users to stack them, over loopback:
//! `retry(RetryAfterPolicy) -> ThrottleGateLayer -> PartnerErrorsLayer -> client`, with the
//! tower pieces users put around or inside it. tokio's clock is paused: the server stamps
//! each arrival with it, so "when did the retry arrive" is exact and nothing sleeps for real.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use partner_center_errors::{PartnerErrorsLayer, RetryAfterPolicy, ThrottleGateLayer};
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

/// A `concurrency_limit` between the gate and the error layer (where held requests take no
/// slot) must not starve the retry the gate holds: the retry's own service keeps the slot it
/// reserved in `poll_ready`, and the request it hands over must be sent with that slot, not
/// wait for a second one.
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

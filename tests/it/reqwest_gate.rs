//! The reqwest-middleware twin of the throttle gate against the tower gate, case by case: the
//! same scenario through both stacks over loopback (reqwest-middleware's client, and a tower
//! stack over hyper-util's), and the same outcome from each. The assertions count and order
//! what the upstream saw; none measures time.
#![cfg(feature = "reqwest")]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::body::Incoming;
use partner_center_errors::gate::{GateClosed, GateCounts, ThrottleGateLayer, MAX_WINDOW};
use partner_center_errors::reqwest::{
    partner_error, PartnerErrorsMiddleware, RetryAfterMiddleware, ThrottleGateMiddleware,
};
use partner_center_errors::{Error, GiveUpReason, PartnerErrorsLayer, RetryAfterPolicy};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

use crate::support::{client, respond, serve_async, serve_script, Step};

/// What a call came back as, in words both stacks share.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// A response came back (a success).
    Status(u16),
    /// A structured error response.
    Api(u16),
    /// Refused by the gate without being sent: the scope, and the window left in whole seconds
    /// (rounded up).
    GateClosed { scope: String, opens_in_secs: u128 },
    /// The retry policy gave up.
    GaveUp {
        reason: GiveUpReason,
        attempts: u32,
        last: Box<Outcome>,
    },
    /// The request failed without an answer (a connection error).
    Transport,
}

impl Outcome {
    fn of(error: &Error) -> Self {
        match error {
            Error::GateClosed(closed) => Self::closed(closed),
            Error::GaveUp(gave_up) => Self::GaveUp {
                reason: gave_up.reason(),
                attempts: gave_up.attempts(),
                last: Box::new(Self::of(gave_up.last_error())),
            },
            _ => match error.api_error() {
                Some(api) => Self::Api(api.status().as_u16()),
                None => Self::Transport,
            },
        }
    }

    fn closed(closed: &GateClosed) -> Self {
        Self::GateClosed {
            scope: closed.scope().to_owned(),
            opens_in_secs: closed.remaining().as_millis().div_ceil(1000),
        }
    }

    fn of_reqwest(result: reqwest_middleware::Result<reqwest::Response>) -> Self {
        match result {
            Ok(response) => Self::Status(response.status().as_u16()),
            Err(error) => match partner_error(&error) {
                Some(error) => Self::of(error),
                None => Self::Transport,
            },
        }
    }
}

/// The first path segment: the tenant, and the gate's scope.
fn tenant_of(path: &str) -> String {
    path.split('/').nth(1).unwrap_or_default().to_owned()
}

fn tower_tenant(request: &Request<Full<Bytes>>) -> String {
    tenant_of(request.uri().path())
}

fn reqwest_tenant(request: &reqwest::Request) -> String {
    tenant_of(request.url().path())
}

type TowerService = BoxCloneService<Request<Full<Bytes>>, http::Response<Incoming>, Error>;

/// One of the two stacks, `retry -> gate -> error layer -> client`, with one scope per tenant.
#[derive(Clone)]
enum Stack {
    Tower(TowerService),
    Reqwest(reqwest_middleware::ClientWithMiddleware),
}

impl Stack {
    /// GETs `url`.
    async fn get(self, url: String) -> Outcome {
        match self {
            Self::Tower(service) => {
                let request = Request::get(url).body(Full::default()).unwrap();
                match service.oneshot(request).await {
                    Ok(response) => Outcome::Status(response.status().as_u16()),
                    Err(error) => Outcome::of(&error),
                }
            }
            Self::Reqwest(client) => Outcome::of_reqwest(client.get(url).send().await),
        }
    }
}

/// A gate with `settings`, and a way to read its counts.
struct Gated {
    stack: Stack,
    gate: ThrottleGateLayer,
}

impl Gated {
    fn counts(&self) -> GateCounts {
        self.gate.counts()
    }
}

/// Both stacks, each with a gate of its own made by `settings`, and `retry` outside it.
fn both_stacks(
    settings: impl Fn(ThrottleGateLayer) -> ThrottleGateLayer,
    retry: Option<RetryAfterPolicy>,
) -> [Gated; 2] {
    let tower_gate = settings(ThrottleGateLayer::new());
    let scoped = tower_gate
        .clone()
        .scope_by(tower_tenant as fn(&Request<Full<Bytes>>) -> String);
    let tower = match retry.clone() {
        Some(retry) => ServiceBuilder::new()
            .boxed_clone()
            .retry(retry)
            .layer(scoped)
            .layer(PartnerErrorsLayer::new())
            .service(client()),
        None => ServiceBuilder::new()
            .boxed_clone()
            .layer(scoped)
            .layer(PartnerErrorsLayer::new())
            .service(client()),
    };

    let reqwest_gate = settings(ThrottleGateLayer::new());
    let scoped = reqwest_gate
        .clone()
        .scope_by(reqwest_tenant as fn(&reqwest::Request) -> String);
    let mut builder = reqwest_middleware::ClientBuilder::new(reqwest::Client::new());
    if let Some(retry) = retry {
        builder = builder.with(RetryAfterMiddleware::new(retry));
    }
    let reqwest = builder
        .with(ThrottleGateMiddleware::new(scoped))
        .with(PartnerErrorsMiddleware::new(PartnerErrorsLayer::new()))
        .build();

    [
        Gated {
            stack: Stack::Tower(tower),
            gate: tower_gate,
        },
        Gated {
            stack: Stack::Reqwest(reqwest),
            gate: reqwest_gate,
        },
    ]
}

/// What the upstream saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Arrived(String),
    Answered(String),
}

/// An upstream scripted by the path, `/{tenant}/{status}/{delay}/{latency}/...`: it answers
/// `status` after `latency` milliseconds (0 when absent), with `Retry-After: N` for a delay
/// `Ns`, `retry-after-ms: N` for `Nms`, and no delay for `-`.
#[derive(Clone, Default)]
struct Upstream {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    async fn start(&self) -> SocketAddr {
        let seen = self.seen.clone();
        serve_async(move |request| {
            let path = request.uri().path().to_owned();
            seen.lock().unwrap().push(Seen::Arrived(path.clone()));
            let seen = seen.clone();
            async move {
                let parts: Vec<&str> = path.split('/').collect();
                let status: u16 = parts[2].parse().unwrap();
                let latency: u64 = parts.get(4).map_or(0, |ms| ms.parse().unwrap());
                tokio::time::sleep(Duration::from_millis(latency)).await;
                let delay = parts[3];
                let header = if let Some(ms) = delay.strip_suffix("ms") {
                    Some(("retry-after-ms", ms))
                } else {
                    delay.strip_suffix('s').map(|secs| ("retry-after", secs))
                };
                seen.lock().unwrap().push(Seen::Answered(path.clone()));
                respond(status, header.as_slice(), Bytes::new())
            }
        })
        .await
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// What the upstream saw after the first request's arrival and answer: `A` for an
    /// arrival, `a` for an answer, in order.
    fn order_after_the_429(&self) -> String {
        self.seen()[2..]
            .iter()
            .map(|seen| match seen {
                Seen::Arrived(_) => 'A',
                Seen::Answered(_) => 'a',
            })
            .collect()
    }

    fn arrivals(&self) -> usize {
        self.seen()
            .iter()
            .filter(|seen| matches!(seen, Seen::Arrived(_)))
            .count()
    }
}

/// Runs `scenario` on both stacks at once and returns what each gave, tower's first.
async fn on_both<F, Fut, T>(stacks: [Gated; 2], scenario: F) -> [T; 2]
where
    F: Fn(Gated) -> Fut,
    Fut: Future<Output = T>,
{
    let [tower, reqwest] = stacks;
    let (tower, reqwest) = tokio::join!(scenario(tower), scenario(reqwest));
    [tower, reqwest]
}

/// A retry the gate refuses is the end of the retries in both stacks: the policy gives up
/// with the refusal as the last error (nothing was sent a second time), and the caller finds
/// the gate's `GateClosed` in it.
#[tokio::test]
async fn a_retry_the_gate_refuses_gives_up_with_the_refusal_as_its_last_error() {
    // The gate refuses at once; the policy retries a 429 without a delay within a millisecond,
    // inside the gate's backoff of 1 s.
    let retry = RetryAfterPolicy::new()
        .no_budget()
        .base_delay(Duration::from_millis(1));
    let stacks = both_stacks(|gate| gate.max_wait(Duration::ZERO), Some(retry));
    let outcomes = on_both(stacks, |gated| async move {
        let upstream = Upstream::default();
        let addr = upstream.start().await;
        let outcome = gated
            .stack
            .clone()
            .get(format!("http://{addr}/t/429/-"))
            .await;
        (outcome, upstream.arrivals(), gated.counts().rejected)
    })
    .await;
    let refused = Outcome::GateClosed {
        scope: "t".into(),
        opens_in_secs: 1,
    };
    let expected = Outcome::GaveUp {
        reason: GiveUpReason::GateClosed,
        attempts: 2,
        last: Box::new(refused),
    };
    assert_eq!(outcomes[0], (expected, 1, 1), "tower");
    assert_eq!(outcomes[1], outcomes[0], "the twin as the tower stack");
}

/// Which answers close a scope, for how long, and what a closed scope does to the next request
/// of the same tenant and of another: the same in both stacks.
#[tokio::test]
async fn both_gates_close_on_the_same_answers_for_the_same_windows() {
    let day = MAX_WINDOW.as_secs();
    let cases: [(&str, bool, Option<u64>); 7] = [
        ("429/5s", true, Some(5)),
        // A 429 without a delay: the first backoff.
        ("429/-", true, Some(1)),
        ("503/5s", true, Some(5)),
        ("503/-", true, None),
        ("503/5s", false, None),
        ("500/5s", true, None),
        // A delay past the longest window: the longest window.
        ("429/18446744073709551615s", true, Some(day)),
    ];
    for (path, close_on_503, window) in cases {
        let stacks = both_stacks(
            |gate| gate.max_wait(Duration::ZERO).close_on_503(close_on_503),
            None,
        );
        let outcomes = on_both(stacks, |gated| async move {
            let upstream = Upstream::default();
            let addr = upstream.start().await;
            let stack = gated.stack.clone();
            let first = stack.clone().get(format!("http://{addr}/t/{path}")).await;
            let same_tenant = stack.clone().get(format!("http://{addr}/t/200/-")).await;
            let other_tenant = stack.get(format!("http://{addr}/u/200/-")).await;
            let counts = gated.counts();
            (
                first,
                same_tenant,
                other_tenant,
                upstream.arrivals(),
                counts.closings,
                counts.rejected,
            )
        })
        .await;
        let status: u16 = path[..3].parse().unwrap();
        let expected = match window {
            Some(secs) => (
                Outcome::Api(status),
                Outcome::GateClosed {
                    scope: "t".into(),
                    opens_in_secs: secs.into(),
                },
                Outcome::Status(200),
                2,
                1,
                1,
            ),
            None => (
                Outcome::Api(status),
                Outcome::Status(200),
                Outcome::Status(200),
                3,
                0,
                0,
            ),
        };
        assert_eq!(outcomes[0], expected, "tower, {path}, {close_on_503}");
        assert_eq!(outcomes[1], outcomes[0], "the twin, {path}, {close_on_503}");
    }
}

/// Answers to requests sent before the scope closed: a longer delay extends the window, a
/// shorter one never shortens it.
#[tokio::test]
async fn a_later_shorter_delay_never_shortens_either_gates_window() {
    let stacks = both_stacks(|gate| gate.max_wait(Duration::ZERO), None);
    let outcomes = on_both(stacks, |gated| async move {
        let upstream = Upstream::default();
        let addr = upstream.start().await;
        let get = |path: &str| gated.stack.clone().get(format!("http://{addr}{path}"));
        // All three pass the open gate at once; their answers come 5 s, 10 s, then 2 s.
        let answers = tokio::join!(
            get("/t/429/5s/50/a"),
            get("/t/429/10s/150/b"),
            get("/t/429/2s/300/c"),
        );
        assert_eq!(
            answers,
            (Outcome::Api(429), Outcome::Api(429), Outcome::Api(429))
        );
        let refused = get("/t/200/-").await;
        (refused, upstream.arrivals(), gated.counts().closings)
    })
    .await;
    let refused = Outcome::GateClosed {
        scope: "t".into(),
        opens_in_secs: 10,
    };
    assert_eq!(outcomes[0], (refused, 3, 3), "tower");
    assert_eq!(outcomes[1], outcomes[0], "the twin");
}

/// When the window ends, by default one request goes first and the others follow its answer;
/// with `release_all`, everyone goes at once. Each waiter's answer takes 200 ms, so the
/// upstream sees which came while another was in flight.
#[tokio::test]
async fn after_the_window_one_probe_goes_first_or_everyone_with_release_all() {
    for release_all in [false, true] {
        let stacks = both_stacks(|gate| gate.release_all(release_all), None);
        let outcomes = on_both(stacks, |gated| async move {
            let upstream = Upstream::default();
            let addr = upstream.start().await;
            let stack = gated.stack.clone();
            let first = stack
                .clone()
                .get(format!("http://{addr}/t/429/300ms"))
                .await;
            assert_eq!(first, Outcome::Api(429));
            let waiters: Vec<_> = (0..3)
                .map(|n| tokio::spawn(stack.clone().get(format!("http://{addr}/t/200/-/200/{n}"))))
                .collect();
            for waiter in waiters {
                assert_eq!(waiter.await.unwrap(), Outcome::Status(200));
            }
            let order = upstream.order_after_the_429();
            let counts = gated.counts();
            (order, counts.held, counts.probes)
        })
        .await;
        let expected = if release_all {
            ("AAAaaa".to_owned(), 3, 0)
        } else {
            ("AaAAaa".to_owned(), 3, 1)
        };
        assert_eq!(outcomes[0], expected, "tower, release_all: {release_all}");
        assert_eq!(
            outcomes[1], outcomes[0],
            "the twin, release_all: {release_all}"
        );
    }
}

/// How the probe ends without an answer.
#[derive(Debug, Clone, Copy)]
enum ProbeEnd {
    /// The connection is reset: the request fails.
    Fails,
    /// The caller drops the request.
    Dropped,
}

/// A probe that ends without an answer hands its role to the next waiter, who probes in its
/// place; the rest follow that probe's answer.
///
/// The timeline: the 429 closes the tenant's scope for 500 ms; the probe, already waiting,
/// goes at 500 ms to a server that keeps it for 1 s; three more requests arrive at 1 s, behind
/// the probe; at 1.5 s the probe fails or is dropped.
#[tokio::test]
async fn a_probe_that_fails_or_is_dropped_hands_the_role_to_the_next_waiter() {
    for end in [ProbeEnd::Fails, ProbeEnd::Dropped] {
        let outcomes = on_both(both_stacks(|gate| gate, None), |gated| async move {
            let upstream = Upstream::default();
            let addr = upstream.start().await;
            let script = match end {
                ProbeEnd::Fails => vec![Step::Wait(Duration::from_secs(1)), Step::Reset],
                ProbeEnd::Dropped => vec![Step::Hold],
            };
            let (sink, _) = serve_script(script).await;
            let stack = gated.stack.clone();
            let first = stack
                .clone()
                .get(format!("http://{addr}/t/429/500ms"))
                .await;
            assert_eq!(first, Outcome::Api(429));
            let probe = tokio::spawn(stack.clone().get(format!("http://{sink}/t/probe")));
            tokio::time::sleep(Duration::from_secs(1)).await;
            let waiters: Vec<_> = (0..3)
                .map(|n| tokio::spawn(stack.clone().get(format!("http://{addr}/t/200/-/200/{n}"))))
                .collect();
            let probe = match end {
                ProbeEnd::Fails => Some(probe.await.unwrap()),
                ProbeEnd::Dropped => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    probe.abort();
                    None
                }
            };
            for waiter in waiters {
                assert_eq!(waiter.await.unwrap(), Outcome::Status(200));
            }
            let order = upstream.order_after_the_429();
            let counts = gated.counts();
            (probe, order, counts.held, counts.probes)
        })
        .await;
        let probe = match end {
            ProbeEnd::Fails => Some(Outcome::Transport),
            ProbeEnd::Dropped => None,
        };
        let expected = (probe, "AaAAaa".to_owned(), 4, 2);
        assert_eq!(outcomes[0], expected, "tower, {end:?}");
        assert_eq!(outcomes[1], outcomes[0], "the twin, {end:?}");
    }
}

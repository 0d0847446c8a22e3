//! The throttle gate over loopback: workers sharing one client against an upstream that opens a
//! throttle window on its first request and counts what arrives inside it. The assertions count
//! requests; none measures time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use partner_center_errors::gate::{GateStore, ThrottleGateLayer};
use partner_center_errors::{PartnerErrorsLayer, RetryAfterPolicy};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

use crate::support::{client, respond, serve};

/// The upstream's throttle window: 2 s, `Retry-After: 2`.
const WINDOW: Duration = Duration::from_secs(2);
const WORKERS: usize = 16;
const CALLS: usize = 5;

/// One tenant's window as the upstream sees it.
#[derive(Default, Debug, Clone, Copy)]
struct Window {
    /// When the tenant's first request arrived (and was answered 429).
    opened: Option<Instant>,
    /// 429 answers.
    throttled: usize,
    /// Requests that arrived inside the window after its first 429 was answered.
    premature: usize,
    /// Retries (`Retry-Attempt`) that arrived inside the window.
    retries_inside: usize,
    /// Requests answered 200.
    served: usize,
    /// Requests of an unthrottled tenant that arrived while another tenant's window was open.
    inside_other_window: usize,
}

#[derive(Clone, Default)]
struct Upstream {
    /// By tenant: the first path segment.
    windows: Arc<Mutex<HashMap<String, Window>>>,
    /// Tenants the upstream never throttles.
    unthrottled: Arc<Vec<&'static str>>,
}

impl Upstream {
    fn answer(&self, request: &Request<hyper::body::Incoming>) -> u16 {
        let tenant = tenant_of(request.uri().path());
        let retry = request.headers().contains_key("retry-attempt");
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap();
        if self.unthrottled.contains(&tenant.as_str()) {
            let others_open = windows
                .values()
                .any(|other| other.opened.is_some_and(|opened| now < opened + WINDOW));
            let window = windows.entry(tenant).or_default();
            window.served += 1;
            window.inside_other_window += usize::from(others_open);
            return 200;
        }
        let window = windows.entry(tenant).or_default();
        match window.opened {
            None => {
                window.opened = Some(now);
                window.throttled += 1;
                429
            }
            Some(opened) if now < opened + WINDOW => {
                window.premature += 1;
                window.retries_inside += usize::from(retry);
                window.throttled += 1;
                429
            }
            Some(_) => {
                window.served += 1;
                200
            }
        }
    }

    fn window(&self, tenant: &str) -> Window {
        self.windows
            .lock()
            .unwrap()
            .get(tenant)
            .copied()
            .unwrap_or_default()
    }

    /// Serves on 127.0.0.1.
    async fn start(self) -> std::net::SocketAddr {
        serve(move |request| {
            let status = self.answer(&request);
            let headers: &[(&str, &str)] = if status == 429 {
                &[("retry-after", "2")]
            } else {
                &[]
            };
            respond(status, headers, Bytes::new())
        })
        .await
    }
}

fn tenant_of(path: &str) -> String {
    path.split('/').nth(1).unwrap_or_default().to_owned()
}

type TowerClient = BoxCloneService<
    Request<Full<Bytes>>,
    http::Response<hyper::body::Incoming>,
    partner_center_errors::Error,
>;

/// The stack a user builds: retry outside the gate, the gate outside the error layer.
/// The gate with one scope per tenant.
type TenantGate = ThrottleGateLayer<fn(&Request<Full<Bytes>>) -> String>;

fn stack(gate: Option<TenantGate>) -> Client {
    Client::Tower(tower_stack(gate))
}

/// A client the workers share.
#[derive(Clone)]
enum Client {
    Tower(TowerClient),
    #[cfg(feature = "reqwest")]
    Reqwest(reqwest_middleware::ClientWithMiddleware),
}

impl Client {
    /// GETs `uri`; panics unless the call succeeds.
    async fn get(self, uri: String) -> StatusCode {
        match self {
            Self::Tower(service) => {
                let request = Request::get(uri).body(Full::default()).unwrap();
                let response = service
                    .clone()
                    .oneshot(request)
                    .await
                    .expect("call succeeds");
                response.status()
            }
            #[cfg(feature = "reqwest")]
            Self::Reqwest(client) => client
                .get(uri)
                .send()
                .await
                .expect("call succeeds")
                .status(),
        }
    }
}

/// The retry policy of every tower stack here.
fn retry() -> RetryAfterPolicy {
    RetryAfterPolicy::new().no_budget().max_retries(5)
}

/// The same stack with the gate fused into the error layer.
fn fused_stack(gate: TenantGate) -> Client {
    Client::Tower(
        ServiceBuilder::new()
            .boxed_clone()
            .retry(retry())
            .layer(PartnerErrorsLayer::new().throttle_gate(gate))
            .service(client()),
    )
}

/// A stack with a fresh gate stacked, and one with a fresh gate fused, each with its gate.
fn gated_stacks() -> [(Client, TenantGate); 2] {
    let (stacked, fused) = (gate(), gate());
    [
        (stack(Some(stacked.clone())), stacked),
        (fused_stack(fused.clone()), fused),
    ]
}

fn tower_stack(gate: Option<TenantGate>) -> TowerClient {
    let retry = retry();
    match gate {
        Some(gate) => ServiceBuilder::new()
            .boxed_clone()
            .retry(retry)
            .layer(gate)
            .layer(PartnerErrorsLayer::new())
            .service(client()),
        None => ServiceBuilder::new()
            .boxed_clone()
            .retry(retry)
            .layer(PartnerErrorsLayer::new())
            .service(client()),
    }
}

fn per_tenant(request: &Request<Full<Bytes>>) -> String {
    tenant_of(request.uri().path())
}

fn gate() -> TenantGate {
    ThrottleGateLayer::new().scope_by(per_tenant as fn(&Request<Full<Bytes>>) -> String)
}

/// `workers` workers, `CALLS` calls each, worker `i` starting after `i × stagger`; every call
/// must succeed.
async fn run(
    service: Client,
    addr: std::net::SocketAddr,
    tenant: &'static str,
    workers: usize,
    stagger: Duration,
) {
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let service = service.clone();
            tokio::spawn(async move {
                tokio::time::sleep(stagger * worker as u32).await;
                for call in 0..CALLS {
                    let uri = format!("http://{addr}/{tenant}/customers/{worker}-{call}");
                    assert_eq!(service.clone().get(uri).await, StatusCode::OK);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("worker");
    }
}

/// Runs `WORKERS` workers through `service` against a fresh throttling upstream, tenant `t`,
/// worker `i` starting after `i × stagger`; returns what the upstream saw of the window.
async fn window_of_run(service: Client, stagger: Duration) -> Window {
    let upstream = Upstream::default();
    let addr = upstream.clone().start().await;
    run(service, addr, "t", WORKERS, stagger).await;
    upstream.window("t")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staggered_workers_send_nothing_inside_the_window_with_the_gate() {
    // Without the gate: every worker that starts inside the window spends quota there.
    let without = window_of_run(stack(None), Duration::from_millis(100)).await;
    assert_eq!(without.premature, WORKERS - 1, "{without:?}");

    for (service, gate) in gated_stacks() {
        let with = window_of_run(service, Duration::from_millis(100)).await;
        assert_eq!(with.premature, 0, "{with:?}");
        assert_eq!(with.throttled, 1, "one 429 per window");
        assert_eq!(with.served, WORKERS * CALLS);
        let counts = gate.counts();
        assert_eq!(counts.probes, 1, "{counts:?}");
        assert!(counts.held >= (WORKERS - 1) as u64, "{counts:?}");
        assert_eq!(counts.rejected, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_workers_retry_nothing_inside_the_window_with_the_gate() {
    for (service, gate) in gated_stacks() {
        let window = window_of_run(service, Duration::ZERO).await;
        // The first attempts were all in flight before the first 429: they cannot be held back.
        assert!(window.throttled <= WORKERS, "{window:?}");
        assert_eq!(window.retries_inside, 0, "{window:?}");
        assert_eq!(window.served, WORKERS * CALLS);
        assert_eq!(gate.counts().probes, 1, "{:?}", gate.counts());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_for_one_tenant_holds_none_of_another() {
    for (service, gate) in gated_stacks() {
        a_window_for_one_tenant_holds_none_of_another_in(service, gate).await;
    }
}

async fn a_window_for_one_tenant_holds_none_of_another_in(service: Client, gate: TenantGate) {
    let upstream = Upstream {
        unthrottled: Arc::new(vec!["b"]),
        ..Upstream::default()
    };
    let addr = upstream.clone().start().await;
    let a = {
        let service = service.clone();
        tokio::spawn(
            async move { run(service.clone(), addr, "a", 4, Duration::from_millis(100)).await },
        )
    };
    // B's workers run while A's window is open: none of them waits.
    let a_opened = async {
        while upstream.window("a").opened.is_none() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), a_opened)
        .await
        .expect("A's first 429 opens a window");
    run(service.clone(), addr, "b", 4, Duration::ZERO).await;
    let held_during_b = gate.counts().held;
    a.await.unwrap();
    let b_window = upstream.window("b");
    assert_eq!(b_window.served, 4 * CALLS, "B's calls all went out");
    assert_eq!(b_window.inside_other_window, 4 * CALLS, "{b_window:?}");
    assert_eq!(b_window.throttled, 0);
    let a_window = upstream.window("a");
    assert_eq!(a_window.premature, 0, "{a_window:?}");
    assert_eq!(a_window.throttled, 1);
    // Only A's requests were held: at most A's 3 later workers and A's first retry.
    assert!(held_during_b <= 4, "{held_during_b}");
    assert!(gate.store().is_empty(), "A's scope opened again");
}

#[cfg(feature = "reqwest")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reqwest_middleware_twin_holds_staggered_workers_too() {
    use partner_center_errors::reqwest::{
        PartnerErrorsMiddleware, RetryAfterMiddleware, ThrottleGateMiddleware,
    };

    let gate = ThrottleGateLayer::new();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryAfterMiddleware::new(retry()))
        .with(ThrottleGateMiddleware::new(gate.clone()))
        .with(PartnerErrorsMiddleware::new(PartnerErrorsLayer::new()))
        .build();
    let window = window_of_run(Client::Reqwest(client), Duration::from_millis(100)).await;
    assert_eq!(window.premature, 0, "{window:?}");
    assert_eq!(window.throttled, 1);
    assert_eq!(window.served, WORKERS * CALLS);
    assert_eq!(gate.counts().probes, 1);
}

#[cfg(feature = "reqwest")]
#[tokio::test]
async fn the_reqwest_middleware_twin_refuses_past_the_wait_limit() {
    use partner_center_errors::reqwest::{
        gate_closed, PartnerErrorsMiddleware, ThrottleGateMiddleware,
    };

    let upstream = Upstream::default();
    let addr = upstream.clone().start().await;
    let gate = ThrottleGateLayer::new().max_wait(Duration::from_secs(1));
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ThrottleGateMiddleware::new(gate.clone()))
        .with(PartnerErrorsMiddleware::new(PartnerErrorsLayer::new()))
        .build();
    let uri = format!("http://{addr}/t/customers");
    let first = client.get(&uri).send().await.unwrap_err();
    let first = partner_center_errors::reqwest::api_error(&first).expect("the 429");
    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let refused = client.get(&uri).send().await.unwrap_err();
    let closed = gate_closed(&refused).expect("refused by the gate");
    assert_eq!(closed.scope(), "shared");
    assert!(closed.remaining() > Duration::from_secs(1));
    // Found as the tower gate's refusal is: the crate's error, and `GateClosed::find`.
    assert!(matches!(
        partner_center_errors::reqwest::partner_error(&refused),
        Some(partner_center_errors::Error::GateClosed(_))
    ));
    let found = partner_center_errors::GateClosed::find(&refused).expect("found");
    assert_eq!(found.scope(), "shared");
    assert_eq!(
        upstream.window("t").throttled,
        1,
        "the refused request was not sent"
    );
    assert_eq!(gate.counts().rejected, 1);
}

/// The reqwest-middleware twin of [`stack`], with one scope per tenant.
#[cfg(all(feature = "reqwest", feature = "tracing"))]
fn reqwest_stack() -> (Client, CountsOf) {
    use partner_center_errors::reqwest::{
        PartnerErrorsMiddleware, RetryAfterMiddleware, ThrottleGateMiddleware,
    };

    fn per_tenant(request: &reqwest::Request) -> String {
        tenant_of(request.url().path())
    }
    let gate = ThrottleGateLayer::new().scope_by(per_tenant as fn(&reqwest::Request) -> String);
    let counted = gate.clone();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryAfterMiddleware::new(retry()))
        .with(ThrottleGateMiddleware::new(gate))
        .with(PartnerErrorsMiddleware::new(PartnerErrorsLayer::new()))
        .build();
    (Client::Reqwest(client), Box::new(move || counted.counts()))
}

/// Reads the counts of the gate in a stack.
#[cfg(feature = "tracing")]
type CountsOf = Box<dyn Fn() -> partner_center_errors::gate::GateCounts>;

#[cfg(feature = "tracing")]
#[tokio::test]
async fn closing_and_opening_are_traced_with_scope_until_and_waiters() {
    let tower_gate = gate();
    let counted = tower_gate.clone();
    let tower: (Client, CountsOf) = (stack(Some(tower_gate)), Box::new(move || counted.counts()));
    let stacks = [
        tower,
        #[cfg(feature = "reqwest")]
        reqwest_stack(),
    ];
    for (service, counts) in stacks {
        closing_and_opening_are_traced(service, counts).await;
    }
}

#[cfg(feature = "tracing")]
async fn closing_and_opening_are_traced(service: Client, counts: CountsOf) {
    let (recorder, _guard) = crate::support::events::Recorder::install();
    let upstream = Upstream::default();
    let addr = upstream.clone().start().await;
    // The first call is throttled, retried after 2 s (as the probe); two more calls, made once
    // the gate has closed, wait. (Made after a fixed 100 ms instead, they could go out before
    // the 429 arrived: the paused clock runs ahead while the first call waits on the socket.)
    let call = |call: u64| {
        let service = service.clone();
        tokio::spawn(async move {
            service
                .get(format!("http://{addr}/tenant-x/customers/{call}"))
                .await
        })
    };
    let mut calls = vec![call(0)];
    for _ in 0..10_000 {
        if !recorder.events_of("partner_center_errors::gate").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    calls.extend([call(1), call(2)]);
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::OK);
    }
    let events = recorder.events_of("partner_center_errors::gate");
    let messages: Vec<_> = events
        .iter()
        .map(|event| event.field("message").unwrap())
        .collect();
    assert_eq!(messages, ["throttle gate closed", "throttle gate opened"]);
    assert_eq!(events[0].field("scope"), Some("tenant-x"));
    assert_eq!(events[0].field("status"), Some("429"));
    assert_eq!(events[0].field("until_ms"), Some("2000"));
    assert_eq!(events[1].field("scope"), Some("tenant-x"));
    // The two calls made once the gate had closed waited; the throttled call's retry, due
    // when the window ends, waits too when the held calls' wake-up takes the probe role first
    // (the same millisecond on the real clock, either order): the event counts what happened.
    let held = counts().held;
    assert!((2..=3).contains(&held), "held {held}");
    assert_eq!(events[1].field("waited"), Some(held.to_string().as_str()));
}

/// A `concurrency_limit` between the gate and the error layer, one scope per tenant: a request
/// held in tenant A's window must not keep the slot its `poll_ready` reserved while it waits,
/// or tenant B's calls wait for A's window too. B goes out at once; A's held call and A's
/// retry go out when A's window ends.
#[tokio::test(start_paused = true)]
async fn a_request_held_for_one_tenant_keeps_no_concurrency_slot_from_another() {
    use crate::support::{arrivals, get, scripted};

    let (addr, log) = scripted(|n, _| match n {
        0 => respond(429, &[("retry-after", "10")], ""),
        _ => respond(200, &[], ""),
    })
    .await;
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().no_budget())
        .layer(gate())
        .concurrency_limit(1)
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let after = |millis, path| {
        let service = service.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            let response = service.oneshot(get(addr, path)).await;
            response.expect("call succeeds").status()
        }
    };
    let calls = async {
        tokio::join!(
            after(0, "/a/customers/1"),
            after(100, "/a/customers/2"),
            after(200, "/b/customers/1"),
        )
    };
    let statuses = tokio::time::timeout(Duration::from_secs(3600), calls)
        .await
        .expect("the calls end");
    assert_eq!(statuses, (StatusCode::OK, StatusCode::OK, StatusCode::OK));
    let seen = arrivals(&log);
    let at: Vec<(&str, Duration)> = seen
        .iter()
        .map(|arrival| (arrival.path.as_str(), arrival.at - seen[0].at))
        .collect();
    assert_eq!(
        at[..2],
        [
            ("/a/customers/1", Duration::ZERO),
            ("/b/customers/1", Duration::from_millis(200)),
        ],
        "B went out at once: {at:?}"
    );
    assert_eq!(at.len(), 4, "{at:?}");
    assert!(
        at[2..].iter().all(|(_, at)| *at == Duration::from_secs(10)),
        "A's calls went out when its window ended: {at:?}"
    );
}

/// Where the gate sits in the stack of [`sent_inside_a_stalled_429s_window`].
#[derive(Clone, Copy)]
enum Placement {
    /// `.layer(gate).layer(PartnerErrorsLayer::new())`.
    Stacked,
    /// `.layer(PartnerErrorsLayer::new().throttle_gate(gate))`.
    Fused,
    /// `ThrottleGateMiddleware` then `PartnerErrorsMiddleware`.
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    Reqwest,
}

/// A 429 whose head arrives at once (`Retry-After: 30`) but whose body stalls (the error layer
/// reads it up to its 10 s body timeout), then three calls 2 s apart: returns when the calls
/// sent inside the server's 30 s window reached it, the 429 excepted.
async fn sent_inside_a_stalled_429s_window(placement: Placement) -> Vec<Duration> {
    use crate::support::{arrivals, get, scripted, stalled};

    let (addr, log) = scripted(|n, _| match n {
        0 => {
            let mut throttled = stalled(StatusCode::TOO_MANY_REQUESTS, b"{\"statusCode\":429,");
            let delay = http::HeaderValue::from_static("30");
            throttled.headers_mut().insert("retry-after", delay);
            throttled
        }
        _ => respond(200, &[], ""),
    })
    .await;
    let gate = ThrottleGateLayer::new();
    let call = |path: &'static str| {
        let gate = gate.clone();
        async move {
            match placement {
                Placement::Stacked => {
                    let service = ServiceBuilder::new()
                        .layer(gate)
                        .layer(PartnerErrorsLayer::new())
                        .service(client());
                    let _ = service.oneshot(get(addr, path)).await;
                }
                Placement::Fused => {
                    let service = ServiceBuilder::new()
                        .layer(PartnerErrorsLayer::new().throttle_gate(gate))
                        .service(client());
                    let _ = service.oneshot(get(addr, path)).await;
                }
                Placement::Reqwest => {
                    #[cfg(feature = "reqwest")]
                    {
                        use partner_center_errors::reqwest::{
                            PartnerErrorsMiddleware, ThrottleGateMiddleware,
                        };
                        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                            .with(ThrottleGateMiddleware::new(gate))
                            .with(PartnerErrorsMiddleware::new(PartnerErrorsLayer::new()))
                            .build();
                        let _ = client.get(format!("http://{addr}{path}")).send().await;
                    }
                }
            }
        }
    };
    let calls = async {
        tokio::join!(call("/first"), async {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                call("/later").await;
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(3600), calls)
        .await
        .expect("the calls end");
    let seen = arrivals(&log);
    seen.iter()
        .map(|arrival| arrival.at - seen[0].at)
        .filter(|&at| at < Duration::from_secs(30))
        .skip(1)
        .collect()
}

/// The gate fused into the error layer closes at the 429's head, before its body is read: the
/// calls made while the body stalls wait for the window.
#[tokio::test(start_paused = true)]
async fn a_fused_gate_closes_at_a_stalled_429s_head() {
    assert_eq!(
        sent_inside_a_stalled_429s_window(Placement::Fused).await,
        []
    );
}

/// The stacked gate and the reqwest-middleware twin see the answer only once the error layer
/// has read its body, and close only then: calls made meanwhile go out inside the server's
/// window. Known, not fixed; the fused gate (above) is the fix.
#[tokio::test(start_paused = true)]
#[ignore = "known: a stacked gate closes after a 429's body is read, not at its head"]
async fn a_stacked_gate_closes_at_a_stalled_429s_head() {
    assert_eq!(
        sent_inside_a_stalled_429s_window(Placement::Stacked).await,
        [],
        "tower"
    );
    #[cfg(feature = "reqwest")]
    assert_eq!(
        sent_inside_a_stalled_429s_window(Placement::Reqwest).await,
        [],
        "reqwest-middleware"
    );
}

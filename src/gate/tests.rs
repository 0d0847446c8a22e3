//! The gate on tokio's paused clock: closing, extending, waiting, the probe and its hand-over.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{service_fn, BoxError, Service, ServiceBuilder, ServiceExt};

use super::{GateClosed, GateStore, ThrottleGateLayer};
use crate::{Error, PartnerErrorsLayer};

/// What the test upstream saw: when each request arrived, and its `x-id`.
#[derive(Clone, Default)]
struct Upstream {
    sent: Arc<Mutex<Vec<(Instant, String)>>>,
    /// The next request hangs forever instead of being answered.
    hang_next: Arc<AtomicBool>,
}

impl Upstream {
    fn sent(&self) -> Vec<(Instant, String)> {
        self.sent.lock().unwrap().clone()
    }

    fn ids(&self) -> Vec<String> {
        self.sent().into_iter().map(|(_, id)| id).collect()
    }

    /// Answers as the request's `x-answer` says: `200`, `429`, `429:<seconds>`, `503:<seconds>`,
    /// after the `x-latency` milliseconds.
    async fn answer(
        self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let header = |name: &str| header(&request, name);
        self.sent
            .lock()
            .unwrap()
            .push((Instant::now(), header("x-id")));
        if self.hang_next.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if let Ok(latency) = header("x-latency").parse() {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let answer = header("x-answer");
        let (status, delay) = answer.split_once(':').unwrap_or((answer.as_str(), ""));
        let mut response = Response::builder().status(status.parse::<u16>().unwrap_or(200));
        if !delay.is_empty() {
            response = response.header("retry-after", delay);
        }
        Ok(response.body(Full::default()).unwrap())
    }
}

/// The request's header `name` as text, empty when absent or not text.
fn header(request: &Request<Full<Bytes>>, name: &str) -> String {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn request(id: &str, answer: &str) -> Request<Full<Bytes>> {
    Request::get("/v1/customers")
        .header("x-id", id)
        .header("x-answer", answer)
        .body(Full::default())
        .unwrap()
}

fn with_latency(mut request: Request<Full<Bytes>>, millis: u64) -> Request<Full<Bytes>> {
    request
        .headers_mut()
        .insert("x-latency", millis.to_string().parse().unwrap());
    request
}

type Stack = BoxCloneService<Request<Full<Bytes>>, Response<Full<Bytes>>, Error>;

fn stack(gate: &ThrottleGateLayer, upstream: &Upstream) -> Stack {
    let upstream = upstream.clone();
    stack_answering(gate, move |request| upstream.clone().answer(request))
}

thread_local! {
    /// Whether the stacks built on this thread fuse the gate into the error layer
    /// ([`PartnerErrorsLayer::throttle_gate`]) instead of stacking it outside: `fused` runs the
    /// cases here both ways.
    static FUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `gate` over the error layer (or fused into it, see [`FUSED`]) over an in-process upstream
/// that answers with `answer`.
fn stack_answering<K, St, A, F>(gate: &ThrottleGateLayer<K, St>, answer: A) -> Stack
where
    K: super::ScopeKey<Request<Full<Bytes>>> + Clone + Send + Sync + 'static,
    St: GateStore,
    A: FnMut(Request<Full<Bytes>>) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    if FUSED.get() {
        return ServiceBuilder::new()
            .boxed_clone()
            .layer(PartnerErrorsLayer::new().throttle_gate(gate.clone()))
            .service(service_fn(answer));
    }
    ServiceBuilder::new()
        .boxed_clone()
        .layer(gate.clone())
        .layer(PartnerErrorsLayer::new())
        .service(service_fn(answer))
}

async fn status_of(result: Result<Response<Full<Bytes>>, Error>) -> StatusCode {
    match result {
        Ok(response) => response.status(),
        Err(error) => error.api_error().expect("an API error").status(),
    }
}

/// Sends two requests while the gate is open, answered 429 with the delays `first` and
/// `second` (in that order: after 100 and 150 ms), then one more; returns how long after the
/// start that one reached the upstream.
async fn next_sent_after(gate: &ThrottleGateLayer, first: &str, second: &str) -> Duration {
    let upstream = Upstream::default();
    let service = stack(gate, &upstream);
    let start = Instant::now();
    let earlier = tokio::spawn(
        service
            .clone()
            .oneshot(with_latency(request("first", first), 100)),
    );
    let later = tokio::spawn(
        service
            .clone()
            .oneshot(with_latency(request("second", second), 150)),
    );
    for answer in [earlier.await.unwrap(), later.await.unwrap()] {
        assert_eq!(status_of(answer).await, StatusCode::TOO_MANY_REQUESTS);
    }

    let next = service
        .clone()
        .oneshot(request("next", "200"))
        .await
        .unwrap();
    assert_eq!(next.status(), StatusCode::OK);
    assert_eq!(upstream.ids(), ["first", "second", "next"]);
    upstream.sent()[2].0 - start
}

#[tokio::test(start_paused = true)]
async fn a_shorter_delay_never_shortens_the_window() {
    let gate = ThrottleGateLayer::new();
    // The 10 s answer comes first, then the 2 s one.
    let waited = next_sent_after(&gate, "429:10", "429:2").await;
    assert!(
        waited >= Duration::from_millis(10_100),
        "sent after {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(10_200),
        "sent after {waited:?}"
    );
    let counts = gate.counts();
    assert_eq!((counts.held, counts.probes, counts.closings), (1, 1, 2));
}

/// The gate is read when `poll_ready` answers, as tower's ready-then-call contract allows: a
/// service asked again after a 429 holds its next call, and a call made without asking (a
/// second one, or a clone's first) reads the gate itself.
#[tokio::test(start_paused = true)]
async fn a_call_is_held_whether_or_not_poll_ready_was_asked_after_the_429() {
    let gate = ThrottleGateLayer::new();
    let upstream = Upstream::default();
    let mut service = stack(&gate, &upstream);
    let throttled = service
        .ready()
        .await
        .unwrap()
        .call(request("first", "429:5"));
    assert_eq!(
        status_of(throttled.await).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let closed_at = Instant::now();
    // Not asked since the 429: the call reads the gate, and waits for the window to end.
    let unasked = service.call(request("unasked", "200"));
    // Asked while the gate is closed: held too.
    let mut asked = service.clone();
    let asked = asked.ready().await.unwrap().call(request("asked", "200"));
    let (unasked, asked) = tokio::join!(unasked, asked);
    assert!(unasked.is_ok() && asked.is_ok());
    let sent = upstream.sent();
    assert_eq!(sent.len(), 3, "{:?}", upstream.ids());
    for (at, id) in &sent[1..] {
        assert!(*at - closed_at >= Duration::from_secs(5), "{id} sent early");
    }
    let counts = gate.counts();
    assert_eq!((counts.held, counts.probes), (2, 1));
}

/// A hostile delay (the largest delay-seconds a header can spell) closes the gate for
/// [`MAX_WINDOW`](super::MAX_WINDOW), without a panic: the next request is refused at once,
/// unsent, and once the window ends a probe asks the server again.
#[tokio::test(start_paused = true)]
async fn an_enormous_delay_closes_the_gate_for_the_longest_window_without_a_panic() {
    let gate = ThrottleGateLayer::new();
    let upstream = Upstream::default();
    let service = stack(&gate, &upstream);
    let answer = format!("429:{}", u64::MAX);
    let throttled = service.clone().oneshot(request("first", &answer)).await;
    assert_eq!(status_of(throttled).await, StatusCode::TOO_MANY_REQUESTS);
    let refused = service.clone().oneshot(request("refused", "200")).await;
    let closed = GateClosed::find(&refused.unwrap_err()).map(GateClosed::remaining);
    assert_eq!(closed, Some(super::MAX_WINDOW));
    tokio::time::advance(super::MAX_WINDOW).await;
    let probe = service.clone().oneshot(request("probe", "200")).await;
    assert!(probe.is_ok());
    assert_eq!(upstream.ids(), ["first", "probe"]);
    assert_eq!(gate.counts().probes, 1);
}

/// A runtime built without tokio's timer: a request that would have to wait at a closed gate is
/// refused, unsent, as a clear error rather than tokio's panic.
#[test]
fn without_a_timer_a_wait_at_the_gate_is_refused_not_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let gate = ThrottleGateLayer::new();
        let upstream = Upstream::default();
        let service = stack(&gate, &upstream);
        let throttled = service.clone().oneshot(request("first", "429:5")).await;
        assert_eq!(status_of(throttled).await, StatusCode::TOO_MANY_REQUESTS);
        let refused = service.clone().oneshot(request("second", "200")).await;
        let refused = refused.unwrap_err();
        let closed = GateClosed::find(&refused).map(GateClosed::remaining);
        assert!(
            closed.is_some_and(|remaining| remaining <= Duration::from_secs(5)),
            "{closed:?}"
        );
        // The window is within the wait limit: the message names the missing timer and its fix.
        let shown = refused.to_string();
        assert!(
            shown.contains("no timer") && shown.contains("enable_time"),
            "{shown}"
        );
        assert_eq!(upstream.ids(), ["first"]);
        assert_eq!(gate.counts().rejected, 1);
    });
}

#[tokio::test(start_paused = true)]
async fn a_longer_delay_extends_the_window() {
    let gate = ThrottleGateLayer::new();
    let waited = next_sent_after(&gate, "429:2", "429:10").await;
    assert!(
        waited >= Duration::from_millis(10_150),
        "sent after {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_window_past_the_wait_limit_refuses_at_once_without_sending() {
    let gate = ThrottleGateLayer::new().max_wait(Duration::from_secs(5));
    let upstream = Upstream::default();
    let service = stack(&gate, &upstream);
    let first = service.clone().oneshot(request("first", "429:10")).await;
    assert_eq!(status_of(first).await, StatusCode::TOO_MANY_REQUESTS);

    let before = Instant::now();
    let wall_before = std::time::SystemTime::now();
    let error = service
        .clone()
        .oneshot(request("second", "200"))
        .await
        .unwrap_err();
    let wall_after = std::time::SystemTime::now();
    assert_eq!(Instant::now(), before, "refused without waiting");
    let closed = GateClosed::find(&error).expect("GateClosed");
    assert_eq!(closed.scope(), "shared");
    assert_eq!(closed.remaining(), Duration::from_secs(10));
    assert_eq!(closed.opens_at(), before + Duration::from_secs(10));
    // On the wall clock too, for a job queue that outlives the process.
    let retry_at = closed.retry_at();
    assert!(
        retry_at >= wall_before + Duration::from_secs(10),
        "{retry_at:?}"
    );
    assert!(
        retry_at <= wall_after + Duration::from_secs(10),
        "{retry_at:?}"
    );
    assert!(error.api_error().is_none() && !error.is_retryable());
    assert_eq!(
        closed.to_string(),
        "throttle gate closed for scope \"shared\": opens in 10000 ms; not sent"
    );
    assert_eq!(upstream.ids(), ["first"]);
    assert_eq!(gate.counts().rejected, 1);
    assert_eq!(gate.counts().held, 0);

    // Within the limit, the request waits instead, and is sent when the window ends.
    tokio::time::advance(Duration::from_secs(6)).await;
    service
        .clone()
        .oneshot(request("third", "200"))
        .await
        .unwrap();
    assert_eq!(upstream.sent()[1].0 - before, Duration::from_secs(10));
    assert_eq!(gate.counts().held, 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_hands_the_role_to_the_next_waiter() {
    let gate = ThrottleGateLayer::new();
    let upstream = Upstream::default();
    let service = stack(&gate, &upstream);
    let first = service.clone().oneshot(request("first", "429:1")).await;
    assert_eq!(status_of(first).await, StatusCode::TOO_MANY_REQUESTS);

    upstream.hang_next.store(true, Ordering::SeqCst);
    let waiters: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|id| {
            (
                id,
                tokio::spawn(service.clone().oneshot(request(id, "200"))),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // One probe went out (and hangs); the others wait for its answer.
    let ids = upstream.ids();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let probe = ids[1].clone();
    assert_eq!(gate.counts().probes, 1);

    let mut rest = Vec::new();
    for (id, task) in waiters {
        if id == probe {
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
        } else {
            rest.push(task);
        }
    }
    for task in rest {
        assert_eq!(task.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    assert_eq!(upstream.ids().len(), 4);
    let counts = gate.counts();
    assert_eq!((counts.probes, counts.held), (2, 3));
    assert!(gate.store().is_empty(), "the scope opened");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_probe_closes_again_and_the_waiters_stay() {
    let gate = ThrottleGateLayer::new();
    let upstream = Upstream::default();
    let service = stack(&gate, &upstream);
    let start = Instant::now();
    let _ = service.clone().oneshot(request("first", "429:1")).await;
    // The probe (the first waiter to wake) is throttled again for 3 s; the other follows it.
    let probe = tokio::spawn(service.clone().oneshot(request("probe", "429:3")));
    tokio::task::yield_now().await;
    let follower = tokio::spawn(service.clone().oneshot(request("follower", "200")));
    let _ = probe.await.unwrap();
    assert_eq!(follower.await.unwrap().unwrap().status(), StatusCode::OK);
    let sent = upstream.sent();
    assert_eq!(upstream.ids(), ["first", "probe", "follower"]);
    assert_eq!(sent[1].0 - start, Duration::from_secs(1));
    assert_eq!(sent[2].0 - start, Duration::from_secs(4));
    assert_eq!(
        gate.counts().probes,
        2,
        "the probe, then the follower as the next one"
    );
}

/// `max_wait` bounds how long a request waits in all, not each window it meets: a window that
/// a throttled probe extends past the limit (counted from the request's arrival) refuses the
/// request then, instead of holding it again, window after window, while throttling lasts.
#[tokio::test(start_paused = true)]
async fn the_wait_limit_counts_from_arrival_across_windows() {
    let gate = ThrottleGateLayer::new().max_wait(Duration::from_secs(5));
    let upstream = Upstream::default();
    let service = stack(&gate, &upstream);
    let start = Instant::now();
    let _ = service.clone().oneshot(request("first", "429:4")).await;
    // Both wait 4 s (within the limit); the probe is throttled again for 4 s: the follower
    // would have waited 8 s in all.
    let probe = tokio::spawn(service.clone().oneshot(request("probe", "429:4")));
    tokio::task::yield_now().await;
    let follower = tokio::spawn(async move {
        let result = service.oneshot(request("follower", "200")).await;
        (result, Instant::now())
    });
    let _ = probe.await.unwrap();
    let (result, ended) = follower.await.unwrap();
    let error = result.expect_err("refused: 8 s in all is past the 5 s limit");
    let closed = GateClosed::find(&error).expect("GateClosed");
    assert_eq!(closed.remaining(), Duration::from_secs(4));
    assert_eq!(
        ended - start,
        Duration::from_secs(4),
        "refused when it knew"
    );
    assert_eq!(
        upstream.ids(),
        ["first", "probe"],
        "the follower was not sent"
    );
    let counts = gate.counts();
    assert_eq!((counts.held, counts.rejected), (2, 1), "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn release_all_lets_every_waiter_go_when_the_window_ends() {
    let gate = ThrottleGateLayer::new().release_all(true);
    let upstream = Upstream::default();
    let service = stack(&gate, &upstream);
    let start = Instant::now();
    let _ = service.clone().oneshot(request("first", "429:2")).await;
    let tasks: Vec<_> = (0..3)
        .map(|i| tokio::spawn(service.clone().oneshot(request(&i.to_string(), "200"))))
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    let sent = upstream.sent();
    assert!(sent[1..]
        .iter()
        .all(|(at, _)| *at - start == Duration::from_secs(2)));
    assert_eq!((gate.counts().probes, gate.counts().held), (0, 3));
}

#[tokio::test(start_paused = true)]
async fn a_429_without_a_delay_backs_off_longer_while_throttling_repeats() {
    let gate = ThrottleGateLayer::new().backoff(Duration::from_secs(1), Duration::from_secs(3));
    let upstream = Upstream::default();
    let service = stack(&gate, &upstream);
    let start = Instant::now();
    for _ in 0..5 {
        let result = service.clone().oneshot(request("x", "429")).await;
        assert_eq!(status_of(result).await, StatusCode::TOO_MANY_REQUESTS);
    }
    let at: Vec<Duration> = upstream.sent().iter().map(|(at, _)| *at - start).collect();
    let secs = |s: u64| Duration::from_secs(s);
    // Windows of 1 s, 2 s, then capped at 3 s.
    assert_eq!(at, [secs(0), secs(1), secs(3), secs(6), secs(9)]);
}

#[tokio::test(start_paused = true)]
async fn a_503_closes_only_with_a_delay_and_only_when_configured() {
    for (close_on_503, answer, closes) in [
        (true, "503:5", true),
        (true, "503", false),
        (false, "503:5", false),
    ] {
        let gate = ThrottleGateLayer::new().close_on_503(close_on_503);
        let upstream = Upstream::default();
        let service = stack(&gate, &upstream);
        let _ = service.clone().oneshot(request("first", answer)).await;
        assert_eq!(
            gate.store().len(),
            usize::from(closes),
            "{close_on_503} {answer}"
        );
        let start = Instant::now();
        service
            .clone()
            .oneshot(request("second", "200"))
            .await
            .unwrap();
        let waited = upstream.sent()[1].0 - start;
        let expected = if closes {
            Duration::from_secs(5)
        } else {
            Duration::ZERO
        };
        assert_eq!(waited, expected, "{close_on_503} {answer}");
    }
}

#[tokio::test(start_paused = true)]
async fn pass_through_responses_and_boxed_errors_close_the_gate() {
    let upstream = Upstream::default();
    let answer = move |request| upstream.clone().answer(request);
    // Pass-through: the error rides in the response's extensions; the gate's own error needs
    // an error type that can hold it, here a `BoxError`.
    let gate = ThrottleGateLayer::new().max_wait(Duration::ZERO);
    let mut service = ServiceBuilder::new()
        .layer(gate.clone())
        .map_err(BoxError::from)
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(service_fn(answer.clone()));
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request("a", "429:9"))
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    let refused = service
        .ready()
        .await
        .unwrap()
        .call(request("b", "200"))
        .await;
    let closed = GateClosed::find(refused.as_ref().unwrap_err()).expect("GateClosed");
    assert_eq!(closed.remaining(), Duration::from_secs(9));

    // The crate's error, boxed: found by downcasting.
    let gate = ThrottleGateLayer::new().max_wait(Duration::ZERO);
    let mut service = ServiceBuilder::new()
        .layer(gate.clone())
        .map_err(BoxError::from)
        .layer(PartnerErrorsLayer::new())
        .service(service_fn(answer));
    let error = service
        .ready()
        .await
        .unwrap()
        .call(request("a", "429:7"))
        .await
        .unwrap_err();
    assert!(error.downcast_ref::<Error>().is_some());
    let refused = service
        .ready()
        .await
        .unwrap()
        .call(request("b", "200"))
        .await;
    let closed = GateClosed::find(refused.as_ref().unwrap_err()).expect("GateClosed");
    assert_eq!(closed.remaining(), Duration::from_secs(7));
    assert_eq!(gate.counts().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_closure_scopes_by_tenant_and_a_closed_tenant_holds_no_other() {
    let upstream = Upstream::default();
    let answer = move |request| upstream.clone().answer(request);
    let gate = ThrottleGateLayer::new().max_wait(Duration::ZERO).scope_by(
        |request: &Request<Full<Bytes>>| {
            request.headers()["x-id"].to_str().unwrap_or("").to_owned()
        },
    );
    let service = stack_answering(&gate, answer);
    let _ = service.clone().oneshot(request("tenant-a", "429:30")).await;
    let refused = service
        .clone()
        .oneshot(request("tenant-a", "200"))
        .await
        .unwrap_err();
    assert_eq!(GateClosed::find(&refused).unwrap().scope(), "tenant-a");
    let other = service
        .clone()
        .oneshot(request("tenant-b", "200"))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(gate.counts().rejected, 1);
    assert_eq!(gate.store().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hung_probe_loses_its_role_after_the_lease() {
    let store = super::LocalStore::new().probe_lease(Duration::from_secs(5));
    let gate = ThrottleGateLayer::with_store(store).max_wait(Duration::from_secs(2));
    let upstream = Upstream::default();
    let service = stack(&gate, &upstream);
    let start = Instant::now();
    let _ = service.clone().oneshot(request("first", "429:1")).await;
    upstream.hang_next.store(true, Ordering::SeqCst);
    let hung = tokio::spawn(service.clone().oneshot(request("hung", "200")));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Behind a probe, a waiter waits past max_wait (the window is over) until the lease ends.
    let next = service
        .clone()
        .oneshot(request("next", "200"))
        .await
        .unwrap();
    assert_eq!(next.status(), StatusCode::OK);
    assert_eq!(upstream.ids(), ["first", "hung", "next"]);
    assert_eq!(upstream.sent()[2].0 - start, Duration::from_secs(6));
    assert_eq!(gate.counts().probes, 2);
    assert!(gate.store().is_empty());
    hung.abort();
}

#[test]
fn a_scope_from_the_request_is_printed_sanitised_and_bounded() {
    let scope = format!("tenant\u{1b}[31m\u{202e}{}", "x".repeat(500));
    let closed = GateClosed::new(&scope, Duration::from_secs(3));
    let display = closed.to_string();
    let debug = format!("{closed:?}");
    for printed in [&display, &debug] {
        assert!(
            !printed.contains('\u{1b}') && !printed.contains('\u{202e}'),
            "{printed}"
        );
        assert!(printed.contains("tenant\\u{1b}[31m\\u{202e}"), "{printed}");
        assert!(printed.len() < 200, "{} characters", printed.len());
    }
    assert_eq!(closed.scope(), scope, "the scope itself is kept whole");
}

mod fused;
mod races;
mod stress;

/// A request let through after a wait readies the inner service it gave back only then: behind
/// a `concurrency_limit`, the requests let through together queue for its slot, and one of them
/// may be throttled meanwhile. The ones still queued must wait for that window, as a request
/// that waits for capacity before the gate looks does, not go out inside it.
#[tokio::test(start_paused = true)]
async fn a_request_let_through_looks_again_once_capacity_frees() {
    let gate = ThrottleGateLayer::new().release_all(true);
    let upstream = Upstream::default();
    let answer = {
        let upstream = upstream.clone();
        move |request| upstream.clone().answer(request)
    };
    let service = ServiceBuilder::new()
        .layer(gate.clone())
        .concurrency_limit(1)
        .layer(PartnerErrorsLayer::new())
        .service(service_fn(answer));
    let start = Instant::now();
    let _ = service.clone().oneshot(request("first", "429:2")).await;
    // Held in the 2 s window; each is throttled for 10 s when it goes.
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let request = with_latency(request(&i.to_string(), "429:10"), 100);
            tokio::spawn(service.clone().oneshot(request))
        })
        .collect();
    for task in tasks {
        let _ = task.await.unwrap();
    }
    let at: Vec<Duration> = upstream.sent().iter().map(|(at, _)| *at - start).collect();
    let millis = Duration::from_millis;
    assert_eq!(
        at,
        [
            Duration::ZERO,
            millis(2_000),
            millis(12_100),
            millis(22_200)
        ],
        "each sent after the window the one before met"
    );
    assert_eq!(gate.counts().held, 3);
}

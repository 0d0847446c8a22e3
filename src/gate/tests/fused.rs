//! The gate fused into the error layer ([`PartnerErrorsLayer::throttle_gate`]): the stacked
//! gate's cases again, then what only the fused gate does (close at a throttled answer's head).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use tokio::time::Instant;
use tower::{service_fn, BoxError, Service, ServiceBuilder, ServiceExt};

use super::{header, request, Upstream, FUSED};
use crate::gate::{GateClosed, ThrottleGateLayer};
use crate::middleware::future::tests::Silent;
use crate::{Error, Incomplete, PartnerErrorsLayer};

/// Sets [`FUSED`] for this thread while it lives.
struct Fused;

impl Fused {
    fn on() -> Self {
        FUSED.set(true);
        Self
    }
}

impl Drop for Fused {
    fn drop(&mut self) {
        FUSED.set(false);
    }
}

/// Every case of the stacked gate that builds its stack with `stack_answering`, run again with
/// the gate fused into the layer: the same counts, the same times.
#[test]
fn the_fused_gate_passes_the_cases_of_the_stacked_gate() {
    let _fused = Fused::on();
    super::a_shorter_delay_never_shortens_the_window();
    super::a_longer_delay_extends_the_window();
    super::a_call_is_held_whether_or_not_poll_ready_was_asked_after_the_429();
    super::an_enormous_delay_closes_the_gate_for_the_longest_window_without_a_panic();
    super::without_a_timer_a_wait_at_the_gate_is_refused_not_a_panic();
    super::a_window_past_the_wait_limit_refuses_at_once_without_sending();
    super::a_dropped_probe_hands_the_role_to_the_next_waiter();
    super::a_throttled_probe_closes_again_and_the_waiters_stay();
    super::the_wait_limit_counts_from_arrival_across_windows();
    super::release_all_lets_every_waiter_go_when_the_window_ends();
    super::a_429_without_a_delay_backs_off_longer_while_throttling_repeats();
    super::a_503_closes_only_with_a_delay_and_only_when_configured();
    super::a_closure_scopes_by_tenant_and_a_closed_tenant_holds_no_other();
    super::a_hung_probe_loses_its_role_after_the_lease();
}

type Answer = Response<Either<Full<Bytes>, Silent>>;

/// The first request is answered at once with a 429 head (`Retry-After: 30`) whose body never
/// comes; the rest with 200. Records when each request arrived.
fn stalling_upstream(
    sent: Arc<Mutex<Vec<(Instant, String)>>>,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Answer,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + 'static {
    service_fn(move |request: Request<Full<Bytes>>| {
        let sent = sent.clone();
        async move {
            let mut sent = sent.lock().unwrap();
            sent.push((Instant::now(), header(&request, "x-id")));
            let response = if sent.len() == 1 {
                Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header("retry-after", "30")
                    .body(Either::Right(Silent))
            } else {
                Response::builder().body(Either::Left(Full::default()))
            };
            Ok::<_, Infallible>(response.unwrap())
        }
    })
}

/// A 429 whose head carries its delay closes the fused gate at once, while its body is still
/// read (here it stalls until the layer's 10 s body timeout): a request made meanwhile waits
/// for the window, where the stacked gate, which sees the answer only once its body is read,
/// lets it out inside. One answer closes the gate once.
#[tokio::test(start_paused = true)]
async fn a_throttled_head_closes_the_fused_gate_before_its_body_is_read() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let gate = ThrottleGateLayer::new();
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().throttle_gate(gate.clone()))
        .service(stalling_upstream(sent.clone()));
    let start = Instant::now();
    let first = tokio::spawn(service.clone().oneshot(request("first", "")));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = service.clone().oneshot(request("later", "")).await;
    assert_eq!(later.unwrap().status(), StatusCode::OK);

    let sent = sent.lock().unwrap().clone();
    let at: Vec<_> = sent
        .iter()
        .map(|(at, id)| (id.as_str(), *at - start))
        .collect();
    assert_eq!(
        at,
        [
            ("first", Duration::ZERO),
            ("later", Duration::from_secs(30))
        ],
        "the later request went out when the window ended"
    );
    let Err(Error::Api(throttled)) = first.await.unwrap() else {
        panic!("the 429 as an API error")
    };
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(30)));
    assert!(matches!(
        throttled.incomplete(),
        Some(Incomplete::TimedOut { .. })
    ));
    let counts = gate.counts();
    assert_eq!((counts.closings, counts.held, counts.probes), (1, 1, 1));
}

/// What closes the fused gate at an answer's head, and what waits for the whole error: a 429
/// whose delay is in `retry-after-ms` closes at its head; a 404's `Retry-After` closes nothing;
/// a 503's header delay closes at its head only while `close_on_503` is on; a 429 whose only
/// valid delay is in its body text (`Retry-After: soon` is no delay) closes once, when the body
/// is read, for the body's delay. Each answer's body stalls, or not, as given.
#[tokio::test(start_paused = true)]
async fn the_head_closes_the_fused_gate_only_for_a_throttled_status_with_a_header_delay() {
    async fn closings_after(
        gate: ThrottleGateLayer,
        status: u16,
        header: (&'static str, &'static str),
        body: Option<&'static str>,
    ) -> (u64, Option<Duration>) {
        let service = ServiceBuilder::new()
            .layer(PartnerErrorsLayer::new().throttle_gate(gate.clone()))
            .service(service_fn(move |_: Request<Full<Bytes>>| async move {
                let body = match body {
                    Some(text) => Either::Left(Full::new(Bytes::from_static(text.as_bytes()))),
                    None => Either::Right(Silent),
                };
                let response = Response::builder()
                    .status(status)
                    .header(header.0, header.1)
                    .body(body);
                Ok::<_, Infallible>(response.unwrap())
            }));
        let call = tokio::spawn(service.oneshot(request("first", "")));
        // Well inside the layer's 10 s body timeout: a stalled body is still being read.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let closings = gate.counts().closings;
        let remaining = gate.store().window_left(crate::gate::SHARED_SCOPE);
        call.abort();
        (closings, remaining)
    }
    let fast = |status, header| closings_after(ThrottleGateLayer::new(), status, header, None);
    let (closings, remaining) = fast(429, ("retry-after-ms", "5000")).await;
    assert_eq!(closings, 1, "a 429 with retry-after-ms closes at its head");
    assert_eq!(remaining, Some(Duration::from_secs(4)));
    assert_eq!(
        fast(404, ("retry-after", "60")).await.0,
        0,
        "a 404 closes nothing"
    );
    assert_eq!(
        fast(503, ("retry-after", "60")).await.0,
        1,
        "a 503 with a delay does"
    );
    let off = ThrottleGateLayer::new().close_on_503(false);
    assert_eq!(
        closings_after(off, 503, ("retry-after", "60"), None)
            .await
            .0,
        0
    );
    // No valid header delay: nothing closes at the stalled head...
    assert_eq!(fast(429, ("retry-after", "soon")).await.0, 0);
    // ...and a whole body's delay closes the gate once, for the body's delay.
    let text = "Rate limit is exceeded. Try again in 7 seconds.";
    let whole = closings_after(
        ThrottleGateLayer::new(),
        429,
        ("retry-after", "soon"),
        Some(text),
    );
    let (closings, remaining) = whole.await;
    assert_eq!(closings, 1);
    assert_eq!(remaining, Some(Duration::from_secs(6)));
}

/// Pass-through mode: the 429 goes on as a response, and still closes the fused gate; a
/// refusal needs an error type that can hold it, here a `BoxError`.
#[tokio::test(start_paused = true)]
async fn pass_through_answers_close_the_fused_gate() {
    let upstream = Upstream::default();
    let answer = move |request| upstream.clone().answer(request);
    let gate = ThrottleGateLayer::new().max_wait(Duration::ZERO);
    let mut service = ServiceBuilder::new()
        .layer(
            PartnerErrorsLayer::new()
                .pass_through()
                .throttle_gate(gate.clone()),
        )
        .map_err(BoxError::from)
        .service(service_fn(answer));
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request("a", "429:9"))
        .await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.extensions().get::<crate::ApiError>().is_some());
    let refused = service
        .ready()
        .await
        .unwrap()
        .call(request("b", "200"))
        .await;
    let closed = GateClosed::find(refused.as_ref().unwrap_err()).expect("GateClosed");
    assert_eq!(closed.remaining(), Duration::from_secs(9));
    assert_eq!(gate.counts().rejected, 1);
}

/// The layer's and the service's `Debug` show the fused gate's settings and counts, no more;
/// both hand out the gate.
#[test]
fn debug_shows_the_fused_gate() {
    let layer = PartnerErrorsLayer::new().throttle_gate(ThrottleGateLayer::new());
    let shown = format!("{layer:?}");
    assert!(shown.contains("gate: ThrottleGateLayer"), "{shown}");
    let service = tower::Layer::layer(
        &layer,
        service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) }),
    );
    let shown = format!("{service:?}");
    assert!(shown.contains("gate: FusedGate"), "{shown}");
    assert!(shown.contains("held: 0"), "{shown}");
    // The service hands out its gate's counts and store, shared with the layer's.
    assert_eq!(service.gate().counts(), layer.gate().counts());
    assert!(std::ptr::eq(service.gate().store(), layer.gate().store()));
}

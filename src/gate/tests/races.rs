//! Scripted interleavings of the gate's coordination on tokio's paused clock: a probe reporting
//! as a new waiter subscribes, a probe dropped in the tick its lease ends, a stale probe
//! reporting after its successor took the role, `release_all` beside a probe in flight, a
//! waiter cancelled in the poll that chose it as the probe, and a request dropped after any
//! number of polls.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::ServiceExt;

use super::super::{Admission, Closing, GateStore, LocalStore, ProbeOutcome, ThrottleGateLayer};
use crate::Error;

/// An upstream that records when each request arrived (by its `x-id`) and answers as its
/// `x-answer` says: `200`, `429:<milliseconds>` (a 429 with `retry-after-ms`), or `hang`
/// (never answers).
#[derive(Clone, Default)]
pub(super) struct Scripted {
    arrivals: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Scripted {
    pub(super) fn ids(&self) -> Vec<String> {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// When the request `id` arrived, if it did.
    fn arrival(&self, id: &str) -> Option<Instant> {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals
            .iter()
            .find(|(_, seen)| seen == id)
            .map(|(at, _)| *at)
    }

    pub(super) async fn answer(
        self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let header = |name: &str| super::header(&request, name);
        self.arrivals
            .lock()
            .unwrap()
            .push((Instant::now(), header("x-id")));
        let answer = header("x-answer");
        if answer == "hang" {
            std::future::pending::<()>().await;
        }
        let response = match answer.split_once(':') {
            Some((status, millis)) => Response::builder()
                .status(status.parse::<u16>().unwrap())
                .header("retry-after-ms", millis),
            None => Response::builder().status(StatusCode::OK),
        };
        Ok(response.body(Full::default()).unwrap())
    }
}

pub(super) fn scripted_request(id: &str, answer: &str) -> Request<Full<Bytes>> {
    Request::get("/v1/customers")
        .header("x-id", id)
        .header("x-answer", answer)
        .body(Full::default())
        .unwrap()
}

type Stack = BoxCloneService<Request<Full<Bytes>>, Response<Full<Bytes>>, Error>;

fn stack_over<St: GateStore>(
    gate: &ThrottleGateLayer<super::super::SharedScope, St>,
    upstream: &Scripted,
) -> Stack {
    let upstream = upstream.clone();
    super::stack_answering(gate, move |request| upstream.clone().answer(request))
}

/// A stack over `gate` and a fresh scripted upstream, after a first request's 429 closed the
/// scope for 1 s: returns the upstream, the stack, and when the window began.
async fn closed_for_a_second<St: GateStore>(
    gate: &ThrottleGateLayer<super::super::SharedScope, St>,
) -> (Scripted, Stack, Instant) {
    let upstream = Scripted::default();
    let service = stack_over(gate, &upstream);
    let start = Instant::now();
    let _ = service
        .clone()
        .oneshot(scripted_request("first", "429:1000"))
        .await;
    (upstream, service, start)
}

fn send(
    service: &Stack,
    id: &str,
    answer: &str,
) -> JoinHandle<Result<Response<Full<Bytes>>, Error>> {
    tokio::spawn(service.clone().oneshot(scripted_request(id, answer)))
}

/// A second later, the upstream has seen the first request, the old probe and one new probe,
/// not two; the hung `waiters` are then let go.
async fn one_probe_after_the_lease<St: GateStore>(
    gate: &ThrottleGateLayer<super::super::SharedScope, St>,
    upstream: &Scripted,
    waiters: [JoinHandle<Result<Response<Full<Bytes>>, Error>>; 2],
) {
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let ids = upstream.ids();
    assert_eq!(ids.len(), 3, "one probe after the lease, not two: {ids:?}");
    assert_eq!(gate.counts().probes, 2);
    for waiter in waiters {
        waiter.abort();
    }
}

const fn one_second() -> Closing {
    Closing {
        delay: Some(Duration::from_secs(1)),
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(1),
    }
}

/// A waiter that subscribed behind a probe is woken by the probe's report even when the report
/// lands before the waiter first polls its receiver, and whichever way the probe ended.
#[tokio::test(start_paused = true)]
async fn a_probe_reporting_before_a_new_waiter_polls_still_wakes_it() {
    for outcome in [ProbeOutcome::Abandoned, ProbeOutcome::Answered] {
        let store = LocalStore::new();
        store.close("t", one_second());
        tokio::time::advance(Duration::from_secs(1)).await;
        let Admission::Probe(ticket) = store.admit("t", false) else {
            panic!("the window is over")
        };
        let Admission::Wait {
            probing: true,
            mut changed,
            ..
        } = store.admit("t", false)
        else {
            panic!("a probe is in flight")
        };
        store.probe_done("t", ticket, outcome);
        let woken = tokio::time::timeout(Duration::from_millis(1), changed.changed()).await;
        assert!(woken.is_ok(), "{outcome:?}: the waiter was not woken");
        let next = store.admit("t", false);
        match outcome {
            ProbeOutcome::Abandoned => assert!(matches!(next, Admission::Probe(_)), "{next:?}"),
            ProbeOutcome::Answered => assert!(matches!(next, Admission::Open), "{next:?}"),
        }
    }
}

/// A probe whose lease ended has lost its role; when it is dropped later, it must not take the
/// role from the probe that has it now: the next waiter still waits for that one.
#[tokio::test(start_paused = true)]
async fn a_probe_past_its_lease_dropped_later_does_not_free_its_successors_role() {
    let gate = ThrottleGateLayer::with_store(LocalStore::new().probe_lease(Duration::from_secs(2)));
    let (upstream, service, start) = closed_for_a_second(&gate).await;

    // t = 1 s: the first probe goes out and hangs; its lease ends at t = 3 s.
    let stale = send(&service, "stale", "hang");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // t = 3 s: the lease is over; this one probes (and hangs) until t = 5 s.
    let current = send(&service, "current", "hang");
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(upstream.ids(), ["first", "stale", "current"]);
    // t = 3.5 s: a waiter behind the current probe.
    let waiter = send(&service, "waiter", "200");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // t = 4 s: the stale probe's caller gives up.
    stale.abort();
    assert!(stale.await.unwrap_err().is_cancelled());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        upstream.ids(),
        ["first", "stale", "current"],
        "a second probe went out while the current one held its lease"
    );
    // t = 5 s: the current probe's lease ends; the waiter probes and opens the scope.
    assert_eq!(waiter.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(
        upstream.arrival("waiter").map(|at| at - start),
        Some(Duration::from_secs(5))
    );
    assert_eq!(gate.counts().probes, 3);
    assert!(gate.store().is_empty());
    current.abort();
}

/// A hung probe whose caller gives up in the very tick its lease ends: the waiters woken by
/// that tick hand out exactly one new probe, whichever of the two happens first.
#[tokio::test(start_paused = true)]
async fn a_probe_dropped_in_the_tick_its_lease_ends_leaves_one_probe() {
    let gate = ThrottleGateLayer::with_store(LocalStore::new().probe_lease(Duration::from_secs(2)));
    let (upstream, service, _) = closed_for_a_second(&gate).await;

    // t = 1 s: the probe goes out and hangs; its caller gives up at t = 3 s, when the lease
    // ends.
    let probe = {
        let service = service.clone();
        tokio::spawn(tokio::time::timeout(
            Duration::from_secs(3),
            service.oneshot(scripted_request("probe", "hang")),
        ))
    };
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Two waiters: both wake at t = 3 s; the first to ask probes (and hangs), the other waits.
    let waiters = [send(&service, "a", "hang"), send(&service, "b", "hang")];
    assert!(probe.await.unwrap().is_err(), "the probe's caller gave up");
    one_probe_after_the_lease(&gate, &upstream, waiters).await;
}

/// The other order in the same tick, scripted: the lease ends, a woken waiter takes the role
/// and goes out, and only then, still in that tick, the old probe's caller gives up. Its drop
/// must not hand the role to the second waiter.
#[tokio::test(start_paused = true)]
async fn a_probe_dropped_in_the_tick_its_successor_took_the_role_leaves_one_probe() {
    let gate = ThrottleGateLayer::with_store(LocalStore::new().probe_lease(Duration::from_secs(2)));
    let (upstream, service, start) = closed_for_a_second(&gate).await;

    // t = 1 s: the probe goes out and hangs; its lease ends at t = 3 s.
    let probe = send(&service, "probe", "hang");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let waiters = [send(&service, "a", "hang"), send(&service, "b", "hang")];
    tokio::time::sleep_until(start + Duration::from_secs(3)).await;
    // Still t = 3 s: the woken waiters run; one probes.
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    assert_eq!(upstream.ids().len(), 3, "{:?}", upstream.ids());
    probe.abort();
    assert!(probe.await.unwrap_err().is_cancelled());
    assert_eq!(Instant::now() - start, Duration::from_secs(3));
    one_probe_after_the_lease(&gate, &upstream, waiters).await;
}

/// `release_all` on one clone of the layer, the one-probe default on another, one store: the
/// released request empties the scope under a probe in flight, a new window closes it, and the
/// old probe's late drop must not free the new window's probe.
#[tokio::test(start_paused = true)]
async fn release_all_beside_a_probe_in_flight_keeps_the_next_windows_probe_alone() {
    let gate = ThrottleGateLayer::new();
    let upstream = Scripted::default();
    let probing = stack_over(&gate, &upstream);
    let releasing = stack_over(&gate.clone().release_all(true), &upstream);
    let _ = probing
        .clone()
        .oneshot(scripted_request("first", "429:1000"))
        .await;

    // t = 1 s: a probe goes out and hangs.
    let old_probe = send(&probing, "old-probe", "hang");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // t = 1.5 s: a release-all request opens the scope, and is throttled: a new window until
    // t = 2.5 s.
    let released = releasing
        .clone()
        .oneshot(scripted_request("released", "429:1000"))
        .await;
    assert!(released.is_err());
    // A waiter, and at t = 2.5 s the new window's probe, which hangs.
    let new_probe = send(&probing, "new-probe", "hang");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiter = send(&probing, "waiter", "200");
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    assert_eq!(
        upstream.ids(),
        ["first", "old-probe", "released", "new-probe"]
    );
    // t = 3 s: the old probe's caller gives up.
    old_probe.abort();
    assert!(old_probe.await.unwrap_err().is_cancelled());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        upstream.ids(),
        ["first", "old-probe", "released", "new-probe"],
        "the waiter went out beside the new window's probe"
    );
    new_probe.abort();
    assert!(new_probe.await.unwrap_err().is_cancelled());
    assert_eq!(waiter.await.unwrap().unwrap().status(), StatusCode::OK);
    assert!(gate.store().is_empty());
}

/// A waiter whose caller gives up in the very poll that made it the probe (its deadline is the
/// window's end: chosen, sent and dropped in one poll) leaves no role behind: the next request
/// probes at once instead of waiting out the 60 s lease.
#[tokio::test(start_paused = true)]
async fn a_waiter_cancelled_in_the_poll_that_chose_it_leaves_no_role_behind() {
    let gate = ThrottleGateLayer::new();
    let (upstream, service, start) = closed_for_a_second(&gate).await;

    let chosen = tokio::time::timeout(
        Duration::from_secs(1),
        service.clone().oneshot(scripted_request("chosen", "hang")),
    )
    .await;
    assert!(chosen.is_err(), "the caller gave up");
    let next = service
        .clone()
        .oneshot(scripted_request("next", "200"))
        .await;
    assert_eq!(next.unwrap().status(), StatusCode::OK);
    let arrivals: HashMap<_, _> = ["chosen", "next"]
        .into_iter()
        .map(|id| (id, upstream.arrival(id).map(|at| at - start)))
        .collect();
    assert_eq!(arrivals["chosen"], Some(Duration::from_secs(1)));
    assert_eq!(arrivals["next"], Some(Duration::from_secs(1)));
    let counts = gate.counts();
    assert_eq!((counts.probes, counts.held), (2, 1));
    assert!(gate.store().is_empty());
}

/// A request dropped after any number of polls (while it waits, in the poll that makes it the
/// probe, while its probe hangs) leaves the gate as it found it: the next request is answered
/// at once after the window, never after the 60 s lease, and the scope opens.
#[tokio::test(start_paused = true)]
async fn a_request_dropped_after_any_number_of_polls_leaves_no_role_behind() {
    for polls in 0..8 {
        let gate = ThrottleGateLayer::new();
        let (_upstream, service, _) = closed_for_a_second(&gate).await;
        let mut victim = Box::pin(service.clone().oneshot(scripted_request("victim", "hang")));
        // Polled at 0, 0.3, 0.6, 0.9 s (waiting), 1.2 s (the probe, sent), then hanging.
        for _ in 0..polls {
            std::future::poll_fn(|cx| {
                let _ = victim.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
            tokio::time::advance(Duration::from_millis(300)).await;
        }
        drop(victim);
        let next = tokio::time::timeout(
            Duration::from_secs(2),
            service.clone().oneshot(scripted_request("next", "200")),
        )
        .await;
        let status = next.map(|answer| answer.map(|response| response.status()).ok());
        assert_eq!(
            status,
            Ok(Some(StatusCode::OK)),
            "dropped after {polls} polls"
        );
        assert!(gate.store().is_empty(), "dropped after {polls} polls");
        assert!(gate.counts().probes <= 2, "dropped after {polls} polls");
    }
}

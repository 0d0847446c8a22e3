//! A bounded randomized stress of the gate on a multi-thread runtime: 32 workers, 50 calls
//! each, over four tenants, through the real stack, against an upstream that throttles for a
//! few milliseconds at a seeded rate and sometimes hangs (the caller gives up). The store is
//! watched: never two probes holding their lease in one scope, every probe reported exactly
//! once; and at the end, every worker finished, no probe role left behind, no scope left once
//! its window ended, the counters matching what the workers saw.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio::task::Id;
use tokio::time::Instant;
use tower::{service_fn, ServiceBuilder, ServiceExt};

use super::super::ThrottleGateLayer;
use super::super::{
    Admission, Closed, Closing, GateClosed, GateStore, LocalStore, ProbeOutcome, ProbeTicket,
};
use super::races::{scripted_request, Scripted};
use crate::{Error, PartnerErrorsLayer};

const WORKERS: usize = 32;
const CALLS_PER_WORKER: usize = 50;
const TENANTS: u64 = 4;
const PROBE_LEASE: Duration = Duration::from_millis(10);
/// How long a worker waits for one call before giving up on it (longer than the lease, so that
/// a hung probe loses its role before its caller drops it).
const CALL_TIMEOUT: Duration = Duration::from_millis(25);
/// The bound on one seed's whole run; it normally takes a fraction of a second.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// A tiny xorshift64 generator: the workers' choices are reproducible from the seed (their
/// scheduling is not).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// A probe the watched store handed out and that has not reported yet.
struct LiveProbe {
    task: Option<Id>,
    /// A time no later than the store's grant.
    granted_no_earlier_than: Instant,
}

/// A [`LocalStore`] whose probes are watched: which task holds the role in which scope, since
/// when. Its own lock is held around each call into the store, so that its view and the
/// store's change together.
struct Watched {
    store: LocalStore,
    probes: Mutex<HashMap<String, Vec<LiveProbe>>>,
    granted: AtomicU64,
    reported: AtomicU64,
    holds: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Watched {
    fn new() -> Self {
        Self {
            store: LocalStore::new().probe_lease(PROBE_LEASE),
            probes: Mutex::new(HashMap::new()),
            granted: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            holds: AtomicU64::new(0),
            violations: Mutex::new(Vec::new()),
        }
    }

    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }
}

impl GateStore for Watched {
    fn any_closed(&self) -> bool {
        self.store.any_closed()
    }

    fn close(&self, scope: &str, closing: Closing) -> Closed {
        self.store.close(scope, closing)
    }

    fn admit(&self, scope: &str, release_all: bool) -> Admission {
        let mut probes = self.probes.lock().unwrap();
        let before = Instant::now();
        let admission = self.store.admit(scope, release_all);
        let after = Instant::now();
        if matches!(admission, Admission::Probe(_)) {
            self.granted.fetch_add(1, Ordering::Relaxed);
            let live = probes.entry(scope.to_owned()).or_default();
            // The store granted an earlier probe no earlier than `granted_no_earlier_than`, and
            // this one no later than `after`: an earlier probe whose lease certainly still runs
            // makes this a second probe at once.
            if let Some(other) = live
                .iter()
                .find(|other| other.granted_no_earlier_than + PROBE_LEASE > after)
            {
                self.violation(format!(
                    "scope {scope}: a probe granted while the one of task {:?} held its lease",
                    other.task
                ));
            }
            live.push(LiveProbe {
                task: tokio::task::try_id(),
                granted_no_earlier_than: before,
            });
        }
        admission
    }

    fn probe_done(&self, scope: &str, ticket: ProbeTicket, outcome: ProbeOutcome) -> Option<usize> {
        let mut probes = self.probes.lock().unwrap();
        self.reported.fetch_add(1, Ordering::Relaxed);
        let task = tokio::task::try_id();
        let live = probes.entry(scope.to_owned()).or_default();
        match live.iter().position(|probe| probe.task == task) {
            Some(index) => {
                live.swap_remove(index);
            }
            None => self.violation(format!(
                "scope {scope}: task {task:?} reported a probe it was not granted"
            )),
        }
        if live.is_empty() {
            probes.remove(scope);
        }
        self.store.probe_done(scope, ticket, outcome)
    }

    fn hold(&self, scope: &str) {
        self.holds.fetch_add(1, Ordering::Relaxed);
        self.store.hold(scope);
    }

    fn len(&self) -> usize {
        self.store.len()
    }
}

fn tenant_of(request: &Request<Full<Bytes>>) -> String {
    request
        .headers()
        .get("x-tenant")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("none")
        .to_owned()
}

/// What the workers saw, summed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    answered: u64,
    throttled: u64,
    refused: u64,
    gave_up: u64,
}

impl std::ops::AddAssign for Seen {
    fn add_assign(&mut self, other: Self) {
        self.answered += other.answered;
        self.throttled += other.throttled;
        self.refused += other.refused;
        self.gave_up += other.gave_up;
    }
}

/// One seed's run: every worker's calls, then the checks.
async fn run(seed: u64) {
    let gate = ThrottleGateLayer::with_store(Watched::new())
        .max_wait(Duration::from_secs(1))
        .scope_by(tenant_of as fn(&Request<Full<Bytes>>) -> String);
    let upstream = Scripted::default();
    let service = {
        let upstream = upstream.clone();
        ServiceBuilder::new()
            .layer(gate.clone())
            .layer(PartnerErrorsLayer::new())
            .service(service_fn(move |request| upstream.clone().answer(request)))
    };

    let workers: Vec<_> = (0..WORKERS as u64)
        .map(|worker| {
            let service = service.clone();
            tokio::spawn(async move {
                let mut random =
                    XorShift::new(seed ^ (worker + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut seen = Seen::default();
                for call in 0..CALLS_PER_WORKER {
                    let roll = random.below(100);
                    let answer = match roll {
                        0..=14 => format!("429:{}", 1 + random.below(4)),
                        15..=17 => "hang".to_owned(),
                        _ => "200".to_owned(),
                    };
                    let mut request = scripted_request(&format!("{worker}-{call}"), &answer);
                    let tenant = random.below(TENANTS).to_string();
                    request
                        .headers_mut()
                        .insert("x-tenant", tenant.parse().unwrap());
                    let outcome =
                        tokio::time::timeout(CALL_TIMEOUT, service.clone().oneshot(request)).await;
                    match outcome {
                        Err(_) => seen.gave_up += 1,
                        Ok(Ok(response)) => {
                            assert_eq!(response.status(), StatusCode::OK);
                            seen.answered += 1;
                        }
                        Ok(Err(error)) if GateClosed::find(&error).is_some() => seen.refused += 1,
                        Ok(Err(Error::Api(error))) => {
                            assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
                            seen.throttled += 1;
                        }
                        Ok(Err(error)) => panic!("unexpected error: {error}"),
                    }
                }
                seen
            })
        })
        .collect();

    let mut seen = Seen::default();
    let all = async {
        for worker in workers {
            seen += worker.await.expect("a worker panicked");
        }
    };
    tokio::time::timeout(RUN_LIMIT, all)
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: the workers did not all finish"));
    let total = seen.answered + seen.throttled + seen.refused + seen.gave_up;
    assert_eq!(total, (WORKERS * CALLS_PER_WORKER) as u64, "seed {seed}");

    let watched = gate.store();
    let violations = watched.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "seed {seed}: {violations:#?}");
    assert!(
        watched.probes.lock().unwrap().is_empty(),
        "seed {seed}: a probe never reported"
    );
    let counts = gate.counts();
    assert_eq!(
        counts.probes,
        watched.granted.load(Ordering::Relaxed),
        "seed {seed}: every probe counted"
    );
    assert_eq!(
        watched.reported.load(Ordering::Relaxed),
        watched.granted.load(Ordering::Relaxed),
        "seed {seed}: every probe reported exactly once"
    );
    assert_eq!(counts.rejected, seen.refused, "seed {seed}");
    assert_eq!(counts.closings, seen.throttled, "seed {seed}");
    assert_eq!(
        counts.held,
        watched.holds.load(Ordering::Relaxed),
        "seed {seed}: one hold per call held"
    );
    // A call is held at most once and probes at most once.
    assert!(
        counts.held <= total && counts.probes <= total,
        "seed {seed}: {counts:?}"
    );

    // Every window has ended: each scope left hands its probe out at once (no role left behind),
    // and the probe's answer removes it.
    tokio::time::sleep(Duration::from_millis(10)).await;
    for tenant in 0..TENANTS {
        let scope = tenant.to_string();
        match watched.store.admit(&scope, false) {
            Admission::Open => {}
            Admission::Probe(ticket) => {
                watched
                    .store
                    .probe_done(&scope, ticket, ProbeOutcome::Answered);
            }
            Admission::Wait { probing, .. } => {
                panic!("seed {seed}: scope {scope} still waits (probing: {probing})")
            }
        }
    }
    assert!(
        watched.is_empty(),
        "seed {seed}: {} scopes left",
        watched.len()
    );
    assert!(!watched.any_closed(), "seed {seed}");
    let sent = upstream.ids().len() as u64;
    assert!(
        sent + seen.refused >= total - seen.gave_up,
        "seed {seed}: every call not refused reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_workers_never_see_two_probes_and_leave_no_scope_behind() {
    for seed in [1, 0x5eed, 0xdead_beef] {
        run(seed).await;
    }
}

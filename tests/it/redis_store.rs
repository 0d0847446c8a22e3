//! The Redis store against a real `redis-server` of its own (no mocks): what one process's
//! gate does, every other sees; when Redis goes, each goes on alone and catches up on return.

use std::future::Future;
use std::time::Duration;

use crate::support::redis_server::RedisServer;
use crate::support::{events, nowhere};
use partner_center_errors::gate::{Admission, Closing, GateStore, ProbeOutcome, ProbeTicket};
use partner_center_errors::redis::RedisStore;

fn closing(delay: Duration) -> Closing {
    Closing {
        delay: Some(delay),
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
    }
}

fn store(url: &str) -> RedisStore {
    RedisStore::builder(url)
        .key_prefix("test:")
        .build()
        .expect("a valid URL, inside a runtime")
}

/// [`store`] with a probe lease of `lease`.
fn store_with_lease(url: &str, lease: Duration) -> RedisStore {
    RedisStore::builder(url)
        .key_prefix("test:")
        .probe_lease(lease)
        .build()
        .expect("a valid URL, inside a runtime")
}

/// Waits until `condition` holds, checking every 10 ms, at most `limit`.
async fn within<F: Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    let steps = limit.as_millis() / 10;
    for _ in 0..steps {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within {limit:?}: {what}");
}

const TWO_SECONDS: Duration = Duration::from_secs(2);

/// Returns the time left in `scope`'s window as `store` sees it (zero while probing).
fn window_left(store: &RedisStore, scope: &str) -> Option<Duration> {
    match store.admit(scope, false) {
        Admission::Wait { remaining, .. } => Some(remaining),
        _ => None,
    }
}

async fn redis(url: &str, command: &[&str]) -> redis::Value {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(command[0]);
    for arg in &command[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut connection).await.unwrap()
}

async fn pttl(url: &str, key: &str) -> i64 {
    match redis(url, &["PTTL", key]).await {
        redis::Value::Int(left) => left,
        other => panic!("PTTL answered {other:?}"),
    }
}

/// Closes scope `p` in `a` for 100 ms and waits until the window is over everywhere: `b` heard
/// of the closing and the key expired.
async fn a_window_ends_everywhere(server: &RedisServer, a: &RedisStore, b: &RedisStore) {
    within(TWO_SECONDS, "both connected", || async {
        a.is_connected() && b.is_connected()
    })
    .await;
    a.close("p", closing(Duration::from_millis(100)));
    within(
        TWO_SECONDS,
        "b learns of the closing, then the window ends and its key expires",
        || async { b.any_closed() && pttl(&server.url(), "test:closed:p").await == -2 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// `store` (named `name`) asks for scope `p` after its window: it asks Redis for the fleet's
/// probe role first, and hears back within 2 s.
async fn asks_redis_for_the_role(store: &RedisStore, name: &str) {
    let Admission::Wait { mut changed, .. } = store.admit("p", false) else {
        panic!("{name} must ask Redis for the probe role first");
    };
    tokio::time::timeout(TWO_SECONDS, changed.changed())
        .await
        .unwrap_or_else(|_| panic!("{name} hears back within 2 s"))
        .ok();
}

/// [`a_window_ends_everywhere`], then `a` takes the fleet's probe role (asking Redis first).
async fn a_takes_the_probe_after_a_window(
    server: &RedisServer,
    a: &RedisStore,
    b: &RedisStore,
) -> ProbeTicket {
    a_window_ends_everywhere(server, a, b).await;
    asks_redis_for_the_role(a, "a").await;
    let Admission::Probe(ticket) = a.admit("p", false) else {
        panic!("a must get the probe role");
    };
    assert!(pttl(&server.url(), "test:probe:p").await > 0);
    ticket
}

/// `b` asks for scope `p` while another process holds the probe role: it asks Redis, is not
/// released for 300 ms, and then waits behind the probe. Returns what tells `b` of a change.
async fn b_waits_behind_a_probe(b: &RedisStore) -> tokio::sync::watch::Receiver<()> {
    let Admission::Wait { mut changed, .. } = b.admit("p", false) else {
        panic!("b must ask Redis for the probe role first");
    };
    let woke = tokio::time::timeout(Duration::from_millis(300), changed.changed()).await;
    assert!(
        woke.is_err(),
        "b was released while a's probe was in flight"
    );
    assert!(
        matches!(b.admit("p", false), Admission::Wait { probing: true, .. }),
        "b waits behind a's probe"
    );
    changed
}

/// Admits a request of `scope` the way the gate does (waiting `remaining` or for a change)
/// until it may probe, at most `limit`; returns each wait's `(remaining, probing)`.
async fn waits_until_probe(
    store: &RedisStore,
    scope: &str,
    limit: Duration,
) -> Vec<(Duration, bool)> {
    let mut waits = Vec::new();
    let probed = tokio::time::timeout(limit, async {
        loop {
            match store.admit(scope, false) {
                Admission::Probe(_) => return,
                Admission::Wait {
                    remaining,
                    probing,
                    mut changed,
                } => {
                    waits.push((remaining, probing));
                    let _ = tokio::time::timeout(remaining, changed.changed()).await;
                }
                other => panic!("opened without a probe: {other:?}"),
            }
        }
    })
    .await;
    assert!(probed.is_ok(), "no probe within {limit:?}: {waits:?}");
    waits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closing_in_one_process_closes_the_scope_in_every_other() {
    let server = RedisServer::start().expect("redis-server starts");
    let (a, b) = (store(&server.url()), store(&server.url()));
    within(TWO_SECONDS, "both connected", || async {
        a.is_connected() && b.is_connected()
    })
    .await;
    assert!(!b.any_closed());

    a.close("tenant-a", closing(Duration::from_secs(30)));

    within(TWO_SECONDS, "b learns of a's closing", || async {
        b.any_closed()
    })
    .await;
    let left = window_left(&b, "tenant-a").expect("closed in b");
    assert!(left > Duration::from_secs(25), "{left:?}");
    assert_eq!(window_left(&b, "tenant-b"), None, "other scopes stay open");
    let key_left = pttl(&server.url(), "test:closed:tenant-a").await;
    assert!((25_000..=30_000).contains(&key_left), "{key_left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_closing_never_shortens_the_shared_window() {
    let server = RedisServer::start().expect("redis-server starts");
    let b = store(&server.url());
    within(TWO_SECONDS, "b connected", || async { b.is_connected() }).await;
    // A window b has not heard of (set without a message).
    redis(&server.url(), &["SET", "test:closed:t", "1", "PX", "30000"]).await;

    b.close("t", closing(Duration::from_secs(2)));

    within(TWO_SECONDS, "b adopts the longer shared window", || async {
        window_left(&b, "t").is_some_and(|left| left > Duration::from_secs(25))
    })
    .await;
    let key_left = pttl(&server.url(), "test:closed:t").await;
    assert!(
        key_left > 25_000,
        "the window was shortened to {key_left} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_reads_the_current_state_when_it_starts() {
    let server = RedisServer::start().expect("redis-server starts");
    let a = store(&server.url());
    within(TWO_SECONDS, "a connected", || async { a.is_connected() }).await;
    a.close("tenant with spaces", closing(Duration::from_secs(30)));
    a.close("other", closing(Duration::from_secs(30)));
    within(TWO_SECONDS, "both keys written", || async {
        pttl(&server.url(), "test:closed:other").await > 0
            && pttl(&server.url(), "test:closed:tenant with spaces").await > 0
    })
    .await;

    let late = store(&server.url());
    within(TWO_SECONDS, "late connected", || async {
        late.is_connected()
    })
    .await;
    assert!(late.any_closed());
    assert!(window_left(&late, "tenant with spaces").unwrap() > Duration::from_secs(25));
    assert!(window_left(&late, "other").unwrap() > Duration::from_secs(25));
    // Another prefix is another fleet.
    let elsewhere = RedisStore::builder(server.url())
        .key_prefix("elsewhere:")
        .build()
        .unwrap();
    within(TWO_SECONDS, "elsewhere connected", || async {
        elsewhere.is_connected()
    })
    .await;
    assert!(!elsewhere.any_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_window_one_process_probes_for_the_fleet() {
    let server = RedisServer::start().expect("redis-server starts");
    let (a, b) = (store(&server.url()), store(&server.url()));
    // a asks for the role first, and gets it.
    let ticket = a_takes_the_probe_after_a_window(&server, &a, &b).await;

    // b asks next: another process holds the role, so b keeps waiting.
    let mut changed = b_waits_behind_a_probe(&b).await;

    // a's probe is answered: the scope opens in b too, and no key is left behind.
    assert_eq!(a.probe_done("p", ticket, ProbeOutcome::Answered), Some(0));
    tokio::time::timeout(TWO_SECONDS, changed.changed())
        .await
        .expect("b hears of the opening within 2 s")
        .ok();
    assert!(matches!(b.admit("p", false), Admission::Open));
    assert!(!b.any_closed() && !a.any_closed());
    assert_eq!(pttl(&server.url(), "test:probe:p").await, -2);
    match redis(&server.url(), &["KEYS", "test:*"]).await {
        redis::Value::Array(keys) => assert!(keys.is_empty(), "left behind: {keys:?}"),
        other => panic!("KEYS answered {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn redis_gone_mid_run_the_gate_goes_on_alone_and_catches_up_on_return() {
    let (recorder, _guard) = events::Recorder::install();
    let mut server = RedisServer::start().expect("redis-server starts");
    let port = server.port();
    let (a, b) = (store(&server.url()), store(&server.url()));
    within(TWO_SECONDS, "both connected", || async {
        a.is_connected() && b.is_connected()
    })
    .await;

    server.stop();
    within(TWO_SECONDS, "both see Redis go", || async {
        !a.is_connected() && !b.is_connected()
    })
    .await;
    // Closing and admitting go on in-process, without waiting on Redis.
    a.close("down", closing(Duration::from_secs(30)));
    assert!(window_left(&a, "down").unwrap() > Duration::from_secs(25));
    assert!(window_left(&b, "down").is_none(), "b cannot know yet");
    tokio::time::sleep(Duration::from_millis(500)).await; // a few failed reconnects

    let _server = RedisServer::start_on(port).expect("redis-server starts again");
    within(
        Duration::from_secs(1),
        "b learns of a's closing within 1 s of Redis's return",
        || async { window_left(&b, "down").is_some_and(|left| left > Duration::from_secs(25)) },
    )
    .await;
    assert_eq!((a.connections(), b.connections()), (2, 2));

    if !cfg!(feature = "tracing") {
        return;
    }
    let warnings: Vec<_> = recorder
        .events_of("partner_center_errors")
        .into_iter()
        .filter(|event| event.level == tracing::Level::WARN)
        .collect();
    assert_eq!(warnings.len(), 2, "one WARN per store: {warnings:?}");
    let infos = recorder
        .events_of("partner_center_errors")
        .into_iter()
        .filter(|event| event.level == tracing::Level::INFO)
        .count();
    assert_eq!(infos, 2, "one INFO per store when Redis is back");
}

#[tokio::test(flavor = "current_thread")]
async fn redis_unreachable_at_start_the_gate_works_in_process_until_it_comes() {
    let (recorder, _guard) = events::Recorder::install();
    let port = nowhere().await.port();
    let url = format!("redis://127.0.0.1:{port}/");
    let a = store(&url);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!a.is_connected());
    a.close("early", closing(Duration::from_secs(30)));
    assert!(window_left(&a, "early").is_some());
    assert!(matches!(a.admit("open", false), Admission::Open));

    let server = RedisServer::start_on(port).expect("redis-server starts");
    within(
        TWO_SECONDS,
        "the closing made before reaches Redis",
        || async { pttl(&server.url(), "test:closed:early").await > 25_000 },
    )
    .await;
    if !cfg!(feature = "tracing") {
        return;
    }
    let warnings = recorder
        .events_of("partner_center_errors")
        .into_iter()
        .filter(|event| event.level == tracing::Level::WARN)
        .count();
    assert_eq!(warnings, 1, "one WARN for the whole outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_on_a_stalled_redis_no_longer_than_the_command_timeout() {
    let server = RedisServer::start().expect("redis-server starts");
    let a = store(&server.url());
    within(TWO_SECONDS, "a connected", || async { a.is_connected() }).await;
    a.close("slow", closing(Duration::from_millis(100)));
    within(TWO_SECONDS, "the closing reaches Redis", || async {
        pttl(&server.url(), "test:closed:slow").await > 0
    })
    .await;
    within(
        TWO_SECONDS,
        "the window ends and its key expires",
        || async { pttl(&server.url(), "test:closed:slow").await == -2 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Redis answers nothing for 5 s; the connection stays up.
    redis(&server.url(), &["CLIENT", "PAUSE", "5000", "ALL"]).await;
    let Admission::Wait { mut changed, .. } = a.admit("slow", false) else {
        panic!("a must ask Redis for the probe role first");
    };
    // 50 ms by default; 2 s leaves room for a busy machine and still ends long before Redis.
    tokio::time::timeout(TWO_SECONDS, changed.changed())
        .await
        .expect("the request stops waiting on Redis after its command timeout")
        .ok();
    assert!(
        matches!(a.admit("slow", false), Admission::Probe(_)),
        "Redis stalled: the request probes for its own process"
    );
    assert!(a.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_is_noticed_and_rejoined_when_it_answers_again() {
    let server = RedisServer::start().expect("redis-server starts");
    let a = store(&server.url());
    within(TWO_SECONDS, "a connected", || async { a.is_connected() }).await;

    // The connection stays open, but nothing is answered for 3 s.
    redis(&server.url(), &["CLIENT", "PAUSE", "3000", "ALL"]).await;
    within(
        Duration::from_secs(3),
        "a quiet connection that does not answer PING counts as lost",
        || async { !a.is_connected() },
    )
    .await;
    a.close("meanwhile", closing(Duration::from_secs(30)));
    within(
        Duration::from_secs(5),
        "reconnected once Redis answers again",
        || async { a.is_connected() },
    )
    .await;
    assert_eq!(a.connections(), 2);
    within(
        TWO_SECONDS,
        "the closing made meanwhile reaches Redis",
        || async { pttl(&server.url(), "test:closed:meanwhile").await > 25_000 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_probing_process_dies_another_probes_after_the_lease() {
    let server = RedisServer::start().expect("redis-server starts");
    let lease = Duration::from_millis(300);
    let (a, b) = (
        store_with_lease(&server.url(), lease),
        store_with_lease(&server.url(), lease),
    );
    a_takes_the_probe_after_a_window(&server, &a, &b).await;
    drop(a); // dies with the role, without a word

    let waits = waits_until_probe(&b, "p", TWO_SECONDS).await;
    assert!(
        waits.iter().all(|&(_, probing)| probing),
        "b waits behind a probe, not a window: {waits:?}"
    );
    assert!(
        waits.len() >= 2,
        "b asked Redis, then waited for a's lease: {waits:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_opening_message_delays_the_others_by_a_second_not_the_lease() {
    let server = RedisServer::start().expect("redis-server starts");
    let (a, b) = (store(&server.url()), store(&server.url()));
    a_takes_the_probe_after_a_window(&server, &a, &b).await;
    let Admission::Wait { mut changed, .. } = b.admit("p", false) else {
        panic!("b must ask Redis for the probe role first");
    };
    let _ = tokio::time::timeout(Duration::from_millis(200), changed.changed()).await;
    // a's role ends without the message that tells b (the key is gone, nothing published).
    redis(&server.url(), &["DEL", "test:probe:p"]).await;

    // With the default 60 s lease, b still asks again within about a second.
    let waits = waits_until_probe(&b, "p", Duration::from_secs(3)).await;
    assert!(
        waits
            .iter()
            .all(|&(remaining, _)| remaining <= Duration::from_secs(1)),
        "b probes after a second, not after the 60 s lease: {waits:?}"
    );
}

/// Redis refuses an expiry past the range of its clock (`SET ... PX 18446744073709551615`):
/// a lease that long must still give the fleet one probe, not a failed claim that lets every
/// process probe alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_longer_than_redis_keeps_still_gives_the_fleet_one_probe() {
    let server = RedisServer::start().expect("redis-server starts");
    let lease = Duration::MAX;
    let (a, b) = (
        store_with_lease(&server.url(), lease),
        store_with_lease(&server.url(), lease),
    );
    a_takes_the_probe_after_a_window(&server, &a, &b).await;
    b_waits_behind_a_probe(&b).await;
}

/// The password in the URL reaches neither the store's `Debug` nor the event that says Redis
/// is unreachable, whether the URL gives it in the user-info or in the query.
#[cfg(feature = "tracing")]
#[tokio::test(flavor = "current_thread")]
async fn an_unreachable_redis_is_reported_without_the_password() {
    let (recorder, _guard) = events::Recorder::install();
    let port = nowhere().await.port();
    let urls = [
        format!("redis://user:s3cret@127.0.0.1:{port}/"),
        format!("redis://127.0.0.1:{port}/?pass=s3cret"),
    ];
    let stores: Vec<_> = urls.iter().map(|url| store(url)).collect();
    let warnings = || {
        recorder
            .events_of("partner_center_errors")
            .into_iter()
            .filter(|event| event.level == tracing::Level::WARN)
            .collect::<Vec<_>>()
    };
    within(TWO_SECONDS, "each store reports Redis unreachable", || {
        let all_reported = warnings().len() == stores.len();
        async move { all_reported }
    })
    .await;
    for event in warnings() {
        assert!(
            event.fields.values().all(|value| !value.contains("s3cret")),
            "{event:?}"
        );
        let error = event.field("error").expect("why Redis is unreachable");
        assert!(!error.is_empty() && error.chars().count() <= 201, "{error}");
    }
    for store in &stores {
        assert!(!format!("{store:?}").contains("s3cret"));
    }
}

/// A probe that ends while its process is cut off from Redis (the connection dropped, Redis
/// stayed up) frees the fleet's role once the process is back: the others hear the outcome
/// then, instead of waiting out the 60 s lease behind a probe that is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_that_ends_while_redis_is_away_frees_the_fleets_role_on_return() {
    let server = RedisServer::start().expect("redis-server starts");
    // A slower reconnect leaves room to report the probe while a is cut off.
    let a = RedisStore::builder(server.url())
        .key_prefix("test:")
        .reconnect_delay(Duration::from_millis(500))
        .build()
        .unwrap();
    let b = store(&server.url());
    let ticket = a_takes_the_probe_after_a_window(&server, &a, &b).await;
    b_waits_behind_a_probe(&b).await;

    // Every connection but the test's own drops.
    for kind in ["normal", "pubsub"] {
        redis(
            &server.url(),
            &["CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes"],
        )
        .await;
    }
    within(TWO_SECONDS, "a sees Redis go", || async {
        !a.is_connected()
    })
    .await;
    assert_eq!(a.probe_done("p", ticket, ProbeOutcome::Answered), Some(0));

    within(TWO_SECONDS, "both reconnected", || async {
        a.connections() == 2 && a.is_connected() && b.is_connected()
    })
    .await;
    within(TWO_SECONDS, "the fleet's role is freed", || async {
        pttl(&server.url(), "test:probe:p").await == -2
    })
    .await;
    within(TWO_SECONDS, "b hears of the opening", || async {
        matches!(b.admit("p", false), Admission::Open)
    })
    .await;
}

/// A request dropped while its process asks Redis for the probe role (its caller gave up)
/// leaves no one to probe: the role it wins goes back to the fleet at once, instead of holding
/// every other process for the 60 s lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dropped_while_its_process_claims_the_role_does_not_hold_the_fleet() {
    let server = RedisServer::start().expect("redis-server starts");
    let (a, b) = (store(&server.url()), store(&server.url()));
    a_window_ends_everywhere(&server, &a, &b).await;

    let Admission::Wait { changed, .. } = a.admit("p", false) else {
        panic!("a must ask Redis for the probe role first");
    };
    drop(changed); // the request is dropped while a asks
    tokio::time::sleep(Duration::from_millis(200)).await; // a's claim is answered

    waits_until_probe(&b, "p", Duration::from_secs(3)).await;
}

/// A `redis-server` restarted without persistence forgets every window: a process that knew
/// one shares it again when it reconnects, so that a process starting after the restart does
/// not send inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_known_before_redis_restarted_empty_is_shared_again_on_return() {
    let mut server = RedisServer::start().expect("redis-server starts");
    let port = server.port();
    let a = store(&server.url());
    within(TWO_SECONDS, "a connected", || async { a.is_connected() }).await;
    a.close("before", closing(Duration::from_secs(30)));
    within(TWO_SECONDS, "the window reaches Redis", || async {
        pttl(&server.url(), "test:closed:before").await > 25_000
    })
    .await;

    server.stop();
    within(TWO_SECONDS, "a sees Redis go", || async {
        !a.is_connected()
    })
    .await;
    let server = RedisServer::start_on(port).expect("redis-server starts again, empty");
    within(TWO_SECONDS, "a reconnected", || async {
        a.connections() == 2 && a.is_connected()
    })
    .await;
    within(TWO_SECONDS, "a shares the window again", || async {
        pttl(&server.url(), "test:closed:before").await > 25_000
    })
    .await;

    let late = store(&server.url());
    within(TWO_SECONDS, "late connected", || async {
        late.is_connected()
    })
    .await;
    assert!(
        window_left(&late, "before").is_some_and(|left| left > Duration::from_secs(25)),
        "a process started after the restart would send inside the window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_probes_role_is_freed_with_its_window_never_before_it() {
    let server = RedisServer::start().expect("redis-server starts");
    let (a, b) = (store(&server.url()), store(&server.url()));
    let ticket = a_takes_the_probe_after_a_window(&server, &a, &b).await;
    let mut changed = b_waits_behind_a_probe(&b).await;

    // a's probe is throttled: its closing and the release of its role go to Redis from two
    // background tasks, in either order. Here the release goes first: a's mirror is closed
    // alone, as when the closing's task has not run yet.
    a.local().close("p", closing(Duration::from_secs(10)));
    assert_eq!(a.probe_done("p", ticket, ProbeOutcome::Abandoned), None);
    tokio::time::timeout(TWO_SECONDS, changed.changed())
        .await
        .expect("b hears the role is free within 2 s")
        .ok();

    // b asks for the role again and finds the window a's probe met, not a role to take.
    let settled = tokio::time::timeout(TWO_SECONDS, async {
        loop {
            match b.admit("p", false) {
                Admission::Wait {
                    probing: false,
                    remaining,
                    ..
                } => return Ok(remaining),
                Admission::Wait {
                    remaining,
                    mut changed,
                    ..
                } => {
                    let _ = tokio::time::timeout(remaining, changed.changed()).await;
                }
                other => return Err(other),
            }
        }
    })
    .await
    .expect("b settles within 2 s");
    let remaining = settled.expect("b must not be let through inside the window a's probe met");
    assert!(remaining > Duration::from_secs(9), "{remaining:?}");
    assert!(pttl(&server.url(), "test:closed:p").await > 9_000);
}

/// A process whose request waits behind another process's probe waits on the fleet's role, not
/// on its own mirror: the mirror must keep the scope meanwhile, though its window ended a
/// probe lease ago and no request of this process waits on it there. Dropped as idle (by a
/// request of another scope), the waiting request would go out unprobed beside the other
/// process's probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_on_another_processs_probe_is_not_let_through_as_idle() {
    let server = RedisServer::start().expect("redis-server starts");
    let lease = Duration::from_secs(2);
    let (a, b) = (
        store_with_lease(&server.url(), lease),
        store_with_lease(&server.url(), lease),
    );
    a_window_ends_everywhere(&server, &a, &b).await;
    let ended = tokio::time::Instant::now();

    // Late after the window, b takes the fleet's probe role and keeps it (its probe is slow).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    asks_redis_for_the_role(&b, "b").await;
    let Admission::Probe(_ticket) = b.admit("p", false) else {
        panic!("b must get the probe role");
    };
    let role_ends = tokio::time::Instant::now() + lease;

    // a's request of p waits behind b's probe; a's requests of another scope go meanwhile,
    // and a's mirror looks for idle scopes (once a second) as they do.
    let _waiting = b_waits_behind_a_probe(&a).await;
    let mut looked = 0;
    while tokio::time::Instant::now() + Duration::from_millis(200) < role_ends {
        assert!(matches!(a.admit("q", false), Admission::Open));
        match a.admit("p", false) {
            Admission::Wait { .. } => {}
            other => panic!(
                "a's request of p let through {:?} after the window, while b's probe is in flight: {other:?}",
                ended.elapsed()
            ),
        }
        looked += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(looked > 10, "{looked}");
}

/// A process that exits right after its probe was answered: the report that frees the fleet's
/// probe role (and opens the scope everywhere) runs in the background, and a runtime that
/// stops takes it along, leaving the fleet behind the role until its lease ends. `flush`, the
/// process's last step, waits for it.
#[test]
fn a_store_flushed_before_its_process_exits_frees_its_probe_role() {
    let server = RedisServer::start().expect("redis-server starts");
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let (staying, exiting) = (runtime(), runtime());
    let b = staying.block_on(async { store(&server.url()) });
    let a = exiting.block_on(async { store(&server.url()) });
    let ticket = exiting.block_on(a_takes_the_probe_after_a_window(&server, &a, &b));
    exiting.block_on(async {
        assert_eq!(a.probe_done("p", ticket, ProbeOutcome::Answered), Some(0));
        a.flush().await;
    });
    drop(a);
    drop(exiting);
    staying.block_on(within(
        TWO_SECONDS,
        "the role is free and the scope open in the process that stays",
        || async {
            pttl(&server.url(), "test:probe:p").await == -2
                && matches!(b.admit("p", false), Admission::Open)
        },
    ));
}

/// When the process holding the fleet's probe role frees it (`f`), the others' waiters wake and
/// ask again: until they do, their mirror must keep the scope. Dropped as idle in between (its
/// window ended a probe lease ago, and the freed fleet entry no longer held it), the waiters
/// went out unprobed, beside the next probe another process claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_woken_by_a_freed_role_are_not_let_through_as_idle() {
    let server = RedisServer::start().expect("redis-server starts");
    // a's mirror drops an idle scope half a second after its window; b's probe keeps its role.
    let (a, b) = (
        store_with_lease(&server.url(), Duration::from_millis(500)),
        store_with_lease(&server.url(), Duration::from_secs(10)),
    );
    let ticket = a_takes_the_probe_after_a_window(&server, &b, &a).await;
    let mut changed = b_waits_behind_a_probe(&a).await;
    // Past a's lease after the window, and a second after a's last look for idle scopes.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // b's probe fails without an answer: the role is free, and a's waiter wakes to ask again.
    assert_eq!(b.probe_done("p", ticket, ProbeOutcome::Abandoned), None);
    tokio::time::timeout(TWO_SECONDS, changed.changed())
        .await
        .expect("a hears the role is free within 2 s")
        .ok();
    // b asks first, and probes again.
    waits_until_probe(&b, "p", TWO_SECONDS).await;

    // A request of another scope runs a's look for idle scopes before a's waiter asks again.
    assert!(matches!(a.admit("q", false), Admission::Open));
    match a.admit("p", false) {
        Admission::Wait { probing: true, .. } => {}
        other => panic!("a's waiter let through beside b's probe: {other:?}"),
    }
}

/// The same when this process wins the role: its waiters wake to come back as the probe, and
/// until one does, the mirror keeps the scope. Dropped as idle in between, the waiter went out
/// as an ordinary request, and the fleet's role stayed taken for its lease with no probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_woken_by_its_process_winning_the_role_comes_back_as_the_probe() {
    let server = RedisServer::start().expect("redis-server starts");
    let a = store_with_lease(&server.url(), Duration::from_millis(500));
    let b = store(&server.url());
    a_window_ends_everywhere(&server, &b, &a).await;
    tokio::time::sleep(Duration::from_millis(600)).await; // a's lease after the window

    asks_redis_for_the_role(&a, "a").await;
    // A second after a's last look for idle scopes, a request of another scope looks again
    // before a's waiter comes back.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(a.admit("q", false), Admission::Open));
    assert!(
        matches!(a.admit("p", false), Admission::Probe(_)),
        "a's waiter must come back as the fleet's probe"
    );
}

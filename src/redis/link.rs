//! What travels through Redis: the scripts, the pub/sub messages, (re)connecting.
//!
//! Messages on `{prefix}events`, one line each, the scope last (it may hold spaces):
//! `c <token> <ms left> <scope>` (closed or extended), `o <token> <scope>` (the fleet's probe was
//! answered: the scope opens), `f <token> <scope>` (the probe role is free again).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Client, PushInfo, PushKind, Script, Value};
use tokio::time::{timeout, Instant};

use super::store::{lock, Fleet, Shared, MAX_SHARED_SCOPE_BYTES};
use crate::clock::deadline;
use crate::gate::{Closing, GateStore};

/// Longest a connection attempt, with its subscription, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a background command (closing, reading the state) may take.
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a process waits behind another's probe before asking Redis again.
const RECHECK_PROBE: Duration = Duration::from_secs(1);
/// How long a connection may stay quiet before a `PING` checks it is still there.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// Most closed scopes read from Redis on (re)connecting, and most unsent closings kept.
const MAX_UNSENT: usize = 1024;

/// Extends the window of `KEYS[1]` to `ARGV[1]` ms when that is longer, and publishes it.
/// A closing after a window ended also ends that window's probe role (`KEYS[2]`).
const CLOSE: &str = r"
local left = redis.call('PTTL', KEYS[1])
local ms = tonumber(ARGV[1])
if left == -2 then redis.call('DEL', KEYS[2]) end
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  redis.call('PUBLISH', ARGV[2], 'c ' .. ARGV[3] .. ' ' .. ms .. ' ' .. ARGV[4])
  return ms
end
return left
";

/// Claims the probe role `KEYS[1]` for token `ARGV[1]` for `ARGV[2]` ms: 1 when this process
/// holds it, 0 when another does, minus the ms left when the window (`KEYS[2]`) still runs.
const CLAIM: &str = r"
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return -left end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Frees the probe role `KEYS[1]` if token `ARGV[1]` holds it, and publishes `ARGV[3]`. A
/// throttled probe frees its role with the window it met (`ARGV[4]` ms; 0 for none): the window
/// (`KEYS[2]`) is extended first, as `CLOSE` does, in the same step. Sent apart, a release that
/// reached Redis before its closing let another process claim the role inside the window.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  local ms = tonumber(ARGV[4])
  if ms > 0 and redis.call('PTTL', KEYS[2]) < ms then
    redis.call('SET', KEYS[2], '1', 'PX', ms)
    redis.call('PUBLISH', ARGV[2], 'c ' .. ARGV[5] .. ' ' .. ms .. ' ' .. ARGV[6])
  end
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
";

fn script(cell: &'static OnceLock<Script>, code: &str) -> &'static Script {
    cell.get_or_init(|| Script::new(code))
}

fn close_script() -> &'static Script {
    static CELL: OnceLock<Script> = OnceLock::new();
    script(&CELL, CLOSE)
}

fn claim_script() -> &'static Script {
    static CELL: OnceLock<Script> = OnceLock::new();
    script(&CELL, CLAIM)
}

fn release_script() -> &'static Script {
    static CELL: OnceLock<Script> = OnceLock::new();
    script(&CELL, RELEASE)
}

/// Returns a token that tells this store from every other on the same Redis.
pub(super) fn process_token() -> Box<str> {
    use std::sync::atomic::AtomicU64;
    static STORES: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!(
        "{:x}.{:x}.{:x}",
        std::process::id(),
        nanos,
        STORES.fetch_add(1, Ordering::Relaxed)
    )
    .into_boxed_str()
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A closing for a window heard from Redis; [`Closing::window`] cuts a longer one (a bogus
/// message, a hand-written key) to [`MAX_WINDOW`](crate::gate::MAX_WINDOW).
fn closing_for(left: Duration) -> Closing {
    Closing {
        delay: Some(left),
        backoff_base: left,
        backoff_max: left,
    }
}

/// Shares a closing of `scope` with `left` to go: now when Redis is reachable, else when it
/// returns. Never waits.
pub(super) fn share_closing(shared: &Arc<Shared>, scope: &str, left: Duration) {
    if scope.len() > MAX_SHARED_SCOPE_BYTES || left.is_zero() {
        return;
    }
    let Some(mut connection) = shared.connection() else {
        keep_unsent(shared, scope, deadline(Instant::now(), left));
        return;
    };
    let task_shared = shared.clone();
    let scope: Box<str> = scope.into();
    shared.spawn(async move {
        let sent = timeout(
            BACKGROUND_TIMEOUT,
            run_close(&task_shared, &mut connection, &scope, left),
        )
        .await;
        match sent {
            // Redis knew a longer window (one this process has not heard of): keep it too.
            Ok(Ok(shared_left)) if millis(left) < shared_left.unsigned_abs() => {
                let shared_left = Duration::from_millis(shared_left.unsigned_abs());
                task_shared.local.close(&scope, closing_for(shared_left));
            }
            Ok(Ok(_)) => {}
            _ => keep_unsent(&task_shared, &scope, deadline(Instant::now(), left)),
        }
    });
}

async fn run_close(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
    scope: &str,
    left: Duration,
) -> ::redis::RedisResult<i64> {
    close_script()
        .key(shared.names.closed(scope))
        .key(shared.names.probe(scope))
        .arg(millis(left).max(1))
        .arg(&shared.names.channel)
        .arg(&*shared.token)
        .arg(scope)
        .invoke_async(connection)
        .await
}

fn keep_unsent(shared: &Shared, scope: &str, until: Instant) {
    let mut unsent = lock(&shared.unsent);
    if unsent.len() >= MAX_UNSENT {
        let now = Instant::now();
        unsent.retain(|_, end| *end > now);
    }
    if unsent.len() < MAX_UNSENT || unsent.contains_key(scope) {
        let end = unsent.entry(scope.into()).or_insert(until);
        *end = (*end).max(until);
    }
}

/// Asks Redis for the fleet's probe role of `scope`, and settles this process's waiters.
pub(super) fn claim_probe(shared: &Arc<Shared>, scope: &str, generation: u64) {
    let shared = shared.clone();
    let scope: Box<str> = scope.into();
    let spawner = shared.clone();
    spawner.spawn(async move {
        let mut connection = shared.connection();
        let claimed = match &mut connection {
            Some(connection) => timeout(
                shared.settings.command_timeout,
                claim_script()
                    .key(shared.names.probe(&scope))
                    .key(shared.names.closed(&scope))
                    .arg(&*shared.token)
                    .arg(millis(shared.settings.probe_lease).max(1))
                    .invoke_async::<i64>(connection),
            )
            .await
            .ok()
            .and_then(Result::ok),
            None => None,
        };
        let waited_for = {
            let fleet = shared.fleet();
            if !fleet.is_current(&scope, generation) {
                return;
            }
            matches!(
                fleet.entries.get(&scope),
                Some(Fleet::Pending { wake, .. }) if wake.receiver_count() > 0
            )
        };
        if let (Some(1), Some(mut connection), false) = (claimed, connection, waited_for) {
            // Every request that waited for the role was dropped: nobody would probe, and the
            // fleet would wait for the lease. Free it; the entry keeps this process from
            // claiming again until Redis has answered.
            let _ = timeout(
                BACKGROUND_TIMEOUT,
                run_release(&shared, &mut connection, &scope, false),
            )
            .await;
            let mut fleet = shared.fleet();
            if fleet.is_current(&scope, generation) {
                fleet.entries.remove(&scope);
            }
            return;
        }
        let mut fleet = shared.fleet();
        if !fleet.is_current(&scope, generation) {
            return;
        }
        match claimed {
            // Redis is slow or away: probe for this process alone rather than wait.
            Some(1) | None => {
                let mut ended = fleet.entries.remove(&scope);
                let won = Fleet::won(ended.as_mut());
                fleet.entries.insert(scope, won);
                drop(fleet);
                drop(ended);
            }
            // Another process holds the role: wait for its outcome (published), and ask again
            // after a second (or its lease, if shorter) in case that message never comes.
            Some(0) => {
                if let Some(Fleet::Pending {
                    generation,
                    wake,
                    _mirror: mirror,
                    ..
                }) = fleet.entries.remove(&scope)
                {
                    let until = deadline(
                        Instant::now(),
                        shared.settings.probe_lease.min(RECHECK_PROBE),
                    );
                    let lost = Fleet::Lost {
                        generation,
                        wake,
                        until,
                        _mirror: mirror,
                    };
                    fleet.entries.insert(scope, lost);
                }
            }
            // The fleet's window still runs (this process heard of it late): wait for it.
            Some(left) => {
                fleet.entries.remove(&scope);
                drop(fleet);
                let left = Duration::from_millis(left.unsigned_abs());
                shared.local.close(&scope, closing_for(left));
            }
        }
    });
}

/// Frees this process's probe role of `scope` in Redis, telling the fleet whether the scope
/// opened (`answered`) or the role is free for another process.
pub(super) fn release_probe(shared: &Arc<Shared>, scope: &str, answered: bool) {
    if scope.len() > MAX_SHARED_SCOPE_BYTES {
        return;
    }
    let Some(mut connection) = shared.connection() else {
        // Held in Redis until the lease ends otherwise: the whole fleet would wait for it.
        let mut unreleased = lock(&shared.unreleased);
        if unreleased.len() < MAX_UNSENT || unreleased.contains_key(scope) {
            unreleased.insert(scope.into(), answered);
        }
        return;
    };
    let shared = shared.clone();
    let scope: Box<str> = scope.into();
    let spawner = shared.clone();
    spawner.spawn(async move {
        let _ = timeout(
            BACKGROUND_TIMEOUT,
            run_release(&shared, &mut connection, &scope, answered),
        )
        .await;
    });
}

async fn run_release(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
    scope: &str,
    answered: bool,
) -> ::redis::RedisResult<i64> {
    let kind = if answered { 'o' } else { 'f' };
    // A role freed while the mirror's window runs (a throttled probe) carries that window.
    let window = match answered {
        true => None,
        false => shared.local.window_left(scope),
    };
    release_script()
        .key(shared.names.probe(scope))
        .key(shared.names.closed(scope))
        .arg(&*shared.token)
        .arg(&shared.names.channel)
        .arg(format!("{kind} {} {scope}", shared.token))
        .arg(window.map_or(0, |left| millis(left).max(1)))
        .arg(&*shared.token)
        .arg(scope)
        .invoke_async(connection)
        .await
}

/// Frees the probe roles whose probe ended while Redis was away. Runs before the store counts
/// as connected: no probe of this process can claim a role again meanwhile.
async fn release_unreleased(shared: &Shared, mut connection: MultiplexedConnection) {
    let unreleased: Vec<(Box<str>, bool)> = lock(&shared.unreleased).drain().collect();
    for (scope, answered) in unreleased {
        let _ = timeout(
            BACKGROUND_TIMEOUT,
            run_release(shared, &mut connection, &scope, answered),
        )
        .await;
    }
}

/// Applies one message of another process to this process's mirror.
fn apply(shared: &Shared, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let mut fields = text.splitn(3, ' ');
    let (Some(kind), Some(token), Some(rest)) = (fields.next(), fields.next(), fields.next())
    else {
        return;
    };
    if token == &*shared.token {
        return;
    }
    match kind {
        "c" => {
            let Some((ms, scope)) = rest.split_once(' ') else {
                return;
            };
            let Ok(ms) = ms.parse::<u64>() else {
                return;
            };
            shared
                .local
                .close(scope, closing_for(Duration::from_millis(ms)));
            shared.fleet().entries.remove(scope);
        }
        "o" => {
            // Opens the mirror's scope when its window has ended here too.
            shared.local.open_ended(rest);
            shared.fleet().entries.remove(rest);
        }
        "f" => shared.fleet().free(rest),
        _ => {}
    }
}

/// Keeps the store connected: connects, subscribes, frees the probe roles, sends the closings
/// that waited and the windows the mirror knows, reads the state, applies messages until the
/// connection drops, and starts again after the reconnect delay.
pub(super) async fn supervise(shared: Arc<Shared>, client: Client) {
    let mut away_reported = false;
    loop {
        let (sender, mut pushes) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(BACKGROUND_TIMEOUT))
            .set_push_sender(sender);
        match timeout(CONNECT_TIMEOUT, connect(&shared, &client, &config)).await {
            Ok(Ok(connection)) => {
                release_unreleased(&shared, connection.clone()).await;
                *lock(&shared.connection) = Some(connection.clone());
                shared.connected.store(true, Ordering::Release);
                shared.connections.fetch_add(1, Ordering::AcqRel);
                if away_reported {
                    away_reported = false;
                    #[cfg(feature = "tracing")]
                    tracing::info!(
                        target: "partner_center_errors",
                        "Redis is back: the throttle gate shares its state again"
                    );
                }
                catch_up(&shared, connection.clone()).await;
                listen(&shared, connection, &mut pushes).await;
                went_away(&shared);
                report_away(&mut away_reported, "connection lost");
            }
            Ok(Err(error)) => report_away(&mut away_reported, &error.to_string()),
            Err(_) => report_away(&mut away_reported, "connection timed out"),
        }
        tokio::time::sleep(shared.settings.reconnect_delay).await;
    }
}

/// Applies the messages of one connection until it drops, or stops answering a `PING` sent
/// after a quiet [`HEALTH_INTERVAL`] (a peer gone without a word).
async fn listen(
    shared: &Shared,
    mut connection: MultiplexedConnection,
    pushes: &mut tokio::sync::mpsc::UnboundedReceiver<PushInfo>,
) {
    loop {
        match timeout(HEALTH_INTERVAL, pushes.recv()).await {
            Ok(Some(push)) => match push.kind {
                PushKind::Message => {
                    if let [_, Value::BulkString(payload)] = push.data.as_slice() {
                        apply(shared, payload);
                    }
                }
                PushKind::Disconnection => return,
                _ => {}
            },
            Ok(None) => return,
            Err(_) => {
                let ping = ::redis::cmd("PING");
                let answer = timeout(BACKGROUND_TIMEOUT, ping.query_async::<()>(&mut connection));
                if !matches!(answer.await, Ok(Ok(()))) {
                    return;
                }
            }
        }
    }
}

async fn connect(
    shared: &Shared,
    client: &Client,
    config: &AsyncConnectionConfig,
) -> ::redis::RedisResult<MultiplexedConnection> {
    let mut connection = client
        .get_multiplexed_async_connection_with_config(config)
        .await?;
    // Subscribe before reading the state: a closing between the two is not missed.
    connection.subscribe(&shared.names.channel).await?;
    Ok(connection)
}

/// Sends the closings made while Redis was away and the windows the mirror knows (a Redis
/// restarted without persistence has forgotten them; the script only extends, so one it kept
/// stays as it is), then reads every closed scope.
async fn catch_up(shared: &Shared, mut connection: MultiplexedConnection) {
    let now = Instant::now();
    let mut windows: HashMap<Box<str>, Instant> = lock(&shared.unsent).drain().collect();
    for (scope, left) in shared.local.running_windows(MAX_UNSENT) {
        if scope.len() <= MAX_SHARED_SCOPE_BYTES {
            let end = windows.entry((*scope).into()).or_insert(now);
            *end = (*end).max(deadline(now, left));
        }
    }
    for (scope, until) in windows {
        let now = Instant::now();
        if until > now {
            let _ = timeout(
                BACKGROUND_TIMEOUT,
                run_close(shared, &mut connection, &scope, until - now),
            )
            .await;
        }
    }
    let _ = timeout(BACKGROUND_TIMEOUT, read_state(shared, &mut connection)).await;
}

/// Reads every closed scope (at most the mirror's cap) into the mirror.
async fn read_state(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
) -> ::redis::RedisResult<()> {
    let mut cursor = 0_u64;
    let mut read = 0_usize;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&shared.names.closed_pattern)
            .arg("COUNT")
            .arg(512)
            .query_async(connection)
            .await?;
        if !keys.is_empty() {
            let mut pipe = ::redis::pipe();
            for key in &keys {
                pipe.cmd("PTTL").arg(key);
            }
            let lefts: Vec<i64> = pipe.query_async(connection).await?;
            for (key, left) in keys.iter().zip(lefts) {
                let (Some(scope), Ok(left)) = (shared.names.scope_of(key), u64::try_from(left))
                else {
                    continue;
                };
                if left > 0 {
                    shared
                        .local
                        .close(scope, closing_for(Duration::from_millis(left)));
                    read += 1;
                }
            }
        }
        cursor = next;
        if cursor == 0 || read >= shared.local.max_scopes() {
            return Ok(());
        }
    }
}

/// Forgets the connection and wakes every waiter for a fleet probe: they go on in-process.
fn went_away(shared: &Shared) {
    shared.connected.store(false, Ordering::Release);
    *lock(&shared.connection) = None;
    shared.fleet().entries.clear();
}

/// Records that Redis is unreachable: one `WARN` event per outage.
fn report_away(reported: &mut bool, why: &str) {
    if std::mem::replace(reported, true) {
        return;
    }
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "partner_center_errors",
        error = %crate::sanitize::Sanitized::with_limit(why, 200),
        "Redis is unreachable: the throttle gate goes on in-process"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = why;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Admission;
    use crate::redis::store::{Names, Settings};
    use proptest::prelude::*;

    fn shared() -> Shared {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let settings = Settings {
            key_prefix: "test:".into(),
            command_timeout: Duration::from_millis(50),
            reconnect_delay: Duration::from_millis(200),
            probe_lease: Duration::from_secs(10),
        };
        let shared = Shared::new(settings, 100, runtime.handle().clone());
        // The runtime is not needed: nothing here spawns.
        drop(runtime);
        shared
    }

    fn left(shared: &Shared, scope: &str) -> Option<Duration> {
        match shared.local.admit(scope, false) {
            Admission::Wait { remaining, .. } => Some(remaining),
            _ => None,
        }
    }

    #[test]
    fn another_process_closing_closes_the_mirror_with_its_milliseconds_left() {
        let shared = shared();
        apply(&shared, b"c other 30000 tenant with spaces");
        let window = left(&shared, "tenant with spaces").expect("closed");
        assert!(window > Duration::from_secs(29) && window <= Duration::from_secs(30));
        assert_eq!(left(&shared, "tenant"), None);
    }

    #[test]
    fn this_process_messages_are_not_applied_twice() {
        let shared = shared();
        let own = format!("c {} 30000 scope", shared.token);
        apply(&shared, own.as_bytes());
        assert!(!shared.local.any_closed());
    }

    #[test]
    fn a_window_from_redis_is_cut_to_a_day() {
        let shared = shared();
        apply(&shared, format!("c other {} huge", u64::MAX).as_bytes());
        let window = left(&shared, "huge").expect("closed");
        assert!(
            window <= crate::gate::MAX_WINDOW
                && window > crate::gate::MAX_WINDOW - Duration::from_secs(1)
        );
    }

    #[test]
    fn malformed_messages_change_nothing() {
        let shared = shared();
        for payload in [
            &b""[..],
            b"c",
            b"c other",
            b"c other 30000",
            b"c other -5 scope",
            b"c other 1e3 scope",
            b"c other 99999999999999999999999 scope",
            b"x other 30000 scope",
            b"o other never-closed",
            b"\xff\xfe 30000 scope",
        ] {
            apply(&shared, payload);
        }
        assert!(!shared.local.any_closed());
    }

    #[test]
    fn names_escape_the_prefix_in_the_scan_pattern() {
        let names = Names::new("a*b?[c]\\:");
        assert_eq!(names.closed_pattern, "a\\*b\\?\\[c\\]\\\\:closed:*");
        assert_eq!(names.scope_of(b"a*b?[c]\\:closed:t 1"), Some("t 1"));
        assert_eq!(names.scope_of(b"a*b?[c]\\:probe:t"), None);
        assert_eq!(names.scope_of(b"other:closed:t"), None);
        assert_eq!(names.closed("t"), "a*b?[c]\\:closed:t");
        assert_eq!(names.channel, "a*b?[c]\\:events");
    }

    proptest! {
        #[test]
        fn any_message_is_applied_without_panicking(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            apply(&shared(), &payload);
        }

        #[test]
        fn any_closing_message_closes_its_scope(ms in 1_u64.., scope in "[^\\x00]{1,20}") {
            let shared = shared();
            apply(&shared, format!("c other {ms} {scope}").as_bytes());
            prop_assert!(shared.local.any_closed());
        }
    }
}

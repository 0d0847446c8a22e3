//! The Redis store: the in-process mirror it decides from, and the fleet's probe table.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{Client, IntoConnectionInfo, ProtocolVersion};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::link;
use crate::clock::deadline;
use crate::gate::{
    Admission, Closed, Closing, GateStore, LocalStore, ProbeOutcome, ProbeReport, ProbeTicket,
    DEFAULT_MAX_SCOPES, DEFAULT_PROBE_LEASE, MIN_PROBE_LEASE,
};
use crate::sanitize::Sanitized;

/// Default prefix of every key and channel name: `"pce:gate:"`.
pub const DEFAULT_KEY_PREFIX: &str = "pce:gate:";
/// Default longest a request waits on Redis: 50 ms.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(50);
/// Default pause between two connection attempts while Redis is unreachable: 200 ms.
pub const DEFAULT_RECONNECT_DELAY: Duration = Duration::from_millis(200);

/// Longest scope name shared through Redis; a longer one stays in-process.
pub(super) const MAX_SHARED_SCOPE_BYTES: usize = 1024;

/// Builds a [`RedisStore`]: [`RedisStore::builder`].
#[derive(Clone)]
pub struct RedisStoreBuilder {
    url: String,
    settings: Settings,
    max_scopes: usize,
}

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) key_prefix: Box<str>,
    pub(super) command_timeout: Duration,
    pub(super) reconnect_delay: Duration,
    pub(super) probe_lease: Duration,
}

impl RedisStoreBuilder {
    /// Sets the prefix of every key and of the channel; processes with the same prefix share
    /// their scopes. Default: [`DEFAULT_KEY_PREFIX`].
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.key_prefix = prefix.into().into_boxed_str();
        self
    }

    /// Sets the longest a request waits on Redis (only a request about to probe waits on it).
    /// Default: [`DEFAULT_COMMAND_TIMEOUT`] (50 ms).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.settings.command_timeout = timeout;
        self
    }

    /// Sets the pause between two connection attempts while Redis is unreachable. Default:
    /// [`DEFAULT_RECONNECT_DELAY`] (200 ms).
    pub fn reconnect_delay(mut self, delay: Duration) -> Self {
        self.settings.reconnect_delay = delay;
        self
    }

    /// Sets how long a probe keeps its role without an answer, in this process (as
    /// [`LocalStore::probe_lease`]) and in the fleet (its holder crashed, or its request
    /// hangs): the next waiter, here or in another process, probes after it. At least 1 ms; a
    /// longer lease than about 30 years (the clock's "never") is cut to that, as Redis refuses
    /// an expiry past its clock's range. Default: [`DEFAULT_PROBE_LEASE`] (60 s).
    pub fn probe_lease(mut self, lease: Duration) -> Self {
        self.settings.probe_lease = lease.clamp(MIN_PROBE_LEASE, crate::clock::FAR);
        self
    }

    /// Sets the most scopes the in-process mirror tracks at once. Default:
    /// [`DEFAULT_MAX_SCOPES`].
    pub fn max_scopes(mut self, max_scopes: usize) -> Self {
        self.max_scopes = max_scopes;
        self
    }

    /// Builds the store and starts connecting in the background. It never waits for Redis and
    /// succeeds when Redis is unreachable (the gate then goes on in-process).
    ///
    /// # Errors
    ///
    /// When the URL is not a Redis URL, or when called outside a Tokio runtime or on one
    /// without its timer.
    pub fn build(self) -> Result<RedisStore, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        if crate::clock::sleep_until(Instant::now()).is_none() {
            return Err(BuildError::NoTimer);
        }
        let info = self
            .url
            .as_str()
            .into_connection_info()
            .map_err(BuildError::Url)?;
        // Pub/sub and commands share one multiplexed connection: that takes RESP3.
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(redis)).map_err(BuildError::Url)?;
        let shared = Arc::new(Shared::new(self.settings, self.max_scopes, runtime.clone()));
        let task = runtime.spawn(link::supervise(shared.clone(), client));
        Ok(RedisStore {
            shared,
            task: task.abort_handle(),
        })
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &Redacted(&self.url))
            .field("settings", &self.settings)
            .field("max_scopes", &self.max_scopes)
            .finish()
    }
}

/// A URL with its user, password and query left out, sanitised and bounded.
///
/// redis-rs reads a password from the user-info (up to the last `@`, even when the password
/// holds an unescaped `/`) and from the query (`?pass=`, for Unix sockets): both are hidden,
/// and when an `@` after the query's start leaves unclear where the user-info ends, everything
/// after the scheme is.
struct Redacted<'a>(&'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (format!("{scheme}://"), rest),
            None => (String::new(), url),
        };
        let query_start = rest.find(['?', '#']).unwrap_or(rest.len());
        let (head, query) = rest.split_at(query_start);
        let location = match head.rfind('@') {
            Some(at) => format!("***@{}", &head[at + 1..]),
            None if query.contains('@') => "***".to_owned(),
            None => head.to_owned(),
        };
        let query = query
            .get(..1)
            .map_or(String::new(), |mark| format!("{mark}***"));
        let shown = format!("{scheme}{location}{query}");
        write!(f, "\"{}\"", Sanitized::with_limit(&shown, 200))
    }
}

/// Why a [`RedisStore`] could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The URL is not a Redis URL.
    Url(::redis::RedisError),
    /// [`RedisStoreBuilder::build`] was called outside a Tokio runtime.
    NoRuntime,
    /// [`RedisStoreBuilder::build`] was called on a Tokio runtime without its timer, which
    /// the store needs to bound every exchange with Redis: build the runtime with
    /// `enable_time` (or `enable_all`).
    /// tokio says so only by panicking: the panic is caught, but the panic hook still prints
    /// tokio's message, and under `panic = "abort"` the process aborts instead.
    NoTimer,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(_) => {
                f.write_str("invalid Redis URL: expected redis://[user:password@]host[:port][/db]")
            }
            Self::NoRuntime => f.write_str("the Redis store must be built inside a Tokio runtime"),
            Self::NoTimer => f.write_str(
                "the Redis store needs the Tokio runtime's timer: build it with enable_time or enable_all",
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Url(error) => Some(error),
            Self::NoRuntime | Self::NoTimer => None,
        }
    }
}

/// A [`GateStore`] whose scopes every process on the same Redis shares.
///
/// See the [module docs](super) for what travels through Redis and what happens when it is
/// unreachable. Dropping the store stops its background task.
pub struct RedisStore {
    shared: Arc<Shared>,
    task: AbortHandle,
}

impl RedisStore {
    /// Starts building a store on the Redis at `url` (`redis://host:port/db`; a user and
    /// password go in the URL).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            settings: Settings {
                key_prefix: DEFAULT_KEY_PREFIX.into(),
                command_timeout: DEFAULT_COMMAND_TIMEOUT,
                reconnect_delay: DEFAULT_RECONNECT_DELAY,
                probe_lease: DEFAULT_PROBE_LEASE,
            },
            max_scopes: DEFAULT_MAX_SCOPES,
        }
    }

    /// Returns whether the store is connected to Redis now (subscribed, its state read).
    /// `false` means the gate goes on in-process.
    pub fn is_connected(&self) -> bool {
        self.shared.is_connected()
    }

    /// Returns how many times the store has (re)connected to Redis: 1 after the first
    /// connection, one more after each return of Redis.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Acquire)
    }

    /// Waits until the commands this store has sent to Redis in the background (closings,
    /// probe claims, probe reports) are done; each is bounded by its own timeout.
    ///
    /// Call it before the process exits, as a last step: a probe's report still on its way
    /// when the runtime stops is lost, and the probe role it held stays taken in Redis until
    /// its lease ends ([`probe_lease`](RedisStoreBuilder::probe_lease), 60 s by default), the
    /// whole fleet waiting behind it.
    pub async fn flush(&self) {
        loop {
            let settled = self.shared.settled.notified();
            if self.shared.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            settled.await;
        }
    }

    /// Returns the in-process mirror the gate decides from.
    pub fn local(&self) -> &LocalStore {
        &self.shared.local
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.shared.settings.key_prefix)
            .field("connected", &self.is_connected())
            .field("local", &self.shared.local)
            .finish()
    }
}

impl GateStore for RedisStore {
    #[inline]
    fn any_closed(&self) -> bool {
        self.shared.local.any_closed()
    }

    fn close(&self, scope: &str, closing: Closing) -> Closed {
        let closed = self.shared.local.close(scope, closing);
        // A closing ends this process's wait for a fleet probe: its waiters find the window.
        self.shared.fleet().entries.remove(scope);
        link::share_closing(&self.shared, scope, closed.remaining);
        closed
    }

    fn admit(&self, scope: &str, release_all: bool) -> Admission {
        let fleet_probe =
            !release_all && self.shared.is_connected() && scope.len() <= MAX_SHARED_SCOPE_BYTES;
        // A fleet entry this admission ends, held until the mirror has answered: its hold on
        // the mirror's scope must not lapse in between.
        let mut _ended = None;
        if fleet_probe {
            let now = Instant::now();
            let mut fleet = self.shared.fleet();
            match fleet.entries.get(scope) {
                // While the fleet's probe is being decided, wait for it without taking the
                // local role (taking and handing it back would wake every local waiter).
                Some(Fleet::Pending { wake, until, .. } | Fleet::Lost { wake, until, .. })
                    if *until > now =>
                {
                    return Admission::Wait {
                        remaining: *until - now,
                        probing: true,
                        changed: wake.subscribe(),
                    };
                }
                // Redis did not answer within the command timeout: probe for this process.
                Some(Fleet::Pending { .. }) => {
                    _ended = fleet.entries.remove(scope);
                    let won = Fleet::won(_ended.as_mut());
                    fleet.entries.insert(scope.into(), won);
                }
                // The other process's lease is over: ask for the role again.
                Some(Fleet::Lost { .. }) => {
                    _ended = fleet.entries.remove(scope);
                }
                Some(Fleet::Won { .. }) | None => {}
            }
        }
        let ticket = match self.shared.local.admit(scope, release_all) {
            Admission::Probe(ticket) if fleet_probe => ticket,
            admission => return admission,
        };
        // This process's probe: it becomes the fleet's only if it wins the role in Redis.
        let mut fleet = self.shared.fleet();
        let (changed, remaining) = match fleet.entries.get(scope) {
            Some(Fleet::Won { .. }) => {
                fleet.entries.remove(scope);
                return Admission::Probe(ticket);
            }
            Some(Fleet::Pending { wake, until, .. } | Fleet::Lost { wake, until, .. }) => (
                wake.subscribe(),
                until.saturating_duration_since(Instant::now()),
            ),
            None if fleet.entries.len() >= self.shared.local.max_scopes() => {
                return Admission::Probe(ticket);
            }
            None => {
                let generation = fleet.next_generation();
                let wake = watch::Sender::new(());
                let changed = wake.subscribe();
                let timeout = self.shared.settings.command_timeout;
                fleet.entries.insert(
                    scope.into(),
                    Fleet::Pending {
                        generation,
                        wake,
                        until: deadline(Instant::now(), timeout),
                        _mirror: self.shared.local.watch(scope),
                    },
                );
                link::claim_probe(&self.shared, scope, generation);
                (changed, timeout)
            }
        };
        drop(fleet);
        // Hand the local role back: whoever comes after the fleet's outcome takes it again.
        self.shared
            .local
            .probe_done(scope, ticket, ProbeOutcome::Abandoned);
        Admission::Wait {
            remaining,
            probing: true,
            changed,
        }
    }

    fn probe_done(&self, scope: &str, ticket: ProbeTicket, outcome: ProbeOutcome) -> Option<usize> {
        let opened = match self.shared.local.report_probe(scope, ticket, outcome) {
            // A probe that lost its role to this process's next one: the fleet's role, which
            // this process holds for that one, stays.
            ProbeReport::Stale => return None,
            ProbeReport::Opened(held) => Some(held),
            ProbeReport::Kept | ProbeReport::Gone => None,
        };
        link::release_probe(&self.shared, scope, outcome == ProbeOutcome::Answered);
        opened
    }

    fn hold(&self, scope: &str) {
        self.shared.local.hold(scope);
    }

    fn len(&self) -> usize {
        self.shared.local.len()
    }
}

/// Key and channel names under one prefix.
#[derive(Debug)]
pub(super) struct Names {
    prefix: Box<str>,
    pub(super) channel: String,
    /// `SCAN` pattern of every closed scope's key (the prefix's glob characters escaped).
    pub(super) closed_pattern: String,
}

impl Names {
    pub(super) fn new(prefix: &str) -> Self {
        let mut closed_pattern = String::with_capacity(prefix.len() + 8);
        for c in prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                closed_pattern.push('\\');
            }
            closed_pattern.push(c);
        }
        closed_pattern.push_str("closed:*");
        Self {
            prefix: prefix.into(),
            channel: format!("{prefix}events"),
            closed_pattern,
        }
    }

    pub(super) fn closed(&self, scope: &str) -> String {
        format!("{}closed:{scope}", self.prefix)
    }

    pub(super) fn probe(&self, scope: &str) -> String {
        format!("{}probe:{scope}", self.prefix)
    }

    /// Returns the scope of a closed scope's key, if it is one.
    pub(super) fn scope_of<'a>(&self, key: &'a [u8]) -> Option<&'a str> {
        let rest = key.strip_prefix(self.prefix.as_bytes())?;
        std::str::from_utf8(rest.strip_prefix(b"closed:")?).ok()
    }
}

/// Where this process stands in the fleet's probe of a scope.
pub(super) enum Fleet {
    /// Asking Redis for the role, until the command timeout; waiters wait on `wake`.
    Pending {
        generation: u64,
        wake: watch::Sender<()>,
        until: Instant,
        /// Keeps the mirror's scope: its waiters wait here, not on the mirror, which would
        /// otherwise drop the scope as idle and let them go unprobed.
        _mirror: Option<watch::Receiver<()>>,
    },
    /// Another process holds the role; waiters wait for its outcome on `wake`, and ask Redis
    /// again after `until`.
    Lost {
        generation: u64,
        wake: watch::Sender<()>,
        until: Instant,
        /// As for `Pending`.
        _mirror: Option<watch::Receiver<()>>,
    },
    /// This process holds the role: the next of its requests to arrive is the probe.
    Won {
        /// As for `Pending`: the waiters woke, and until one of them comes back as the probe
        /// the mirror must keep the scope.
        _mirror: Option<watch::Receiver<()>>,
    },
}

impl Fleet {
    /// Returns the role won by the step `ended`, keeping its hold on the mirror's scope.
    pub(super) fn won(ended: Option<&mut Self>) -> Self {
        let _mirror = match ended {
            Some(Self::Pending { _mirror, .. } | Self::Lost { _mirror, .. }) => _mirror.take(),
            _ => None,
        };
        Self::Won { _mirror }
    }
}

#[derive(Default)]
pub(super) struct FleetTable {
    pub(super) entries: HashMap<Box<str>, Fleet>,
    generation: u64,
}

impl FleetTable {
    fn next_generation(&mut self) -> u64 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    /// Ends the fleet's probe of `scope` this process waited on (the role is free again): its
    /// waiters wake and ask Redis again. Until one does, the entry keeps its hold on the mirror's
    /// scope (as an ended wait), or the mirror could drop the scope as idle meanwhile and let
    /// them go unprobed beside the next process's probe.
    pub(super) fn free(&mut self, scope: &str) {
        let Some(ended) = self.entries.remove(scope) else {
            return;
        };
        let (Fleet::Pending { wake, _mirror, .. } | Fleet::Lost { wake, _mirror, .. }) = ended
        else {
            return;
        };
        if wake.receiver_count() == 0 {
            return;
        }
        drop(wake);
        let generation = self.next_generation();
        let ask_again = Fleet::Lost {
            generation,
            wake: watch::Sender::new(()),
            until: Instant::now(),
            _mirror,
        };
        self.entries.insert(scope.into(), ask_again);
    }

    /// Returns whether `scope` is still in the step numbered `generation`.
    pub(super) fn is_current(&self, scope: &str, generation: u64) -> bool {
        matches!(
            self.entries.get(scope),
            Some(Fleet::Pending { generation: g, .. } | Fleet::Lost { generation: g, .. })
                if *g == generation
        )
    }
}

/// What the store's handles and its background task share.
pub(super) struct Shared {
    pub(super) local: LocalStore,
    pub(super) names: Names,
    /// Tells this process's messages and probe role from the others'.
    pub(super) token: Box<str>,
    pub(super) settings: Settings,
    pub(super) connection: Mutex<Option<MultiplexedConnection>>,
    pub(super) connected: AtomicBool,
    pub(super) connections: AtomicU64,
    pub(super) fleet: Mutex<FleetTable>,
    /// Closings made while Redis was unreachable, sent when it returns: scope -> window end.
    pub(super) unsent: Mutex<HashMap<Box<str>, Instant>>,
    /// Probe roles whose probe ended while Redis was unreachable, freed when it returns:
    /// scope -> whether the probe was answered.
    pub(super) unreleased: Mutex<HashMap<Box<str>, bool>>,
    pub(super) runtime: tokio::runtime::Handle,
    /// Background commands (closings, probe claims and releases) still running, and what
    /// [`RedisStore::flush`] waits on for them.
    in_flight: AtomicUsize,
    settled: tokio::sync::Notify,
}

/// Counts one background command as running until it is dropped (done or cancelled).
struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.settled.notify_waiters();
        }
    }
}

/// Locks `mutex`; every update under these locks is one insert or remove, so a poisoned lock
/// is used as it is.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(super) fn new(
        settings: Settings,
        max_scopes: usize,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            local: LocalStore::with_max_scopes(max_scopes).probe_lease(settings.probe_lease),
            names: Names::new(&settings.key_prefix),
            token: link::process_token(),
            settings,
            connection: Mutex::new(None),
            connected: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            fleet: Mutex::new(FleetTable::default()),
            unsent: Mutex::new(HashMap::new()),
            unreleased: Mutex::new(HashMap::new()),
            runtime,
            in_flight: AtomicUsize::new(0),
            settled: tokio::sync::Notify::new(),
        }
    }

    /// Runs a background command on the store's runtime, counted for [`RedisStore::flush`].
    pub(super) fn spawn(self: &Arc<Self>, command: impl Future<Output = ()> + Send + 'static) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let running = Running(self.clone());
        self.runtime.spawn(async move {
            command.await;
            drop(running);
        });
    }

    pub(super) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(super) fn fleet(&self) -> MutexGuard<'_, FleetTable> {
        lock(&self.fleet)
    }

    /// Returns the connection, if Redis is reachable.
    pub(super) fn connection(&self) -> Option<MultiplexedConnection> {
        if !self.is_connected() {
            return None;
        }
        lock(&self.connection).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let builder = RedisStore::builder("redis://user:s3cret@cache.internal:6380/2");
        let debug = format!("{builder:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("user"),
            "{debug}"
        );
        assert!(
            debug.contains("redis://***@cache.internal:6380/2"),
            "{debug}"
        );
        let plain = format!("{:?}", RedisStore::builder("redis://127.0.0.1:6379/"));
        assert!(plain.contains("redis://127.0.0.1:6379/"), "{plain}");
        let hostile = format!("{:?}", RedisStore::builder("redis://h/\u{1b}[2J"));
        assert!(!hostile.contains('\u{1b}'), "{hostile}");
    }

    /// redis-rs also reads a password from the query (`?pass=`, for Unix sockets), and a
    /// password typed with an unescaped `/`, `?` or `@` still goes before the last `@`.
    #[test]
    fn debug_never_shows_a_password_wherever_the_url_puts_it() {
        for url in [
            "redis+unix:///run/redis.sock?db=2&pass=s3cret",
            "unix:///run/redis.sock?user=u&pass=s3cret",
            "redis://user:s3c/ret@cache.internal:6380/2",
            "redis://user:s3c?ret@cache.internal:6380/2",
            "redis://user:s3c@ret@cache.internal:6380/2",
            "redis://cache.internal/2?pass=s3cret",
            "redis://cache.internal/2#s3cret",
        ] {
            let debug = format!("{:?}", RedisStore::builder(url));
            assert!(!debug.contains("s3c"), "{url}: {debug}");
            assert!(!debug.contains("ret"), "{url}: {debug}");
            assert!(debug.contains("://"), "{url}: {debug}");
        }
        let shown = format!(
            "{:?}",
            RedisStore::builder("redis+unix:///run/r.sock?pass=x")
        );
        assert!(
            shown.contains("\"redis+unix:///run/r.sock?***\""),
            "{shown}"
        );
    }

    #[test]
    fn build_outside_a_runtime_is_an_error_not_a_panic() {
        let error = RedisStore::builder("redis://127.0.0.1:6379/")
            .build()
            .unwrap_err();
        assert!(matches!(error, BuildError::NoRuntime), "{error}");
    }

    #[test]
    fn build_on_a_runtime_without_a_timer_is_an_error_not_a_dead_link() {
        // The link's every step is under a timeout: without tokio's timer it would panic in
        // the background and the store would never connect.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        let error = runtime.block_on(async {
            RedisStore::builder("redis://127.0.0.1:6379/")
                .build()
                .unwrap_err()
        });
        assert!(matches!(error, BuildError::NoTimer), "{error}");
        assert!(error.to_string().contains("enable_time"), "{error}");
    }

    #[tokio::test]
    async fn a_url_that_is_not_redis_is_an_error() {
        let error = RedisStore::builder("http://example.com/")
            .build()
            .unwrap_err();
        assert!(matches!(error, BuildError::Url(_)), "{error}");
        // Says what a Redis URL looks like, and never echoes the URL (it may hold a password).
        assert_eq!(
            error.to_string(),
            "invalid Redis URL: expected redis://[user:password@]host[:port][/db]"
        );
    }
}

//! Where the gate keeps its scopes: the [`GateStore`] trait and the in-process [`LocalStore`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::deadline;

/// Default most scopes a [`LocalStore`] tracks at once: 10,000.
pub const DEFAULT_MAX_SCOPES: usize = 10_000;
/// Default longest a probe keeps its role without an answer before the next waiter takes it:
/// 60 s.
pub const DEFAULT_PROBE_LEASE: Duration = Duration::from_secs(60);
/// Shortest probe lease a store keeps.
pub(crate) const MIN_PROBE_LEASE: Duration = Duration::from_millis(1);

/// How a scope closes: the server's delay, or a backoff when it gave none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    /// The delay the server asked for, if it named one.
    pub delay: Option<Duration>,
    /// The first backoff when the server named no delay; it doubles while throttling repeats.
    pub backoff_base: Duration,
    /// The longest backoff.
    pub backoff_max: Duration,
}

/// The longest window a closing makes: a longer delay (a hostile or broken `Retry-After`, a
/// backoff setting) is cut to this. When it ends, the probe asks the server again.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

impl Closing {
    /// Returns the window for this closing after `streak` throttled answers in a row (1 for
    /// the first): the server's delay, or `backoff_base × 2^(streak-1)` capped at `backoff_max`;
    /// never more than [`MAX_WINDOW`].
    pub fn window(&self, streak: u32) -> Duration {
        self.delay
            .unwrap_or_else(|| {
                let doublings = streak.saturating_sub(1).min(30);
                self.backoff_base
                    .saturating_mul(1 << doublings)
                    .min(self.backoff_max)
            })
            .min(MAX_WINDOW)
    }
}

/// What a close did to its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// Time left until the scope's window ends, after this close.
    pub remaining: Duration,
    /// Whether the scope was open before (a new window, not an extension).
    pub newly_closed: bool,
}

/// What a request may do now.
///
/// `#[non_exhaustive]`: a store builds these and the gate reads them, so a new variant would
/// break no store; only code that matches on [`GateStore::admit`]'s answer (a wrapper store, a
/// test) needs a `_` arm. [`ProbeOutcome`], which every store matches on, stays exhaustive.
#[derive(Debug)]
#[non_exhaustive]
pub enum Admission {
    /// The scope is open: send.
    Open,
    /// The window has ended and nobody is probing: send as the probe, and report the outcome
    /// with [`GateStore::probe_done`], handing back this ticket.
    Probe(ProbeTicket),
    /// The scope is closed, or a probe is in flight: do not send. Ask again after `remaining`,
    /// or when `changed` resolves (a closing, an opening, a probe handed on).
    Wait {
        /// Time left in the window, or, while a probe is in flight, in the probe's lease.
        remaining: Duration,
        /// Whether the window has ended and a probe is in flight.
        probing: bool,
        /// Resolves (with `Ok` or, when the scope is dropped, `Err`) when the scope changes.
        changed: watch::Receiver<()>,
    },
}

/// Which handing-out of a probe role a report is about: a probe that lost its role (its lease
/// ended, or its scope opened and closed again) reports with a ticket that is no longer the
/// scope's, and the store ignores it instead of taking the role from the probe that has it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeTicket(u64);

impl ProbeTicket {
    /// Wraps a store's number for one handing-out of a probe role (unique within the store).
    pub const fn new(number: u64) -> Self {
        Self(number)
    }

    /// Returns the store's number for this handing-out.
    pub const fn number(self) -> u64 {
        self.0
    }
}

/// How a probe ended.
///
/// Exhaustive on purpose: every [`GateStore`] matches on it, and a new outcome would need each
/// store's own answer, not a wildcard's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The server answered without throttling: the scope opens.
    Answered,
    /// The probe was dropped, or failed without an answer: the role goes to the next waiter.
    Abandoned,
}

/// The state the gate shares: which scopes are closed, until when, and who probes.
///
/// Every method speaks in durations from now, never in wall-clock times, so that a store shared
/// between machines (Redis) does not depend on their clocks agreeing. The semantics a store
/// must keep:
///
/// - [`close`](Self::close) only ever extends a window (one atomic step: a Lua script in Redis);
/// - [`admit`](Self::admit) hands out at most one probe per scope after its window (`SET NX PX`);
/// - [`any_closed`](Self::any_closed) is what an open gate costs per request: one atomic read,
///   kept current by the store (by pub/sub for a shared store).
pub trait GateStore: Send + Sync + 'static {
    /// Returns whether any scope may be closed. `false` lets a request through without
    /// computing its scope; it must be one atomic read.
    fn any_closed(&self) -> bool;

    /// Closes `scope` for `closing`'s window, or extends its window; never shortens it.
    fn close(&self, scope: &str, closing: Closing) -> Closed;

    /// Returns what a request of `scope` may do now. With `release_all`, the end of a window
    /// opens the scope for everyone at once instead of handing out a probe. A probe that has
    /// not reported within the store's lease loses its role to the next request.
    fn admit(&self, scope: &str, release_all: bool) -> Admission;

    /// Reports how the probe `ticket` of `scope` ended; a throttled probe closes the scope
    /// first, then reports [`ProbeOutcome::Abandoned`]. A report whose ticket no longer holds
    /// the role (it lost it to the lease) changes nothing. Returns how many requests waited for
    /// the scope when it opened, or `None` when it did not open.
    fn probe_done(&self, scope: &str, ticket: ProbeTicket, outcome: ProbeOutcome) -> Option<usize>;

    /// Counts one request held back in `scope` (reported when the scope opens).
    fn hold(&self, scope: &str);

    /// Returns how many scopes the store tracks now.
    fn len(&self) -> usize;

    /// Returns whether the store tracks no scope.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Scope {
    /// Which closing of this key it is, to tell it from the key's earlier ones in the queue.
    serial: u64,
    until: Instant,
    /// When the probe in flight, if any, was handed its role, and its ticket.
    probing: Option<(Instant, ProbeTicket)>,
    streak: u32,
    /// The longest backoff of its closings: how long its streak is remembered after a release.
    backoff_max: Duration,
    held: usize,
    changed: watch::Sender<()>,
}

impl Scope {
    fn new(serial: u64, until: Instant) -> Self {
        Self {
            serial,
            until,
            probing: None,
            streak: 0,
            backoff_max: Duration::ZERO,
            held: 0,
            changed: watch::Sender::new(()),
        }
    }
}

/// The in-process store (the default): one table of closed scopes behind a mutex, and one
/// atomic count of them that an open gate reads.
///
/// The table holds closed scopes only: a scope leaves it when it opens. It stays bounded
/// whatever the key's cardinality: when [`max_scopes`](Self::max_scopes) are tracked, scopes
/// whose window has ended are dropped (at most once a second), and if none has, the scope
/// closed longest ago is forgotten (it reopens early) to make room for the new closing.
///
/// The bound is a count: each closed scope keeps its key, whatever its length, and about 1 KiB
/// besides, so the table holds at most `max_scopes` times (the longest key + 1 KiB). Up to
/// `max_scopes` scopes that opened without a probe (with
/// [`release_all`](super::ThrottleGateLayer::release_all), or idle a probe lease after their
/// window) also keep their key and a few words, for as long as their longest backoff, so that a
/// throttled answer right after the opening backs off longer. Keep keys short (a
/// tenant id rather than a request's path), or hash long ones.
pub struct LocalStore {
    closed: AtomicUsize,
    table: Mutex<Table>,
    max_scopes: usize,
    probe_lease: Duration,
}

struct Table {
    scopes: HashMap<Arc<str>, Scope>,
    /// Scopes in the order they closed (with some already gone), to forget the oldest.
    order: VecDeque<(Arc<str>, u64)>,
    serial: u64,
    /// The number of the last probe ticket handed out.
    tickets: u64,
    last_sweep: Option<Instant>,
    /// When [`LocalStore::drop_idle`] last looked.
    last_idle_sweep: Option<Instant>,
    /// No running window ends before this (the earliest end, or earlier when that scope has
    /// gone since): a full table looks for ended windows again once it is reached.
    earliest_end: Option<Instant>,
    /// Streaks of scopes that opened without a probe (for everyone at once with `release_all`,
    /// or dropped while idle), each until its closing's longest backoff has passed: the answers
    /// to the requests sent then tell whether throttling repeats, and a throttled one must back
    /// off longer. (A probe's answer tells it otherwise, before the scope opens.)
    released: HashMap<Arc<str>, (u32, Instant)>,
}

impl Table {
    fn is_live(&self, key: &str, serial: u64) -> bool {
        self.scopes
            .get(key)
            .is_some_and(|scope| scope.serial == serial)
    }
}

/// How often, at most, a full table drops its expired scopes.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

impl LocalStore {
    /// Creates an empty store tracking at most [`DEFAULT_MAX_SCOPES`] scopes.
    pub fn new() -> Self {
        Self::with_max_scopes(DEFAULT_MAX_SCOPES)
    }

    /// Creates an empty store tracking at most `max_scopes` scopes (at least 1).
    pub fn with_max_scopes(max_scopes: usize) -> Self {
        Self {
            closed: AtomicUsize::new(0),
            table: Mutex::new(Table {
                scopes: HashMap::new(),
                order: VecDeque::new(),
                serial: 0,
                tickets: 0,
                last_sweep: None,
                last_idle_sweep: None,
                earliest_end: None,
                released: HashMap::new(),
            }),
            max_scopes: max_scopes.max(1),
            probe_lease: DEFAULT_PROBE_LEASE,
        }
    }

    /// Sets how long a probe keeps its role without an answer before the next waiter takes
    /// it (a hung request holds no scope forever). At least 1 ms, as in the Redis store: a zero
    /// lease would make every waiter a probe at once. Default: 60 s ([`DEFAULT_PROBE_LEASE`]).
    pub fn probe_lease(mut self, lease: Duration) -> Self {
        self.probe_lease = lease.max(MIN_PROBE_LEASE);
        self
    }

    /// Returns the most scopes this store tracks at once.
    pub fn max_scopes(&self) -> usize {
        self.max_scopes
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while the lock was held cannot leave the table inconsistent (every update
        // is one insert or remove), so a poisoned lock is used as it is.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn publish(&self, table: &Table) {
        self.closed.store(table.scopes.len(), Ordering::Release);
    }

    /// Drops the scopes whose window has ended (but for those with a probe in flight).
    fn sweep(table: &mut Table, now: Instant) {
        table.last_sweep = Some(now);
        table
            .scopes
            .retain(|_, scope| scope.until > now || scope.probing.is_some());
        table.earliest_end = table
            .scopes
            .values()
            .map(|scope| scope.until)
            .filter(|&until| until > now)
            .min();
    }

    /// Drops, at most once a second, the scopes whose window ended a probe lease ago or more
    /// with nobody waiting and no probe in flight (but `admitted`'s): no request of theirs came
    /// since. Kept, each would keep [`GateStore::any_closed`] true, and every request of every
    /// scope on the slow path (a lock and a box), long after the last window ended. The next
    /// request of such a scope is sent as any request of an open scope is, and its streak is
    /// remembered as after a release (`release_all`). The lease's wait lets a probe of the
    /// window's end run its course first: the Redis store's waiters for another process's
    /// probe wait on the fleet's role, not on this table.
    fn drop_idle(&self, table: &mut Table, admitted: &str, now: Instant) {
        if table
            .last_idle_sweep
            .is_some_and(|last| now.duration_since(last) < SWEEP_INTERVAL)
        {
            return;
        }
        table.last_idle_sweep = Some(now);
        let lease = self.probe_lease;
        let idle: Vec<(Arc<str>, Scope)> = table
            .scopes
            .extract_if(|key, scope| {
                deadline(scope.until, lease) <= now
                    && scope.probing.is_none()
                    && scope.changed.receiver_count() == 0
                    && &**key != admitted
            })
            .collect();
        if idle.is_empty() {
            return;
        }
        // Opened without a probe, as at a release: a throttled answer soon after backs off
        // longer.
        for (key, ended) in idle {
            Self::remember_streak(table, key, &ended, now, self.max_scopes);
        }
        self.publish(table);
    }

    /// Makes room for one more scope.
    fn make_room(table: &mut Table, max_scopes: usize, now: Instant) {
        if table.scopes.len() < max_scopes {
            return;
        }
        let mut swept = table
            .last_sweep
            .is_none_or(|last| now.duration_since(last) >= SWEEP_INTERVAL);
        if swept {
            Self::sweep(table, now);
        }
        while table.scopes.len() >= max_scopes {
            let Some((oldest, serial)) = table.order.pop_front() else {
                break;
            };
            let Some(scope) = table.scopes.get(&oldest).filter(|s| s.serial == serial) else {
                continue;
            };
            // Forgetting a running window lets its requests go early: not while another
            // window may have ended since the last sweep (once a second is for a table of
            // running windows only).
            if !swept && scope.until > now && table.earliest_end.is_some_and(|end| end <= now) {
                table.order.push_front((oldest, serial));
                Self::sweep(table, now);
                swept = true;
                continue;
            }
            table.scopes.remove(&oldest);
        }
    }

    /// Keeps the streak of a scope that opened without a probe, while its longest backoff
    /// lasts; at most `max_scopes` of them (a full list drops those that expired, then
    /// remembers no more).
    fn remember_streak(
        table: &mut Table,
        key: Arc<str>,
        ended: &Scope,
        now: Instant,
        max_scopes: usize,
    ) {
        if table.released.len() >= max_scopes {
            table.released.retain(|_, (_, end)| *end > now);
        }
        if table.released.len() < max_scopes {
            let end = deadline(now, ended.backoff_max);
            table.released.insert(key, (ended.streak, end));
        }
    }

    /// Adds a closed scope; the queue keeps closings of scopes that opened since until it is
    /// compacted, which keeps it within twice the cap.
    fn insert(table: &mut Table, scope: &str, now: Instant, max_scopes: usize) {
        table.serial += 1;
        let key: Arc<str> = scope.into();
        table
            .scopes
            .insert(key.clone(), Scope::new(table.serial, now));
        table.order.push_back((key, table.serial));
        if table.order.len() > 2 * max_scopes {
            let mut order = std::mem::take(&mut table.order);
            order.retain(|(key, serial)| table.is_live(key, *serial));
            table.order = order;
        }
    }
}

/// What a probe's report did to its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeReport {
    /// The scope opened; this many requests had waited for it.
    Opened(usize),
    /// The role is free again and the scope stays closed.
    Kept,
    /// The ticket no longer held the role: nothing changed.
    Stale,
    /// The scope is not tracked (it opened or was forgotten): nothing changed.
    Gone,
}

impl LocalStore {
    /// [`GateStore::probe_done`], telling a stale report from one that kept the scope closed.
    pub(crate) fn report_probe(
        &self,
        scope: &str,
        ticket: ProbeTicket,
        outcome: ProbeOutcome,
    ) -> ProbeReport {
        let now = Instant::now();
        let mut table = self.table();
        let Some(entry) = table.scopes.get_mut(scope) else {
            return ProbeReport::Gone;
        };
        // A probe that lost its role reports nothing: the role is its successor's.
        if entry.probing.map(|(_, holder)| holder) != Some(ticket) {
            return ProbeReport::Stale;
        }
        entry.probing = None;
        if outcome == ProbeOutcome::Answered && entry.until <= now {
            // Dropping the sender wakes every waiter: they find the scope open.
            let held = table.scopes.remove(scope).map_or(0, |scope| scope.held);
            self.publish(&table);
            return ProbeReport::Opened(held);
        }
        entry.changed.send_replace(());
        // Its window may have ended: a full table may drop it now.
        let until = entry.until;
        table.earliest_end = Some(table.earliest_end.map_or(until, |end| end.min(until)));
        ProbeReport::Kept
    }
}

#[cfg(feature = "redis")]
impl LocalStore {
    /// Returns at most `most` scopes whose window still runs, each with the time left in it.
    pub(crate) fn running_windows(&self, most: usize) -> Vec<(Arc<str>, Duration)> {
        let now = Instant::now();
        self.table()
            .scopes
            .iter()
            .filter(|(_, scope)| scope.until > now)
            .take(most)
            .map(|(key, scope)| (key.clone(), scope.until - now))
            .collect()
    }

    /// Opens `scope` if its window has ended (the fleet's probe was answered): its waiters wake
    /// and find it open, and its streak of throttled answers ends.
    pub(crate) fn open_ended(&self, scope: &str) {
        let now = Instant::now();
        let mut table = self.table();
        if table
            .scopes
            .get(scope)
            .is_some_and(|entry| entry.until <= now)
        {
            table.scopes.remove(scope);
            self.publish(&table);
        }
    }

    /// Returns a receiver of `scope`'s changes, if the table holds it. Held, it also keeps the
    /// scope from being dropped as idle (see `drop_idle`): the Redis store holds one while its
    /// requests wait on the fleet's probe role rather than on this table.
    pub(crate) fn watch(&self, scope: &str) -> Option<watch::Receiver<()>> {
        Some(self.table().scopes.get(scope)?.changed.subscribe())
    }

    /// Returns the time left in `scope`'s window, if it still runs.
    pub(crate) fn window_left(&self, scope: &str) -> Option<Duration> {
        let now = Instant::now();
        let until = self.table().scopes.get(scope)?.until;
        (until > now).then(|| until - now)
    }
}

impl Default for LocalStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStore")
            .field("scopes", &self.len())
            .field("max_scopes", &self.max_scopes)
            .field("probe_lease", &self.probe_lease)
            .finish()
    }
}

impl GateStore for LocalStore {
    #[inline]
    fn any_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) != 0
    }

    fn close(&self, scope: &str, closing: Closing) -> Closed {
        let now = Instant::now();
        let mut table = self.table();
        if !table.scopes.contains_key(scope) {
            Self::make_room(&mut table, self.max_scopes, now);
        }
        let newly_closed = !table.scopes.contains_key(scope);
        let mut remembered = None;
        if newly_closed {
            Self::insert(&mut table, scope, now, self.max_scopes);
            remembered = table.released.remove(scope).filter(|(_, end)| *end > now);
        }
        let Some(entry) = table.scopes.get_mut(scope) else {
            // Inserted above; nothing to extend otherwise.
            return Closed {
                remaining: Duration::ZERO,
                newly_closed,
            };
        };
        if let Some((streak, _)) = remembered {
            entry.streak = streak;
        }
        // The longest of the window's closings: a shorter one (the Redis mirror's closings
        // carry their window as one) must not cut the streak's memory short.
        entry.backoff_max = entry.backoff_max.max(closing.backoff_max);
        // Answers to requests sent before the window was known repeat the same throttling:
        // only a throttled answer after the window ended (or the first) counts as repeated.
        if entry.until <= now || newly_closed {
            entry.streak = entry.streak.saturating_add(1);
        }
        let until = deadline(now, closing.window(entry.streak));
        if until > entry.until {
            entry.until = until;
        }
        let (until, remaining) = (entry.until, entry.until - now);
        entry.changed.send_replace(());
        table.earliest_end = Some(table.earliest_end.map_or(until, |end| end.min(until)));
        self.publish(&table);
        Closed {
            remaining,
            newly_closed,
        }
    }

    fn admit(&self, scope: &str, release_all: bool) -> Admission {
        let now = Instant::now();
        let mut table = self.table();
        let table = &mut *table;
        self.drop_idle(table, scope, now);
        let Some(entry) = table.scopes.get_mut(scope) else {
            return Admission::Open;
        };
        if entry.until > now {
            return Admission::Wait {
                remaining: entry.until - now,
                probing: false,
                changed: entry.changed.subscribe(),
            };
        }
        if release_all {
            if let Some((key, ended)) = table.scopes.remove_entry(scope) {
                Self::remember_streak(table, key, &ended, now, self.max_scopes);
            }
            self.publish(table);
            return Admission::Open;
        }
        if let Some((since, _)) = entry.probing {
            let lease_ends = deadline(since, self.probe_lease);
            if lease_ends > now {
                return Admission::Wait {
                    remaining: lease_ends - now,
                    probing: true,
                    changed: entry.changed.subscribe(),
                };
            }
        }
        table.tickets += 1;
        let ticket = ProbeTicket(table.tickets);
        entry.probing = Some((now, ticket));
        Admission::Probe(ticket)
    }

    fn probe_done(&self, scope: &str, ticket: ProbeTicket, outcome: ProbeOutcome) -> Option<usize> {
        match self.report_probe(scope, ticket, outcome) {
            ProbeReport::Opened(held) => Some(held),
            ProbeReport::Kept | ProbeReport::Stale | ProbeReport::Gone => None,
        }
    }

    fn hold(&self, scope: &str) {
        if let Some(entry) = self.table().scopes.get_mut(scope) {
            entry.held = entry.held.saturating_add(1);
        }
    }

    fn len(&self) -> usize {
        self.table().scopes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn closing(seconds: u64) -> Closing {
        Closing {
            delay: Some(Duration::from_secs(seconds)),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn closing_extends_and_never_shortens() {
        let store = LocalStore::new();
        assert!(!store.any_closed());
        let first = store.close("t", closing(2));
        assert_eq!(first.remaining, Duration::from_secs(2));
        assert!(first.newly_closed);
        assert!(store.any_closed());
        let longer = store.close("t", closing(10));
        assert_eq!(longer.remaining, Duration::from_secs(10));
        assert!(!longer.newly_closed);
        tokio::time::advance(Duration::from_secs(1)).await;
        let shorter = store.close("t", closing(2));
        assert_eq!(shorter.remaining, Duration::from_secs(9));
        assert_eq!(store.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_probe_per_scope_after_its_window() {
        let store = LocalStore::new();
        store.close("t", closing(1));
        let Admission::Wait { remaining, .. } = store.admit("t", false) else {
            panic!("closed")
        };
        assert_eq!(remaining, Duration::from_secs(1));
        assert!(matches!(store.admit("u", false), Admission::Open));
        tokio::time::advance(Duration::from_secs(1)).await;
        let Admission::Probe(ticket) = store.admit("t", false) else {
            panic!("the window is over")
        };
        let Admission::Wait {
            remaining,
            probing: true,
            mut changed,
        } = store.admit("t", false)
        else {
            panic!("a probe is in flight")
        };
        assert_eq!(remaining, DEFAULT_PROBE_LEASE);
        store.hold("t");
        assert_eq!(
            store.probe_done("t", ticket, ProbeOutcome::Answered),
            Some(1)
        );
        assert!(
            changed.changed().await.is_err(),
            "the scope is gone: waiters wake"
        );
        assert!(!store.any_closed());
        assert!(matches!(store.admit("t", false), Admission::Open));
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_lease_is_one_millisecond_so_one_probe_goes_at_a_time() {
        // As the Redis store's: a zero lease would make every waiter that wakes at the end of
        // the window a probe of its own, all sent at once.
        let store = LocalStore::new().probe_lease(Duration::ZERO);
        store.close("t", closing(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(store.admit("t", false), Admission::Probe(_)));
        let Admission::Wait {
            remaining,
            probing: true,
            ..
        } = store.admit("t", false)
        else {
            panic!("a probe is in flight: the next waits for its lease")
        };
        assert_eq!(remaining, Duration::from_millis(1));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(
            matches!(store.admit("t", false), Admission::Probe(_)),
            "the lease is over: the next waiter probes"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_million_distinct_scopes_stay_within_the_cap() {
        let store = LocalStore::new();
        let mut most = 0;
        for key in 0..1_000_000u32 {
            store.close(&key.to_string(), closing(30));
            if key % 1000 == 999 {
                tokio::time::advance(Duration::from_millis(10)).await;
                let table = store.table();
                most = most.max(table.scopes.len());
                assert!(table.order.len() <= 2 * DEFAULT_MAX_SCOPES);
            }
        }
        assert_eq!(most, DEFAULT_MAX_SCOPES);
        let table = store.table();
        assert_eq!(table.scopes.len(), DEFAULT_MAX_SCOPES);
        assert!(table.scopes.capacity() < 4 * DEFAULT_MAX_SCOPES);
        assert!(table.order.capacity() <= 4 * DEFAULT_MAX_SCOPES);
        // The newest closings are the ones kept.
        assert!(table.scopes.contains_key("999999"));
        assert!(!table.scopes.contains_key("0"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_drops_expired_scopes_first() {
        let store = LocalStore::with_max_scopes(3);
        store.close("long", closing(60));
        store.close("short-1", closing(1));
        store.close("short-2", closing(1));
        tokio::time::advance(Duration::from_secs(2)).await;
        store.close("new", closing(5));
        assert_eq!(store.len(), 2, "both expired scopes dropped");
        assert!(matches!(store.admit("long", false), Admission::Wait { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_drops_a_window_ended_since_its_last_sweep_before_a_running_one() {
        let store = LocalStore::with_max_scopes(3);
        store.close("long-1", closing(60));
        store.close("long-2", closing(60));
        store.close(
            "short",
            Closing {
                delay: Some(Duration::from_millis(500)),
                ..closing(0)
            },
        );
        tokio::time::advance(Duration::from_millis(100)).await;
        // Full, nothing ended: the sweep finds nothing and the oldest closing goes.
        store.close("new-1", closing(60));
        tokio::time::advance(Duration::from_millis(600)).await;
        // Full again within a second of that sweep, and "short" has ended meanwhile.
        store.close("new-2", closing(60));
        assert!(
            matches!(store.admit("long-2", false), Admission::Wait { .. }),
            "a running window was forgotten while an ended one was kept"
        );
        assert!(matches!(store.admit("short", false), Admission::Open));
        assert_eq!(store.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn released_at_once_a_scope_throttled_again_backs_off_longer() {
        let store = LocalStore::new();
        let no_delay = Closing {
            delay: None,
            ..closing(0)
        };
        let mut windows = Vec::new();
        for _ in 0..3 {
            let window = store.close("t", no_delay).remaining;
            windows.push(window.as_secs());
            tokio::time::advance(window).await;
            assert!(matches!(store.admit("t", true), Admission::Open));
            assert!(!store.any_closed() && store.is_empty());
        }
        assert_eq!(
            windows,
            [1, 2, 4],
            "throttling repeats right after each release"
        );
        // A throttled answer after a quiet time longer than the longest backoff starts again.
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(store.close("t", no_delay).remaining, Duration::from_secs(1));
    }

    /// A window dropped while idle opens without a probe, as a release does: a throttled
    /// answer soon after must back off longer, in either mode, not start at the base again.
    #[tokio::test(start_paused = true)]
    async fn a_scope_dropped_while_idle_keeps_its_streak_for_its_longest_backoff() {
        for release_all in [false, true] {
            let store = LocalStore::new().probe_lease(Duration::from_secs(10));
            let no_delay = Closing {
                delay: None,
                ..closing(0)
            };
            assert_eq!(store.close("t", no_delay).remaining, Duration::from_secs(1));
            // Nobody came for a lease after the window: another scope's request drops it.
            tokio::time::advance(Duration::from_secs(12)).await;
            assert!(matches!(store.admit("u", release_all), Admission::Open));
            assert!(store.is_empty());
            assert!(matches!(store.admit("t", release_all), Admission::Open));
            // Throttled again well within the longest backoff (60 s): the streak goes on.
            let again = store.close("t", no_delay).remaining;
            assert_eq!(again, Duration::from_secs(2), "release_all: {release_all}");
        }
    }

    /// A closing with a shorter longest backoff (the Redis mirror's closings carry their window
    /// as one) does not shorten how long the scope's streak is remembered after its release.
    #[tokio::test(start_paused = true)]
    async fn a_shorter_closing_does_not_shorten_the_streaks_memory() {
        let store = LocalStore::new();
        let no_delay = Closing {
            delay: None,
            ..closing(0)
        };
        let half_second = Duration::from_millis(500);
        let mirrored = Closing {
            delay: Some(half_second),
            backoff_base: half_second,
            backoff_max: half_second,
        };
        assert_eq!(store.close("t", no_delay).remaining, Duration::from_secs(1));
        store.close("t", mirrored);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(store.admit("t", true), Admission::Open));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(store.close("t", no_delay).remaining, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn streaks_remembered_after_releases_stay_within_the_cap() {
        let store = LocalStore::with_max_scopes(4);
        for key in 0..100 {
            let key = key.to_string();
            store.close(&key, closing(1));
            tokio::time::advance(Duration::from_secs(1)).await;
            assert!(matches!(store.admit(&key, true), Admission::Open));
        }
        assert!(store.table().released.len() <= 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_that_ended_with_nobody_waiting_leaves_the_table() {
        let store = LocalStore::new();
        store.close("a", closing(1));
        store.close("waited", closing(1));
        let Admission::Wait { changed, .. } = store.admit("waited", false) else {
            panic!("closed")
        };
        tokio::time::advance(Duration::from_secs(1)).await;
        // Ended, but a probe lease has not passed: a probe of its end could still be due.
        assert!(matches!(store.admit("b", false), Admission::Open));
        assert_eq!(store.len(), 2);
        tokio::time::advance(DEFAULT_PROBE_LEASE).await;
        // A request of another scope: "a" ended a lease ago with nobody waiting, and goes.
        assert!(matches!(store.admit("b", false), Admission::Open));
        assert_eq!(store.len(), 1, "the scope with a waiter stays");
        assert!(store.any_closed());
        // Its waiter probes, and the probe's answer opens it: every request is fast again.
        let Admission::Probe(ticket) = store.admit("waited", false) else {
            panic!("the window is over")
        };
        drop(changed);
        store.probe_done("waited", ticket, ProbeOutcome::Answered);
        assert!(!store.any_closed());
        // At most once a second: a scope that may go just after a look stays until the next.
        store.close("c", closing(1));
        tokio::time::advance(DEFAULT_PROBE_LEASE + Duration::from_millis(800)).await;
        assert!(matches!(store.admit("b", false), Admission::Open));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(matches!(store.admit("b", false), Admission::Open));
        assert!(store.any_closed(), "looked at less than a second ago");
        tokio::time::advance(Duration::from_millis(600)).await;
        assert!(matches!(store.admit("b", false), Admission::Open));
        assert!(
            !store.any_closed(),
            "a look more than a second after the last one"
        );
    }
}

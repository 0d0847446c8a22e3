//! The gate's layer: its settings, its scopes and its counters, shared by every clone.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::service::ThrottleGate;
use super::store::{GateStore, LocalStore};
use crate::retry::DEFAULT_MAX_WAIT;

/// Default first backoff for a 429 without a delay: 1 s, doubling while throttling repeats.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Default longest backoff for a 429 without a delay: 60 s.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// The name of the scope every request shares unless [`ThrottleGateLayer::scope_by`] says
/// otherwise.
pub const SHARED_SCOPE: &str = "shared";

/// Picks the scope of a request.
///
/// Implemented by [`SharedScope`] (one scope for all, the default: nothing computed, nothing
/// allocated) and by every `Fn(&Request) -> String` (one scope per returned key: a tenant, a
/// host, ...).
pub trait ScopeKey<Request> {
    /// The scope's key, carried by the request's future.
    type Scope: AsRef<str> + Send + 'static;

    /// Returns the scope's key for `request`.
    fn scope(&self, request: &Request) -> Self::Scope;
}

/// One scope for every request through every clone of the layer (the default), named
/// [`SHARED_SCOPE`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SharedScope;

impl AsRef<str> for SharedScope {
    #[inline]
    fn as_ref(&self) -> &str {
        SHARED_SCOPE
    }
}

impl<Request> ScopeKey<Request> for SharedScope {
    type Scope = SharedScope;

    #[inline]
    fn scope(&self, _request: &Request) -> SharedScope {
        SharedScope
    }
}

impl<F, Request> ScopeKey<Request> for F
where
    F: Fn(&Request) -> String,
{
    type Scope = String;

    fn scope(&self, request: &Request) -> String {
        self(request)
    }
}

/// Counts a user can read: [`ThrottleGateLayer::counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GateCounts {
    /// Requests that arrived while their scope was closed and waited: then sent, or refused
    /// (counted in `rejected` too) when a window extended past their wait limit.
    pub held: u64,
    /// Requests sent as the probe after a window.
    pub probes: u64,
    /// Requests refused without being sent ([`GateClosed`](super::GateClosed)): the window
    /// outlasted the wait limit.
    pub rejected: u64,
    /// Throttled answers: each closes its scope, or extends its window when it asks for
    /// longer (one that asks for less leaves the window as it is, and is counted too).
    pub closings: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) held: AtomicU64,
    pub(crate) probes: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) closings: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The state every clone of a gate shares.
pub(crate) struct Shared<St> {
    pub(crate) store: St,
    pub(crate) counters: Counters,
}

/// The settings of a gate, copied into each service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) max_wait: Duration,
    pub(crate) close_on_503: bool,
    pub(crate) release_all: bool,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
}

/// Applies the [throttle gate](super) to a service: one throttled answer holds back every
/// request of its scope until the server's delay ends.
///
/// Every clone of the layer, and every service it makes, shares the same scopes and counters;
/// each keeps the settings it was made with.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use partner_center_errors::{Error, PartnerErrorsLayer, ThrottleGateLayer};
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = service_fn(|_request: Request<Full<Bytes>>| async {
///     let throttled = Response::builder()
///         .status(StatusCode::TOO_MANY_REQUESTS)
///         .header("Retry-After", "600")
///         .body(Full::<Bytes>::default());
///     Ok::<_, std::convert::Infallible>(throttled.unwrap())
/// });
/// let gate = ThrottleGateLayer::new().max_wait(Duration::from_secs(60));
/// let service = ServiceBuilder::new()
///     .layer(gate.clone())
///     .layer(PartnerErrorsLayer::new())
///     .service(client);
/// let request = || Request::get("/v1/customers").body(Full::default()).unwrap();
///
/// let first = service.clone().oneshot(request()).await.unwrap_err();
/// assert!(matches!(first, Error::Api(_)));
/// // The scope is closed for 600 s, more than the gate waits: refused, not sent.
/// let Err(Error::GateClosed(closed)) = service.oneshot(request()).await else { panic!() };
/// assert_eq!(closed.scope(), "shared");
/// assert_eq!(gate.counts().rejected, 1);
/// # }
/// ```
pub struct ThrottleGateLayer<K = SharedScope, St = LocalStore> {
    key: K,
    settings: Settings,
    shared: Arc<Shared<St>>,
}

impl ThrottleGateLayer {
    /// Creates a gate with one shared scope and the in-process store: it waits at most 180 s
    /// (the retry policy's [`DEFAULT_MAX_WAIT`]), closes on 429 and on 503 with a delay, and
    /// sends one probe after each window.
    pub fn new() -> Self {
        Self::with_store(LocalStore::new())
    }
}

impl Default for ThrottleGateLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<St: GateStore> ThrottleGateLayer<SharedScope, St> {
    /// Creates a gate with one shared scope over `store`, with [`ThrottleGateLayer::new`]'s
    /// settings.
    pub fn with_store(store: St) -> Self {
        Self {
            key: SharedScope,
            settings: Settings {
                max_wait: DEFAULT_MAX_WAIT,
                close_on_503: true,
                release_all: false,
                backoff_base: DEFAULT_BACKOFF_BASE,
                backoff_max: DEFAULT_BACKOFF_MAX,
            },
            shared: Arc::new(Shared {
                store,
                counters: Counters::default(),
            }),
        }
    }
}

impl<K, St: GateStore> ThrottleGateLayer<K, St> {
    fn edit(mut self, edit: impl FnOnce(&mut Settings)) -> Self {
        edit(&mut self.settings);
        self
    }

    /// Scopes requests by `key`: one window per tenant, per host, or per anything in the
    /// request. Default: [`SharedScope`], one scope for all.
    pub fn scope_by<K2>(self, key: K2) -> ThrottleGateLayer<K2, St> {
        ThrottleGateLayer {
            key,
            settings: self.settings,
            shared: self.shared,
        }
    }

    /// Sets the longest a request waits for its scope to open; past it, the request is refused
    /// at once with [`GateClosed`](super::GateClosed). Counted from the request's arrival at the
    /// gate: a waiting request whose window a throttled probe extends past it is refused then.
    /// (Behind a probe in flight, a request waits for the probe's answer.) Default: 180 s.
    pub fn max_wait(self, max_wait: Duration) -> Self {
        self.edit(|settings| settings.max_wait = max_wait)
    }

    /// Sets whether a 503 with a delay closes the scope, as a 429 does. Default: `true`.
    pub fn close_on_503(self, close: bool) -> Self {
        self.edit(|settings| settings.close_on_503 = close)
    }

    /// Sets whether the end of a window releases every waiter at once instead of sending one
    /// probe first. Default: `false` (one probe).
    pub fn release_all(self, release_all: bool) -> Self {
        self.edit(|settings| settings.release_all = release_all)
    }

    /// Sets the window of a 429 without a delay: `base`, doubling while throttling repeats,
    /// at most `max`. Default: 1 s up to 60 s.
    pub fn backoff(self, base: Duration, max: Duration) -> Self {
        self.edit(|settings| {
            settings.backoff_base = base;
            settings.backoff_max = max.max(base);
        })
    }

    /// Returns the counters shared by every clone.
    pub fn counts(&self) -> GateCounts {
        counts(&self.shared.counters)
    }

    /// Returns the store.
    pub fn store(&self) -> &St {
        &self.shared.store
    }

    /// Returns the key and the gate, for the reqwest-middleware twin.
    /// The scope key and a handle on the gate, for a service the gate is fused into.
    pub(crate) fn parts(&self) -> (K, super::handle::Gate<St>)
    where
        K: Clone,
    {
        (
            self.key.clone(),
            super::handle::Gate::new(self.shared.clone(), self.settings),
        )
    }

    #[cfg(feature = "reqwest")]
    pub(crate) fn into_parts(self) -> (K, super::handle::Gate<St>) {
        (
            self.key,
            super::handle::Gate::new(self.shared, self.settings),
        )
    }
}

pub(crate) fn counts(counters: &Counters) -> GateCounts {
    GateCounts {
        held: counters.held.load(Ordering::Relaxed),
        probes: counters.probes.load(Ordering::Relaxed),
        rejected: counters.rejected.load(Ordering::Relaxed),
        closings: counters.closings.load(Ordering::Relaxed),
    }
}

impl<K: Clone, St> Clone for ThrottleGateLayer<K, St> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            settings: self.settings,
            shared: self.shared.clone(),
        }
    }
}

impl<K, St: fmt::Debug> fmt::Debug for ThrottleGateLayer<K, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleGateLayer")
            .field("store", &self.shared.store)
            .field("settings", &self.settings)
            .field("counts", &counts(&self.shared.counters))
            .finish()
    }
}

impl<S, K: Clone, St> Layer<S> for ThrottleGateLayer<K, St> {
    type Service = ThrottleGate<S, K, St>;

    fn layer(&self, inner: S) -> Self::Service {
        ThrottleGate::from_parts(inner, self.key.clone(), self.settings, self.shared.clone())
    }
}

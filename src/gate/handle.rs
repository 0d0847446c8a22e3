//! What every request does at the gate: wait its turn, and report what the server answered.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use http::StatusCode;
use tokio::time::Instant;

use super::error::{scope_display, GateClosed};
use super::layer::{Counters, Settings, Shared};
use super::store::{Admission, Closing, GateStore, ProbeOutcome, ProbeTicket};
use crate::clock::{deadline, sleep_until};
use crate::ApiError;

/// One gate: the shared store and counters, and this service's settings, behind one pointer
/// (a request's future holds a clone).
pub(crate) struct Gate<St> {
    parts: Arc<Parts<St>>,
}

struct Parts<St> {
    shared: Arc<Shared<St>>,
    settings: Settings,
}

impl<St> Gate<St> {
    pub(crate) fn new(shared: Arc<Shared<St>>, settings: Settings) -> Self {
        Self {
            parts: Arc::new(Parts { shared, settings }),
        }
    }

    pub(crate) fn shared(&self) -> &Shared<St> {
        &self.parts.shared
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.parts.settings
    }
}

impl<St> Clone for Gate<St> {
    #[inline]
    fn clone(&self) -> Self {
        Self {
            parts: self.parts.clone(),
        }
    }
}

/// What a request was sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// An ordinary request.
    Normal,
    /// The first request after a window, with the ticket its report hands back.
    Probe(ProbeTicket),
}

impl<St: GateStore> Gate<St> {
    /// Returns whether some scope may be closed (one atomic read).
    #[inline]
    pub(crate) fn any_closed(&self) -> bool {
        self.shared().store.any_closed()
    }

    /// Waits until `scope` lets a request through, or refuses it when the window ends past the
    /// wait limit (counted from `arrival`: a window extended while the request waits counts the
    /// time it has waited) or the runtime has no timer to wait with. `on_hold` runs once, when
    /// the request is first held, before it waits (`None` for a request held before, and
    /// counted then). Dropping the future while it waits costs nothing; dropping a probe's
    /// [`ProbeGuard`] hands the role on.
    pub(crate) async fn wait_turn(
        &self,
        scope: &str,
        arrival: Instant,
        mut on_hold: Option<impl FnOnce()>,
    ) -> Result<Role, GateClosed> {
        let store = &self.shared().store;
        let counters = &self.shared().counters;
        let wait_ends = deadline(arrival, self.settings().max_wait);
        loop {
            let (remaining, probing, mut changed) =
                match store.admit(scope, self.settings().release_all) {
                    Admission::Open => return Ok(Role::Normal),
                    Admission::Probe(ticket) => {
                        Counters::bump(&counters.probes);
                        return Ok(Role::Probe(ticket));
                    }
                    Admission::Wait {
                        remaining,
                        probing,
                        changed,
                    } => (remaining, probing, changed),
                };
            // Behind a probe the window is over: wait for its answer, whatever the limit. A
            // runtime without a timer cannot wait at all.
            let opens = deadline(Instant::now(), remaining);
            let may_wait = probing || opens <= wait_ends;
            let sleep = if may_wait { sleep_until(opens) } else { None };
            let Some(sleep) = sleep else {
                Counters::bump(&counters.rejected);
                return Err(if may_wait {
                    GateClosed::no_timer(scope, remaining)
                } else {
                    GateClosed::new(scope, remaining)
                });
            };
            if let Some(on_hold) = on_hold.take() {
                Counters::bump(&counters.held);
                store.hold(scope);
                on_hold();
            }
            // Until the window (or the probe's lease) ends, or the scope changes: a closing, an
            // opening, a probe's answer or drop.
            let mut changed = pin!(changed.changed());
            let mut sleep = pin!(sleep);
            poll_fn(|cx| {
                if sleep.as_mut().poll(cx).is_ready() || changed.as_mut().poll(cx).is_ready() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
    }

    /// Looks again, without waiting, whether `scope` lets a request through now: the role it
    /// goes with, or `None` when it must wait.
    pub(crate) fn admit_now(&self, scope: &str) -> Option<Role> {
        if !self.any_closed() {
            return Some(Role::Normal);
        }
        match self
            .shared()
            .store
            .admit(scope, self.settings().release_all)
        {
            Admission::Open => Some(Role::Normal),
            Admission::Probe(ticket) => {
                Counters::bump(&self.shared().counters.probes);
                Some(Role::Probe(ticket))
            }
            Admission::Wait { .. } => None,
        }
    }

    /// Closes `scope` when `error` is a throttled answer; returns whether it did.
    #[inline]
    pub(crate) fn observe(&self, scope: &str, error: Option<&ApiError>) -> bool {
        match error {
            None => false,
            Some(error) => self.observe_error(scope, error),
        }
    }

    #[cold]
    fn observe_error(&self, scope: &str, error: &ApiError) -> bool {
        self.observe_answer(scope, error.status(), error.retry_after())
    }

    /// Returns whether an answer of `status` (with a delay or not) closes its scope: a 429, and a
    /// 503 with a delay unless `close_on_503` is off.
    #[inline]
    pub(crate) fn throttles(&self, status: StatusCode, has_delay: bool) -> bool {
        status == StatusCode::TOO_MANY_REQUESTS
            || (self.settings().close_on_503
                && status == StatusCode::SERVICE_UNAVAILABLE
                && has_delay)
    }

    /// Closes `scope` when an answer of `status` with `delay` is throttled; returns whether it
    /// did.
    #[cold]
    pub(crate) fn observe_answer(
        &self,
        scope: &str,
        status: StatusCode,
        delay: Option<Duration>,
    ) -> bool {
        if !self.throttles(status, delay.is_some()) {
            return false;
        }
        let closed = self.shared().store.close(
            scope,
            Closing {
                delay,
                backoff_base: self.settings().backoff_base,
                backoff_max: self.settings().backoff_max,
            },
        );
        Counters::bump(&self.shared().counters.closings);
        #[cfg(feature = "tracing")]
        tracing::info!(
            target: "partner_center_errors::gate",
            scope = %scope_display(scope),
            status = status.as_u16(),
            until_ms = u64::try_from(closed.remaining.as_millis()).unwrap_or(u64::MAX),
            new_window = closed.newly_closed,
            "throttle gate closed"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = (closed, scope_display);
        true
    }

    /// Ends a probe's role: `answered` when the server answered without throttling.
    pub(crate) fn probe_done(&self, scope: &str, ticket: ProbeTicket, outcome: ProbeOutcome) {
        let opened = self.shared().store.probe_done(scope, ticket, outcome);
        #[cfg(feature = "tracing")]
        if let Some(waited) = opened {
            tracing::info!(
                target: "partner_center_errors::gate",
                scope = %scope_display(scope),
                waited,
                "throttle gate opened"
            );
        }
        #[cfg(not(feature = "tracing"))]
        let _ = opened;
    }
}

/// Hands the probe role on when a probe is dropped before its answer arrived.
pub(crate) struct ProbeGuard<'a, St: GateStore> {
    gate: &'a Gate<St>,
    scope: &'a str,
    /// The probe's ticket while its report is due.
    armed: Option<ProbeTicket>,
}

impl<'a, St: GateStore> ProbeGuard<'a, St> {
    pub(crate) fn new(gate: &'a Gate<St>, scope: &'a str, role: Role) -> Self {
        Self {
            gate,
            scope,
            armed: match role {
                Role::Probe(ticket) => Some(ticket),
                Role::Normal => None,
            },
        }
    }

    /// Reports the probe's answer: throttled (the scope closed again), answered, or failed
    /// without an answer.
    pub(crate) fn finish(mut self, answered: bool, throttled: bool) {
        if let Some(ticket) = self.armed.take() {
            let outcome = if answered && !throttled {
                ProbeOutcome::Answered
            } else {
                ProbeOutcome::Abandoned
            };
            self.gate.probe_done(self.scope, ticket, outcome);
        }
    }
}

impl<St: GateStore> Drop for ProbeGuard<'_, St> {
    fn drop(&mut self) {
        if let Some(ticket) = self.armed.take() {
            self.gate
                .probe_done(self.scope, ticket, ProbeOutcome::Abandoned);
        }
    }
}

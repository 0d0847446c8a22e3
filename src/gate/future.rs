//! The gate's response future: the inner future itself while every scope is open, the wait and
//! the probe otherwise.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_service::Service;

use super::error::{api_error_of, GateClosed, ResponseExtensions};
use super::handle::{Gate, ProbeGuard, Role};
use super::store::GateStore;

/// The boxed future of a request that met a closed gate (never built while every scope is
/// open).
type Gated<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// Response future of [`ThrottleGate`](super::ThrottleGate).
    pub struct ResponseFuture<F: Future, Sc, St> {
        #[pin]
        kind: Kind<F, Sc, St>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F: Future, Sc, St> {
        // Every scope was open: the inner future, watched for a throttled answer.
        Sent {
            #[pin]
            future: F,
            gate: Gate<St>,
            scope: Sc,
        },
        // Some scope was closed: wait for the turn, then send (boxed: the slow path only).
        Gated {
            future: Gated<F::Output>,
        },
    }
}

impl<F: Future, Sc, St> ResponseFuture<F, Sc, St> {
    #[inline(always)]
    pub(crate) fn sent(future: F, gate: Gate<St>, scope: Sc) -> Self {
        Self {
            kind: Kind::Sent {
                future,
                gate,
                scope,
            },
        }
    }

    pub(crate) fn gated(future: Gated<F::Output>) -> Self {
        Self {
            kind: Kind::Gated { future },
        }
    }
}

impl<F, Sc, St, R, E> Future for ResponseFuture<F, Sc, St>
where
    F: Future<Output = Result<R, E>>,
    Sc: AsRef<str>,
    R: ResponseExtensions,
    E: 'static,
    St: GateStore,
{
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        // Both states poll into the one `poll` returned below, and the answer is looked at in
        // place: returning from each arm instead costs the open path one more move of it.
        let poll = match kind.as_mut().project() {
            KindProj::Sent { future, .. } => future.poll(cx),
            KindProj::Gated { future } => future.as_mut().poll(cx),
        };
        if let (Poll::Ready(result), KindProj::Sent { gate, scope, .. }) = (&poll, kind.project()) {
            gate.observe(scope.as_ref(), api_error_of(result));
        }
        poll
    }
}

impl<F: Future, Sc, St> fmt::Debug for ResponseFuture<F, Sc, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Sent { .. } => "sent",
            Kind::Gated { .. } => "gated",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

/// The slow path: waits for the scope's turn, sends, and reports the answer. Dropped at any
/// point, it leaves the gate as it found it (a probe's role goes to the next waiter).
///
/// `inner` is the service `poll_ready` readied. A request that must wait trades it for a clone
/// and readies that when its turn comes: what the readied one reserved (a `concurrency_limit`'s
/// slot, a `buffer`'s place) would otherwise stay taken for the whole window, holding back the
/// requests of every other scope. Once ready, a request let through looks again, as the open
/// path looks after `poll_ready`: while it waited for capacity, a request let through with it
/// may have been throttled, and it waits for that window instead of going out inside it.
pub(crate) async fn gated<S, Request, St>(
    gate: Gate<St>,
    scope: impl AsRef<str>,
    mut inner: S,
    request: Request,
) -> Result<S::Response, S::Error>
where
    S: Service<Request> + Clone,
    S::Response: ResponseExtensions,
    S::Error: From<GateClosed> + 'static,
    St: GateStore,
{
    let scope = scope.as_ref();
    let arrival = Instant::now();
    let mut ready = true;
    let give_back = || {
        inner = inner.clone();
        ready = false;
    };
    let mut role = gate.wait_turn(scope, arrival, Some(give_back)).await?;
    while !ready && role == Role::Normal {
        poll_fn(|cx| inner.poll_ready(cx)).await?;
        ready = true;
        if let Some(now) = gate.admit_now(scope) {
            role = now;
        } else {
            inner = inner.clone();
            ready = false;
            role = gate.wait_turn(scope, arrival, None::<fn()>).await?;
        }
    }
    let probe = ProbeGuard::new(&gate, scope, role);
    if !ready {
        poll_fn(|cx| inner.poll_ready(cx)).await?;
    }
    let result = inner.call(request).await;
    let error = api_error_of(&result);
    let answered = result.is_ok() || error.is_some();
    let throttled = gate.observe(scope, error);
    probe.finish(answered, throttled);
    result
}

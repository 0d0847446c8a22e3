//! The gate's response future: the inner future itself while every scope is open, the wait and
//! the probe otherwise.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use super::error::{api_error_of, GateClosed, ResponseExtensions};
use super::handle::{Gate, ProbeGuard};
use super::store::GateStore;
use super::ScopeName;

/// The boxed future of a request that met a closed gate (never built while every scope is
/// open).
type Gated<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// Response future of [`ThrottleGate`](super::ThrottleGate).
    pub struct ResponseFuture<F: Future, St> {
        #[pin]
        kind: Kind<F, St>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F: Future, St> {
        // Every scope was open: the inner future, watched for a throttled answer.
        Sent {
            #[pin]
            future: F,
            gate: Gate<St>,
            scope: ScopeName,
        },
        // Some scope was closed: wait for the turn, then send (boxed: the slow path only).
        Gated {
            future: Gated<F::Output>,
        },
    }
}

impl<F: Future, St> ResponseFuture<F, St> {
    #[inline]
    pub(crate) fn sent(future: F, gate: Gate<St>, scope: ScopeName) -> Self {
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

impl<F, St, R, E> Future for ResponseFuture<F, St>
where
    F: Future<Output = Result<R, E>>,
    R: ResponseExtensions,
    E: 'static,
    St: GateStore,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Sent {
                future,
                gate,
                scope,
            } => {
                let result = ready!(future.poll(cx));
                gate.observe(scope, api_error_of(&result));
                Poll::Ready(result)
            }
            KindProj::Gated { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F: Future, St> fmt::Debug for ResponseFuture<F, St> {
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
pub(crate) async fn gated<S, Request, St>(
    gate: Gate<St>,
    scope: ScopeName,
    mut inner: S,
    request: Request,
) -> Result<S::Response, S::Error>
where
    S: Service<Request>,
    S::Response: ResponseExtensions,
    S::Error: From<GateClosed> + 'static,
    St: GateStore,
{
    let role = gate.wait_turn(&scope).await?;
    let probe = ProbeGuard::new(&gate, &scope, role);
    poll_fn(|cx| inner.poll_ready(cx)).await?;
    let result = inner.call(request).await;
    let error = api_error_of(&result);
    let answered = result.is_ok() || error.is_some();
    let throttled = gate.observe(&scope, error);
    probe.finish(answered, throttled);
    result
}

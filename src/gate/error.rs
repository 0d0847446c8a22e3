//! What the gate returns instead of sending, and where it finds the structured error.

use std::any::Any;
use std::fmt;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::clock::{deadline, wall_time};
use crate::sanitize::Sanitized;
use crate::{ApiError, BoxError, Error};

/// Most characters of a scope's name that `Display`, `Debug` and tracing events print.
const MAX_SCOPE_CHARS: usize = 64;

/// A request refused without being sent: its scope is closed for longer than the gate's wait
/// limit (or the tokio runtime has no timer to wait with: build it with `enable_time` or
/// `enable_all`). No quota was spent; reschedule the work for [`opens_at`](Self::opens_at).
///
/// The service's error type gets it through `From`: the crate's
/// [`Error::GateClosed`](crate::Error::GateClosed), or a [`BoxError`]; find it again with
/// [`GateClosed::find`] (or [`Error::gate_closed`](crate::Error::gate_closed)).
#[derive(Clone)]
pub struct GateClosed {
    scope: Box<str>,
    remaining: Duration,
    opens_at: Instant,
    retry_at: SystemTime,
    /// Refused because the runtime has no timer to wait with, not for the window's length.
    no_timer: bool,
}

impl GateClosed {
    pub(crate) fn new(scope: &str, remaining: Duration) -> Self {
        let refused_at = SystemTime::now();
        Self {
            scope: scope.into(),
            remaining,
            opens_at: deadline(Instant::now(), remaining),
            retry_at: wall_time(refused_at, remaining).unwrap_or(refused_at),
            no_timer: false,
        }
    }

    /// A refusal of a request that would have waited, had the runtime a timer.
    pub(crate) fn no_timer(scope: &str, remaining: Duration) -> Self {
        Self {
            no_timer: true,
            ..Self::new(scope, remaining)
        }
    }

    /// Returns the scope that is closed.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Returns how long the scope stayed closed when the request was refused.
    pub fn remaining(&self) -> Duration {
        self.remaining
    }

    /// Returns when the scope's window ends (on tokio's clock).
    pub fn opens_at(&self) -> Instant {
        self.opens_at
    }

    /// Returns when the scope's window ends on this machine's clock: the time to reschedule
    /// the work for, as [`ApiError::retry_at`] gives it for a throttled answer. A value a job
    /// queue can store.
    pub fn retry_at(&self) -> SystemTime {
        self.retry_at
    }

    /// Returns the `GateClosed` inside `error`: the error itself, the crate's
    /// [`Error::GateClosed`](crate::Error::GateClosed) (or an [`Error::GaveUp`](crate::Error::GaveUp)
    /// whose last attempt the gate refused), a [`BoxError`] around either (as
    /// `tower::timeout` or `map_err(BoxError::from)` outside the stack makes it; its
    /// `source()` chain is searched too, 16 levels deep), or (feature `reqwest`) a
    /// `reqwest_middleware::Error` from the gate's reqwest-middleware twin,
    /// `ThrottleGateMiddleware`.
    pub fn find<E: 'static>(error: &E) -> Option<&GateClosed> {
        let error: &dyn Any = error;
        if let Some(closed) = error.downcast_ref::<GateClosed>() {
            return Some(closed);
        }
        #[cfg(feature = "reqwest")]
        if let Some(error) = error.downcast_ref::<reqwest_middleware::Error>() {
            return crate::reqwest::gate_closed(error);
        }
        if let Some(error) = error.downcast_ref::<Error>() {
            return error.gate_closed();
        }
        let boxed: &(dyn std::error::Error + 'static) = &**error.downcast_ref::<BoxError>()?;
        find_in_chain(boxed)
    }
}

/// The `GateClosed` in a boxed error: the error itself, the crate's [`Error`] around it, or
/// one of its sources (a layer outside the gate may wrap it). Looks at most 16 levels deep.
fn find_in_chain<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a GateClosed> {
    let mut next = Some(error);
    for _ in 0..16 {
        let error = next?;
        if let Some(closed) = error.downcast_ref::<GateClosed>() {
            return Some(closed);
        }
        if let Some(closed) = error.downcast_ref::<Error>().and_then(Error::gate_closed) {
            return Some(closed);
        }
        next = error.source();
    }
    None
}

impl fmt::Display for GateClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "throttle gate closed for scope \"{}\": opens in {} ms; not sent",
            Sanitized::with_limit(self.scope(), MAX_SCOPE_CHARS),
            self.remaining.as_millis()
        )?;
        if self.no_timer {
            f.write_str(" (the tokio runtime has no timer to wait with: build it with enable_time or enable_all)")?;
        }
        Ok(())
    }
}

impl fmt::Debug for GateClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateClosed")
            .field(
                "scope",
                &format_args!("{}", Sanitized::with_limit(self.scope(), MAX_SCOPE_CHARS)),
            )
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl std::error::Error for GateClosed {}

impl From<GateClosed> for Error {
    fn from(closed: GateClosed) -> Self {
        Error::GateClosed(closed)
    }
}

/// Prints a scope's name sanitised and bounded.
pub(crate) fn scope_display(scope: &str) -> Sanitized<'_> {
    Sanitized::with_limit(scope, MAX_SCOPE_CHARS)
}

/// A response that may carry the structured error in its extensions (pass-through mode).
pub trait ResponseExtensions {
    /// Returns the response's extensions.
    fn extensions(&self) -> &http::Extensions;
}

impl<B> ResponseExtensions for http::Response<B> {
    #[inline]
    fn extensions(&self) -> &http::Extensions {
        http::Response::extensions(self)
    }
}

/// The structured error in a service's result: in the response's extensions (pass-through
/// mode), or in the error (the crate's [`Error`], an [`ApiError`], or either boxed).
#[inline]
pub(crate) fn api_error_of<R, E>(result: &Result<R, E>) -> Option<&ApiError>
where
    R: ResponseExtensions,
    E: 'static,
{
    match result {
        // A success carries no extensions: one look, and the map's lookup stays out of line.
        Ok(response) if response.extensions().is_empty() => None,
        Ok(response) => api_error_in_extensions(response.extensions()),
        Err(error) => api_error_in(error),
    }
}

#[inline(never)]
fn api_error_in_extensions(extensions: &http::Extensions) -> Option<&ApiError> {
    extensions.get::<ApiError>()
}

pub(crate) fn api_error_in<E: 'static>(error: &E) -> Option<&ApiError> {
    let error: &dyn Any = error;
    if let Some(error) = error.downcast_ref::<Error>() {
        return error.api_error();
    }
    if let Some(error) = error.downcast_ref::<ApiError>() {
        return Some(error);
    }
    let boxed = error.downcast_ref::<BoxError>()?;
    if let Some(error) = boxed.downcast_ref::<Error>() {
        return error.api_error();
    }
    boxed.downcast_ref::<ApiError>()
}

//! Retries in reqwest-middleware's world: a `RetryableStrategy` that classifies with
//! [`ErrorKind`], and a retry middleware that waits as long as the server asked.

use std::convert::Infallible;

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use reqwest_retry::{Retryable, RetryableStrategy};

use super::middleware::ErrorSettings;
use super::{api_error, partner_error};
use crate::error::is_error_status;
use crate::middleware::future::structured;
use crate::middleware::{NoGate, PassThrough, ResponseFuture};
use crate::{ApiError, Error, ErrorKind, PartnerErrorsLayer, RetryAfterPolicy};

/// [`RetryableStrategy`] that classifies with this crate's [`ErrorKind`]s: 429, 503 and 504 are
/// transient, every other 4xx/5xx is fatal, successes are not errors. Failures that are not
/// error responses (connect errors, timeouts) are classified as reqwest-retry's default does.
///
/// It reads the status from the [`Error`](crate::Error) that
/// [`PartnerErrorsMiddleware`](super::PartnerErrorsMiddleware) returns (even wrapped by
/// reqwest-retry's `RetryError`), from the [`ApiError`] a pass-through response carries, or from
/// a plain response's status when neither middleware is in the stack.
///
/// With reqwest-retry's `RetryTransientMiddleware` it decides *whether* to retry, not *when*:
/// that middleware never sees the server's delay, and retries on its own schedule. Use
/// [`RetryAfterMiddleware`] to wait for the server.
///
/// It sees the result, never the request, so two of [`RetryAfterPolicy`]'s rules are out of
/// its reach: a `POST` or `PATCH` answered 504 is retried even without `MS-RequestId`, and a
/// connect failure or timeout is retried (reqwest-retry's default), where the policy hands
/// both back. [`RetryAfterMiddleware`] applies them.
///
/// An [`Error::GaveUp`](crate::Error::GaveUp) is fatal, whatever its last status: with
/// [`RetryAfterMiddleware`] after reqwest-retry's middleware (kept to retry connect failures),
/// the policy has already stopped, for a delay longer than it waits, a spent budget or a `POST`
/// it must not replay, and a retry on reqwest-retry's schedule would break that decision. So is
/// the error response that [`RetryAfterMiddleware`] gave up on and handed on as a response
/// (inside a pass-through [`PartnerErrorsMiddleware`](super::PartnerErrorsMiddleware)).
#[derive(Debug, Clone, Copy, Default)]
pub struct PartnerRetryableStrategy;

impl RetryableStrategy for PartnerRetryableStrategy {
    fn handle(&self, result: &Result<Response, reqwest_middleware::Error>) -> Option<Retryable> {
        if gave_up(result) || handed_on_after_giving_up(result) {
            // The crate's policy inside has already decided: retrying now would come before the
            // delay it would not wait for, or replay what it would not.
            return Some(Retryable::Fatal);
        }
        match kind_of(result) {
            Some(kind) if kind.is_retryable() => Some(Retryable::Transient),
            Some(_) => Some(Retryable::Fatal),
            None => match result {
                Ok(_) => None,
                Err(error) => reqwest_retry::default_on_request_failure(error),
            },
        }
    }
}

/// The kind of error response a result is, if it is one.
fn kind_of(result: &Result<Response, reqwest_middleware::Error>) -> Option<ErrorKind> {
    match result {
        Ok(response) => response
            .extensions()
            .get::<ApiError>()
            .map(ApiError::kind)
            .or_else(|| {
                let status = response.status();
                is_error_status(status).then(|| ErrorKind::from_status(status))
            }),
        Err(error) => api_error(error).map(ApiError::kind),
    }
}

/// A reqwest-middleware retry middleware driven by [`RetryAfterPolicy`]: the same rules, defaults
/// and final error as the tower policy, in reqwest-middleware's world, where reqwest-retry's
/// `RetryTransientMiddleware` cannot see the server's delay.
///
/// For each attempt it runs the rest of the stack on a clone of the request and hands the
/// result to the policy, which:
///
/// - retries 429, 503 and 504 (the policy's [`retry_statuses`](RetryAfterPolicy::retry_statuses))
///   in either order of the `ClientBuilder`: when
///   [`PartnerErrorsMiddleware`](super::PartnerErrorsMiddleware) (after it) turned them into
///   structured errors, and when it sees the raw error response itself (the error middleware
///   before it, or none at all): then it reads the body itself, as the error middleware before
///   it would (its cap, time limit, strict mode and schema; without one, the layer's defaults:
///   at most 64 KiB, for at most 10 s), to find the delay and to give up with the same error,
///   and hands a response it does not retry on unchanged (body and all), so the error
///   middleware before it makes the same error of it;
/// - waits exactly the delay the server asked for (`retry-after-ms`, `x-ms-retry-after-ms`,
///   `Retry-After` in seconds or as an HTTP-date, or a gateway body's "Try again in N
///   seconds"), never less: every early request counts against Partner Center's throttling
///   limit; without one, backs off exponentially with full jitter;
/// - gives up at once when the delay exceeds [`max_wait`](RetryAfterPolicy::max_wait), and
///   after [`max_retries`](RetryAfterPolicy::max_retries), the
///   [total time](RetryAfterPolicy::max_total_time) or the shared
///   [budget](RetryAfterPolicy::budget);
/// - sends `Retry-Attempt: N` and every other header unchanged (the same `MS-RequestId`), never
///   replays a streamed body, and retries `POST`/`PATCH` after 504 only with `MS-RequestId`.
///
/// A first error it does not retry comes back as it is. Once it has retried, or when it stops
/// on an error it would otherwise retry, the error becomes
/// [`Error::GaveUp`](crate::Error::GaveUp) (attempts, total wait, reason, last error) inside
/// `reqwest_middleware::Error::Middleware`; [`api_error`](super::api_error) still finds the last
/// structured error. Responses that come back `Ok` (successes, and error responses in
/// pass-through mode) are never retried, as with the tower policy. Inside a pass-through
/// [`PartnerErrorsMiddleware`](super::PartnerErrorsMiddleware), it retries the raw error
/// responses it sees and hands on the last one as it came, which that middleware passes on with
/// its [`ApiError`], as the tower policy inside a pass-through layer does.
///
/// The policy is cloned for each request: attempts and waits are counted per request, the
/// budget is shared by every request of the client. Waits run on tokio's timer.
#[derive(Debug, Clone)]
pub struct RetryAfterMiddleware {
    policy: RetryAfterPolicy,
    /// Reads a raw error response this middleware sees (no error middleware after it).
    capture: PartnerErrorsLayer<PassThrough>,
}

impl RetryAfterMiddleware {
    /// Returns a middleware that retries as `policy` says.
    pub fn new(policy: RetryAfterPolicy) -> Self {
        Self {
            policy,
            capture: PartnerErrorsLayer::new().pass_through().silent(),
        }
    }

    /// Reads a raw error response (one no [`PartnerErrorsMiddleware`](super::PartnerErrorsMiddleware)
    /// after this one captured) as the error middleware before this one would (its cap, time
    /// limit, strict mode and schema; the default layer's without one), without an event (the
    /// error middleware before this one logs a response handed on; `handle` logs those it
    /// keeps): the response rebuilt, body and all, and the crate's error for it.
    async fn capture(
        &self,
        response: Response,
        outer: Option<&ErrorSettings>,
    ) -> (Response, Option<Error>) {
        let config = self.capture.config();
        let config = outer.map_or(config, |outer| config.reading_as(&outer.config));
        let response = std::future::ready(Ok::<_, Infallible>(response));
        let mut response =
            match ResponseFuture::<_, _, PassThrough>::new(response, config, NoGate).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        // Taken out, so that a response handed on is as it came (its body replayed).
        let error = response.extensions_mut().remove::<ApiError>();
        (response, error.map(|error| structured(error, &config)))
    }
}

impl Default for RetryAfterMiddleware {
    fn default() -> Self {
        Self::new(RetryAfterPolicy::new())
    }
}

impl From<RetryAfterPolicy> for RetryAfterMiddleware {
    fn from(policy: RetryAfterPolicy) -> Self {
        Self::new(policy)
    }
}

#[async_trait::async_trait]
impl Middleware for RetryAfterMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let mut policy = self.policy.clone();
        loop {
            let Some(attempt) = request.try_clone() else {
                // A streamed body cannot be replayed: one attempt, as it is.
                return next.run(request, extensions).await;
            };
            let response = match next.clone().run(attempt, extensions).await {
                Ok(response) if is_raw_error(&response) => response,
                mut result => {
                    match policy.decide(&mut request, &mut result) {
                        Some(wait) => wait.await,
                        None => return result,
                    }
                    continue;
                }
            };
            // A raw error response: decide on its structured error, as if the error middleware
            // were after this one.
            let outer = extensions.get::<ErrorSettings>().copied();
            let (mut response, error) = self.capture(response, outer.as_ref()).await;
            let Some(error) = error else {
                return Ok(response);
            };
            let mut failure = Err(reqwest_middleware::Error::middleware(error));
            let decision = policy.decide::<_, Response, _>(&mut request, &mut failure);
            // A pass-through error middleware before this one hands on every response, the
            // last one too (as the tower policy inside a pass-through layer does).
            let passes = outer.is_some_and(|outer| outer.passes_errors);
            let kept = decision.is_some() || (gave_up(&failure) && !passes);
            // The error middleware before this one logs the responses it is handed; those this
            // one keeps (retried, or given up on) it logs as that middleware would have.
            #[cfg(feature = "tracing")]
            if let (true, Some(outer), Some(error)) = (kept, outer, failure.as_ref().err()) {
                if let Some(error) = super::api_error(error) {
                    crate::trace::error_response(error, outer.config.levels);
                }
            }
            match decision {
                Some(wait) => {
                    // Not kept through the wait: a body cut at the cap holds its connection.
                    drop(response);
                    wait.await;
                }
                None if kept => return failure,
                // Given up on inside a pass-through error middleware: the response goes on, and
                // reqwest-retry outside must leave it alone as it leaves an `Error::GaveUp`.
                None if gave_up(&failure) => {
                    response.extensions_mut().insert(GaveUpOn);
                    return Ok(response);
                }
                // Not retried: the response goes on as it came, for the middleware before this one.
                None => return Ok(response),
            }
        }
    }
}

/// Whether `response` is an error response no error middleware has captured.
fn is_raw_error(response: &Response) -> bool {
    is_error_status(response.status()) && response.extensions().get::<ApiError>().is_none()
}

/// Marks the error response a [`RetryAfterMiddleware`] gave up on and handed on (inside a
/// pass-through error middleware): the `Ok` twin of an [`Error::GaveUp`], for
/// [`PartnerRetryableStrategy`].
#[derive(Debug, Clone, Copy)]
struct GaveUpOn;

/// Whether `result` is an error response the policy gave up on and handed on as it came.
fn handed_on_after_giving_up(result: &reqwest_middleware::Result<Response>) -> bool {
    result
        .as_ref()
        .is_ok_and(|response| response.extensions().get::<GaveUpOn>().is_some())
}

/// Whether the policy turned `result` into [`Error::GaveUp`].
fn gave_up(result: &reqwest_middleware::Result<Response>) -> bool {
    let error = result.as_ref().err().and_then(partner_error);
    matches!(error, Some(Error::GaveUp(_)))
}

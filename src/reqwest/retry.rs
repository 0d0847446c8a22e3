//! Retries in reqwest-middleware's world: a `RetryableStrategy` that classifies with
//! [`ErrorKind`], and a retry middleware that waits as long as the server asked.

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use reqwest_retry::{Retryable, RetryableStrategy};

use super::api_error;
use crate::error::is_error_status;
use crate::{ApiError, ErrorKind, RetryAfterPolicy};

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
#[derive(Debug, Clone, Copy, Default)]
pub struct PartnerRetryableStrategy;

impl RetryableStrategy for PartnerRetryableStrategy {
    fn handle(&self, result: &Result<Response, reqwest_middleware::Error>) -> Option<Retryable> {
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
///   when [`PartnerErrorsMiddleware`](super::PartnerErrorsMiddleware) (after it in the
///   `ClientBuilder`) turned them into structured errors;
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
/// pass-through mode) are never retried, as with the tower policy.
///
/// The policy is cloned for each request: attempts and waits are counted per request, the
/// budget is shared by every request of the client. Waits run on tokio's timer.
#[derive(Debug, Clone, Default)]
pub struct RetryAfterMiddleware {
    policy: RetryAfterPolicy,
}

impl RetryAfterMiddleware {
    /// Retries as `policy` says.
    pub fn new(policy: RetryAfterPolicy) -> Self {
        Self { policy }
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
            let mut result = next.clone().run(attempt, extensions).await;
            match policy.decide(&mut request, &mut result) {
                Some(wait) => wait.await,
                None => return result,
            }
        }
    }
}

//! Retries in reqwest-middleware's world: a `RetryableStrategy` that classifies with
//! [`ErrorKind`], and a retry middleware that waits as long as the server asked.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::{Extensions, HeaderValue, Method};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use reqwest_retry::{RetryDecision, RetryPolicy, Retryable, RetryableStrategy};

use super::api_error;
use crate::{headers, ApiError, ErrorKind};

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
/// that middleware never sees the server's delay. Use [`RetryAfterMiddleware`] to wait for it.
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
                (status.is_client_error() || status.is_server_error())
                    .then(|| ErrorKind::from_status(status))
            }),
        Err(error) => api_error(error).map(ApiError::kind),
    }
}

/// The delay the server asked for, if the result is an error response that names one.
fn server_delay(result: &Result<Response, reqwest_middleware::Error>) -> Option<Duration> {
    match result {
        Ok(response) => match response.extensions().get::<ApiError>() {
            Some(error) => error.retry_after(),
            None => headers::retry_after(response.headers(), SystemTime::now()),
        },
        Err(error) => api_error(error).and_then(ApiError::retry_after),
    }
}

/// Default for [`RetryAfterMiddleware::max_wait`]: 180 s, the cap Microsoft's Kiota retry
/// handler puts on a single wait.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(180);

/// The request header that tells the server which retry a request is (Kiota's convention).
const RETRY_ATTEMPT: &str = "retry-attempt";

/// A reqwest-middleware retry middleware that honours the server's retry delay, which
/// reqwest-retry's `RetryTransientMiddleware` cannot see.
///
/// For each attempt it runs the rest of the stack on a clone of the request, classifies the
/// result with its [`RetryableStrategy`] (by default [`PartnerRetryableStrategy`]: 429, 503,
/// 504) and, when the result is transient and the policy allows another retry:
///
/// - waits exactly the delay the server asked for ([`ApiError::retry_after`]: `retry-after-ms`,
///   `x-ms-retry-after-ms`, `Retry-After` in seconds or as an HTTP-date, or a gateway body's
///   "Try again in N seconds"), never less: every early request counts against Partner
///   Center's throttling limit;
/// - with no delay from the server, waits the backoff the [`RetryPolicy`] computes (for example
///   reqwest-retry's `ExponentialBackoff`, with jitter);
/// - when the wait would exceed [`max_wait`](Self::max_wait) (default 180 s), does not wait: it
///   returns the error at once, its delay still on it, so the caller can schedule the work for
///   later.
///
/// Each retry carries `Retry-Attempt: N` and every other header unchanged (so the same
/// `MS-RequestId`). Requests whose body cannot be cloned (streams) are sent once. `POST` and
/// `PATCH` are retried after 429 and 503 (the server did not process them), but after 504 only
/// when they carry `MS-RequestId`, Partner Center's idempotency key.
///
/// The result it returns is the last attempt's, unchanged: the same
/// [`partner_error`](super::partner_error) finds the structured error with or without retries.
///
/// Put it before (outside) [`PartnerErrorsMiddleware`](super::PartnerErrorsMiddleware) in the
/// `ClientBuilder`, so that it sees structured errors. Time is tokio's: waits follow
/// `tokio::time`, and the policy's own clock (`request_start_time`) is the system clock.
pub struct RetryAfterMiddleware<P, R = PartnerRetryableStrategy> {
    policy: P,
    strategy: R,
    max_wait: Duration,
}

impl<P> RetryAfterMiddleware<P> {
    /// Retries as `policy` allows, classifying with [`PartnerRetryableStrategy`].
    pub const fn new(policy: P) -> Self {
        Self {
            policy,
            strategy: PartnerRetryableStrategy,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

impl<P, R> RetryAfterMiddleware<P, R> {
    /// Classifies results with `strategy` instead. Default: [`PartnerRetryableStrategy`].
    pub fn with_strategy<T>(self, strategy: T) -> RetryAfterMiddleware<P, T> {
        RetryAfterMiddleware {
            policy: self.policy,
            strategy,
            max_wait: self.max_wait,
        }
    }

    /// Longest single wait. A server delay (or backoff) above it is not waited for: the error
    /// is returned at once. Default: 180 s ([`DEFAULT_MAX_WAIT`]).
    pub const fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }
}

impl<P: fmt::Debug, R: fmt::Debug> fmt::Debug for RetryAfterMiddleware<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryAfterMiddleware")
            .field("policy", &self.policy)
            .field("strategy", &self.strategy)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

/// Whether a request may be sent again after an error response of this kind.
fn may_replay(request: &Request, kind: Option<ErrorKind>) -> bool {
    let idempotent = !matches!(*request.method(), Method::POST | Method::PATCH);
    idempotent
        || kind != Some(ErrorKind::GatewayTimeout)
        || request.headers().contains_key(headers::MS_REQUEST_ID)
}

#[async_trait::async_trait]
impl<P, R> Middleware for RetryAfterMiddleware<P, R>
where
    P: RetryPolicy + Send + Sync + 'static,
    R: RetryableStrategy + Send + Sync + 'static,
{
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let started = SystemTime::now();
        let mut retries: u32 = 0;
        loop {
            let Some(attempt) = request.try_clone() else {
                // A streaming body cannot be replayed: one attempt, as it is.
                return next.run(request, extensions).await;
            };
            let result = next.clone().run(attempt, extensions).await;
            if self.strategy.handle(&result) != Some(Retryable::Transient)
                || !may_replay(&request, kind_of(&result))
            {
                return result;
            }
            let backoff = match self.policy.should_retry(started, retries) {
                RetryDecision::Retry { execute_after } => execute_after
                    .duration_since(SystemTime::now())
                    .unwrap_or_default(),
                RetryDecision::DoNotRetry => return result,
            };
            let wait = server_delay(&result).unwrap_or(backoff);
            if wait > self.max_wait {
                return result;
            }
            drop(result);
            tokio::time::sleep(wait).await;
            retries += 1;
            request
                .headers_mut()
                .insert(RETRY_ATTEMPT, HeaderValue::from(retries));
        }
    }
}

//! What the retry policy hands back when it stops retrying.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::{ApiError, Error};

/// Why the retry policy stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The last error is not one the policy retries (its status is not in the set, or no
    /// response arrived), after at least one retry.
    NotRetryable,
    /// Every retry allowed ([`max_retries`](crate::RetryAfterPolicy::max_retries)) was made.
    MaxRetries,
    /// The server asked for a longer wait than
    /// [`max_wait`](crate::RetryAfterPolicy::max_wait): the error is returned at once, with its
    /// delay, so that the caller can schedule the work for later.
    WaitTooLong,
    /// The next wait would end past
    /// [`max_total_time`](crate::RetryAfterPolicy::max_total_time).
    OutOfTime,
    /// The retry budget shared by every clone of the policy is spent.
    BudgetSpent,
    /// The method is not idempotent (POST, PATCH, ...), the status (504, say) does not prove the
    /// server left the request unprocessed, and the request carries no `MS-RequestId` to make a
    /// retry safe.
    NotIdempotent,
    /// A wait was needed and the tokio runtime has no timer to run it (build the runtime with
    /// `enable_time` or `enable_all`).
    /// tokio says so only by panicking: the panic is caught, but the panic hook still prints
    /// tokio's message, and under `panic = "abort"` the process aborts instead.
    NoTimer,
    /// The throttle gate refused a retry without sending it: another answer closed the
    /// request's scope for longer than the gate's wait limit. The last error is the refusal
    /// ([`Error::gate_closed`](crate::Error::gate_closed) says when the scope opens).
    GateClosed,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotRetryable => "the last error is not retryable",
            Self::MaxRetries => "no retries left",
            Self::WaitTooLong => "the server asked for a longer wait than the policy allows",
            Self::OutOfTime => "the next wait would run past the time limit",
            Self::BudgetSpent => "the retry budget is spent",
            Self::NotIdempotent => "the request is not idempotent and carries no MS-RequestId",
            Self::NoTimer => {
                "a wait was needed and the tokio runtime has no timer (build it with enable_time or enable_all)"
            }
            Self::GateClosed => "the throttle gate refused the retry",
        })
    }
}

/// The retry policy stopped: the last error, how many attempts were made, how long was waited
/// between them in total, and why it stopped. Carried by [`Error::GaveUp`].
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use partner_center_errors::{Error, GiveUpReason, PartnerErrorsLayer, RetryAfterPolicy};
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // An upstream that is always busy, and asks for a second each time.
/// let client = service_fn(|_request: Request<Full<Bytes>>| async {
///     let busy = Response::builder()
///         .status(StatusCode::SERVICE_UNAVAILABLE)
///         .header("Retry-After", "1")
///         .body(Full::<Bytes>::default());
///     Ok::<_, std::convert::Infallible>(busy.unwrap())
/// });
/// let service = ServiceBuilder::new()
///     .retry(RetryAfterPolicy::new().max_retries(2))
///     .layer(PartnerErrorsLayer::new())
///     .service(client);
///
/// let request = Request::get("/v1/orders").body(Full::default()).unwrap();
/// let Err(Error::GaveUp(gave_up)) = service.oneshot(request).await else { panic!() };
/// assert_eq!(gave_up.reason(), GiveUpReason::MaxRetries);
/// assert_eq!((gave_up.attempts(), gave_up.waited()), (3, Duration::from_secs(2)));
/// assert_eq!(gave_up.api_error().unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert!(gave_up.to_string().starts_with("gave up after 3 attempts and 2s of waiting"));
/// # }
/// ```
#[derive(Debug)]
pub struct GaveUp {
    last: Box<Error>,
    api_error: Option<ApiError>,
    attempts: u32,
    waited: Duration,
    reason: GiveUpReason,
}

impl GaveUp {
    pub(crate) fn new(
        last: Box<Error>,
        api_error: Option<ApiError>,
        attempts: u32,
        waited: Duration,
        reason: GiveUpReason,
    ) -> Self {
        Self {
            last,
            api_error,
            attempts,
            waited,
            reason,
        }
    }

    /// Returns the error of the last attempt.
    pub fn last_error(&self) -> &Error {
        &self.last
    }

    /// Returns the error of the last attempt, owned.
    pub fn into_last_error(self) -> Error {
        *self.last
    }

    /// Returns the structured error of the last attempt, when it had one. Its
    /// [`retry_after`](ApiError::retry_after) says when the server will take the work again.
    pub fn api_error(&self) -> Option<&ApiError> {
        self.api_error.as_ref()
    }

    /// Returns the structured error of the last attempt, owned.
    pub fn into_api_error(self) -> Option<ApiError> {
        self.api_error
    }

    /// Returns how many attempts the policy saw come back: the first and every retry. A retry the
    /// throttle gate refused ([`Error::GateClosed`] as the [last error](Self::last_error))
    /// counts, though it was not sent.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Returns the total of the policy's own waits between attempts (the server's delays, or its
    /// backoffs). Time a retry then spent held at the throttle gate (behind a longer window
    /// another answer opened, or a probe) is not in it.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Returns why the policy stopped.
    pub fn reason(&self) -> GiveUpReason {
        self.reason
    }
}

/// `gave up after 4 attempts and 3s of waiting (no retries left): HTTP 429 Too Many Requests…`;
/// the wait is left out when there was none. The last error is shown here, so the
/// [`source`](StdError::source) is the last error's own source (never the last error itself,
/// which chain printers would print twice); [`GaveUp::last_error`] returns it.
impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.attempts == 1 { "" } else { "s" };
        write!(f, "gave up after {} attempt{plural}", self.attempts)?;
        if !self.waited.is_zero() {
            write!(f, " and {:?} of waiting", self.waited)?;
        }
        write!(f, " ({}): {}", self.reason, self.last)
    }
}

impl StdError for GaveUp {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.last.source()
    }
}

/// Stands in for an error while it is moved into a [`GaveUp`]; never seen outside the policy.
#[derive(Debug)]
pub(crate) struct Moved;

impl fmt::Display for Moved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("error moved into GaveUp")
    }
}

impl StdError for Moved {}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};

    fn throttled() -> ApiError {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3600".parse().unwrap());
        headers.insert("ms-correlationid", "c-9".parse().unwrap());
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, headers, Bytes::new())
    }

    #[test]
    fn display_says_attempts_wait_reason_and_the_last_error() {
        let api = throttled();
        let gave_up = GaveUp::new(
            Box::new(Error::Api(api.clone())),
            Some(api),
            4,
            Duration::from_millis(171_500),
            GiveUpReason::MaxRetries,
        );
        assert_eq!(
            gave_up.to_string(),
            "gave up after 4 attempts and 171.5s of waiting (no retries left): \
             HTTP 429 Too Many Requests: empty body (retry after 3600s) [correlation id c-9]"
        );
        let once = GaveUp::new(
            Box::new(Error::Service("refused".into())),
            None,
            1,
            Duration::ZERO,
            GiveUpReason::NotRetryable,
        );
        assert_eq!(
            once.to_string(),
            "gave up after 1 attempt (the last error is not retryable): inner service failed"
        );
        let source = StdError::source(&once).expect("the inner service's error");
        assert_eq!(source.to_string(), "refused");
    }

    #[test]
    fn the_crate_error_answers_for_the_last_error() {
        let api = throttled();
        let error = Error::GaveUp(GaveUp::new(
            Box::new(Error::Api(api.clone())),
            Some(api),
            1,
            Duration::ZERO,
            GiveUpReason::WaitTooLong,
        ));
        assert!(
            error.is_retryable(),
            "the server still said: come back later"
        );
        let api = error.api_error().expect("the last structured error");
        assert_eq!(api.retry_after(), Some(Duration::from_secs(3600)));
        assert!(error.to_string().contains("HTTP 429"), "{error}");
        assert!(
            StdError::source(&error).is_none(),
            "the last error is shown, not repeated as the source"
        );
        let Error::GaveUp(gave_up) = error else {
            unreachable!()
        };
        assert_eq!(gave_up.reason(), GiveUpReason::WaitTooLong);
        assert_eq!((gave_up.attempts(), gave_up.waited()), (1, Duration::ZERO));
        assert!(matches!(gave_up.last_error(), Error::Api(_)));
        assert!(gave_up.into_api_error().is_some());

        let transport = Error::GaveUp(GaveUp::new(
            Box::new(Error::Service("reset".into())),
            None,
            2,
            Duration::from_secs(3),
            GiveUpReason::NotRetryable,
        ));
        assert!(!transport.is_retryable());
        assert!(transport.into_api_error().is_none());
    }
}

//! [`RetryAfterPolicy`]: a `tower::retry::Policy` that never retries before the server said to.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Request, StatusCode};
use tokio::time::{Instant, Sleep};
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::Policy;

use super::backoff;
use super::replay::{self, ReplayBody};
use crate::clock::{deadline, sleep_until};
use crate::error::{GaveUp, GiveUpReason, Moved};
use crate::{ApiError, BoxError, Error};

/// `Retry-Attempt`: the header each retry carries, `1` on the first retry, `2` on the second...
/// (the convention of Microsoft's Kiota clients).
pub const RETRY_ATTEMPT: HeaderName = HeaderName::from_static("retry-attempt");

/// The statuses retried by default: 429, 503 and 504.
const DEFAULT_RETRY_STATUSES: [StatusCode; 3] = [
    StatusCode::TOO_MANY_REQUESTS,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::GATEWAY_TIMEOUT,
];

/// Default number of retries after the first attempt: 3 (Kiota's default).
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default ceiling of the first backoff, doubled for each retry after it: 3 s (Kiota's default).
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_secs(3);
/// Default longest single wait: 180 s (Kiota's cap). A server delay above it is not waited for.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(180);
/// Default longest time spent retrying one request, from its first failed response to the end of
/// the last wait: 10 minutes (room for three waits of [`DEFAULT_MAX_WAIT`] and slow attempts).
pub const DEFAULT_MAX_TOTAL_TIME: Duration = Duration::from_secs(600);

#[derive(Clone)]
struct Config {
    /// Shared by every clone: cloning the policy for a request allocates nothing.
    statuses: Arc<[StatusCode]>,
    max_retries: u32,
    base_delay: Duration,
    max_wait: Duration,
    max_total_time: Duration,
    #[cfg(feature = "tracing")]
    levels: crate::trace::RetryLevels,
}

/// What one request session (the first attempt and its retries) has done so far.
#[derive(Clone, Copy, Default)]
pub(crate) struct Session {
    /// Responses (or failures) seen: attempts made.
    attempts: u32,
    /// Sum of the waits so far.
    waited: Duration,
    /// When the first failure came back.
    first_failure: Option<Instant>,
    /// The level of the give-up event (the policy's setting, carried to where it is made).
    #[cfg(feature = "tracing")]
    give_up_level: Option<tracing::Level>,
}

/// A [`tower::retry::Policy`] for Partner Center: retries 429, 503 and 504, never before the
/// delay the server asked for, with exponential backoff and full jitter when it asked for none.
///
/// Works with the error layer's [`Error`] and with [`BoxError`] (when layers such as
/// `tower::timeout` box errors on the way; the structured error is found by downcasting, also
/// through `source()` chains). See the [module docs](crate::retry) for the rules, the
/// defaults and a full stack.
///
/// tower's `Retry` clones the policy for each request: the count of attempts and waits is per
/// request, while the retry budget and the random source are shared by every clone.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use partner_center_errors::{PartnerErrorsLayer, RetryAfterPolicy};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tokio::time::Instant;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // Throttled once for 57 s, then fine.
/// let calls = Arc::new(AtomicU32::new(0));
/// let counted = calls.clone();
/// let client = service_fn(move |_request: Request<Full<Bytes>>| {
///     let first = counted.fetch_add(1, Ordering::Relaxed) == 0;
///     async move {
///         let response = if first {
///             Response::builder().status(StatusCode::TOO_MANY_REQUESTS).header("Retry-After", "57")
///         } else {
///             Response::builder().status(StatusCode::OK)
///         };
///         Ok::<_, std::convert::Infallible>(response.body(Full::<Bytes>::default()).unwrap())
///     }
/// });
/// let service = ServiceBuilder::new()
///     .retry(RetryAfterPolicy::new().max_wait(Duration::from_secs(120)))
///     .layer(PartnerErrorsLayer::new())
///     .service(client);
///
/// let started = Instant::now();
/// let request = Request::get("/v1/customers").body(Full::default()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(calls.load(Ordering::Relaxed), 2);
/// assert_eq!(started.elapsed(), Duration::from_secs(57), "not a millisecond earlier");
/// # }
/// ```
#[derive(Clone)]
pub struct RetryAfterPolicy {
    config: Config,
    budget: Option<Arc<dyn Budget + Send + Sync>>,
    session: Session,
}

impl RetryAfterPolicy {
    /// Returns a policy with the defaults: retries 429, 503 and 504, at most 3 times, waits at most
    /// 180 s each and 10 min in total, backs off from 3 s, and shares tower's default
    /// `TpsBudget` (10 retries per second in reserve, plus 20% of requests) among its clones.
    pub fn new() -> Self {
        Self {
            config: Config {
                statuses: Arc::new(DEFAULT_RETRY_STATUSES),
                max_retries: DEFAULT_MAX_RETRIES,
                base_delay: DEFAULT_BASE_DELAY,
                max_wait: DEFAULT_MAX_WAIT,
                max_total_time: DEFAULT_MAX_TOTAL_TIME,
                #[cfg(feature = "tracing")]
                levels: crate::trace::RetryLevels::DEFAULT,
            },
            budget: Some(Arc::new(TpsBudget::default())),
            session: Session::default(),
        }
    }

    /// Sets the statuses to retry, replacing the set. Default: 429, 503 and 504. Non-idempotent
    /// requests are still retried only as the [module docs](crate::retry) say.
    pub fn retry_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.config.statuses = statuses.into_iter().collect();
        self
    }

    /// Sets the most retries after the first attempt. Default: 3 ([`DEFAULT_MAX_RETRIES`]).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.max_retries = retries;
        self
    }

    /// Sets the ceiling of the first backoff (when the server gave no delay); each later retry
    /// doubles it, up to [`max_wait`](Self::max_wait). Default: 3 s ([`DEFAULT_BASE_DELAY`]).
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.config.base_delay = delay;
        self
    }

    /// Sets the longest single wait. A server delay above it is not waited for: the error comes
    /// back at once as [`Error::GaveUp`] with [`GiveUpReason::WaitTooLong`], its delay intact, so
    /// that the caller can schedule the work for later. Backoffs are capped at it. Default: 180 s
    /// ([`DEFAULT_MAX_WAIT`]).
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.config.max_wait = wait;
        self
    }

    /// Sets the longest time spent retrying one request, from its first failed response to the end
    /// of the last wait (so it counts the retried attempts, not the first one). A retry whose wait
    /// would end later is not made. Default: 10 min ([`DEFAULT_MAX_TOTAL_TIME`]). For a deadline on
    /// the whole call, put `tower::timeout` outside the retry.
    pub fn max_total_time(mut self, time: Duration) -> Self {
        self.config.max_total_time = time;
        self
    }

    /// Sets the retry budget, shared by every clone of this policy: each request deposits, each
    /// retry withdraws, and no retry is made when it cannot. Default: `TpsBudget::default()`.
    pub fn budget(mut self, budget: impl Budget + Send + Sync + 'static) -> Self {
        self.budget = Some(Arc::new(budget));
        self
    }

    /// Sets the level of the `tracing` event before each retry (`None`: no event). Default:
    /// `INFO`.
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn retry_level(mut self, level: impl Into<Option<tracing::Level>>) -> Self {
        self.config.levels.retry = level.into();
        self
    }

    /// Sets the level of the `tracing` event when the policy gives up (`None`: no event).
    /// Default: `WARN`.
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn give_up_level(mut self, level: impl Into<Option<tracing::Level>>) -> Self {
        self.config.levels.give_up = level.into();
        self
    }

    /// Removes the retry budget: only the other limits apply. Default: `TpsBudget::default()`.
    pub fn no_budget(mut self) -> Self {
        self.budget = None;
        self
    }

    /// What to do with one outcome of the session.
    fn step<R: Attempt>(&mut self, request: &R, failure: Option<Option<&ApiError>>) -> Step {
        let session = &mut self.session;
        session.attempts = session.attempts.saturating_add(1);
        let first = session.attempts == 1;
        if first {
            if let Some(budget) = &self.budget {
                budget.deposit();
            }
        }
        let Some(failure) = failure else {
            return Step::Done;
        };
        let Some(error) = failure.filter(|error| self.config.statuses.contains(&error.status()))
        else {
            return if first {
                Step::Done
            } else {
                Step::GiveUp(GiveUpReason::NotRetryable)
            };
        };
        if !replay::may_repeat(request.method(), request.headers(), error.status()) {
            return Step::GiveUp(GiveUpReason::NotIdempotent);
        }
        let retry = session.attempts;
        if retry > self.config.max_retries {
            return Step::GiveUp(GiveUpReason::MaxRetries);
        }
        let wait = match error.retry_after() {
            Some(delay) if delay > self.config.max_wait => {
                return Step::GiveUp(GiveUpReason::WaitTooLong)
            }
            Some(delay) => delay,
            None => backoff::full_jitter(backoff::ceiling(
                self.config.base_delay,
                self.config.max_wait,
                retry,
            )),
        };
        let now = Instant::now();
        let first_failure = *session.first_failure.get_or_insert(now);
        let spent = now.saturating_duration_since(first_failure);
        if spent.saturating_add(wait) > self.config.max_total_time {
            return Step::GiveUp(GiveUpReason::OutOfTime);
        }
        Step::Retry(wait)
    }

    /// [`Policy::retry`] for either error type, and for any request type with a method and
    /// headers (the reqwest integration's too).
    pub(crate) fn decide<R: Attempt, Res, E: Failure>(
        &mut self,
        request: &mut R,
        result: &mut Result<Res, E>,
    ) -> Option<Wait> {
        let failure = result.as_ref().err().map(Failure::api_error);
        let (wait, sleep) = match self.step(request, failure) {
            Step::Done => return None,
            Step::Retry(wait) if wait.is_zero() => (wait, None),
            Step::Retry(wait) => match sleep_until(deadline(Instant::now(), wait)) {
                Some(sleep) => (wait, Some(Box::pin(sleep))),
                None => return self.give_up(result, GiveUpReason::NoTimer),
            },
            Step::GiveUp(reason) => return self.give_up(result, reason),
        };
        // Last, once the retry is sure to be made: a retry given up for another reason takes
        // nothing from the budget every clone shares.
        if let Some(budget) = &self.budget {
            if !budget.withdraw() {
                return self.give_up(result, GiveUpReason::BudgetSpent);
            }
        }
        self.session.waited = self.session.waited.saturating_add(wait);
        let retry = self.session.attempts;
        request
            .headers_mut()
            .insert(RETRY_ATTEMPT, HeaderValue::from(retry));
        #[cfg(feature = "tracing")]
        if let Some(error) = result.as_ref().err().and_then(Failure::api_error) {
            crate::trace::retry(self.config.levels.retry, retry, wait, error);
        }
        #[cfg(not(feature = "tracing"))]
        let _ = wait;
        Some(Wait { sleep })
    }

    fn give_up<Res, E: Failure>(
        &self,
        result: &mut Result<Res, E>,
        reason: GiveUpReason,
    ) -> Option<Wait> {
        if let Err(error) = result {
            let session = Session {
                #[cfg(feature = "tracing")]
                give_up_level: self.config.levels.give_up,
                ..self.session
            };
            error.give_up(session, reason);
        }
        None
    }
}

impl Default for RetryAfterPolicy {
    fn default() -> Self {
        Self::new()
    }
}

/// Each setting under its setter's name (the `tracing` levels included), then what this
/// request's session has done so far.
impl fmt::Debug for RetryAfterPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let statuses: Vec<u16> = self
            .config
            .statuses
            .iter()
            .map(StatusCode::as_u16)
            .collect();
        let mut debug = f.debug_struct("RetryAfterPolicy");
        debug
            .field("retry_statuses", &statuses)
            .field("max_retries", &self.config.max_retries)
            .field("base_delay", &self.config.base_delay)
            .field("max_wait", &self.config.max_wait)
            .field("max_total_time", &self.config.max_total_time)
            .field("budget", &self.budget.is_some());
        #[cfg(feature = "tracing")]
        debug
            .field("retry_level", &self.config.levels.retry)
            .field("give_up_level", &self.config.levels.give_up);
        debug
            .field("attempts", &self.session.attempts)
            .field("waited", &self.session.waited)
            .finish()
    }
}

enum Step {
    /// Hand the result back as it is.
    Done,
    /// Wait this long, then send the request again (when the timer and the budget allow).
    Retry(Duration),
    /// Hand the error back as [`Error::GaveUp`].
    GiveUp(GiveUpReason),
}

/// What the policy needs of a request: its method and headers (to apply the idempotency rule
/// and set `Retry-Attempt`). `http::Request` here, `reqwest::Request` in the reqwest
/// integration.
pub(crate) trait Attempt {
    fn method(&self) -> &http::Method;
    fn headers(&self) -> &http::HeaderMap;
    fn headers_mut(&mut self) -> &mut http::HeaderMap;
}

impl<B> Attempt for Request<B> {
    fn method(&self) -> &http::Method {
        Request::method(self)
    }

    fn headers(&self) -> &http::HeaderMap {
        Request::headers(self)
    }

    fn headers_mut(&mut self) -> &mut http::HeaderMap {
        Request::headers_mut(self)
    }
}

/// The error types the policy understands: the layer's [`Error`] and [`BoxError`] here,
/// `reqwest_middleware::Error` in the reqwest integration.
pub(crate) trait Failure {
    /// The structured error in it, if any.
    fn api_error(&self) -> Option<&ApiError>;
    /// Replaces the error with [`Error::GaveUp`] around it.
    fn give_up(&mut self, session: Session, reason: GiveUpReason);
}

impl Failure for Error {
    fn api_error(&self) -> Option<&ApiError> {
        Error::api_error(self)
    }

    fn give_up(&mut self, session: Session, reason: GiveUpReason) {
        let last = std::mem::replace(self, Error::Service(Box::new(Moved)));
        let api_error = last.api_error().cloned();
        *self = Error::GaveUp(gave_up(Box::new(last), api_error, session, reason));
    }
}

impl Failure for BoxError {
    fn api_error(&self) -> Option<&ApiError> {
        find_api_error(&**self)
    }

    fn give_up(&mut self, session: Session, reason: GiveUpReason) {
        let api_error = Failure::api_error(self).cloned();
        let last = std::mem::replace(self, Box::new(Moved));
        let last = match last.downcast::<Error>() {
            Ok(error) => error,
            Err(other) => match other.downcast::<ApiError>() {
                Ok(error) => Box::new(Error::Api(*error)),
                Err(other) => Box::new(Error::Service(crate::error::service_error(other))),
            },
        };
        *self = Box::new(Error::GaveUp(gave_up(last, api_error, session, reason)));
    }
}

pub(crate) fn gave_up(
    last: Box<Error>,
    api_error: Option<ApiError>,
    session: Session,
    reason: GiveUpReason,
) -> GaveUp {
    // The policy decides by the structured error alone, and a refusal carries none.
    let refused = reason == GiveUpReason::NotRetryable && last.gate_closed().is_some();
    let reason = if refused {
        GiveUpReason::GateClosed
    } else {
        reason
    };
    let gave_up = GaveUp::new(last, api_error, session.attempts, session.waited, reason);
    #[cfg(feature = "tracing")]
    crate::trace::give_up(session.give_up_level, &gave_up);
    gave_up
}

/// The structured error in a boxed error: the error itself, or one of its sources (a layer such
/// as `tower::buffer` may wrap it). Looks at most 16 levels deep.
fn find_api_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a ApiError> {
    let mut next = Some(error);
    for _ in 0..16 {
        let error = next?;
        if let Some(found) = error.downcast_ref::<Error>().and_then(Error::api_error) {
            return Some(found);
        }
        if let Some(found) = error.downcast_ref::<ApiError>() {
            return Some(found);
        }
        next = error.source();
    }
    None
}

/// A response the policy can read: an error response that no error layer captured (the policy
/// sits inside the layer, or there is none). Sealed: `http::Response`, and (feature `reqwest`)
/// `reqwest::Response`.
#[allow(unreachable_pub)]
pub trait Outcome {
    /// The structured error of a raw 4xx/5xx response, read from its head alone.
    fn raw_error(&self) -> Option<ApiError>;
}

impl<B> Outcome for http::Response<B> {
    fn raw_error(&self) -> Option<ApiError> {
        let raw = crate::error::is_error_status(self.status())
            && self.extensions().get::<ApiError>().is_none();
        raw.then(|| ApiError::new(self.status(), self.headers().clone(), bytes::Bytes::new()))
    }
}

/// The policy over the error layer's [`Error`], or over a [`BoxError`] when a layer between
/// the retry and the error layer boxes errors.
///
/// Inside the error layer (`.layer(PartnerErrorsLayer::new()).retry(policy)`) the policy sees
/// raw error responses, `Ok` with a 4xx/5xx status: it retries them by the same rules, with the
/// delay from their headers (their body is not read); when it stops, the last response goes on
/// to the layer, which makes its [`Error::Api`] (not [`Error::GaveUp`]: only an error can be
/// replaced, and the inner service's error type is not the crate's).
impl<B, Res, E> Policy<Request<B>, Res, E> for RetryAfterPolicy
where
    B: ReplayBody,
    Res: Outcome,
    E: Failure,
{
    type Future = Wait;

    fn retry(&mut self, request: &mut Request<B>, result: &mut Result<Res, E>) -> Option<Wait> {
        if let Some(raw) = result.as_ref().ok().and_then(Outcome::raw_error) {
            let mut failure = Err::<(), Error>(Error::Api(raw));
            return self.decide(request, &mut failure);
        }
        self.decide(request, result)
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        replay::clone_request(request)
    }
}

/// The wait before a retry (the server's delay, or a backoff): the future
/// [`RetryAfterPolicy`] hands to tower's `Retry`. Runs on tokio's timer (so tokio's paused time
/// drives it in tests); a zero wait is ready at once and needs no timer.
#[derive(Debug)]
pub struct Wait {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PartnerErrorsLayer;
    use bytes::Bytes;
    use http::{HeaderMap, Response};
    use http_body_util::Full;
    use std::sync::Mutex;
    use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

    /// What the stand-in upstream saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        at: Instant,
        headers: HeaderMap,
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    /// `Debug` names each setting as its setter does, so a printed policy says what to change.
    #[test]
    fn debug_names_each_setting_as_its_setter() {
        let policy = RetryAfterPolicy::new().retry_statuses([StatusCode::TOO_MANY_REQUESTS]);
        let shown = format!("{policy:?}");
        assert!(shown.contains("retry_statuses: [429]"), "{shown}");
        for setter in [
            "max_retries",
            "base_delay",
            "max_wait",
            "max_total_time",
            "budget",
        ] {
            assert!(shown.contains(setter), "{setter} in {shown}");
        }
        #[cfg(feature = "tracing")]
        {
            let shown = format!("{:?}", policy.retry_level(None));
            assert!(shown.contains("retry_level: None"), "{shown}");
            assert!(
                shown.contains("give_up_level: Some(Level(Warn))"),
                "{shown}"
            );
        }
    }

    /// One answer of the stand-in upstream: a status and its headers, or `None` for a transport
    /// failure.
    type Answer = Option<(u16, &'static [(&'static str, &'static str)])>;

    fn answer(status: u16, headers: &'static [(&'static str, &'static str)]) -> Answer {
        Some((status, headers))
    }

    /// An upstream answering the `n`th request with `script[n]` (the last entry once the script
    /// runs out).
    fn upstream(
        script: &[Answer],
    ) -> (
        impl Service<
                Request<Full<Bytes>>,
                Response = Response<Full<Bytes>>,
                Error = BoxError,
                Future = impl Send,
            > + Clone,
        Log,
    ) {
        let log: Log = Arc::default();
        let seen = log.clone();
        let script = script.to_vec();
        let service = service_fn(move |request: Request<Full<Bytes>>| {
            let mut seen = seen.lock().unwrap();
            let step = script[seen.len().min(script.len() - 1)];
            seen.push(Seen {
                at: Instant::now(),
                headers: request.headers().clone(),
            });
            async move {
                let Some((status, headers)) = step else {
                    return Err::<Response<Full<Bytes>>, BoxError>("connection reset".into());
                };
                let mut response = Response::builder().status(status);
                for (name, value) in headers {
                    response = response.header(*name, *value);
                }
                Ok(response.body(Full::new(Bytes::new())).unwrap())
            }
        });
        (service, log)
    }

    fn get() -> Request<Full<Bytes>> {
        Request::get("https://api.partnercenter.microsoft.com/v1/customers")
            .header("ms-requestid", "r-1")
            .body(Full::default())
            .unwrap()
    }

    async fn call(
        policy: RetryAfterPolicy,
        script: &[Answer],
    ) -> (Result<Response<Full<Bytes>>, Error>, Vec<Seen>, Duration) {
        let (client, log) = upstream(script);
        let service = ServiceBuilder::new()
            .retry(policy)
            .layer(PartnerErrorsLayer::new())
            .service(client);
        let started = Instant::now();
        let result = service.oneshot(get()).await;
        let seen = log.lock().unwrap().clone();
        (result, seen, started.elapsed())
    }

    fn expect_gave_up(result: Result<Response<Full<Bytes>>, Error>) -> GaveUp {
        match result {
            Err(Error::GaveUp(gave_up)) => gave_up,
            other => panic!("expected Error::GaveUp, got {other:?}"),
        }
    }

    const THROTTLED_1S: Answer = Some((429, &[("retry-after", "1")]));
    const OK: Answer = Some((200, &[]));

    #[tokio::test(start_paused = true)]
    async fn success_after_retries_and_retry_attempt_counts_up() {
        let script = &[THROTTLED_1S, THROTTLED_1S, OK];
        let (result, seen, elapsed) = call(RetryAfterPolicy::new(), script).await;
        assert_eq!(result.unwrap().status(), StatusCode::OK);
        assert_eq!(elapsed, Duration::from_secs(2));
        let attempts: Vec<Option<&str>> = seen
            .iter()
            .map(|seen| seen.headers.get(RETRY_ATTEMPT).map(|v| v.to_str().unwrap()))
            .collect();
        assert_eq!(attempts, [None, Some("1"), Some("2")]);
        for retry in &seen[1..] {
            let mut headers = retry.headers.clone();
            headers.remove(RETRY_ATTEMPT);
            assert_eq!(headers, seen[0].headers, "every other header unchanged");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_error_the_policy_does_not_retry_is_returned_as_is() {
        let (result, seen, elapsed) = call(
            RetryAfterPolicy::new(),
            &[answer(400, &[("retry-after", "1")])],
        )
        .await;
        let Err(Error::Api(error)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!((seen.len(), elapsed), (1, Duration::ZERO));

        let (result, seen, _) = call(RetryAfterPolicy::new(), &[None]).await;
        assert!(matches!(result, Err(Error::Service(_))), "{result:?}");
        assert_eq!(seen.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_different_error_after_a_retry_ends_it() {
        let script = &[THROTTLED_1S, answer(404, &[])];
        let (result, seen, _) = call(RetryAfterPolicy::new(), script).await;
        let gave_up = expect_gave_up(result);
        assert_eq!(gave_up.reason(), GiveUpReason::NotRetryable);
        assert_eq!(
            (gave_up.attempts(), gave_up.waited()),
            (2, Duration::from_secs(1))
        );
        assert_eq!(gave_up.api_error().unwrap().status(), StatusCode::NOT_FOUND);
        assert_eq!(seen.len(), 2);

        let (result, seen, _) = call(RetryAfterPolicy::new(), &[THROTTLED_1S, None]).await;
        let gave_up = expect_gave_up(result);
        assert_eq!(gave_up.reason(), GiveUpReason::NotRetryable);
        assert!(matches!(gave_up.last_error(), Error::Service(_)));
        assert!(gave_up.api_error().is_none());
        assert_eq!(seen.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_max_retries() {
        let (result, seen, elapsed) = call(RetryAfterPolicy::new(), &[THROTTLED_1S]).await;
        let gave_up = expect_gave_up(result);
        assert_eq!(gave_up.reason(), GiveUpReason::MaxRetries);
        assert_eq!(gave_up.attempts(), 1 + DEFAULT_MAX_RETRIES);
        assert_eq!(gave_up.waited(), Duration::from_secs(3));
        assert_eq!((seen.len(), elapsed), (4, Duration::from_secs(3)));
        assert!(gave_up
            .to_string()
            .starts_with("gave up after 4 attempts and 3s of waiting"));

        let (result, seen, _) = call(RetryAfterPolicy::new().max_retries(0), &[THROTTLED_1S]).await;
        assert_eq!(gave_up_reason(result), GiveUpReason::MaxRetries);
        assert_eq!(seen.len(), 1);
    }

    fn gave_up_reason(result: Result<Response<Full<Bytes>>, Error>) -> GiveUpReason {
        expect_gave_up(result).reason()
    }

    #[tokio::test(start_paused = true)]
    async fn stops_before_a_wait_that_would_end_past_the_total_time() {
        let policy = RetryAfterPolicy::new()
            .max_retries(10)
            .max_total_time(Duration::from_secs(10));
        let (result, seen, elapsed) = call(policy, &[answer(503, &[("retry-after", "4")])]).await;
        let gave_up = expect_gave_up(result);
        assert_eq!(gave_up.reason(), GiveUpReason::OutOfTime);
        // Waits end at 4 s and 8 s; one ending at 12 s would be past 10 s.
        assert_eq!(
            (gave_up.attempts(), gave_up.waited()),
            (3, Duration::from_secs(8))
        );
        assert_eq!((seen.len(), elapsed), (3, Duration::from_secs(8)));
    }

    /// With no limits set, the largest delay a header can spell is waited for as far as the
    /// clock can count (about 30 years), not a panic on adding it to the clock.
    #[tokio::test(start_paused = true)]
    async fn a_delay_past_what_the_clock_holds_is_waited_without_a_panic() {
        let policy = RetryAfterPolicy::new()
            .max_wait(Duration::MAX)
            .max_total_time(Duration::MAX);
        let script = &[answer(429, &[("retry-after", "18446744073709551615")]), OK];
        let (result, seen, elapsed) = call(policy, script).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(seen.len(), 2);
        assert!(
            elapsed >= Duration::from_secs(86400 * 365 * 29),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_delay_above_the_longest_wait_gives_up_at_once() {
        let policy = RetryAfterPolicy::new().max_wait(Duration::from_secs(30));
        let script = &[answer(429, &[("retry-after-ms", "30001")])];
        let (result, seen, elapsed) = call(policy.clone(), script).await;
        let gave_up = expect_gave_up(result);
        assert_eq!(gave_up.reason(), GiveUpReason::WaitTooLong);
        assert_eq!(
            gave_up.api_error().unwrap().retry_after(),
            Some(Duration::from_millis(30_001))
        );
        assert_eq!((seen.len(), elapsed), (1, Duration::ZERO));

        // Exactly the longest wait is waited for.
        let script = &[answer(429, &[("retry-after-ms", "30000")]), OK];
        let (result, seen, elapsed) = call(policy, script).await;
        assert!(result.is_ok());
        assert_eq!((seen.len(), elapsed), (2, Duration::from_secs(30)));
    }

    /// A delay too large to count (more seconds than a `u64` holds, a wall of digits) is
    /// still a delay, the longest there is: under the default limits the policy gives up at
    /// once rather than retrying on its own schedule, which the server asked it not to do.
    #[tokio::test(start_paused = true)]
    async fn a_delay_too_large_to_count_gives_up_as_too_long() {
        let wall_of_digits: &'static str = Box::leak("9".repeat(10_000).into_boxed_str());
        let headers: [&'static [(&str, &str)]; 4] = [
            &[("retry-after", "18446744073709551616")],
            &[("retry-after", "5, 99999999999999999999")],
            &[("retry-after-ms", "999999999999999999999999999999")],
            Box::leak(Box::new([("retry-after", wall_of_digits)])),
        ];
        for headers in headers {
            let script = &[answer(429, headers), OK];
            let (result, seen, elapsed) = call(RetryAfterPolicy::new(), script).await;
            let gave_up = expect_gave_up(result);
            assert_eq!(gave_up.reason(), GiveUpReason::WaitTooLong, "{headers:?}");
            assert!(gave_up.api_error().unwrap().retry_after() > Some(DEFAULT_MAX_WAIT));
            assert_eq!((seen.len(), elapsed), (1, Duration::ZERO), "{headers:?}");
        }
    }

    /// A runtime built without tokio's timer: a zero wait needs none, a needed wait is a clear
    /// error rather than tokio's panic.
    #[test]
    fn without_a_timer_zero_waits_retry_and_needed_waits_give_up() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let script = &[answer(503, &[("retry-after", "0")]), OK];
            let (result, seen, _) = call(RetryAfterPolicy::new(), script).await;
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(seen.len(), 2);

            let (result, seen, _) = call(RetryAfterPolicy::new(), &[THROTTLED_1S]).await;
            let gave_up = expect_gave_up(result);
            assert_eq!(gave_up.reason(), GiveUpReason::NoTimer);
            assert_eq!((gave_up.attempts(), gave_up.waited()), (1, Duration::ZERO));
            let shown = gave_up.to_string();
            assert!(shown.contains("enable_time"), "says what to do: {shown}");
            assert_eq!(seen.len(), 1);
        });
    }

    /// A retry given up for want of a timer is not made, so it takes nothing from the shared
    /// budget: the one retry held in reserve is still there for a zero wait, which needs none.
    #[test]
    fn a_wait_without_a_timer_spends_no_budget() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            // One retry in reserve, nothing earned per request.
            let budget = TpsBudget::new(Duration::from_secs(1), 1, 0.0);
            let policy = RetryAfterPolicy::new().budget(budget);

            let (result, seen, _) = call(policy.clone(), &[THROTTLED_1S]).await;
            assert_eq!(gave_up_reason(result), GiveUpReason::NoTimer);
            assert_eq!(seen.len(), 1);

            let script = &[answer(503, &[("retry-after", "0")]), OK];
            let (result, seen, _) = call(policy, script).await;
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(seen.len(), 2);
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_delay_retries_at_once() {
        let script = &[answer(503, &[("retry-after", "0")]), OK];
        let (result, seen, elapsed) = call(RetryAfterPolicy::new(), script).await;
        assert!(result.is_ok());
        assert_eq!((seen.len(), elapsed), (2, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn the_status_set_is_configurable() {
        let policy = RetryAfterPolicy::new().retry_statuses([StatusCode::INTERNAL_SERVER_ERROR]);
        let script = &[answer(500, &[("retry-after", "2")]), OK];
        let (result, seen, elapsed) = call(policy.clone(), script).await;
        assert!(result.is_ok());
        assert_eq!((seen.len(), elapsed), (2, Duration::from_secs(2)));

        let (result, seen, _) = call(policy, &[THROTTLED_1S, OK]).await;
        assert!(
            matches!(result, Err(Error::Api(_))),
            "429 is no longer in the set"
        );
        assert_eq!(seen.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_delay_the_backoff_stays_inside_its_bounds() {
        let policy = RetryAfterPolicy::new()
            .base_delay(Duration::from_secs(2))
            .max_wait(Duration::from_secs(5))
            .no_budget();
        let script = &[answer(504, &[]), answer(504, &[]), answer(504, &[]), OK];
        for _ in 0..50 {
            let (result, seen, _) = call(policy.clone(), script).await;
            assert!(result.is_ok());
            let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].at - w[0].at).collect();
            // Ceilings 2 s, 4 s, then 8 s capped at 5 s.
            let ceilings = [2, 4, 5].map(Duration::from_secs);
            for (gap, ceiling) in gaps.iter().zip(ceilings) {
                assert!(*gap <= ceiling, "{gaps:?}");
            }
            assert_eq!(gaps.len(), 3);
        }
    }

    /// An error type of someone else's that wraps ours, as `tower::buffer` does.
    #[derive(Debug)]
    struct Wrapped(Error);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn boxed_errors_are_read_by_downcasting_even_when_wrapped() {
        let (client, log) = upstream(&[THROTTLED_1S]);
        let service = ServiceBuilder::new()
            .retry(RetryAfterPolicy::new().max_retries(1))
            .map_err(|error: Error| -> BoxError { Box::new(Wrapped(error)) })
            .layer(PartnerErrorsLayer::new())
            .service(client);
        let error = service.oneshot(get()).await.unwrap_err();
        assert_eq!(log.lock().unwrap().len(), 2, "the wrapped 429 was retried");
        let Some(Error::GaveUp(gave_up)) = error.downcast_ref::<Error>() else {
            panic!("{error:?}")
        };
        assert_eq!(gave_up.reason(), GiveUpReason::MaxRetries);
        assert_eq!(
            gave_up.api_error().unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert!(matches!(gave_up.last_error(), Error::Service(inner) if inner.is::<Wrapped>()));
    }

    #[tokio::test(start_paused = true)]
    async fn boxed_crate_errors_keep_their_variant_inside_gave_up() {
        let (client, log) = upstream(&[THROTTLED_1S]);
        let service = ServiceBuilder::new()
            .retry(RetryAfterPolicy::new().max_retries(1))
            .map_err(BoxError::from)
            .layer(PartnerErrorsLayer::new())
            .service(client);
        let error = service.oneshot(get()).await.unwrap_err();
        assert_eq!(log.lock().unwrap().len(), 2);
        let error = error.downcast::<Error>().expect("a crate error");
        assert!(error.is_retryable());
        let Error::GaveUp(gave_up) = *error else {
            panic!()
        };
        assert!(matches!(gave_up.last_error(), Error::Api(_)));
    }

    #[test]
    fn debug_shows_the_settings() {
        let shown = format!("{:?}", RetryAfterPolicy::new());
        assert!(shown.contains("statuses: [429, 503, 504]"), "{shown}");
        assert!(shown.contains("max_retries: 3"), "{shown}");
        assert!(shown.contains("max_wait: 180s"), "{shown}");
    }

    #[test]
    fn policy_is_send_sync_static_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<RetryAfterPolicy>();
        fn assert_send<T: Send>() {}
        assert_send::<Wait>();
    }
}

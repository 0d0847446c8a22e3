//! The response future: one intercept state machine for every response type and both modes.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;

use super::layer::{Config, NoGate, PassThrough, ReturnError};
use super::PassThroughBody;
use crate::body::{detach, Collected, Read, Stop};
use crate::error::{is_error_status, ApiError, Error};
use crate::BoxError;

// `HttpResponse`, `Captures` and `Mode` are `pub` only so that public impls may name them in
// bounds; they live in a private module and are re-exported `pub(crate)`, so no user can name or
// implement them (sealed).

/// A response the layer can intercept: `http::Response<B>` here, `reqwest::Response` in the
/// reqwest integration.
#[allow(unreachable_pub)]
pub trait HttpResponse: Sized {
    /// The body read on the error path.
    type Body: Body<Error: Into<BoxError>>;
    /// What the error path keeps besides the head (reqwest's URL).
    type Kept;
    /// The response pass-through mode hands on.
    type PassThrough;

    fn status(&self) -> StatusCode;
    fn into_http(self) -> (Response<Self::Body>, Self::Kept);
    fn untouched(self) -> Self::PassThrough;
    fn replayed(
        response: Response<PassThroughBody<Self::Body>>,
        kept: Self::Kept,
    ) -> Self::PassThrough;
    /// The extensions of a response pass-through mode handed on.
    fn passed_extensions(passed: &Self::PassThrough) -> &http::Extensions;
}

impl<B> HttpResponse for Response<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Body = B;
    type Kept = ();
    type PassThrough = Response<PassThroughBody<B>>;

    #[inline]
    fn status(&self) -> StatusCode {
        Response::status(self)
    }

    fn into_http(self) -> (Response<B>, ()) {
        (self, ())
    }

    #[inline]
    fn untouched(self) -> Self::PassThrough {
        self.map(PassThroughBody::untouched)
    }

    fn replayed(response: Response<PassThroughBody<B>>, (): ()) -> Self::PassThrough {
        response
    }

    fn passed_extensions(passed: &Self::PassThrough) -> &http::Extensions {
        passed.extensions()
    }
}

/// What a mode ([`ReturnError`], [`PassThrough`]) makes of an error response.
#[allow(unreachable_pub)]
pub trait Captures<R: HttpResponse> {
    /// The structured error, or (in pass-through mode) the response again.
    type Captured;

    /// Whether an error response goes on as a response (pass-through mode).
    const PASSES_ERRORS: bool;

    /// An error response: its head and what was read of its body, made into the structured
    /// error (and, in pass-through mode, the response again with its body replayed).
    fn captured(
        response: http::response::Parts,
        collected: Collected<R::Body>,
        kept: R::Kept,
        config: &Config,
    ) -> Self::Captured;

    /// The structured error in what [`Captures::captured`] made.
    fn api_error(captured: &Self::Captured) -> Option<&ApiError>;
}

/// What a mode ([`ReturnError`], [`PassThrough`]) makes of each outcome.
#[allow(unreachable_pub)]
pub trait Mode<R: HttpResponse, E>: Captures<R> {
    type Response;
    type Error;

    fn passed(response: R) -> Self::Response;
    fn service_error(error: E) -> Self::Error;
    /// What [`Captures::captured`] made, as the service's result.
    fn finished(captured: Self::Captured) -> Result<Self::Response, Self::Error>;
}

impl<R: HttpResponse, E: Into<BoxError>> Mode<R, E> for ReturnError {
    type Response = R;
    type Error = Error;

    #[inline]
    fn passed(response: R) -> R {
        response
    }

    fn service_error(error: E) -> Error {
        Error::Service(crate::error::service_error(error.into()))
    }

    #[inline]
    fn finished(error: Error) -> Result<R, Error> {
        Err(error)
    }
}

impl<R: HttpResponse> Captures<R> for ReturnError {
    type Captured = Error;
    const PASSES_ERRORS: bool = false;

    fn captured(
        response: http::response::Parts,
        collected: Collected<R::Body>,
        _: R::Kept,
        config: &Config,
    ) -> Error {
        // The head is dropped here, so its headers move into the error: no copy.
        let error = api_error(
            response.status,
            response.headers,
            (collected.read, collected.read_is_frame),
            collected.stop,
            config,
        );
        structured(error, config)
    }

    fn api_error(captured: &Error) -> Option<&ApiError> {
        captured.api_error()
    }
}

/// The crate's error for a captured error response: [`Error::Schema`] when strict mode
/// rejects its violations, else [`Error::Api`]. The one place strict mode is applied.
pub(crate) fn structured(error: ApiError, config: &Config) -> Error {
    let rejected = config
        .strict
        .is_some_and(|policy| policy.rejects_any(error.violations()));
    if rejected {
        Error::Schema(error)
    } else {
        Error::Api(error)
    }
}

impl<R: HttpResponse, E> Mode<R, E> for PassThrough {
    type Response = R::PassThrough;
    type Error = E;

    #[inline]
    fn passed(response: R) -> R::PassThrough {
        response.untouched()
    }

    fn service_error(error: E) -> E {
        error
    }

    #[inline]
    fn finished(response: R::PassThrough) -> Result<R::PassThrough, E> {
        Ok(response)
    }
}

impl<R: HttpResponse> Captures<R> for PassThrough {
    type Captured = R::PassThrough;
    const PASSES_ERRORS: bool = true;

    fn captured(
        mut response: http::response::Parts,
        collected: Collected<R::Body>,
        kept: R::Kept,
        config: &Config,
    ) -> R::PassThrough {
        // The head goes on with the response, so the error keeps a copy of its headers.
        let headers = response.headers.clone();
        let error = api_error(
            response.status,
            headers,
            (collected.read, collected.read_is_frame),
            collected.stop,
            config,
        );
        let body = PassThroughBody::replay(collected.replay);
        response.extensions.insert(error);
        R::replayed(Response::from_parts(response, body), kept)
    }

    fn api_error(captured: &R::PassThrough) -> Option<&ApiError> {
        R::passed_extensions(captured).get::<ApiError>()
    }
}

/// The structured error of a captured response.
///
/// What the error keeps is copied out of the transport's buffers first (see [`detach`]): kept
/// after its connection closed, it would otherwise keep hyper's whole read buffer alive.
fn api_error(
    status: StatusCode,
    mut headers: HeaderMap,
    (read, read_is_frame): (Bytes, bool),
    stop: Option<Stop>,
    config: &Config,
) -> ApiError {
    let read = detach(&mut headers, read, read_is_frame);
    let error =
        ApiError::from_capture_as(config.schema, status, headers, read, stop.map(Into::into));
    #[cfg(feature = "tracing")]
    crate::trace::error_response(&error, config.levels);
    #[cfg(not(feature = "tracing"))]
    let _ = config;
    error
}

/// An error response on its way through the error path; boxed, so that the success path's
/// future stays small.
struct Capture<R: HttpResponse, M: Captures<R>> {
    response: Option<(http::response::Parts, R::Kept)>,
    read: Read<R::Body>,
    /// What the mode made of the response, until `poll` moves it out. Left here rather than
    /// returned: an out-of-line function that returned `poll`'s output would write it in place,
    /// and the place `poll` builds a success response in would then be memory that the
    /// compiler moves with `memcpy` calls instead of field by field.
    captured: Option<M::Captured>,
}

impl<R: HttpResponse, M: Captures<R>> Capture<R, M> {
    #[cold]
    fn new(response: R, config: Config) -> Box<Self> {
        let (response, kept) = response.into_http();
        let (parts, body) = response.into_parts();
        // A `Content-Length` beside a `Transfer-Encoding` is not the body's length: the
        // transfer coding frames the body and overrides it (RFC 9112 §6.3), and hyper keeps
        // both headers.
        let declared_length = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .filter(|_| !parts.headers.contains_key(http::header::TRANSFER_ENCODING))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        Box::new(Self {
            read: Read::new(body, declared_length, config.limits),
            response: Some((parts, kept)),
            captured: None,
        })
    }
}

/// The boxed error path, dropped out of line: the success path's future then drops with a
/// single test of its state.
struct Boxed<R: HttpResponse, M: Captures<R>>(Option<Box<Capture<R, M>>>);

impl<R: HttpResponse, M: Captures<R>> Drop for Boxed<R, M> {
    #[inline]
    fn drop(&mut self) {
        if let Some(capture) = self.0.take() {
            discard(capture);
        }
    }
}

/// Drops `value` out of line: for error-path state that success paths only test for.
#[cold]
#[inline(never)]
pub(crate) fn discard<T>(value: T) {
    drop(value);
}

/// What a response future reports its captured errors to, and what a request that met a closed
/// gate waits in: nothing for the error layer alone ([`NoGate`]), the throttle gate's scope when
/// the gate is fused into the layer.
#[allow(unreachable_pub)]
pub trait Watch {
    /// The boxed wait of a request that met a closed gate ([`Unreachable`] without a gate, so
    /// that the state holding it takes no room and no test).
    type Parked;

    /// Reports the head of an error response, before its body is read.
    fn observe_head(&mut self, status: StatusCode, headers: &HeaderMap);

    /// Reports the structured error of a captured error response, once its body is read.
    fn observe(&mut self, error: Option<&ApiError>);
}

/// A [`Watch::Parked`] future: polled for the response future's whole output.
#[allow(unreachable_pub)]
pub trait ParkedFuture<O> {
    fn poll_parked(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O>;
}

/// The parked state of a layer with no gate: never built.
#[allow(unreachable_pub)]
#[derive(Debug)]
pub enum Unreachable {}

impl<O> ParkedFuture<O> for Unreachable {
    fn poll_parked(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<O> {
        match *self {}
    }
}

/// The boxed wait of a request that met a fused gate's closed scope, dropped out of line as
/// [`Boxed`] is: the success path's future then drops with a test of its state.
#[allow(unreachable_pub)]
pub struct Parked<O>(Option<Pin<Box<dyn Future<Output = O> + Send>>>);

impl<O> std::fmt::Debug for Parked<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parked").finish_non_exhaustive()
    }
}

impl<O> Parked<O> {
    pub(crate) fn new(wait: Pin<Box<dyn Future<Output = O> + Send>>) -> Self {
        Self(Some(wait))
    }
}

impl<O> Drop for Parked<O> {
    #[inline]
    fn drop(&mut self) {
        if let Some(wait) = self.0.take() {
            discard(wait);
        }
    }
}

impl<O> ParkedFuture<O> for Parked<O> {
    fn poll_parked(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        let wait = self.get_mut().0.as_mut();
        wait.expect("ResponseFuture polled after it completed")
            .as_mut()
            .poll(cx)
    }
}

impl Watch for NoGate {
    type Parked = Unreachable;

    #[inline]
    fn observe_head(&mut self, _: StatusCode, _: &HeaderMap) {}

    #[inline]
    fn observe(&mut self, _: Option<&ApiError>) {}
}

pin_project! {
    #[project = StateProj]
    enum State<F, C, P> {
        Waiting { #[pin] future: F },
        Capturing { capture: C },
        // Fused gate only: the request met a closed gate and waits (then is sent) in here.
        Parked { #[pin] future: P },
    }
}

pin_project! {
    /// Response future of [`PartnerErrors`](super::PartnerErrors): a success as it came, an
    /// error response as [`Error::Api`] (or, in pass-through mode, with its body replayed and
    /// the [`ApiError`] in its extensions).
    pub struct ResponseFuture<F, R, M = ReturnError, W = NoGate>
    where
        R: HttpResponse,
        M: Captures<R>,
        W: Watch,
    {
        // First: dropped before the state, which a panic in the state's drop then cannot skip.
        watch: W,
        #[pin]
        state: State<F, Boxed<R, M>, W::Parked>,
        config: Config,
        mode: PhantomData<fn() -> M>,
    }
}

impl<F, R: HttpResponse, M: Captures<R>, W: Watch> ResponseFuture<F, R, M, W> {
    #[inline]
    pub(crate) fn new(future: F, config: Config, watch: W) -> Self {
        Self {
            state: State::Waiting { future },
            config,
            watch,
            mode: PhantomData,
        }
    }

    /// A request that met a closed gate: `parked` waits for its turn, sends it and hands on
    /// the answer (reporting it to the gate itself).
    pub(crate) fn parked(parked: W::Parked, config: Config, watch: W) -> Self {
        Self {
            state: State::Parked { future: parked },
            config,
            watch,
            mode: PhantomData,
        }
    }
}

impl<F, R: HttpResponse, M: Captures<R>, W: Watch> std::fmt::Debug for ResponseFuture<F, R, M, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, R, M, E, W> Future for ResponseFuture<F, R, M, W>
where
    F: Future<Output = Result<R, E>>,
    R: HttpResponse,
    M: Mode<R, E>,
    W: Watch<Parked: ParkedFuture<Result<M::Response, M::Error>>>,
{
    type Output = Result<M::Response, M::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let StateProj::Waiting { future } = this.state.as_mut().project() {
            let response = ready!(future.poll(cx)).map_err(M::service_error)?;
            if !is_error_status(response.status()) || !this.config.enabled {
                return Poll::Ready(Ok(M::passed(response)));
            }
            start_capture(this.state.as_mut(), response, *this.config, this.watch);
        } else if let StateProj::Parked { future } = this.state.as_mut().project() {
            return poll_parked(future, cx);
        }
        let captured = ready!(poll_capture(this.state, cx, this.config, this.watch));
        let captured = captured.take().expect("left there by poll_capture");
        Poll::Ready(M::finished(captured))
    }
}

/// Polls the wait of a request that met a closed gate (out of line: the slow path).
#[cold]
#[inline(never)]
fn poll_parked<P: ParkedFuture<O>, O>(parked: Pin<&mut P>, cx: &mut Context<'_>) -> Poll<O> {
    parked.poll_parked(cx)
}

/// Moves an error response into the error path: kept out of line, so that the success path's
/// `poll` stays small enough to inline.
#[cold]
#[inline(never)]
fn start_capture<F, R: HttpResponse, M: Captures<R>, W: Watch>(
    mut state: Pin<&mut State<F, Boxed<R, M>, W::Parked>>,
    response: R,
    config: Config,
    watch: &mut W,
) {
    let capture = Capture::new(response, config);
    if let Some((head, _)) = &capture.response {
        watch.observe_head(head.status, &head.headers);
    }
    let capture = Boxed(Some(capture));
    state.set(State::Capturing { capture });
}

/// Reads the error body and builds the error (out of line, as [`start_capture`]), which it
/// reports to the watch and leaves in the capture.
#[cold]
#[inline(never)]
fn poll_capture<'a, F, R, M, W>(
    state: Pin<&'a mut State<F, Boxed<R, M>, W::Parked>>,
    cx: &mut Context<'_>,
    config: &Config,
    watch: &mut W,
) -> Poll<&'a mut Option<M::Captured>>
where
    R: HttpResponse,
    M: Captures<R>,
    W: Watch,
{
    let StateProj::Capturing {
        capture: Boxed(Some(capture)),
    } = state.project()
    else {
        unreachable!("the error path is entered only once the response is an error")
    };
    let collected = ready!(Pin::new(&mut capture.read).poll(cx));
    let (parts, kept) = capture
        .response
        .take()
        .expect("ResponseFuture polled after it completed");
    let captured = capture
        .captured
        .insert(M::captured(parts, collected, kept, config));
    watch.observe(M::api_error(captured));
    Poll::Ready(&mut capture.captured)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::Request;
    use http_body::Frame;
    use http_body_util::Full;
    use tower::{service_fn, Layer, ServiceExt};

    use super::*;
    use crate::{Incomplete, PartnerErrorsLayer};

    /// A body that is never ready.
    pub(crate) struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    async fn api_error<B>(body: B) -> ApiError
    where
        B: Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let answer = |body| Response::builder().status(502).body(body).unwrap();
        let mut body = Some(body);
        let upstream = service_fn(move |_: Request<()>| {
            let response = answer(body.take().expect("one call"));
            async move { Ok::<_, Infallible>(response) }
        });
        let result = PartnerErrorsLayer::new()
            .layer(upstream)
            .oneshot(Request::new(()))
            .await;
        match result {
            Err(Error::Api(error)) => error,
            Err(other) => panic!("{other:?}"),
            Ok(response) => panic!("passed: {}", response.status()),
        }
    }

    /// A success response in pass-through mode moves with its inner body plus a tag: the
    /// error path's replay state is boxed, as every move of the response copies the body
    /// (unboxed, the response was 296 bytes against 144).
    #[test]
    fn a_pass_through_success_response_is_its_inner_body_plus_a_tag() {
        use std::mem::size_of;
        type Inner = Response<Full<Bytes>>;
        let passed = size_of::<<Inner as HttpResponse>::PassThrough>();
        assert!(
            passed <= size_of::<Inner>() + 8,
            "{passed} bytes against {}",
            size_of::<Inner>()
        );
    }

    /// An error response's result is left in the capture and moved out once: a second poll is
    /// the caller's bug, reported as such.
    #[test]
    #[should_panic(expected = "ResponseFuture polled after it completed")]
    fn a_captured_response_is_handed_on_once() {
        let upstream = service_fn(|_: Request<()>| async {
            let response = Response::builder()
                .status(404)
                .body(Full::new(Bytes::from_static(b"{}")));
            Ok::<_, Infallible>(response.unwrap())
        });
        let mut service = PartnerErrorsLayer::new().pass_through().layer(upstream);
        let mut future = std::pin::pin!(tower::Service::call(&mut service, Request::new(())));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
            panic!("a complete body is read in one poll")
        };
        assert!(response.extensions().get::<ApiError>().is_some());
        let _ = future.as_mut().poll(&mut cx);
    }

    /// A runtime built without tokio's timer: a complete body needs no timer; a body that must
    /// be waited for is reported, not a panic.
    #[test]
    fn without_a_timer_a_body_to_wait_for_is_an_error_not_a_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let complete = api_error(Full::new(Bytes::from_static(b"{}"))).await;
            assert!(complete.incomplete().is_none());

            let silent = api_error(Silent).await;
            assert!(
                matches!(silent.incomplete(), Some(Incomplete::NoTimer)),
                "{silent:?}"
            );
            assert!(silent.to_string().contains("no timer"), "{silent}");
            assert!(
                silent.to_string().contains("enable_time"),
                "says what to do: {silent}"
            );
        });
    }
}

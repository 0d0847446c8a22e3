//! [`BufferRequestLayer`]: reads request bodies up front so that they can be replayed.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Request;
use http_body::Body;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::BufferedBody;
use crate::body::{Limits, Read};
use crate::BoxError;

/// Default cap on the bytes of a request body that [`BufferRequestLayer`] holds: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// [`Layer`] that reads each request body up front, up to a cap, so that the retry policy can
/// replay it. Goes *outside* the retry:
///
/// ```text
/// BufferRequestLayer -> retry(RetryAfterPolicy) -> PartnerErrorsLayer -> client
/// ```
///
/// A body that ends within the cap becomes a replayable [`BufferedBody`]; a larger one (or one
/// whose `size_hint` already says it is larger, which is then not read at all) streams on as it
/// is, after the bytes already read, and is sent once. A body that fails while it is read
/// streams the bytes read and then its failure. No time limit applies: the body comes from the
/// caller, not the network.
///
/// The body is read *before* the inner service is asked for readiness: a body that is slow (or
/// never ends) holds no slot of a `concurrency_limit` or `buffer` inside, so other requests go
/// on. [`BufferRequest::poll_ready`](Service::poll_ready) is always ready; the inner service's
/// readiness is awaited in the response future, after the body is read.
///
/// Only needed for bodies that are not already replayable: `Full<Bytes>`, `Empty<Bytes>` and
/// `String` are (see [`ReplayBody`](super::ReplayBody)).
#[derive(Debug, Clone, Copy)]
pub struct BufferRequestLayer {
    max_body_bytes: usize,
}

impl BufferRequestLayer {
    /// Returns a layer that buffers up to [`DEFAULT_MAX_BODY_BYTES`] (64 KiB).
    pub const fn new() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Sets the most bytes of a request body held for replay. Default: 64 KiB
    /// ([`DEFAULT_MAX_BODY_BYTES`]).
    pub const fn max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }
}

impl Default for BufferRequestLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for BufferRequestLayer {
    type Service = BufferRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BufferRequest {
            inner,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// Middleware that reads each request body up front so that it can be replayed; made by
/// [`BufferRequestLayer`].
#[derive(Debug, Clone)]
pub struct BufferRequest<S> {
    inner: S,
    max_body_bytes: usize,
}

impl<S> BufferRequest<S> {
    /// Wraps `inner`, buffering up to [`DEFAULT_MAX_BODY_BYTES`].
    pub const fn new(inner: S) -> Self {
        Self {
            inner,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Returns a [`BufferRequestLayer`] with the default cap.
    pub const fn layer() -> BufferRequestLayer {
        BufferRequestLayer::new()
    }

    /// Returns a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for BufferRequest<S>
where
    S: Service<Request<BufferedBody<B>>> + Clone,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BufferFuture<S, B>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is reserved in the future, once the body is read.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let limits = Limits {
            max_body_bytes: self.max_body_bytes,
            body_timeout: None,
        };
        BufferFuture {
            state: State::Reading {
                read: Read::new(body, None, limits),
                parts: Some(parts),
            },
            inner: self.inner.clone(),
        }
    }
}

pin_project! {
    /// Response future of [`BufferRequest`]: reads the request body, waits for the inner
    /// service to be ready, then calls it.
    pub struct BufferFuture<S, B>
    where
        S: Service<Request<BufferedBody<B>>>,
    {
        #[pin]
        state: State<S::Future, B>,
        inner: S,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Reading {
            read: Read<B>,
            parts: Option<http::request::Parts>,
        },
        Reserving { request: Option<Request<BufferedBody<B>>> },
        Calling { #[pin] future: F },
    }
}

impl<S, B> std::fmt::Debug for BufferFuture<S, B>
where
    S: Service<Request<BufferedBody<B>>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferFuture").finish_non_exhaustive()
    }
}

impl<S, B> Future for BufferFuture<S, B>
where
    S: Service<Request<BufferedBody<B>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Reading { read, parts } => {
                    let collected = ready!(Pin::new(read).poll(cx));
                    let parts = parts
                        .take()
                        .expect("BufferFuture polled after it completed");
                    let body = BufferedBody::from_collected(collected);
                    let request = Some(Request::from_parts(parts, body));
                    this.state.set(State::Reserving { request });
                }
                StateProj::Reserving { request } => {
                    ready!(this.inner.poll_ready(cx))?;
                    let request = request
                        .take()
                        .expect("BufferFuture polled after it completed");
                    let future = this.inner.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => return future.poll(cx),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::ReplayBody;
    use crate::{Error, PartnerErrorsLayer, RetryAfterPolicy};
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};
    use http_body::Frame;
    use http_body_util::{BodyExt, Full};
    use std::collections::VecDeque;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    /// A streamed body: one frame per poll, length unknown, not replayable; an endless one
    /// (`.1`) is never ready once its frames are sent.
    #[derive(Debug)]
    struct Chunks(VecDeque<Result<Frame<Bytes>, io::Error>>, bool);

    impl Chunks {
        fn data(chunks: &[&'static [u8]]) -> Self {
            let frames = chunks
                .iter()
                .map(|chunk| Ok(Frame::data(Bytes::from_static(chunk))))
                .collect();
            Self(frames, false)
        }

        /// A body that never ends: no frame, and never its end.
        fn endless() -> Self {
            Self(VecDeque::new(), true)
        }
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
            match self.0.pop_front() {
                None if self.1 => Poll::Pending,
                frame => Poll::Ready(frame),
            }
        }
    }

    /// What `BufferRequest` hands to the service inside it.
    async fn buffered<B>(limit: usize, body: B) -> BufferedBody<B>
    where
        B: Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let inner = service_fn(|request: Request<BufferedBody<B>>| async move {
            Ok::<_, std::convert::Infallible>(request.into_body())
        });
        let service = BufferRequestLayer::new().max_body_bytes(limit).layer(inner);
        let request = Request::post("/").body(body).unwrap();
        service.oneshot(request).await.unwrap()
    }

    async fn bytes_of<B>(body: BufferedBody<B>) -> Result<Bytes, BoxError>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        Ok(body.collect().await?.to_bytes())
    }

    #[tokio::test]
    async fn a_body_within_the_limit_replays_as_often_as_needed() {
        let body = buffered(8, Chunks::data(&[b"abc", b"def"])).await;
        assert!(body.is_replayable());
        assert_eq!(body.size_hint().exact(), Some(6));
        let again = body.replay().expect("replayable");
        let third = again.replay().expect("replayable");
        assert_eq!(bytes_of(body).await.unwrap(), "abcdef");
        assert_eq!(bytes_of(again).await.unwrap(), "abcdef");
        assert_eq!(bytes_of(third).await.unwrap(), "abcdef");

        let exactly = buffered(6, Chunks::data(&[b"abc", b"def"])).await;
        assert!(exactly.is_replayable(), "a body of exactly the limit fits");
        let empty = buffered(0, Chunks::data(&[])).await;
        assert!(empty.is_replayable() && empty.is_end_stream());
    }

    #[tokio::test]
    async fn trailers_are_kept_and_replayed() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        let mut chunks = Chunks::data(&[b"abc"]);
        chunks.0.push_back(Ok(Frame::trailers(trailers.clone())));
        let body = buffered(8, chunks).await;
        let again = body.replay().unwrap();
        for body in [body, again] {
            let collected = body.collect().await.unwrap();
            assert_eq!(collected.trailers(), Some(&trailers));
            assert_eq!(collected.to_bytes(), "abc");
        }
    }

    #[tokio::test]
    async fn a_larger_body_streams_once_with_every_byte_in_order() {
        let body = buffered(4, Chunks::data(&[b"abc", b"def", b"ghi"])).await;
        assert!(!body.is_replayable());
        assert!(body.replay().is_none());
        assert_eq!(bytes_of(body).await.unwrap(), "abcdefghi");

        // A length known to be over the limit is not read at all.
        let full = Full::new(Bytes::from_static(b"0123456789"));
        let body = buffered(4, full).await;
        assert!(!body.is_replayable());
        assert_eq!(body.size_hint().exact(), Some(10));
        assert_eq!(bytes_of(body).await.unwrap(), "0123456789");
    }

    #[tokio::test]
    async fn a_failing_body_streams_what_was_read_then_its_failure() {
        let mut chunks = Chunks::data(&[b"abc"]);
        chunks.0.push_back(Err(io::Error::other("disk gone")));
        let body = buffered(64, chunks).await;
        assert!(!body.is_replayable());
        let mut body = std::pin::pin!(body);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "abc");
        let failure = body.frame().await.unwrap().unwrap_err();
        assert!(failure.to_string().contains("disk gone"), "{failure}");
    }

    /// Under `concurrency_limit(1)`, a body that never ends must not hold the one slot: the
    /// body is read before the inner service is reserved.
    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_holds_no_slot_of_the_inner_service() {
        let inner = service_fn(|request: Request<BufferedBody<Chunks>>| async move {
            let body = request.into_body().collect().await?.to_bytes();
            Ok::<_, BoxError>(body)
        });
        let service = ServiceBuilder::new()
            .layer(BufferRequestLayer::new())
            .concurrency_limit(1)
            .service(inner);

        let stuck = Request::post("/").body(Chunks::endless()).unwrap();
        let stuck = tokio::spawn(service.clone().oneshot(stuck));
        tokio::task::yield_now().await;

        let next = Request::post("/").body(Chunks::data(&[b"abc"])).unwrap();
        let answered =
            tokio::time::timeout(std::time::Duration::from_secs(60), service.oneshot(next)).await;
        assert_eq!(answered.expect("not blocked").unwrap(), "abc");
        assert!(!stuck.is_finished());
        stuck.abort();
    }

    /// The whole stack, with a request body that is not replayable by itself.
    #[tokio::test(start_paused = true)]
    async fn the_retry_replays_buffered_bodies_and_sends_larger_ones_once() {
        let received: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let log = received.clone();
        let client = service_fn(move |request: Request<BufferedBody<Chunks>>| {
            let log = log.clone();
            async move {
                let body = request.into_body().collect().await?.to_bytes();
                log.lock().unwrap().push(body);
                let throttled = http::Response::builder()
                    .status(StatusCode::SERVICE_UNAVAILABLE)
                    .header("retry-after", "1")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                Ok::<_, BoxError>(throttled)
            }
        });
        let service = ServiceBuilder::new()
            .layer(BufferRequestLayer::new().max_body_bytes(4))
            .retry(RetryAfterPolicy::new().max_retries(2))
            .layer(PartnerErrorsLayer::new())
            .service(client);

        let small = Request::post("/")
            .body(Chunks::data(&[b"ab", b"c"]))
            .unwrap();
        let error = service.clone().oneshot(small).await.unwrap_err();
        assert!(matches!(error, Error::GaveUp(_)), "{error:?}");
        assert_eq!(*received.lock().unwrap(), ["abc", "abc", "abc"]);

        received.lock().unwrap().clear();
        let large = Request::post("/")
            .body(Chunks::data(&[b"abc", b"def"]))
            .unwrap();
        let error = service.oneshot(large).await.unwrap_err();
        assert!(
            matches!(&error, Error::Api(api) if api.status() == StatusCode::SERVICE_UNAVAILABLE),
            "the one attempt's error, as it is: {error:?}"
        );
        assert_eq!(*received.lock().unwrap(), ["abcdef"]);
    }
}

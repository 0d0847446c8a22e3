//! What can be sent again: request bodies that can be cloned, and methods that are safe to
//! repeat.

use bytes::Buf;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{combinators::BoxBody, combinators::UnsyncBoxBody, Empty, Full};

use crate::headers::MS_REQUEST_ID;

/// A request body the retry policy can send again.
///
/// `replay` returns a body with the same content, ready to be sent, or `None` when the body
/// cannot be replayed (a stream that is read once). The policy calls it on the request as it
/// was before it was sent: tower's `Retry` clones each request before sending it.
///
/// Replayable: [`Full`], [`Empty`], `String` and a [`BufferedBody`](super::BufferedBody) that
/// fit its limit. Not replayable: `hyper::body::Incoming`, [`BoxBody`], [`UnsyncBoxBody`] and a
/// `BufferedBody` that did not fit. Implement it for a body type of your own; return `None` for
/// anything streamed.
pub trait ReplayBody: Sized {
    /// Returns a body with the same content, or `None` when this one cannot be sent again.
    fn replay(&self) -> Option<Self>;
}

impl<D: Buf + Clone> ReplayBody for Full<D> {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> ReplayBody for Empty<D> {
    fn replay(&self) -> Option<Self> {
        Some(Empty::new())
    }
}

impl ReplayBody for String {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl ReplayBody for hyper::body::Incoming {
    fn replay(&self) -> Option<Self> {
        None
    }
}

impl<D, E> ReplayBody for BoxBody<D, E> {
    fn replay(&self) -> Option<Self> {
        None
    }
}

impl<D, E> ReplayBody for UnsyncBoxBody<D, E> {
    fn replay(&self) -> Option<Self> {
        None
    }
}

/// A copy of `request` to send again: the same method, URI, version, headers (with
/// `MS-RequestId`) and extensions, and the body replayed; `None` when the body cannot be.
pub(crate) fn clone_request<B: ReplayBody>(request: &Request<B>) -> Option<Request<B>> {
    let body = request.body().replay()?;
    let mut clone = Request::new(body);
    *clone.method_mut() = request.method().clone();
    *clone.uri_mut() = request.uri().clone();
    *clone.version_mut() = request.version();
    *clone.headers_mut() = request.headers().clone();
    *clone.extensions_mut() = request.extensions().clone();
    Some(clone)
}

/// Whether a request that failed with `status` may be sent again.
///
/// Idempotent methods (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE) always may.
/// Others (POST, PATCH, ...) may after 429 and 503, which say the server did not process the
/// request, and after anything else (504, say, where it may have) only when the request carries
/// `MS-RequestId`, Partner Center's idempotency key.
pub(crate) fn may_repeat(method: &Method, headers: &HeaderMap, status: StatusCode) -> bool {
    is_idempotent(method)
        || matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        )
        || headers
            .get(MS_REQUEST_ID)
            .is_some_and(|value| !value.as_bytes().trim_ascii().is_empty())
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;

    #[derive(Debug, Clone, PartialEq)]
    struct Marker(u32);

    #[tokio::test]
    async fn clone_keeps_method_uri_version_headers_extensions_and_body() {
        let mut request = Request::post("https://api.partnercenter.microsoft.com/v1/customers")
            .version(http::Version::HTTP_11)
            .header("ms-requestid", "r-1")
            .header("ms-correlationid", "c-1")
            .header("x-twice", "a")
            .header("x-twice", "b")
            .body(Full::new(Bytes::from_static(b"{\"a\":1}")))
            .unwrap();
        request.extensions_mut().insert(Marker(7));
        let clone = clone_request(&request).expect("a full body replays");
        assert_eq!(clone.method(), request.method());
        assert_eq!(clone.uri(), request.uri());
        assert_eq!(clone.version(), request.version());
        assert_eq!(clone.headers(), request.headers());
        assert_eq!(clone.extensions().get::<Marker>(), Some(&Marker(7)));
        let body = clone.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, Bytes::from_static(b"{\"a\":1}"));
    }

    #[test]
    fn replayable_and_streaming_bodies() {
        assert!(Full::new(Bytes::from_static(b"x")).replay().is_some());
        assert!(Empty::<Bytes>::new().replay().is_some());
        assert_eq!(String::from("x").replay().as_deref(), Some("x"));
        let boxed: BoxBody<Bytes, std::convert::Infallible> = Full::new(Bytes::new()).boxed();
        assert!(boxed.replay().is_none());
        let unsync: UnsyncBoxBody<Bytes, std::convert::Infallible> =
            Full::new(Bytes::new()).boxed_unsync();
        assert!(unsync.replay().is_none());
        let streaming = Request::get("/").body(boxed).unwrap();
        assert!(clone_request(&streaming).is_none());
    }

    fn repeat<B>(request: &Request<B>, status: StatusCode) -> bool {
        may_repeat(request.method(), request.headers(), status)
    }

    #[test]
    fn an_empty_ms_request_id_is_no_idempotency_key() {
        for value in ["", " ", "\t"] {
            let request = Request::post("/")
                .header("MS-RequestId", value)
                .body(())
                .unwrap();
            assert!(!repeat(&request, StatusCode::GATEWAY_TIMEOUT), "{value:?}");
        }
    }

    #[test]
    fn idempotency_rule() {
        let request = |method: Method, request_id: bool| {
            let mut builder = Request::builder().method(method);
            if request_id {
                builder = builder.header("MS-RequestId", "8f14e45f-ceea-467a-9af2-000000000000");
            }
            builder.body(()).unwrap()
        };
        let statuses = [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::GATEWAY_TIMEOUT,
            StatusCode::BAD_GATEWAY,
        ];
        for method in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::PUT,
            Method::DELETE,
        ] {
            for status in statuses {
                assert!(
                    repeat(&request(method.clone(), false), status),
                    "{method} {status}"
                );
            }
        }
        let custom = Method::from_bytes(b"MERGE").unwrap();
        for method in [Method::POST, Method::PATCH, custom] {
            assert!(repeat(
                &request(method.clone(), false),
                StatusCode::TOO_MANY_REQUESTS
            ));
            assert!(repeat(
                &request(method.clone(), false),
                StatusCode::SERVICE_UNAVAILABLE
            ));
            assert!(!repeat(
                &request(method.clone(), false),
                StatusCode::GATEWAY_TIMEOUT
            ));
            assert!(!repeat(
                &request(method.clone(), false),
                StatusCode::BAD_GATEWAY
            ));
            assert!(repeat(
                &request(method.clone(), true),
                StatusCode::GATEWAY_TIMEOUT
            ));
            assert!(repeat(&request(method, true), StatusCode::BAD_GATEWAY));
        }
    }
}

//! Whole responses for the loopback server and whole bodies for the client: shared by the
//! integration tests and the loopback bench.

use bytes::Bytes;
use http::Response;
use http_body::Body;
use http_body_util::{BodyExt, Full};

use crate::support::ServerBody;

/// A whole body in one frame.
pub fn full(bytes: impl Into<Bytes>) -> ServerBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A response with `status`, `headers` and a whole body (hyper sets Content-Length).
pub fn respond(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<ServerBody> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(full(body)).expect("response")
}

/// Reads a whole body.
pub async fn collect<B>(body: B) -> Bytes
where
    B: Body,
    B::Error: std::fmt::Debug,
{
    body.collect().await.expect("body").to_bytes()
}

/// An upstream whose first answer is a 503 asking for a 1 s wait, and whose every later answer
/// comes after 60 s: a retry then ends in a client timeout shorter than that.
#[cfg(feature = "reqwest")]
pub async fn a_503_then_too_slow() -> std::net::SocketAddr {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    super::serve_async(move |_| {
        let later = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0;
        async move {
            if later {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
            respond(503, &[("retry-after", "1")], "")
        }
    })
    .await
}

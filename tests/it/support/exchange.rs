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

//! The loopback server and client, shared by the integration tests, the dhat binary and the
//! loopback bench: one hyper server on 127.0.0.1, one client, and the requests and responses
//! they exchange.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{combinators::BoxBody, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What the test server answers with.
pub type ServerBody = BoxBody<Bytes, io::Error>;

/// A hyper-util client for request bodies of type `B`, as a user would build it.
pub fn client<B>() -> Client<HttpConnector, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    Client::builder(TokioExecutor::new()).build_http()
}

/// A GET of `path` on the loopback server at `addr`.
pub fn get(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .expect("request")
}

/// Starts a hyper HTTP/1 server on 127.0.0.1 (a free port) answering every request with
/// `handler`; it runs until the test's runtime ends.
pub async fn serve<H>(handler: H) -> SocketAddr
where
    H: Fn(Request<Incoming>) -> Response<ServerBody> + Send + Sync + 'static,
{
    serve_async(move |request| std::future::ready(handler(request))).await
}

/// [`serve`] with a handler that may wait (to read the request body, say) before it answers.
pub async fn serve_async<H, F>(handler: H) -> SocketAddr
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<ServerBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = handler(request);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                // A connection aborted by a failing body is part of some tests.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

//! A real hyper server on 127.0.0.1 for the integration tests, and the client stacks they use.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the test server answers with.
pub type ServerBody = BoxBody<Bytes, io::Error>;

/// A hyper-util client, as a user would build it.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Starts a hyper HTTP/1 server on 127.0.0.1 (a free port) answering every request with
/// `handler`; it runs until the test's runtime ends.
pub async fn serve<H>(handler: H) -> SocketAddr
where
    H: Fn(Request<Incoming>) -> Response<ServerBody> + Send + Sync + 'static,
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
                    async move { Ok::<_, Infallible>(response) }
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

pub fn get(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .expect("request")
}

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

/// A body fed frame by frame through a channel; hyper sends it chunked unless a Content-Length
/// header says otherwise. Dropping the sender ends it; sending an `Err` aborts it.
pub struct ChannelBody {
    receiver: mpsc::Receiver<Result<Bytes, io::Error>>,
}

impl ChannelBody {
    pub fn channel(capacity: usize) -> (mpsc::Sender<Result<Bytes, io::Error>>, ServerBody) {
        let (sender, receiver) = mpsc::channel(capacity);
        (sender, Self { receiver }.boxed())
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|item| item.map(|result| result.map(Frame::data)))
    }
}

/// Reads a whole body.
pub async fn collect<B>(body: B) -> Bytes
where
    B: Body,
    B::Error: std::fmt::Debug,
{
    body.collect().await.expect("body").to_bytes()
}

/// A Partner Center body in the documented shape, but with a numeric code as the wire sends it.
pub fn partner_center_body(code: u32, description: &str) -> String {
    serde_json::json!({
        "code": code,
        "description": description,
        "data": [],
        "source": "PartnerFD",
    })
    .to_string()
}

/// A raw TCP server on 127.0.0.1 for what a well-behaved hyper server will not send (a body that
/// stops short of its Content-Length, a connection cut mid-body): for each connection it reads
/// the request head, writes `response` as given, flushes, and closes.
pub async fn serve_raw(response: &'static [u8]) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => head.extend_from_slice(&buffer[..read]),
                    }
                }
                let _ = stream.write_all(response).await;
                let _ = stream.flush().await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// 16 KiB of lower-case letters, `a` to `z` over and over: the stuff generated bodies are made
/// of, static so that sending it allocates nothing.
pub static CHUNK: [u8; 16 * 1024] = letters();

const fn letters<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let mut i = 0;
    while i < N {
        bytes[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    bytes
}

/// The first `len` bytes of a generated body after its head.
pub fn generated_prefix(head: &[u8], len: usize) -> Vec<u8> {
    head.iter()
        .chain(CHUNK.iter().cycle())
        .take(len)
        .copied()
        .collect()
}

/// What a [`GeneratedBody`] reports to the test.
#[derive(Debug, Clone, Default)]
pub struct Produced {
    /// Bytes handed to the server so far.
    pub bytes: Arc<std::sync::atomic::AtomicU64>,
    /// Set when the server let go of the body (finished, or the client went away).
    pub dropped: Arc<tokio::sync::Notify>,
}

impl Produced {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A body made on the fly: `head`, then [`CHUNK`] again and again up to `total` bytes
/// (`u64::MAX` for endless). Nothing is held: each frame is the static chunk. hyper sends it
/// chunked, as it declares no length.
pub struct GeneratedBody {
    head: Option<Bytes>,
    remaining: u64,
    produced: Produced,
}

impl GeneratedBody {
    pub fn start(head: impl Into<Bytes>, total: u64) -> (ServerBody, Produced) {
        let head: Bytes = head.into();
        let produced = Produced::default();
        let body = Self {
            remaining: total.saturating_sub(head.len() as u64),
            head: Some(head).filter(|head| !head.is_empty()),
            produced: produced.clone(),
        };
        (body.boxed(), produced)
    }
}

impl Drop for GeneratedBody {
    fn drop(&mut self) {
        self.produced.dropped.notify_one();
    }
}

impl Body for GeneratedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let chunk = match self.head.take() {
            Some(head) => head,
            None if self.remaining == 0 => return Poll::Ready(None),
            None => {
                let len = usize::try_from(self.remaining)
                    .unwrap_or(CHUNK.len())
                    .min(CHUNK.len());
                self.remaining -= len as u64;
                Bytes::from_static(&CHUNK[..len])
            }
        };
        self.produced
            .bytes
            .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

/// One step of what [`serve_script`] does on a connection.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes and flush.
    Write(Bytes),
    /// Wait (in tokio time: paused in tests that pause it).
    Wait(std::time::Duration),
    /// Hold the connection open, sending nothing, until the client closes it.
    Hold,
    /// Abort the connection with a TCP reset (SO_LINGER 0, then close).
    Reset,
}

/// What a [`serve_script`] server reports.
#[derive(Debug, Clone, Default)]
pub struct ScriptLog {
    /// Bytes written after the request head, over all connections.
    pub written: Arc<std::sync::atomic::AtomicU64>,
    /// Set each time a connection's script stops (done, reset, or the client went away).
    pub stopped: Arc<tokio::sync::Notify>,
}

/// A raw TCP server on 127.0.0.1 that, for each connection, reads the request head and then
/// plays `script` byte for byte: for a server that misbehaves in ways hyper will not (a slow
/// drip, a Content-Length that lies, a reset). It stops a connection's script as soon as a write
/// fails, and closes the connection at the end of the script.
pub async fn serve_script(script: Vec<Step>) -> (SocketAddr, ScriptLog) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let log = ScriptLog::default();
    let script = Arc::new(script);
    let server_log = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            let log = server_log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return log.stopped.notify_one(),
                        Ok(read) => head.extend_from_slice(&buffer[..read]),
                    }
                }
                for step in script.iter() {
                    match step {
                        Step::Write(bytes) => {
                            if stream.write_all(bytes).await.is_err()
                                || stream.flush().await.is_err()
                            {
                                break;
                            }
                            log.written
                                .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::SeqCst);
                        }
                        Step::Wait(duration) => tokio::time::sleep(*duration).await,
                        Step::Hold => {
                            // Until the client closes: a read of 0 bytes or an error.
                            let _ = stream.read(&mut buffer).await;
                            break;
                        }
                        Step::Reset => {
                            let _ = stream.set_zero_linger();
                            break;
                        }
                    }
                }
                drop(stream);
                log.stopped.notify_one();
            });
        }
    });
    (addr, log)
}

/// `len` bytes of the repeating pattern 0, 1, ..., `modulus - 1`, 0, ...: a large body whose
/// every byte can be checked.
pub fn patterned(len: usize, modulus: u8) -> Bytes {
    (0..len)
        .map(|i| (i % modulus as usize) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// A chunked response (no Content-Length) with `status` that streams `body` in frames of
/// `chunk` bytes, and stops sending when the client goes away.
pub fn streamed(status: http::StatusCode, body: Bytes, chunk: usize) -> Response<ServerBody> {
    let (sender, response_body) = ChannelBody::channel(4);
    tokio::spawn(async move {
        for part in body.chunks(chunk) {
            if sender.send(Ok(body.slice_ref(part))).await.is_err() {
                return; // the client stopped reading
            }
        }
    });
    let mut response = Response::new(response_body);
    *response.status_mut() = status;
    response
}

/// 10,000 bytes in 100 runs of 100: byte `i` is `i / 100`. Streamed in frames of 100
/// (`streamed(status, stepped(), 100)`), every frame is one run, so a cut shows where it fell.
pub fn stepped() -> Bytes {
    (0..100u8)
        .flat_map(|run| [run; 100])
        .collect::<Vec<u8>>()
        .into()
}

/// A chunked response with `status` that sends `prefix`, then neither more bytes nor its end:
/// the stalled body that a body time limit must cut.
pub fn stalled(status: http::StatusCode, prefix: &'static [u8]) -> Response<ServerBody> {
    let (sender, body) = ChannelBody::channel(1);
    tokio::spawn(async move {
        let _ = sender.send(Ok(Bytes::from_static(prefix))).await;
        // Hold the sender for as long as the runtime lives: the body never ends.
        std::future::pending::<()>().await;
        drop(sender);
    });
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

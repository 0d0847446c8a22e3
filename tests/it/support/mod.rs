//! The one support module of the integration tests: the loopback server and client
//! (`loopback`, shared with the dhat binary and the loopback bench), whole responses and bodies
//! (`exchange`), streamed bodies (`bodies`), a scripted upstream that records what arrived
//! (`scripted`), raw TCP servers for what hyper will not send, and
//! a tracing recorder (`events`).

mod bodies;
#[cfg(feature = "tracing")]
pub mod events;
mod exchange;
mod loopback;
/// A `redis-server` of the test's own, shared with the fleet example and its test.
#[cfg(feature = "redis")]
#[path = "../../../examples/fleet_gate/redis_server.rs"]
pub mod redis_server;
/// The fleet scenario (upstream, stack, workers), shared with the fleet example.
#[cfg(feature = "redis")]
#[path = "../../../examples/fleet_gate/scenario.rs"]
pub mod scenario;
mod scripted;

pub use bodies::*;
pub use exchange::*;
pub use loopback::*;
pub use scripted::*;

/// A hyper-util client for whole request bodies, as a user would build it.
pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<Bytes>,
>;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use tokio::net::TcpListener;

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

/// The one deviation a numeric `code` is: a number where the schema wants a string.
pub const NUMERIC_CODE: partner_center_errors::schema::Violation =
    partner_center_errors::schema::Violation::WrongType {
        field: partner_center_errors::schema::Field::Code,
        expected: partner_center_errors::schema::JsonType::String,
        found: partner_center_errors::schema::JsonType::Number,
    };

/// The address of a port nobody listens on: bound, then let go.
pub async fn nowhere() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback")
        .local_addr()
        .expect("local addr")
}

/// A 502 that streams `body` chunked (in frames of 10,000 bytes) with `MS-RequestId: r-big`: the
/// large error body that pass-through must forward byte for byte.
pub fn big_error(body: Bytes) -> Response<ServerBody> {
    let mut response = streamed(http::StatusCode::BAD_GATEWAY, body, 10_000);
    response
        .headers_mut()
        .insert("ms-requestid", http::HeaderValue::from_static("r-big"));
    response
}

/// An upstream whose first answer is a 503 asking for a 1 s wait, and whose every later answer
/// comes after 60 s: a retry then ends in a client timeout shorter than that.
#[cfg(feature = "reqwest")]
pub async fn a_503_then_too_slow() -> std::net::SocketAddr {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    serve_async(move |_| {
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

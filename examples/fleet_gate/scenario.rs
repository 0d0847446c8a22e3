//! The fleet scenario's parts: a throttling upstream on 127.0.0.1 and the client each process
//! of the fleet runs. Shared by the `fleet_gate` example and the Redis tests (`#[path]`).
//!
//! The upstream opens a 1 s window (`429`, `Retry-After: 1`) on the first request and counts,
//! per process, the requests that arrive inside it after that first 429 was answered. Worker
//! `w` of process `p` starts `(4w + p) x 50 ms` after a common start, so that every process has
//! workers starting inside the window: a process that does not know of the window spends quota
//! in it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use partner_center_errors::gate::{GateStore, SharedScope, ThrottleGateLayer};
use partner_center_errors::{PartnerErrorsLayer, RetryAfterPolicy};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

pub const PROCESSES: usize = 4;
pub const WORKERS: usize = 4;
pub const CALLS: usize = 3;
/// The upstream's window, as its `Retry-After` says.
pub const WINDOW: Duration = Duration::from_secs(1);
const STAGGER: Duration = Duration::from_millis(50);
/// What the upstream counted in one run.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// By process: requests that arrived inside the window after its first 429 was answered.
    pub premature: [usize; PROCESSES],
    /// 429 answers.
    pub throttled: usize,
    /// 200 answers.
    pub served: usize,
}

impl Outcome {
    /// Returns the premature requests of every process.
    pub fn premature_total(&self) -> usize {
        self.premature.iter().sum()
    }
}

#[derive(Default)]
struct Counts {
    opened: Option<Instant>,
    outcome: Outcome,
}

fn process_of(path: &str) -> Option<usize> {
    let segment = path.split('/').nth(1)?;
    segment.strip_prefix('p')?.parse().ok()
}

/// Answers one request and counts it.
fn answer(counts: &Mutex<Counts>, path: &str) -> StatusCode {
    let now = Instant::now();
    let mut counts = counts.lock().unwrap();
    match counts.opened {
        None => {
            counts.opened = Some(now);
            counts.outcome.throttled += 1;
            StatusCode::TOO_MANY_REQUESTS
        }
        Some(opened) if now < opened + WINDOW => {
            if let Some(slot) = process_of(path).and_then(|p| counts.outcome.premature.get_mut(p)) {
                *slot += 1;
            }
            counts.outcome.throttled += 1;
            StatusCode::TOO_MANY_REQUESTS
        }
        Some(_) => {
            counts.outcome.served += 1;
            StatusCode::OK
        }
    }
}

/// The throttling upstream's counts.
#[derive(Clone, Default)]
pub struct Upstream(Arc<Mutex<Counts>>);

impl Upstream {
    /// Returns what the upstream counted so far.
    pub fn outcome(&self) -> Outcome {
        self.0.lock().unwrap().outcome.clone()
    }
}

/// Starts the throttling upstream on 127.0.0.1; it runs until the runtime ends.
pub async fn upstream() -> std::io::Result<(SocketAddr, Upstream)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counts = Upstream::default();
    let shared = counts.0.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counts = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let status = answer(&counts, request.uri().path());
                    let mut response = Response::new(Full::<Bytes>::default());
                    *response.status_mut() = status;
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let seconds = WINDOW.as_secs().to_string();
                        response
                            .headers_mut()
                            .insert("retry-after", seconds.parse().unwrap());
                    }
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, counts))
}

/// The fleet's client stack.
pub type Service = BoxCloneService<
    Request<Full<Bytes>>,
    Response<hyper::body::Incoming>,
    partner_center_errors::Error,
>;

/// The stack of every fleet process: retry outside the gate, the gate outside the error layer.
pub fn stack<St: GateStore>(gate: ThrottleGateLayer<SharedScope, St>) -> Service {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    ServiceBuilder::new()
        .boxed_clone()
        .retry(RetryAfterPolicy::new().no_budget().max_retries(5))
        .layer(gate)
        .layer(PartnerErrorsLayer::new())
        .service(client)
}

/// Makes worker `worker`'s calls as process `process`: it starts `(4w + p) x 50 ms` in, then
/// makes `CALLS` calls, each of which must succeed.
pub async fn worker_calls(
    service: Service,
    upstream: SocketAddr,
    process: usize,
    worker: usize,
) -> Result<(), String> {
    let order = u32::try_from(worker * PROCESSES + process).unwrap_or(u32::MAX);
    tokio::time::sleep(STAGGER * order).await;
    for call in 0..CALLS {
        let uri = format!("http://{upstream}/p{process}/w{worker}/c{call}");
        let request = Request::get(uri).body(Full::default()).expect("request");
        let response = service
            .clone()
            .oneshot(request)
            .await
            .map_err(|error| format!("call failed: {error}"))?;
        if response.status() != StatusCode::OK {
            return Err(format!("call answered {}", response.status()));
        }
    }
    Ok(())
}

//! The throttle gate: 16 workers share one client; the upstream's first request opens a 2 s
//! throttle window (`429`, `Retry-After: 2`), and worker `i` starts at `i × 100 ms`. The example
//! runs the scenario without and with the gate and counts the requests that reached the upstream
//! inside the window after its first 429 was already answered: quota spent for nothing.
//!
//! The example starts the upstream itself, on 127.0.0.1, and takes about five seconds:
//!
//! ```text
//! cargo run --example throttle_gate
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use partner_center_errors::gate::ThrottleGateLayer;
use partner_center_errors::{PartnerErrorsLayer, RetryAfterPolicy};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Service = BoxCloneService<
    Request<Full<Bytes>>,
    Response<hyper::body::Incoming>,
    partner_center_errors::Error,
>;

const WORKERS: u32 = 16;
const CALLS: u32 = 5;
const STAGGER: Duration = Duration::from_millis(100);
const WINDOW: Duration = Duration::from_secs(2);

/// What the upstream counted.
#[derive(Default)]
struct Counts {
    window_opened: Option<Instant>,
    /// Requests inside the window after the first 429 was answered.
    premature: u32,
    throttled: u32,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (without_gate, without_429, without_time) = scenario(None).await?;
    let gate = ThrottleGateLayer::new();
    let (with_gate, with_429, with_time) = scenario(Some(gate.clone())).await?;
    println!("premature requests: without gate {without_gate}, with gate {with_gate}");
    println!("429 responses: without gate {without_429}, with gate {with_429}");
    println!(
        "time taken: without gate {:.2} s, with gate {:.2} s",
        without_time.as_secs_f64(),
        with_time.as_secs_f64()
    );
    let counts = gate.counts();
    println!(
        "gate: {} requests held, {} probe(s), {} refused without sending",
        counts.held, counts.probes, counts.rejected
    );
    Ok(())
}

/// Runs the staggered scenario against a fresh upstream; returns the premature requests, the
/// 429 count and the time taken.
async fn scenario(gate: Option<ThrottleGateLayer>) -> Result<(u32, u32, Duration), BoxError> {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let addr = start_upstream(counts.clone()).await?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let retry = RetryAfterPolicy::new().no_budget().max_retries(5);
    let service: Service = match gate {
        // The gate fused into the error layer; stacked, `.layer(gate).layer(PartnerErrorsLayer::new())`
        // holds the same requests.
        Some(gate) => ServiceBuilder::new()
            .boxed_clone()
            .retry(retry)
            .layer(PartnerErrorsLayer::new().throttle_gate(gate))
            .service(client),
        None => ServiceBuilder::new()
            .boxed_clone()
            .retry(retry)
            .layer(PartnerErrorsLayer::new())
            .service(client),
    };

    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let service = service.clone();
            tokio::spawn(async move {
                tokio::time::sleep(STAGGER * worker).await;
                for call in 0..CALLS {
                    let uri = format!("http://{addr}/v1/customers/{worker}-{call}");
                    let request = Request::get(uri).body(Full::default())?;
                    let response = service.clone().oneshot(request).await?;
                    if response.status() != StatusCode::OK {
                        return Err(format!("worker {worker}: {}", response.status()).into());
                    }
                }
                Ok::<_, BoxError>(())
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    let elapsed = started.elapsed();
    let counts = counts.lock().map_err(|_| "upstream panicked")?;
    Ok((counts.premature, counts.throttled, elapsed))
}

/// Answers 429 + `Retry-After: 2` from the first request on, for 2 s; 200 afterwards.
fn answer(counts: &Mutex<Counts>) -> Response<Full<Bytes>> {
    let now = Instant::now();
    let mut counts = counts
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let opened = *counts.window_opened.get_or_insert(now);
    let throttled = now < opened + WINDOW;
    if throttled {
        if opened != now {
            counts.premature += 1;
        }
        counts.throttled += 1;
    }
    let status = if throttled {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::OK
    };
    let mut response = Response::new(Full::default());
    *response.status_mut() = status;
    if throttled {
        response
            .headers_mut()
            .insert("retry-after", http::HeaderValue::from_static("2"));
    }
    response
}

async fn start_upstream(counts: Arc<Mutex<Counts>>) -> Result<SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counts = counts.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    let response = answer(&counts);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

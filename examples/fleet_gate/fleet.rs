//! The fleet scenario: 4 processes x 4 workers share one throttling upstream on 127.0.0.1 (and,
//! with the Redis store, one Redis). The processes are this very binary run again with
//! `PCE_FLEET_ROLE=worker`, so the example and the test share one scenario.
//!
//! The upstream opens a 1 s window (`429`, `Retry-After: 1`) on the first request and counts,
//! per process, the requests that arrive inside it after that first 429 was answered. Worker
//! `w` of process `p` starts `(4w + p) x 50 ms` after a common "go", so that every process has
//! workers starting inside the window: a process that does not know of the window spends quota
//! in it.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use partner_center_errors::gate::ThrottleGateLayer;
use partner_center_errors::redis::RedisStore;
use partner_center_errors::{PartnerErrorsLayer, RetryAfterPolicy};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

pub const PROCESSES: usize = 4;
pub const WORKERS: usize = 4;
pub const CALLS: usize = 3;
/// The upstream's window, as its `Retry-After` says.
pub const WINDOW: Duration = Duration::from_secs(1);
const STAGGER: Duration = Duration::from_millis(50);
/// Longest a whole run may take before its processes are killed.
const RUN_LIMIT: Duration = Duration::from_secs(60);

const ROLE: &str = "PCE_FLEET_ROLE";
const UPSTREAM: &str = "PCE_FLEET_UPSTREAM";
const REDIS: &str = "PCE_FLEET_REDIS";
const PREFIX: &str = "PCE_FLEET_PREFIX";
const PROCESS: &str = "PCE_FLEET_PROCESS";

/// What the upstream counted in one run.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// By process: requests that arrived inside the window after its first 429 was answered.
    pub premature: [usize; PROCESSES],
    /// 429 answers.
    pub throttled: usize,
    /// 200 answers.
    pub served: usize,
    /// Processes that exited with a failure (a failed call, a panic) or were killed.
    pub failed: usize,
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

/// Starts the throttling upstream on 127.0.0.1; it runs until the runtime ends.
async fn upstream() -> std::io::Result<(SocketAddr, Arc<Mutex<Counts>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counts = Arc::new(Mutex::new(Counts::default()));
    let shared = counts.clone();
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

/// Kills the processes still running when dropped: nothing outlives a run.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the scenario once: with every process's gate on the Redis at `redis` (under a key
/// prefix of this run's own), or with in-process gates only when `None`.
pub async fn run(redis: Option<&str>) -> std::io::Result<Outcome> {
    let (addr, counts) = upstream().await?;
    let exe = std::env::current_exe()?;
    let prefix = format!("fleet:{}:{:?}:", std::process::id(), Instant::now());
    let mut processes = Processes(Vec::new());
    for process in 0..PROCESSES {
        let mut command = Command::new(&exe);
        command
            .env(ROLE, "worker")
            .env(UPSTREAM, addr.to_string())
            .env(PROCESS, process.to_string())
            .env(PREFIX, &prefix)
            .env_remove(REDIS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = redis {
            command.env(REDIS, url);
        }
        processes.0.push(command.spawn()?);
    }
    // Every process says "ready" (connected to Redis, if any), then all hear "go" together.
    let mut readers = Vec::new();
    for child in &mut processes.0 {
        let stdout = child.stdout.take().expect("piped");
        readers.push(tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }));
    }
    for reader in readers {
        let line = tokio::time::timeout(Duration::from_secs(20), reader)
            .await
            .map_err(|_| std::io::Error::other("a process did not get ready within 20 s"))?
            .map_err(std::io::Error::other)??;
        if line.trim() != "ready" {
            return Err(std::io::Error::other(format!(
                "a process did not get ready: {line:?}"
            )));
        }
    }
    for child in &mut processes.0 {
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(b"go\n")?;
    }
    let started = Instant::now();
    let mut failed = 0;
    for child in &mut processes.0 {
        loop {
            if let Some(status) = child.try_wait()? {
                failed += usize::from(!status.success());
                break;
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                failed += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut outcome = counts.lock().unwrap().outcome.clone();
    outcome.failed = failed;
    Ok(outcome)
}

type Service = BoxCloneService<
    Request<Full<Bytes>>,
    Response<hyper::body::Incoming>,
    partner_center_errors::Error,
>;

/// Runs this process as one of the fleet when the environment says so; returns `false` when
/// it is not a fleet process.
pub fn worker_if_asked() -> bool {
    if std::env::var_os(ROLE).is_none() {
        return false;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let code = match runtime.block_on(worker()) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("fleet process failed: {error}");
            1
        }
    };
    drop(runtime);
    std::process::exit(code);
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

async fn worker() -> Result<(), String> {
    let upstream = var(UPSTREAM)?;
    let process: usize = var(PROCESS)?.parse().map_err(|_| "bad process number")?;
    let retry = RetryAfterPolicy::new().no_budget().max_retries(5);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service: Service = match std::env::var(REDIS) {
        Ok(url) => {
            let store = RedisStore::builder(url)
                .key_prefix(var(PREFIX)?)
                .build()
                .map_err(|error| error.to_string())?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while !store.is_connected() {
                if Instant::now() > deadline {
                    return Err("not connected to Redis within 10 s".into());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            ServiceBuilder::new()
                .boxed_clone()
                .retry(retry)
                .layer(ThrottleGateLayer::with_store(store))
                .layer(PartnerErrorsLayer::new())
                .service(client)
        }
        Err(_) => ServiceBuilder::new()
            .boxed_clone()
            .retry(retry)
            .layer(ThrottleGateLayer::new())
            .layer(PartnerErrorsLayer::new())
            .service(client),
    };
    println!("ready");
    std::io::stdout()
        .flush()
        .map_err(|error| error.to_string())?;
    let mut go = String::new();
    tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut go))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| error.to_string())?;

    let tasks: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let service = service.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
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
                Ok::<_, String>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|error| error.to_string())??;
    }
    Ok(())
}

//! The fleet: 4 processes x 4 workers share one throttling upstream on 127.0.0.1 (and, with the
//! Redis store, one Redis). The processes are this very binary run again with
//! `PCE_FLEET_ROLE=worker`, so the example and the test share one scenario
//! ([`scenario`](crate::scenario) has its parts).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use partner_center_errors::gate::ThrottleGateLayer;
use partner_center_errors::redis::RedisStore;

use crate::scenario::{self, Outcome, PROCESSES, WORKERS};

/// Longest a whole run may take before its processes are killed.
const RUN_LIMIT: Duration = Duration::from_secs(60);

const ROLE: &str = "PCE_FLEET_ROLE";
const UPSTREAM: &str = "PCE_FLEET_UPSTREAM";
const REDIS: &str = "PCE_FLEET_REDIS";
const PREFIX: &str = "PCE_FLEET_PREFIX";
const PROCESS: &str = "PCE_FLEET_PROCESS";

/// What one run of the fleet gave.
#[derive(Debug)]
pub struct Run {
    /// What the upstream counted.
    pub outcome: Outcome,
    /// Processes that exited with a failure (a failed call, a panic) or were killed.
    pub failed: usize,
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
pub async fn run(redis: Option<&str>) -> std::io::Result<Run> {
    let (addr, counts) = scenario::upstream().await?;
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
    Ok(Run {
        outcome: counts.outcome(),
        failed,
    })
}

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
    let upstream: SocketAddr = var(UPSTREAM)?.parse().map_err(|_| "bad upstream address")?;
    let process: usize = var(PROCESS)?.parse().map_err(|_| "bad process number")?;
    let mut redis_store = None;
    let service = match std::env::var(REDIS) {
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
            let layer = ThrottleGateLayer::with_store(store);
            redis_store = Some(layer.clone());
            scenario::stack(layer)
        }
        Err(_) => scenario::stack(ThrottleGateLayer::new()),
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
            tokio::spawn(scenario::worker_calls(
                service.clone(),
                upstream,
                process,
                worker,
            ))
        })
        .collect();
    for task in tasks {
        task.await.map_err(|error| error.to_string())??;
    }
    // The last step before exiting: a probe's report still on its way would be lost, and the
    // fleet would wait for the probe's lease.
    if let Some(layer) = redis_store {
        layer.store().flush().await;
    }
    Ok(())
}

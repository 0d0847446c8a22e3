//! The throttle gate across a fleet: 4 processes x 4 workers share one throttling upstream on
//! 127.0.0.1, first with in-process gates only, then with the gate's state in Redis.
//!
//! ```text
//! cargo run --example fleet_gate --features redis
//! ```
//!
//! Starts its own `redis-server` (Debian's package; it must be on PATH) on a free loopback port
//! without persistence, and prints one line: how many requests reached the upstream inside its
//! throttle window after the first 429 was answered, without and with the shared state.

mod fleet;
mod redis_server;
mod scenario;

use redis_server::RedisServer;

fn main() {
    if fleet::worker_if_asked() {
        return;
    }
    let server = match RedisServer::start() {
        Ok(server) => server,
        Err(error) => {
            eprintln!("fleet_gate: {error}");
            std::process::exit(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (in_process, redis) = runtime.block_on(async {
        let in_process = fleet::run(None).await.expect("in-process run");
        let redis = fleet::run(Some(&server.url())).await.expect("redis run");
        (in_process, redis)
    });
    for (name, run) in [("in-process gates", &in_process), ("redis gate", &redis)] {
        if run.failed > 0 {
            eprintln!("fleet_gate: {name}: {} processes failed", run.failed);
            std::process::exit(1);
        }
    }
    println!(
        "premature requests: in-process gates {}, redis gate {}",
        in_process.outcome.premature_total(),
        redis.outcome.premature_total()
    );
}

//! The gate across processes: 4 processes x 4 workers (this binary run again in the worker
//! role) share one throttling upstream on 127.0.0.1 and one `redis-server` of the test's own.
//! The assertions count requests; none measures time.
//!
//! A test without libtest's harness (`harness = false`): the same `main` is the test and, with
//! `PCE_FLEET_ROLE` set, each of the fleet's processes.

#[path = "../examples/fleet_gate/fleet.rs"]
mod fleet;
#[path = "../examples/fleet_gate/redis_server.rs"]
mod redis_server;
#[path = "../examples/fleet_gate/scenario.rs"]
mod scenario;

fn main() {
    if fleet::worker_if_asked() {
        return;
    }
    // `cargo test -- <filter>` for another test: nothing to run here.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    if filter.is_some_and(|filter| !"fleet_shares_one_window_through_redis".contains(&filter)) {
        return;
    }
    print!("test fleet_shares_one_window_through_redis ... ");
    let server = redis_server::RedisServer::start().expect("redis-server starts");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let in_process = runtime.block_on(fleet::run(None)).expect("in-process run");
    let redis = runtime
        .block_on(fleet::run(Some(&server.url())))
        .expect("redis run");

    let calls = scenario::PROCESSES * scenario::WORKERS * scenario::CALLS;
    for run in [&in_process, &redis] {
        assert_eq!(run.failed, 0, "every process succeeds: {run:?}");
        assert_eq!(run.outcome.served, calls, "every call succeeds: {run:?}");
    }
    let (in_process, redis) = (in_process.outcome, redis.outcome);
    // With the shared state, a process can only miss a closing still on its way (pub/sub).
    assert!(
        redis.premature.iter().all(|&premature| premature <= 1),
        "at most 1 premature request per process with Redis: {redis:?}"
    );
    // Alone, every process but the first learns of the window from a 429 of its own.
    assert!(
        in_process.premature_total() > redis.premature_total(),
        "in-process gates {in_process:?}, redis gate {redis:?}"
    );
    println!("ok");
}

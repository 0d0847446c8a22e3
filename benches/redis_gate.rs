//! What an open gate costs per request with the Redis store, next to the in-process store and
//! no gate, in one run: the Redis store decides from its in-process mirror (kept current by
//! pub/sub), so an open gate makes no Redis round trip. The Redis store here is connected to a
//! `redis-server` the bench starts on a free loopback port (it must be on PATH).
//!
//! Each call goes from `poll_ready` to the response through `gate -> PartnerErrorsLayer ->`
//! the realistic upstream of `success_path` (5 headers, a JSON body).
//!
//! ```text
//! cargo bench --bench redis_gate --features redis -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! In instructions (callgrind; the difference between 0 and N calls, divided by N, is the
//! per-call count, startup and the store's connection excluded):
//!
//! ```text
//! cargo bench --bench redis_gate --features redis --no-run
//! bin=$(ls target/release/deps/redis_gate-* | grep -v '\.d$')
//! for stack in no_gate local_store redis_store; do
//!   for calls in 0 100000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --instructions "$stack" "$calls" 2>&1 \
//!       | grep 'Collected'
//!   done
//! done
//! ```
//!
//! How long a closing takes to reach another store (pub/sub over loopback): `"$bin"
//! --propagation 200` closes 200 scopes in one store and times until the other sees each.

mod fixtures;
#[path = "../examples/fleet_gate/redis_server.rs"]
mod redis_server;

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, BatchSize, Criterion};
use http::{Request, Response};
use http_body_util::Full;
use partner_center_errors::gate::ThrottleGateLayer;
use partner_center_errors::redis::RedisStore;
use partner_center_errors::PartnerErrorsLayer;
use tower::{service_fn, Layer, Service};

use fixtures::{call, realistic, request};
use redis_server::RedisServer;

/// A store connected to `server`; waits (at most 5 s) for the connection.
fn redis_store(runtime: &tokio::runtime::Runtime, server: &RedisServer) -> RedisStore {
    let _entered = runtime.enter();
    let store = RedisStore::builder(server.url())
        .build()
        .expect("a valid URL");
    runtime.block_on(async {
        for _ in 0..500 {
            if store.is_connected() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("not connected to redis-server within 5 s");
    });
    store
}

fn run<S>(mut service: S, calls: u64)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..calls {
        black_box(call(&mut service, black_box(request())));
    }
}

/// Runs `calls` calls through one stack, for callgrind.
fn instructions(stack: &str, calls: u64) {
    let runtime = runtime();
    let server = RedisServer::start().expect("redis-server starts");
    let errors = PartnerErrorsLayer::new();
    let upstream = service_fn(realistic);
    match stack {
        "no_gate" => run(errors.layer(upstream), calls),
        "local_store" => run(
            ThrottleGateLayer::new().layer(errors.layer(upstream)),
            calls,
        ),
        "redis_store" => {
            let gate = ThrottleGateLayer::with_store(redis_store(&runtime, &server));
            run(gate.layer(errors.layer(upstream)), calls);
        }
        other => panic!("unknown stack {other:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn open_gate(c: &mut Criterion) {
    let runtime = runtime();
    let server = RedisServer::start().expect("redis-server starts");
    let errors = PartnerErrorsLayer::new();
    let mut group = c.benchmark_group("open_gate");
    let mut no_gate = errors.layer(service_fn(realistic));
    group.bench_function("no_gate", |b| {
        b.iter_batched(request, |r| call(&mut no_gate, r), BatchSize::SmallInput)
    });
    let mut local = ThrottleGateLayer::new().layer(errors.layer(service_fn(realistic)));
    group.bench_function("local_store", |b| {
        b.iter_batched(request, |r| call(&mut local, r), BatchSize::SmallInput)
    });
    let gate = ThrottleGateLayer::with_store(redis_store(&runtime, &server));
    let mut redis = gate.layer(errors.layer(service_fn(realistic)));
    group.bench_function("redis_store", |b| {
        b.iter_batched(request, |r| call(&mut redis, r), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = open_gate
}

/// Times `closings` closings from one store to another, and prints the median, the 99th
/// percentile and the longest.
fn propagation(closings: usize) {
    use partner_center_errors::gate::{Admission, Closing, GateStore};
    let runtime = runtime();
    let server = RedisServer::start().expect("redis-server starts");
    let (from, to) = (
        redis_store(&runtime, &server),
        redis_store(&runtime, &server),
    );
    let closing = Closing {
        delay: Some(Duration::from_secs(30)),
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
    };
    let mut times: Vec<Duration> = (0..closings)
        .map(|n| {
            let scope = format!("scope-{n}");
            let started = std::time::Instant::now();
            from.close(&scope, closing);
            while !matches!(to.admit(&scope, false), Admission::Wait { .. }) {
                assert!(started.elapsed() < Duration::from_secs(1), "lost closing");
                std::hint::spin_loop();
            }
            started.elapsed()
        })
        .collect();
    times.sort();
    let at = |share: f64| times[((times.len() - 1) as f64 * share) as usize];
    println!(
        "propagation over {closings} closings: median {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, closings, ..] = args.as_slice() {
        if flag == "--propagation" {
            propagation(closings.parse().expect("a closing count"));
            return;
        }
    }
    if let [flag, stack, calls, ..] = args.as_slice() {
        if flag == "--instructions" {
            instructions(stack, calls.parse().expect("a call count"));
            return;
        }
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

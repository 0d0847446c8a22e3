//! Requests per second over loopback HTTP: hyper-util's client against a hyper server on
//! 127.0.0.1, with and without the layer, for all-2xx traffic and for mixed traffic (every
//! other request a 404 with a 124-byte Partner Center body).
//!
//! Without the layer the client reads every body (what any caller must do to reuse the
//! connection); with it, it reads the success bodies and gets the errors as `Error::Api`.
//! Each measurement is a bounded batch of requests, `CONCURRENCY` in flight on one runtime.
//!
//! Run: `cargo bench --bench loopback`

#[path = "../tests/it/support/exchange.rs"]
mod exchange;
mod fixtures;
#[path = "../tests/it/support/loopback.rs"]
mod loopback;

/// The integration tests' loopback server and client.
mod support {
    pub use super::exchange::*;
    pub use super::loopback::*;
}

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::StatusCode;
use partner_center_errors::{Error, PartnerErrorsLayer};
use tower::{Layer, ServiceExt};

/// Requests in flight at once.
const CONCURRENCY: u64 = 8;

const OK_BODY: &str =
    r#"{"totalCount":1,"items":[{"id":"6d6a3b1e","companyProfile":{"companyName":"Contoso"}}]}"#;

#[derive(Clone, Copy)]
enum Traffic {
    All2xx,
    Mixed,
}

impl Traffic {
    fn path(self, index: u64) -> &'static str {
        match self {
            Self::Mixed if index % 2 == 1 => "/missing",
            _ => "/ok",
        }
    }
}

async fn run(addr: SocketAddr, traffic: Traffic, with_layer: bool, requests: u64) -> Duration {
    let client = support::client();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CONCURRENCY {
        let client = client.clone();
        tasks.spawn(async move {
            let layered = PartnerErrorsLayer::new().layer(client.clone());
            let mut index = worker;
            while index < requests {
                let request = support::get(addr, traffic.path(index));
                if with_layer {
                    match layered.clone().oneshot(request).await {
                        Ok(response) => {
                            support::collect(response.into_body()).await;
                        }
                        Err(Error::Api(error)) => {
                            assert_eq!(error.code(), Some("600074"));
                        }
                        Err(other) => panic!("{other}"),
                    }
                } else {
                    let response = client.clone().oneshot(request).await.expect("response");
                    let status = response.status();
                    let body = support::collect(response.into_body()).await;
                    assert!(status == StatusCode::OK || body.len() == 124);
                }
                index += CONCURRENCY;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("worker");
    }
    started.elapsed()
}

fn loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let not_found = Bytes::from(fixtures::not_found_124());
    let addr = runtime.block_on(support::serve(move |request| {
        if request.uri().path() == "/ok" {
            support::respond(200, &[("content-type", "application/json")], OK_BODY)
        } else {
            support::respond(
                404,
                &[
                    ("content-type", "application/json"),
                    ("ms-correlationid", "7c0e3b1a-5d2f-4e8a-9b61-0c4d2e7f8a13"),
                ],
                not_found.clone(),
            )
        }
    }));

    let mut group = c.benchmark_group("loopback");
    group.throughput(Throughput::Elements(1));
    for (name, traffic) in [
        ("all_2xx", Traffic::All2xx),
        ("mixed_2xx_4xx", Traffic::Mixed),
    ] {
        for (variant, with_layer) in [("without_layer", false), ("with_layer", true)] {
            group.bench_function(BenchmarkId::new(variant, name), |b| {
                b.iter_custom(|requests| runtime.block_on(run(addr, traffic, with_layer, requests)))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = loopback
}
criterion_main!(benches);

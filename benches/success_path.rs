//! The success path: a 2xx response through the layer against the same in-process service
//! without it. The layer's claim is "within 2% and no added allocation" (the allocation half is
//! counted in `tests/alloc_success_path.rs`).
//!
//! For scale, the same upstream behind tower's `MapResponse` with an identity function: the
//! thinnest layer there is.
//!
//! Two upstreams: a bare one (a `Response::new` of a static body: the layer's overhead in
//! nanoseconds, with nothing to hide it) and a realistic one (the headers and JSON body of a
//! Partner Center list response: the overhead as a share of a real call's in-process work).
//!
//! Run: `cargo bench --bench success_path`

mod fixtures;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use partner_center_errors::PartnerErrorsLayer;
use tower::util::MapResponseLayer;
use tower::{service_fn, Layer};

use fixtures::{bare, call, identity, realistic, request, Upstream};

fn success_path(c: &mut Criterion) {
    for (name, upstream) in [("bare", bare as Upstream), ("realistic", realistic)] {
        let mut group = c.benchmark_group(format!("success_path/{name}"));
        let mut without = service_fn(upstream);
        group.bench_function("without_layer", |b| {
            b.iter_batched(request, |r| call(&mut without, r), BatchSize::SmallInput)
        });
        let mut with = PartnerErrorsLayer::new().layer(service_fn(upstream));
        group.bench_function("with_layer", |b| {
            b.iter_batched(request, |r| call(&mut with, r), BatchSize::SmallInput)
        });
        let mut identity = MapResponseLayer::new(identity).layer(service_fn(upstream));
        group.bench_function("with_identity_map_response", |b| {
            b.iter_batched(request, |r| call(&mut identity, r), BatchSize::SmallInput)
        });
        let mut pass_through = PartnerErrorsLayer::new()
            .pass_through()
            .layer(service_fn(upstream));
        group.bench_function("with_layer_pass_through", |b| {
            b.iter_batched(
                request,
                |r| call(&mut pass_through, r),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = success_path
}
criterion_main!(benches);

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

use std::convert::Infallible;
use std::future::{ready as done, Ready};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use partner_center_errors::PartnerErrorsLayer;
use tower::util::MapResponseLayer;
use tower::{service_fn, Layer, Service};

type Upstream = fn(Request<Full<Bytes>>) -> Ready<Result<Response<Full<Bytes>>, Infallible>>;

fn bare(_request: Request<Full<Bytes>>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    done(Ok(Response::new(Full::new(Bytes::from_static(
        b"{\"items\":[]}",
    )))))
}

const LIST_BODY: &[u8] = br#"{"totalCount":2,"items":[{"id":"6d6a3b1e","companyProfile":{"companyName":"Contoso"}},{"id":"9e1f2c4d","companyProfile":{"companyName":"Fabrikam"}}],"attributes":{"objectType":"Collection"}}"#;

fn realistic(_request: Request<Full<Bytes>>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json; charset=utf-8")
        .header("ms-correlationid", "7c0e3b1a-5d2f-4e8a-9b61-0c4d2e7f8a13")
        .header("ms-requestid", "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9")
        .header("ms-cv", "sLRFZMWm+EKuL47u.0")
        .header("date", "Wed, 21 Oct 2015 07:28:00 GMT")
        .body(Full::new(Bytes::from_static(LIST_BODY)))
        .expect("response");
    done(Ok(response))
}

/// The thinnest layer tower has: for scale.
fn identity(response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    response
}

fn request() -> Request<Full<Bytes>> {
    Request::get("/v1/customers")
        .body(Full::default())
        .expect("request")
}

/// One call, from `poll_ready` to the response; the request is built outside the timing and
/// the response dropped outside it.
fn call<S>(service: &mut S, request: Request<Full<Bytes>>) -> S::Response
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    fixtures::ready(std::future::poll_fn(|cx| service.poll_ready(cx))).expect("ready");
    fixtures::ready(service.call(request)).expect("a success")
}

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

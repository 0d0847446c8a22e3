//! "An open gate allocates nothing", counted: a 2xx response through the throttle gate and the
//! error layer allocates exactly as much as through the error layer alone. One test per binary:
//! dhat's global allocator counts every allocation in the process.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use partner_center_errors::{PartnerErrorsLayer, ThrottleGateLayer};
use tower::{service_fn, Layer, Service, ServiceExt};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

async fn upstream(_request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"{\"items\":[]}",
    ))))
}

/// Allocations made by one call of `service`, the service and the request built beforehand.
async fn allocations_of_one_call<S>(service: S) -> u64
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let request = Request::get("/v1/customers").body(Full::default()).unwrap();
    let before = dhat::HeapStats::get().total_blocks;
    let response = service.oneshot(request).await.unwrap();
    let after = dhat::HeapStats::get().total_blocks;
    assert_eq!(response.status(), StatusCode::OK);
    after - before
}

#[test]
fn an_open_gate_adds_no_allocation() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let gate = ThrottleGateLayer::new();
        let layer = || PartnerErrorsLayer::new().layer(service_fn(upstream));
        // Warm up whatever allocates once per process.
        allocations_of_one_call(layer()).await;
        allocations_of_one_call(gate.layer(layer())).await;

        let without = allocations_of_one_call(layer()).await;
        let with = allocations_of_one_call(gate.layer(layer())).await;
        assert_eq!(with, without, "the open gate allocated");
        // A keyed gate adds none either, when its key function itself allocates nothing.
        let keyed = ThrottleGateLayer::new().scope_by(|_: &Request<Full<Bytes>>| String::new());
        let with_key = allocations_of_one_call(keyed.layer(layer())).await;
        assert_eq!(with_key, without);
        assert_eq!(gate.counts().held, 0);
    });
}

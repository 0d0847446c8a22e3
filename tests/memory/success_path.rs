//! "No allocation on the success path", counted: a 2xx response through the layer allocates
//! exactly as much as the same call without it. One test per binary: dhat's global allocator
//! counts every allocation in the process.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use partner_center_errors::{PartnerErrorsLayer, ThrottleGateLayer};
use tower::{service_fn, Layer, Service, ServiceExt};

fn upstream() -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_request: Request<Full<Bytes>>| async {
        let mut response = Response::new(Full::new(Bytes::from_static(b"{\"items\":[]}")));
        *response.status_mut() = StatusCode::OK;
        Ok::<_, Infallible>(response)
    })
}

/// Allocations made by one call of `service`, the request built beforehand: the least of five
/// counts.
async fn allocations_of_one_call<S, B>(service: S) -> u64
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    let [fewest] = crate::least_of_five(async || {
        let request = Request::get("/v1/customers").body(Full::default()).unwrap();
        let service = service.clone();
        let before = dhat::HeapStats::get().total_blocks;
        let response = service.oneshot(request).await.unwrap();
        let after = dhat::HeapStats::get().total_blocks;
        assert_eq!(response.status(), StatusCode::OK);
        // No error was found, so nothing rides in the extensions (pass-through mode).
        assert!(response.extensions().is_empty());
        [after - before]
    })
    .await;
    fewest
}

#[test]
fn success_path_adds_no_allocation() {
    let _counting = crate::counting();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Warm up whatever allocates once per process.
        allocations_of_one_call(upstream()).await;
        allocations_of_one_call(PartnerErrorsLayer::new().layer(upstream())).await;

        let without = allocations_of_one_call(upstream()).await;
        let with = allocations_of_one_call(PartnerErrorsLayer::new().layer(upstream())).await;
        let pass_through =
            allocations_of_one_call(PartnerErrorsLayer::new().pass_through().layer(upstream()))
                .await;
        assert_eq!(with, without, "the layer allocates on the success path");
        assert_eq!(
            pass_through, without,
            "pass-through allocates on the success path"
        );
    });

    // And an error response does allocate (the counter is live, not stuck at zero).
    let errors = runtime.block_on(async {
        let failing = service_fn(|_request: Request<Full<Bytes>>| async {
            let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            Ok::<_, Infallible>(response)
        });
        let service = PartnerErrorsLayer::new().layer(failing);
        let request = Request::get("/").body(Full::default()).unwrap();
        let before = dhat::HeapStats::get().total_blocks;
        let result = service.oneshot(request).await;
        let after = dhat::HeapStats::get().total_blocks;
        assert!(result.is_err());
        after - before
    });
    assert!(errors > 0);
}

/// An open throttle gate allocates nothing: a 2xx response through the gate and the error layer
/// (stacked or fused) allocates exactly as much as through the error layer alone.
#[test]
fn an_open_gate_adds_no_allocation() {
    let _counting = crate::counting();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let gate = ThrottleGateLayer::new();
        let layer = || PartnerErrorsLayer::new().layer(upstream());
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
        // Fused into the error layer, the same.
        let fused = PartnerErrorsLayer::new().throttle_gate(gate.clone());
        allocations_of_one_call(fused.layer(upstream())).await;
        let with_fused = allocations_of_one_call(fused.layer(upstream())).await;
        assert_eq!(with_fused, without, "the open fused gate allocated");
        assert_eq!(gate.counts().held, 0);
    });
}

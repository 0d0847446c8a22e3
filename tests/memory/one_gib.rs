//! A 1 GiB error body, generated on the fly and never held, through the layer: reading stops
//! at the cap and the peak heap stays under the cap plus a small constant. Counted with dhat:
//! one test in this binary, as dhat counts every allocation in the process.
//!
//! Two phases under one profiler:
//! 1. In process (the body handed straight to the layer): the heap the layer itself adds.
//! 2. Over loopback (a hyper server streaming the body chunked, hyper-util's client): the same,
//!    plus what the HTTP stack holds for one connection; and the server stops sending once the
//!    client lets go, long before 1 GiB.

use std::convert::Infallible;
use std::time::Duration;

use crate::support::{GeneratedBody, CHUNK};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use partner_center_errors::{ApiError, Error, Incomplete, PartnerErrorsLayer};
use tower::{service_fn, Layer, ServiceExt};

const GIB: u64 = 1 << 30;
const CAP: usize = 64 * 1024;
const HEAD: &[u8] = br#"{"code":3000,"description":""#;

/// What the layer may hold beyond the cap for one in-process response: the structured error,
/// its parsed body and header map, the boxed capture future (measured: about 5.5 KiB).
const LAYER_CONSTANT: usize = 16 * 1024;

/// What one loopback connection adds on top: hyper's read buffer (it grows while a body
/// streams in, up to hyper's ~400 KiB maximum), its write buffer, the connection tasks on both
/// sides and the client's pool (measured: about 140 KiB).
const HTTP_CONSTANT: usize = 512 * 1024;

fn check(error: &ApiError) {
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    assert!(
        matches!(
            error.incomplete(),
            Some(Incomplete::TooLarge {
                limit: CAP,
                content_length: None
            })
        ),
        "{:?}",
        error.incomplete()
    );
    assert_eq!(error.raw_body().len(), CAP, "reading stops at the cap");
    assert_eq!(
        error.raw_body().as_ref(),
        crate::support::generated_prefix(HEAD, CAP)
    );
    assert_eq!(error.ids().request_id.as_deref(), Some("r-1gib"));
}

#[test]
fn one_gib_error_body_stops_at_the_cap_in_bounded_memory() {
    let _counting = crate::counting();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    // 1. In process.
    let (body, produced) = GeneratedBody::start(Bytes::from_static(HEAD), GIB);
    let body = std::sync::Mutex::new(Some(body));
    let upstream = service_fn(move |_request: Request<Full<Bytes>>| {
        let body = body.lock().unwrap().take().expect("one call");
        let response = Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .header("ms-requestid", "r-1gib")
            .body(body)
            .unwrap();
        async move { Ok::<_, Infallible>(response) }
    });
    let service = PartnerErrorsLayer::new()
        .max_body_bytes(CAP)
        .layer(upstream);
    let request = Request::get("/").body(Full::default()).unwrap();
    let before = dhat::HeapStats::get();
    let error = match runtime.block_on(service.oneshot(request)) {
        Err(Error::Api(error)) => error,
        other => panic!("expected Error::Api, got {other:?}"),
    };
    let after = dhat::HeapStats::get();
    check(&error);
    let peak = after.max_bytes.saturating_sub(before.curr_bytes);
    println!(
        "in process: peak heap {peak} bytes above the baseline, {} bytes pulled from the 1 GiB body",
        produced.bytes()
    );
    assert!(
        peak <= CAP + LAYER_CONSTANT,
        "peak {peak} bytes over cap {CAP} + {LAYER_CONSTANT}"
    );
    assert!(
        produced.bytes() <= (CAP + CHUNK.len()) as u64,
        "pulled {} bytes",
        produced.bytes()
    );
    drop(error);

    // 2. Over loopback.
    runtime.block_on(async {
        let (body, produced) = GeneratedBody::start(Bytes::from_static(HEAD), GIB);
        let body = std::sync::Mutex::new(Some(body));
        let addr = crate::support::serve(move |_| {
            let body = body.lock().unwrap().take().expect("one call");
            Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .header("ms-requestid", "r-1gib")
                .body(body)
                .unwrap()
        })
        .await;
        let service = PartnerErrorsLayer::new()
            .max_body_bytes(CAP)
            .layer(crate::support::client());
        let request = crate::support::get(addr, "/");
        let before = dhat::HeapStats::get();
        let error = match service.oneshot(request).await {
            Err(Error::Api(error)) => error,
            other => panic!("expected Error::Api, got {other:?}"),
        };
        let after = dhat::HeapStats::get();
        check(&error);

        // The client dropped the rest of the body and its connection: the server stops. The
        // timeout only turns a regression into a failure instead of a hang.
        tokio::time::timeout(Duration::from_secs(60), produced.dropped.notified())
            .await
            .expect("the server stops sending once the client lets go");
        let sent = produced.bytes();
        let peak = after.max_bytes.saturating_sub(before.curr_bytes);
        println!("over loopback: peak heap {peak} bytes above the baseline, server sent {sent} bytes of 1 GiB");
        assert!(
            peak <= CAP + LAYER_CONSTANT + HTTP_CONSTANT,
            "peak {peak} bytes over cap {CAP} + {LAYER_CONSTANT} + {HTTP_CONSTANT}"
        );
        // What was sent beyond the cap sits in the loopback socket buffers (a few MiB at
        // most), nowhere near the 1 GiB the body would have been.
        assert!(sent < 64 << 20, "server sent {sent} bytes");
    });
}

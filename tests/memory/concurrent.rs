//! 1,000 error responses in flight at once through one cloned service, over loopback: every
//! caller gets its own structured error, and the heap stays under 1,000 x (cap + a constant),
//! though half the bodies are 32 times the cap. Counted with dhat: one test in this binary.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{ChannelBody, CHUNK};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use partner_center_errors::{ApiError, Error, Incomplete, PartnerErrorsLayer};
use tokio::sync::Barrier;
use tower::{ServiceBuilder, ServiceExt};

const CALLERS: usize = 1000;
const CAP: usize = 16 * 1024;
/// The capped bodies: 32 times the cap, so that a layer without a cap would hold about 240 MiB
/// more, three times the bound below.
const LARGE_BODY: usize = 32 * CAP;

/// What one response may hold beyond the cap, end to end: the structured error and its header
/// map, the capture, and both ends of one HTTP/1 connection (hyper's buffers, the connection
/// tasks, the test server's body channel). Measured: about 47 KiB, nearly all of it hyper's;
/// the layer's own share is about 5.5 KiB (see `memory_1gib_body.rs`).
const PER_RESPONSE_CONSTANT: usize = 96 * 1024;

const STATUSES: [u16; 4] = [400, 404, 409, 503];

fn head(i: usize) -> String {
    format!(r#"{{"code":3000,"description":"request {i} "#)
}

/// Answers request `i` once all callers' requests have arrived: even `i` with a whole
/// Partner Center body naming `i`, odd `i` with a 512 KiB body that starts the same way.
fn answer(
    request: Request<hyper::body::Incoming>,
    barrier: Arc<Barrier>,
) -> Response<crate::support::ServerBody> {
    let i: usize = request.uri().path()[1..].parse().unwrap();
    let request_id = request.headers()["ms-requestid"].clone();
    let (sender, body) = ChannelBody::channel(2);
    tokio::spawn(async move {
        barrier.wait().await;
        if i.is_multiple_of(2) {
            let body = crate::support::partner_center_body(
                600074,
                &format!("request {i} was not accepted"),
            );
            let _ = sender.send(Ok(Bytes::from(body))).await;
            return;
        }
        let head = head(i);
        let mut sent = head.len();
        if sender.send(Ok(Bytes::from(head))).await.is_err() {
            return;
        }
        while sent < LARGE_BODY {
            // Stops as soon as the client lets go of the body.
            if sender.send(Ok(Bytes::from_static(&CHUNK))).await.is_err() {
                return;
            }
            sent += CHUNK.len();
        }
    });
    let status = if i.is_multiple_of(2) {
        STATUSES[i / 2 % 4]
    } else {
        500
    };
    Response::builder()
        .status(status)
        .header("ms-requestid", request_id)
        .body(body)
        .unwrap()
}

fn check(i: usize, error: &ApiError) {
    assert_eq!(
        error.ids().request_id.as_deref(),
        Some(format!("req-{i}").as_str())
    );
    if i.is_multiple_of(2) {
        assert_eq!(error.status().as_u16(), STATUSES[i / 2 % 4]);
        assert_eq!(
            error.description(),
            Some(format!("request {i} was not accepted").as_str())
        );
        assert_eq!(error.code(), Some("600074"));
        assert!(error.incomplete().is_none());
    } else {
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(matches!(
            error.incomplete(),
            Some(Incomplete::TooLarge {
                limit: CAP,
                content_length: None
            })
        ));
        assert_eq!(error.raw_body().len(), CAP);
        assert_eq!(
            error.raw_body().as_ref(),
            crate::support::generated_prefix(head(i).as_bytes(), CAP)
        );
    }
}

#[test]
fn thousand_concurrent_errors_each_get_their_own_error_in_bounded_memory() {
    let _counting = crate::counting();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Every body waits until all callers' requests are at the server: the responses are
        // in flight together, or the test times out.
        let barrier = Arc::new(Barrier::new(CALLERS));
        let addr = crate::support::serve(move |request| answer(request, barrier.clone())).await;
        let service = ServiceBuilder::new()
            .layer(
                PartnerErrorsLayer::new()
                    .max_body_bytes(CAP)
                    .body_timeout(Duration::from_secs(120)),
            )
            .service(crate::support::client());

        let before = dhat::HeapStats::get();
        let mut callers = tokio::task::JoinSet::new();
        for i in 0..CALLERS {
            let service = service.clone();
            callers.spawn(async move {
                let request = Request::get(format!("http://{addr}/{i}"))
                    .header("ms-requestid", format!("req-{i}"))
                    .body(Full::<Bytes>::default())
                    .unwrap();
                match service.oneshot(request).await {
                    Err(Error::Api(error)) => (i, error),
                    other => panic!("caller {i}: expected Error::Api, got {other:?}"),
                }
            });
        }
        // Every error is kept until all have arrived, so the peak counts all of them at once.
        let mut errors = Vec::with_capacity(CALLERS);
        let all = async {
            while let Some(joined) = callers.join_next().await {
                errors.push(joined.expect("caller"));
            }
        };
        // Bounds the test's time: a regression fails instead of hanging.
        tokio::time::timeout(Duration::from_secs(120), all)
            .await
            .expect("1,000 calls finish");
        let after = dhat::HeapStats::get();

        errors.sort_by_key(|(i, _)| *i);
        assert_eq!(errors.len(), CALLERS);
        for (i, error) in &errors {
            check(*i, error);
        }
        let peak = after.max_bytes.saturating_sub(before.curr_bytes);
        let bound = CALLERS * (CAP + PER_RESPONSE_CONSTANT);
        println!(
            "{CALLERS} concurrent errors: peak heap {peak} bytes above the baseline ({} per response), bound {bound}",
            peak / CALLERS
        );
        assert!(peak <= bound, "peak {peak} bytes over {bound}");
    });
}

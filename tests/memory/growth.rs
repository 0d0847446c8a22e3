//! The buffer grows with the bytes that arrive, not with the length the head declares: a
//! response that declares 32 MiB - 1 under a 32 MiB cap and sends 2 bytes (in two frames, so
//! that the bytes are copied into a buffer of the layer's own) keeps about 2 bytes.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::Full;
use partner_center_errors::{Error, PartnerErrorsLayer};
use tower::{service_fn, Layer, ServiceExt};

const CAP: usize = 32 << 20;
const DECLARED: usize = CAP - 1;

/// Two one-byte frames, then the end.
struct TwoBytes(u8);

impl Body for TwoBytes {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.0 == 2 {
            return Poll::Ready(None);
        }
        self.0 += 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
    }
}

#[test]
fn a_declared_length_does_not_decide_the_allocation() {
    let _counting = crate::counting();
    let runtime = crate::runtime();
    runtime.block_on(async {
        let upstream = service_fn(|_request: Request<Full<Bytes>>| async {
            let response = Response::builder()
                .status(StatusCode::NOT_FOUND)
                .header("content-length", DECLARED)
                .body(TwoBytes(0))
                .unwrap();
            Ok::<_, Infallible>(response)
        });
        let service = PartnerErrorsLayer::new()
            .max_body_bytes(CAP)
            .layer(upstream);
        let request = Request::get("/v1/customers").body(Full::default()).unwrap();

        let before = dhat::HeapStats::get();
        let error = match service.oneshot(request).await {
            Err(Error::Api(error)) => error,
            Err(other) => panic!("{other}"),
            Ok(response) => panic!("passed: {}", response.status()),
        };
        let after = dhat::HeapStats::get();

        assert_eq!(error.raw_body().as_ref(), b"xx");
        assert!(error.incomplete().is_none(), "{:?}", error.incomplete());
        let retained = after.curr_bytes - before.curr_bytes;
        let peak = after.max_bytes - before.curr_bytes;
        // The structured error (headers, parsed body, ids) is a few KiB; 32 MiB would show.
        assert!(retained < 16 * 1024, "retained {retained} bytes");
        assert!(peak < 64 * 1024, "peak {peak} bytes above the start");
        drop(error);
    });
}

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty};

use super::{Collected, Limits, Read, Stop};

const LIMITS: Limits = Limits {
    max_body_bytes: 10,
    body_timeout: Some(Duration::from_secs(1)),
};

/// One-byte frames that claim a length they never send.
struct Claims {
    frames: Vec<&'static [u8]>,
    claimed: u64,
}

impl Body for Claims {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = (!self.frames.is_empty()).then(|| self.frames.remove(0));
        Poll::Ready(frame.map(|bytes| Ok(Frame::data(Bytes::from_static(bytes)))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.claimed)
    }
}

async fn read<B>(body: B, declared: Option<u64>) -> Collected<B>
where
    B: Body,
    B::Error: Into<crate::BoxError>,
{
    Read::new(body, declared, LIMITS).await
}

#[tokio::test]
async fn a_body_at_its_end_has_nothing_to_refuse() {
    // A HEAD answered with `Content-Length: 100000`: the body is already at its end.
    let collected = read(Empty::<Bytes>::new(), Some(100_000)).await;
    assert!(collected.stop.is_none(), "{:?}", collected.stop);
    assert!(collected.read.is_empty());
}

#[tokio::test]
async fn a_declared_length_over_the_cap_is_refused_and_replayed_whole() {
    let body = Claims {
        frames: vec![b"0123456789", b"ab"],
        claimed: 12,
    };
    let collected = read(body, None).await;
    assert!(matches!(
        collected.stop,
        Some(Stop::Refused {
            limit: 10,
            declared: 12
        })
    ));
    assert!(collected.read.is_empty());
    let replayed = BodyExt::collect(crate::PassThroughBody::replay(collected.replay))
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(replayed, "0123456789ab");
}

#[tokio::test]
async fn the_bytes_that_arrive_are_kept_whatever_length_was_declared() {
    let body = Claims {
        frames: vec![b"a", b"b"],
        claimed: 9,
    };
    let collected = read(body, None).await;
    assert!(collected.stop.is_none());
    assert_eq!(collected.read, "ab");
}

/// Without a timer, a body of more frames than one poll reads, each ready at once, needs no
/// wait: it is read whole, not stopped as one that had to be waited for.
#[test]
fn without_a_timer_a_body_of_many_ready_frames_is_read_whole() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let body = Claims {
        frames: vec![b" "; 200],
        claimed: 200,
    };
    let limits = Limits {
        max_body_bytes: 1024,
        ..LIMITS
    };
    let collected = runtime.block_on(Read::new(body, None, limits));
    assert!(collected.stop.is_none(), "{:?}", collected.stop);
    assert_eq!(collected.read.len(), 200);
}

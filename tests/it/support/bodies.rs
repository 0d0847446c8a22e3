//! The bodies the loopback server streams, shared by the integration tests and the dhat
//! binary: fed through a channel, or generated on the fly and never held.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use crate::support::ServerBody;

/// A body fed frame by frame through a channel; hyper sends it chunked unless a Content-Length
/// header says otherwise. Dropping the sender ends it; sending an `Err` aborts it.
pub struct ChannelBody {
    receiver: mpsc::Receiver<Result<Bytes, io::Error>>,
}

impl ChannelBody {
    pub fn channel(capacity: usize) -> (mpsc::Sender<Result<Bytes, io::Error>>, ServerBody) {
        let (sender, receiver) = mpsc::channel(capacity);
        (sender, Self { receiver }.boxed())
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|item| item.map(|result| result.map(Frame::data)))
    }
}

/// A Partner Center body in the documented shape, but with a numeric code as the wire sends it.
pub fn partner_center_body(code: u32, description: &str) -> String {
    serde_json::json!({
        "code": code,
        "description": description,
        "data": [],
        "source": "PartnerFD",
    })
    .to_string()
}

/// 16 KiB of lower-case letters, `a` to `z` over and over: the stuff generated bodies are made
/// of, static so that sending it allocates nothing.
pub static CHUNK: [u8; 16 * 1024] = letters();

const fn letters<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let mut i = 0;
    while i < N {
        bytes[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    bytes
}

/// The first `len` bytes of a generated body after its head.
pub fn generated_prefix(head: &[u8], len: usize) -> Vec<u8> {
    head.iter()
        .chain(CHUNK.iter().cycle())
        .take(len)
        .copied()
        .collect()
}

/// What a [`GeneratedBody`] reports to the test.
#[derive(Debug, Clone, Default)]
pub struct Produced {
    /// Bytes handed to the server so far.
    pub bytes: Arc<std::sync::atomic::AtomicU64>,
    /// Set when the server let go of the body (finished, or the client went away).
    pub dropped: Arc<tokio::sync::Notify>,
}

impl Produced {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A body made on the fly: `head`, then [`CHUNK`] again and again up to `total` bytes
/// (`u64::MAX` for endless). Nothing is held: each frame is the static chunk. hyper sends it
/// chunked, as it declares no length.
pub struct GeneratedBody {
    head: Option<Bytes>,
    remaining: u64,
    produced: Produced,
}

impl GeneratedBody {
    pub fn start(head: impl Into<Bytes>, total: u64) -> (ServerBody, Produced) {
        let head: Bytes = head.into();
        let produced = Produced::default();
        let body = Self {
            remaining: total.saturating_sub(head.len() as u64),
            head: Some(head).filter(|head| !head.is_empty()),
            produced: produced.clone(),
        };
        (body.boxed(), produced)
    }
}

impl Drop for GeneratedBody {
    fn drop(&mut self) {
        self.produced.dropped.notify_one();
    }
}

impl Body for GeneratedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let chunk = match self.head.take() {
            Some(head) => head,
            None if self.remaining == 0 => return Poll::Ready(None),
            None => {
                let len = usize::try_from(self.remaining)
                    .unwrap_or(CHUNK.len())
                    .min(CHUNK.len());
                self.remaining -= len as u64;
                Bytes::from_static(&CHUNK[..len])
            }
        };
        self.produced
            .bytes
            .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

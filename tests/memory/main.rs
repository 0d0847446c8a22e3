//! Allocation-counting tests, counted with dhat. A binary of their own: dhat's global
//! allocator counts every allocation in the process, so these tests run one at a time
//! ([`alone`]) and no other test shares the process.

#[path = "../it/support/bodies.rs"]
mod bodies;
#[path = "../it/support/loopback.rs"]
mod loopback;

/// The integration tests' support, as far as these tests use it.
mod support {
    pub use super::bodies::*;
    pub use super::loopback::*;
}

mod concurrent;
mod error_path;
mod gate_scopes;
mod growth;
mod one_gib;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[path = "../../examples/fleet_gate/redis_server.rs"]
mod redis_server;
mod retry_after;
mod success_path;
mod transport_buffers;

use std::sync::{Mutex, MutexGuard};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Held by each test for its whole run: one dhat profiler at a time, and nothing else
/// allocating while it counts.
struct Counting {
    _profiler: dhat::Profiler,
    _alone: MutexGuard<'static, ()>,
}

/// Starts counting allocations, alone in the process, until the result is dropped.
fn counting() -> Counting {
    static ALONE: Mutex<()> = Mutex::new(());
    let alone = ALONE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Counting {
        _profiler: dhat::Profiler::builder().testing().build(),
        _alone: alone,
    }
}

/// A current-thread runtime with I/O and time, for the tests that serve over loopback or wait.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `count` five times and keeps each of its figures' least value. dhat counts the whole
/// process, and libtest's own threads may allocate while a call is counted; they can only add,
/// so the least count is the call's own.
async fn least_of_five<const N: usize>(mut count: impl AsyncFnMut() -> [u64; N]) -> [u64; N] {
    let mut least = [u64::MAX; N];
    for _ in 0..5 {
        for (least, counted) in least.iter_mut().zip(count().await) {
            *least = (*least).min(counted);
        }
    }
    least
}

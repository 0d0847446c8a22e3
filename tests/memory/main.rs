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
mod growth;
mod one_gib;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[path = "../../examples/fleet_gate/redis_server.rs"]
mod redis_server;
mod success_path;

use std::sync::{Mutex, MutexGuard};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Held by each test for its whole run: one dhat profiler at a time, and nothing else
/// allocating while it counts.
fn alone() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    ALONE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

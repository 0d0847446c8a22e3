//! The throttle gate's state shared by a fleet of processes through Redis (feature `redis`).
//!
//! [`RedisStore`] is a [`GateStore`](crate::gate::GateStore) for
//! [`ThrottleGateLayer`](crate::gate::ThrottleGateLayer): every process that builds its gate on
//! the same Redis (and the same [key prefix](RedisStoreBuilder::key_prefix)) shares its scopes.
//! A `429` seen by one process closes the scope in all of them.
//!
//! The gate's behaviour is the in-process store's ([`LocalStore`](crate::gate::LocalStore)),
//! which the Redis store keeps as its mirror and always decides from:
//!
//! - **Closing** runs one Lua script on the server that only ever extends the scope's window
//!   (`PTTL`, then `SET .. PX` when longer) and publishes the milliseconds left on a pub/sub
//!   channel. Every process applies it to its mirror on arrival, so an open gate still costs one
//!   atomic read and no Redis round trip. Windows travel as milliseconds left, never as
//!   wall-clock times: clocks need not agree.
//! - **Probing** after a window is one request for the whole fleet: the process whose waiter
//!   wins `SET .. NX PX` (a lease, default 60 s) sends it; the others wait for its outcome
//!   (published; they ask Redis again every second in case the message is lost), or for the
//!   lease to lapse.
//! - **(Re)connecting** subscribes first, then frees the probe roles of probes that ended and
//!   sends the closings made while Redis was away and the windows the mirror still knows (a
//!   Redis restarted without persistence has forgotten them; the script only extends, so a
//!   window Redis kept stays as it is), then reads every closed scope (`SCAN` + `PTTL`) into
//!   the mirror.
//! - **Keys** are `{prefix}closed:{scope}` and `{prefix}probe:{scope}`, the channel
//!   `{prefix}events`; both keys expire by themselves.
//!
//! # Faults
//!
//! When Redis is unreachable, at start or mid-run (the connection drops, or a `PING` after a
//! quiet second goes unanswered), the gate goes on in-process with the mirror
//! (one `WARN` event with the `tracing` feature, one `INFO` when Redis is back) and reconnects
//! every [`reconnect_delay`](RedisStoreBuilder::reconnect_delay). No request fails because of
//! Redis, and none waits on it longer than
//! [`command_timeout`](RedisStoreBuilder::command_timeout) (default 50 ms): only a request about
//! to probe waits for Redis at all; on a timeout it probes for its own process.
//!
//! # Example
//!
//! ```no_run
//! use partner_center_errors::gate::ThrottleGateLayer;
//! use partner_center_errors::redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Inside a Tokio runtime: the store connects (and reconnects) in the background.
//! let store = RedisStore::builder("redis://127.0.0.1:6379")
//!     .key_prefix("billing-sync:gate:")
//!     .build()?;
//! let gate = ThrottleGateLayer::with_store(store);
//! # let _ = gate;
//! # Ok(())
//! # }
//! ```

mod link;
mod store;

pub use store::{BuildError, RedisStore, RedisStoreBuilder};
pub use store::{DEFAULT_COMMAND_TIMEOUT, DEFAULT_KEY_PREFIX, DEFAULT_RECONNECT_DELAY};

//! The integration tests: one crate (one link), a module per topic, one support module.
//! Every test speaks HTTP over loopback to a hyper server it starts. The allocation-counting
//! tests are a binary of their own (`tests/memory`): dhat's global allocator counts every
//! allocation in the process, so no other test may run beside them.

mod support;

#[cfg(feature = "axum")]
mod axum;
mod compat;
mod composed;
mod framing;
mod gate;
mod hostile_upstream;
mod layer_http;
mod printed;
#[cfg(feature = "redis")]
mod redis_gate;
#[cfg(feature = "redis")]
mod redis_store;
#[cfg(feature = "reqwest")]
mod reqwest_gate;
#[cfg(feature = "reqwest")]
mod reqwest_middleware;
#[cfg(feature = "reqwest")]
mod reqwest_parity;
#[cfg(feature = "reqwest")]
mod reqwest_tower;
mod retry_policy;
mod retry_replay;
#[cfg(feature = "tracing")]
mod retry_tracing;
mod schemas;
mod tower_http_stack;
#[cfg(feature = "tracing")]
mod tracing;
mod wire_facts;

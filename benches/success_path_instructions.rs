//! The success path in instructions, not seconds: a count that valgrind's callgrind reads the
//! same on every run, whatever else the machine is doing. Wall-clock benchmarks on a shared
//! 2-core VM move by more than the 2% this is about; instruction counts do not.
//!
//! The binary makes `CALLS` success calls through one stack and exits; run it under callgrind
//! once with 0 calls and once with `CALLS`, and the difference divided by `CALLS` is the
//! instructions per call, startup excluded. Each call builds its request, calls the realistic
//! upstream of `success_path` (5 headers, a JSON body) and drops the response; `request_only`
//! counts the request building alone, to subtract:
//!
//! ```text
//! cargo bench --bench success_path_instructions --no-run
//! bin=$(ls target/release/deps/success_path_instructions-* | grep -v '\.d$')
//! for stack in request_only without_layer with_layer with_identity_map_response with_layer_pass_through \
//!     with_gate_and_layer with_gate_fused; do
//!   for calls in 0 100000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$stack" "$calls" 2>&1 \
//!       | grep 'Collected'
//!   done
//! done
//! ```
//!
//! Run without arguments (as `cargo bench` does), it makes a few calls through each stack and
//! checks they succeed.

mod fixtures;

use std::hint::black_box;

use partner_center_errors::{PartnerErrorsLayer, ThrottleGateLayer};
use tower::util::MapResponseLayer;
use tower::{service_fn, Layer, Service};

use fixtures::{call, identity, realistic, request};

// Out of line, one copy per stack: a stack's count does not move with how much code the other
// stacks put in the same function (LLVM's inlining inside it depends on its size).
#[inline(never)]
fn run<S>(mut service: S, calls: u64)
where
    S: Service<http::Request<http_body_util::Full<bytes::Bytes>>>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..calls {
        black_box(call(&mut service, black_box(request())));
    }
}

#[inline(never)]
fn build_requests(calls: u64) {
    (0..calls).for_each(|_| drop(black_box(request())));
}

fn run_stack(stack: &str, calls: u64) {
    let upstream = service_fn(realistic);
    match stack {
        // What every call above also does: build the request (and drop it).
        "request_only" => build_requests(calls),
        "without_layer" => run(upstream, calls),
        "with_layer" => run(PartnerErrorsLayer::new().layer(upstream), calls),
        "with_identity_map_response" => run(MapResponseLayer::new(identity).layer(upstream), calls),
        "with_layer_pass_through" => run(
            PartnerErrorsLayer::new().pass_through().layer(upstream),
            calls,
        ),
        // The throttle gate, open, where it goes: over the error layer (compare with_layer).
        "with_gate_and_layer" => run(
            ThrottleGateLayer::new().layer(PartnerErrorsLayer::new().layer(upstream)),
            calls,
        ),
        // The same gate fused into the error layer: no future of its own.
        "with_gate_fused" => run(
            PartnerErrorsLayer::new()
                .throttle_gate(ThrottleGateLayer::new())
                .layer(upstream),
            calls,
        ),
        other => panic!("unknown stack {other:?}"),
    }
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"));
    match (args.next(), args.next()) {
        (Some(stack), Some(calls)) => run_stack(&stack, calls.parse().expect("a call count")),
        _ => {
            for stack in [
                "request_only",
                "without_layer",
                "with_layer",
                "with_identity_map_response",
                "with_layer_pass_through",
                "with_gate_and_layer",
                "with_gate_fused",
            ] {
                run_stack(stack, 10);
            }
        }
    }
}

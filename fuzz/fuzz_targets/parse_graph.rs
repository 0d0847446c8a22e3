//! The body parser under the Graph schema: see `schema_target.rs` for the input and what is
//! asserted (the memory bound among it).
#![no_main]

mod oracle;
mod printed;
mod schema_target;

use partner_center_errors::schema::Schema;

libfuzzer_sys::fuzz_target!(|data: &[u8]| schema_target::run(Schema::Graph, data));

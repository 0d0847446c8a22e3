//! The in-process gate's table of closed scopes is bounded in count, and so in bytes by that
//! count times a scope's cost: its key's length plus a constant. Counted with keys of 16 bytes
//! and of 64 KiB (a key function is free to return a request's whole path), 100,000 and 2,000
//! closings of distinct keys against a table of 1,000.

use std::time::Duration;

use partner_center_errors::gate::{Closing, GateStore, LocalStore};

const MAX_SCOPES: usize = 1_000;
/// What a closed scope costs beyond its key: the table's and the queue's entries (each with
/// room to grow, up to 4 times the cap), the scope's state and its watch channel (measured:
/// 765 bytes).
const PER_SCOPE: usize = 1024;

/// Bytes the store holds after `closings` closings of distinct keys of `key_len` bytes.
fn held(key_len: usize, closings: usize) -> usize {
    let closing = Closing {
        delay: Some(Duration::from_secs(60)),
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
    };
    let before = dhat::HeapStats::get().curr_bytes;
    let store = LocalStore::with_max_scopes(MAX_SCOPES);
    let mut key = vec![b'k'; key_len];
    for n in 0..closings {
        let digits = n.to_string();
        key[..digits.len()].copy_from_slice(digits.as_bytes());
        store.close(std::str::from_utf8(&key).unwrap(), closing);
    }
    assert_eq!(store.len(), MAX_SCOPES);
    let held = dhat::HeapStats::get().curr_bytes - before;
    drop(store);
    held
}

#[test]
fn the_scope_table_holds_at_most_its_count_times_a_keys_cost() {
    let _counting = crate::counting();
    let runtime = crate::runtime();
    let _time = runtime.enter();
    for (key_len, closings) in [(16, 100_000), (64 * 1024, 2_000)] {
        let held = held(key_len, closings);
        println!(
            "{closings} closings of {key_len}-byte keys: the table holds {held} bytes ({} a scope)",
            held / MAX_SCOPES
        );
        assert!(
            held <= MAX_SCOPES * (key_len + PER_SCOPE),
            "{key_len}-byte keys: {held} bytes"
        );
    }
}

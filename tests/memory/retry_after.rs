//! Reading a delay from a hostile `Retry-After` allocates nothing, whatever the header's
//! length: a 300 KB list of `1,1,...` ending in an element that is neither a number
//! nor a date was split into a `Vec` of its 150,000 pieces (2.4 MB, 8 times the header) before
//! the first element was read.

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue};
use partner_center_errors::headers::retry_after;

fn allocated_by(value: HeaderValue) -> (u64, Option<std::time::Duration>) {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", value);
    let start = dhat::HeapStats::get().total_bytes;
    let delay = retry_after(&headers, SystemTime::UNIX_EPOCH);
    (dhat::HeapStats::get().total_bytes - start, delay)
}

#[test]
fn a_hostile_retry_after_list_allocates_nothing() {
    let _counting = crate::counting();
    let numbers_then_junk = format!("{}x", "1,".repeat(150_000));
    let dates = ["Sun, 06 Nov 1994 08:49:37 GMT"; 10_000].join(", ");
    let numbers_and_dates = ["5, Sun, 06 Nov 1994 08:49:37 GMT"; 9_000].join(", ");
    for (value, expected) in [
        (numbers_then_junk, None),
        (dates, Some(784_111_777)),
        (numbers_and_dates, Some(784_111_777)),
    ] {
        let len = value.len();
        let (allocated, delay) = allocated_by(HeaderValue::try_from(value).unwrap());
        println!("Retry-After of {len} bytes: {allocated} bytes allocated, delay {delay:?}");
        assert_eq!(delay.map(|delay| delay.as_secs()), expected);
        assert_eq!(allocated, 0, "{len} bytes");
    }
}

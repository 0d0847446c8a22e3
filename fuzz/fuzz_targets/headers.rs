//! The header readers over a whole response head: `ResponseIds`, `Challenge::from_headers`,
//! `retry_after`, and the structured error built on them, with heads up to 400 KB.
//!
//! Input: `name: value` lines (hyper-util's default head limit is about 400 KB; run with
//! `-max_len=409600`).
//!
//! Asserts, beyond "no panic": ids stay capped; challenges stay within their count, parameter
//! and byte limits; the structured error retains at most the headers' size + 2 KiB when built
//! (its ids are capped copies of header values; challenges are read
//! on first ask) and at most `Challenge::MAX_BYTES` plus fixed overhead once they are read,
//! counted by a counting allocator; `Debug` and `Display` stay bounded and sanitised.
#![no_main]

mod printed;

use std::alloc::System;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use partner_center_errors::headers::{retry_after, Challenge, ResponseIds};
use partner_center_errors::ApiError;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// What the structured error may keep beyond the headers it is given (ids are capped copies).
const RETAINED_WHEN_BUILT: isize = 2048;

/// What reading the challenges may add: their text (at most `MAX_BYTES`), and per challenge
/// its own size and that of its parameter pairs.
const RETAINED_BY_CHALLENGES: isize = (Challenge::MAX_BYTES
    + Challenge::MAX_CHALLENGES
        * (std::mem::size_of::<Challenge>() + Challenge::MAX_PARAMS * 2 * 24 + 64))
    as isize;

fuzz_target!(|data: &[u8]| {
    let headers = header_map(data);

    let ids = ResponseIds::from_headers(&headers);
    for id in [
        &ids.correlation_id,
        &ids.request_id,
        &ids.correlation_vector,
    ] {
        assert!(id.as_ref().is_none_or(|id| id.len() <= 1024), "{id:?}");
    }
    let challenges = Challenge::from_headers(&headers);
    assert!(challenges.len() <= Challenge::MAX_CHALLENGES);
    let mut kept = 0;
    for challenge in &challenges {
        assert!(challenge.params.len() <= Challenge::MAX_PARAMS);
        kept += challenge.scheme.len() + challenge.token68.as_ref().map_or(0, String::len);
        kept += challenge
            .params
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum::<usize>();
    }
    assert!(kept <= Challenge::MAX_BYTES, "{kept} bytes of challenges");
    let _ = retry_after(&headers, UNIX_EPOCH + Duration::from_secs(1_700_000_000));

    // The ids are capped copies of header values: they count against the headers' own size.
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let region = Region::new(GLOBAL);
    let error = ApiError::new(StatusCode::UNAUTHORIZED, headers, Bytes::new());
    let built = retained(&region);
    assert!(
        built <= RETAINED_WHEN_BUILT + header_bytes as isize,
        "{built} bytes retained when built, for {header_bytes} bytes of headers"
    );
    assert_eq!(error.challenges(), &challenges[..]);
    let read = retained(&region) - built;
    assert!(
        read <= RETAINED_BY_CHALLENGES,
        "{read} bytes retained by {} challenges",
        challenges.len()
    );

    printed::assert_safe("Debug", &format!("{error:?}"), 16 * 1024);
    printed::assert_safe("ids Debug", &format!("{:?}", error.ids()), 4096);
    for challenge in error.challenges() {
        printed::assert_safe("challenge Debug", &format!("{challenge:?}"), 8192);
    }
    printed::assert_safe("Display", &error.to_string(), 4096);
});

fn retained(region: &Region<'_, System>) -> isize {
    let change = region.change();
    // stats_alloc already counts a realloc's growth in `bytes_allocated` and its shrinking in
    // `bytes_deallocated`.
    change.bytes_allocated as isize - change.bytes_deallocated as isize
}

/// `name: value` lines; lines that are not a valid header are skipped.
fn header_map(data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim_ascii()),
            HeaderValue::from_bytes(value),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    headers
}

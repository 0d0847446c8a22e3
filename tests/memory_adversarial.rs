//! What a structured error keeps, and what building it peaks at, for bodies and headers built
//! to make a parser allocate: arrays of zeros, nested empty objects, 10,000 keys, a description
//! of escapes, a 300 KB `WWW-Authenticate`, a 1,000-element `data`, a Graph `innerError` of
//! 10,000 fields; and the bodies that are not JSON at all, a gateway's HTML page and a Latin-1
//! text (not UTF-8).
//!
//! For each shape: the bytes retained by the `ApiError` beyond the raw body and the response
//! headers it was given (which it keeps, not copies) are at most 2 KiB, and printing the error
//! (`Display`, `Debug`, serde) allocates at most 4 KiB along the way. What `data()` keeps (a
//! `serde_json::Value`, up to 32 times its text) and what `details()` allocates are counted too. Counted with dhat, one
//! shape per process (dhat's peak cannot be reset): the test runs this binary again for each
//! shape and reads back one line of figures. The figures are printed; README.md quotes them.

use std::io::Write;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use partner_center_errors::schema::{Payload, Schema, MAX_TEXT_BYTES};
use partner_center_errors::ApiError;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// What the error may keep beyond the raw body and the headers.
const BEYOND_BODY_AND_HEADERS: usize = 2048;

/// The most bytes printing an error (`Display`, `Debug`, serde), or looking up one of its ids,
/// may allocate along the way.
const PRINTED_AT_MOST: usize = 4096;

/// The most bytes `details()` may allocate per byte of body, measured on `[{},{},...]`: 147
/// (9,610,752 bytes for 21,825 empty items in 65,535 bytes), the items' gathered texts and
/// the `Vec` of `Detail`s both growing by doubling.
const DETAILS_ALLOCATED_PER_BODY_BYTE: usize = 160;

/// About the default cap: what the layer would hand the parser at most.
const BODY: usize = 64 * 1024;

const SHAPES: [&str; 11] = [
    "top_level_zeros",
    "data_zeros",
    "data_empty_objects",
    "nested_objects_100_deep",
    "keys_10000",
    "description_of_escapes",
    "www_authenticate_300k",
    "data_1000_elements",
    "html_page",
    "latin1_text",
    "graph_inner_error_10000_keys",
];

const SHAPE_VAR: &str = "MEMORY_ADVERSARIAL_SHAPE";

/// Counts the bytes written to it, keeping none.
struct Count(usize);

impl Write for Count {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `write` writes, in one allocation of exactly its length: building a shape leaves no
/// peak of its own for dhat to count against the parser.
fn exact(write: impl Fn(&mut dyn Write) -> std::io::Result<()>) -> Bytes {
    let mut count = Count(0);
    write(&mut count).expect("count");
    let mut bytes = Vec::with_capacity(count.0);
    write(&mut bytes).expect("write");
    Bytes::from(bytes)
}

/// `head`, then `item` (joined by `separator`) until the body is about `BODY` bytes, then
/// `tail`.
fn repeated(head: &str, item: &str, separator: &str, tail: &str) -> Bytes {
    let count = (BODY - head.len() - tail.len()) / (item.len() + separator.len());
    exact(|out| {
        out.write_all(head.as_bytes())?;
        for i in 0..count {
            if i > 0 {
                out.write_all(separator.as_bytes())?;
            }
            out.write_all(item.as_bytes())?;
        }
        out.write_all(tail.as_bytes())
    })
}

fn shape(name: &str) -> (Bytes, HeaderMap) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert("ms-correlationid", HeaderValue::from_static("c-1"));
    let pc = r#"{"code":"1","description":"x","source":"PartnerFD","data":["#;
    let body = match name {
        "top_level_zeros" => repeated("[", "0", ",", "]"),
        "data_zeros" => repeated(pc, "0", ",", "]}"),
        "data_empty_objects" => repeated(pc, "{}", ",", "]}"),
        "nested_objects_100_deep" => exact(|out| {
            out.write_all(br#"{"code":"1","description":"x","data":[],"extra":"#)?;
            for _ in 0..100 {
                out.write_all(br#"{"a":"#)?;
            }
            out.write_all(b"{}")?;
            for _ in 0..101 {
                out.write_all(b"}")?;
            }
            Ok(())
        }),
        "keys_10000" => exact(|out| {
            out.write_all(br#"{"code":"1","description":"x""#)?;
            for i in 0..10_000 {
                write!(out, r#","k{i}":0"#)?;
            }
            out.write_all(b"}")
        }),
        "description_of_escapes" => repeated(
            r#"{"code":"1","source":"PartnerFD","description":""#,
            r#"\n\u0000\""#,
            "",
            r#""}"#,
        ),
        "www_authenticate_300k" => {
            let value = exact(|out| {
                for _ in 0..150_000 {
                    out.write_all(b"a,")?;
                }
                Ok(())
            });
            let value = HeaderValue::from_maybe_shared(value).expect("header");
            headers.insert("www-authenticate", value);
            Bytes::from_static(br#"{"code":"1","description":"x","source":"PartnerFD"}"#)
        }
        "data_1000_elements" => exact(|out| {
            out.write_all(br#"{"code":"1","description":"x","source":"PartnerFD","data":["#)?;
            for i in 0..1000 {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write!(out, r#""entry {i}""#)?;
            }
            out.write_all(b"]}")
        }),
        "html_page" => {
            headers.insert("content-type", HeaderValue::from_static("text/html"));
            repeated("<html><body>", "<p>Bad gateway</p>", "\n", "</body></html>")
        }
        // "café" in Latin-1: every fifth byte is not UTF-8, so the text is decoded lossily.
        "latin1_text" => {
            headers.insert("content-type", HeaderValue::from_static("text/plain"));
            exact(|out| {
                for _ in 0..BODY / 5 {
                    out.write_all(b"caf\xE9 ")?;
                }
                Ok(())
            })
        }
        // Graph's `innerError` with 10,000 fields before its `request-id`.
        "graph_inner_error_10000_keys" => exact(|out| {
            out.write_all(br#"{"error":{"code":"c","message":"m","innerError":{"#)?;
            for i in 0..10_000 {
                write!(out, r#""k{i}":0,"#)?;
            }
            out.write_all(br#""request-id":"r-1"}}}"#)
        }),
        other => panic!("no shape {other}"),
    };
    (body, headers)
}

/// Measures one shape in this process: prints `retained peak body headers`.
fn measure(name: &str) {
    let _profiler = dhat::Profiler::builder().testing().build();
    let (body, headers) = shape(name);
    let body_len = body.len();
    let headers_len: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let before = dhat::HeapStats::get();

    let schema = if name.starts_with("graph") {
        Schema::Graph
    } else {
        Schema::PartnerCenter
    };
    let error = ApiError::with_schema(schema, StatusCode::BAD_REQUEST, headers, body);
    let built = dhat::HeapStats::get();
    // What a caller reads most: neither may copy the body.
    let kept = error.description().map_or(0, str::len)
        + error.code().map_or(0, str::len)
        + error.payload().text().map_or(0, str::len);
    let read = dhat::HeapStats::get();
    let challenges = error.challenges().len();
    let with_challenges = dhat::HeapStats::get();
    assert!(!matches!(error.payload(), Payload::Empty));

    // Printing allocates at most a bounded scratch, whatever the shape: what each allocated
    // in all (an upper bound of its peak), written to a counter, not kept.
    let printed = |print: &dyn Fn(&mut Count) -> std::io::Result<()>| {
        let start = dhat::HeapStats::get().total_bytes;
        print(&mut Count(0)).expect("print");
        dhat::HeapStats::get().total_bytes - start
    };
    let display = printed(&|out| write!(out, "{error}"));
    let debug = printed(&|out| write!(out, "{error:?}"));
    #[cfg(feature = "serde")]
    let serialized = printed(&|out| serde_json::to_writer(out, &error).map_err(Into::into));
    #[cfg(not(feature = "serde"))]
    let serialized = 0;

    // Looking up one id reads no more of the body into memory than that id.
    let start = dhat::HeapStats::get().total_bytes;
    let request_id = error.view().request_id().is_some();
    let request_id_alloc = dhat::HeapStats::get().total_bytes - start;
    // `details()` gathers the items into a new `Vec` on each call, kept by the caller.
    let start = dhat::HeapStats::get();
    let details = error.view().details().len();
    let details_alloc = dhat::HeapStats::get().total_bytes - start.total_bytes;
    // `data()` parses `data` into a `serde_json::Value` and keeps it.
    let start = dhat::HeapStats::get();
    let has_data = error.data().is_some();
    let end = dhat::HeapStats::get();
    let data_kept = end.curr_bytes - start.curr_bytes;
    let data_alloc = end.total_bytes - start.total_bytes;

    let retained = built.curr_bytes - before.curr_bytes;
    let after_read = read.curr_bytes - before.curr_bytes;
    let after_challenges = with_challenges.curr_bytes - before.curr_bytes;
    let peak = built.max_bytes.saturating_sub(before.curr_bytes);
    println!(
        "FIGURES {name} retained={retained} after_description={after_read} \
         after_challenges={after_challenges} peak={peak} body={body_len} headers={headers_len} \
         kept_text={kept} challenges={challenges} display={display} debug={debug} \
         serialized={serialized} details={details} details_alloc={details_alloc} \
         data={has_data} data_kept={data_kept} data_alloc={data_alloc} \
         request_id={request_id} request_id_alloc={request_id_alloc}"
    );
}

#[test]
fn adversarial_shapes_keep_at_most_2_kib_beyond_body_and_headers() {
    if let Ok(name) = std::env::var(SHAPE_VAR) {
        measure(&name);
        return;
    }
    let exe = std::env::current_exe().expect("this test binary");
    for name in SHAPES {
        let output = std::process::Command::new(&exe)
            .env(SHAPE_VAR, name)
            .args([
                "--exact",
                "adversarial_shapes_keep_at_most_2_kib_beyond_body_and_headers",
                "--nocapture",
                "--test-threads=1",
            ])
            .output()
            .expect("run one shape");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|line| line.find("FIGURES").and_then(|at| line.get(at..)))
            .unwrap_or_else(|| panic!("{name}: no figures in {stdout}"));
        println!("{line}");
        let figure = |key: &str| -> usize {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(&format!("{key}=")))
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("{key} in {line}"))
        };
        assert!(
            figure("retained") <= BEYOND_BODY_AND_HEADERS,
            "{name}: {line}"
        );
        // Reading the code, description and text copies nothing but an escaped string, which
        // is decoded once and is never longer than its text in the body, and a text that is
        // not UTF-8, decoded once into at most `MAX_TEXT_BYTES`.
        let decoded_at_most = match name {
            "description_of_escapes" => figure("body"),
            "latin1_text" => MAX_TEXT_BYTES,
            _ => 0,
        };
        assert!(
            figure("after_description") <= BEYOND_BODY_AND_HEADERS + decoded_at_most,
            "{name}: {line}"
        );
        // Printing (`Display`, `Debug`, serde) allocates a bounded scratch whatever the shape:
        // `Debug` of 10,000 extra fields once gathered them all to print eight (2 MB).
        for printer in ["display", "debug", "serialized"] {
            assert!(
                figure(printer) <= PRINTED_AT_MOST,
                "{name}: {printer}: {line}"
            );
        }
        // Looking up an id allocates a bounded scratch (and the id): Graph's `innerError`
        // of 10,000 fields once gathered them all to find `request-id` (2 MB).
        assert!(
            figure("request_id_alloc") <= PRINTED_AT_MOST,
            "{name}: {line}"
        );
        // `data()` keeps a `serde_json::Value`: 32 bytes a value (and a `Vec`'s spare room)
        // for as little as two bytes of text (`0,`), so at most 32 times the body; not the 2 KiB
        // above. `details()` keeps nothing, but allocates for every item it reads.
        assert!(figure("data_kept") <= 32 * figure("body"), "{name}: {line}");
        assert!(
            figure("details_alloc") <= DETAILS_ALLOCATED_PER_BODY_BYTE * figure("body"),
            "{name}: {line}"
        );
        // Challenges, once read, are bounded whatever the header's size.
        assert!(
            figure("after_challenges") <= figure("after_description") + 32 * 1024,
            "{name}: {line}"
        );
    }
}

//! The common body read in one pass without serde: a JSON object whose keys have no escapes
//! and whose values nest a few levels at most, its Partner Center fields found as it is
//! checked.
//!
//! The scanner only accepts text that is valid JSON (it follows RFC 8259's grammar, and
//! checks escapes in values as serde_json checks those of a value it keeps as text) and gives
//! up on anything it does not follow: an escape in a key, a control character, deep nesting,
//! or any fault. Text it gives up on is read by serde_json, which decides, and names the
//! fault. It also gives up at an `error` object, Graph's envelope, which is serde_json's to
//! read (so that a Graph body is not read twice).

/// The Partner Center fields of an object (the last of each name), each value's JSON text as
/// sent, and how many other fields it has.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Flat<'a> {
    pub(super) code: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    pub(super) data: Option<&'a str>,
    pub(super) source: Option<&'a str>,
    /// Fields other than `code`, `description`, `data` and `source`.
    pub(super) extra: usize,
    /// Whether its strings may hold escapes (when the scanner read them: whether any did).
    pub(super) escaped: bool,
}

/// Deepest nesting the scanner follows; deeper text is left to serde_json.
const MAX_NESTING: usize = 32;

/// Reads `text` (valid UTF-8) as one JSON object, or `None` when the scanner gives up.
pub(super) fn read(text: &str) -> Option<Flat<'_>> {
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    let mut flat = Flat::default();
    at = skip_whitespace(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            let (key, after_key) = key(bytes, at)?;
            let name = text.get(key)?;
            let start = skip_whitespace(bytes, after_key);
            if name == "error" && bytes.get(start) == Some(&b'{') {
                // Graph's envelope: serde_json reads its fields with the body's, in one pass.
                return None;
            }
            let end = value(bytes, start, 1, &mut flat.escaped)?;
            let raw = text.get(start..end);
            match name {
                "code" => flat.code = raw,
                "description" => flat.description = raw,
                "data" => flat.data = raw,
                "source" => flat.source = raw,
                _ => flat.extra += 1,
            }
            at = skip_whitespace(bytes, end);
            match bytes.get(at)? {
                b',' => at = skip_whitespace(bytes, at + 1),
                b'}' => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_whitespace(bytes, at) == bytes.len()).then_some(flat)
}

/// Reads a key and its colon at `at`: the key's text (quotes excluded) and where its value
/// may start (before whitespace).
#[inline(always)]
fn key(bytes: &[u8], at: usize) -> Option<(std::ops::Range<usize>, usize)> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let end = text_end(bytes, at + 1)?;
    if bytes.get(end) != Some(&b'"') {
        // An escape: the key would have to be decoded to be matched.
        return None;
    }
    let colon = skip_whitespace(bytes, end + 1);
    (bytes.get(colon) == Some(&b':')).then_some((at + 1..end, colon + 1))
}

/// Checks the value starting at `at` (no whitespace before it), `depth` levels down;
/// returns where it ends, and sets `escaped` when one of its strings has an escape.
fn value(bytes: &[u8], at: usize, depth: usize, escaped: &mut bool) -> Option<usize> {
    match bytes.get(at)? {
        b'"' => string_end(bytes, at + 1, escaped).map(|end| end + 1),
        b'[' => {
            if depth >= MAX_NESTING {
                return None;
            }
            let mut at = skip_whitespace(bytes, at + 1);
            if bytes.get(at) == Some(&b']') {
                return Some(at + 1);
            }
            loop {
                at = skip_whitespace(bytes, value(bytes, at, depth + 1, escaped)?);
                match bytes.get(at)? {
                    b',' => at = skip_whitespace(bytes, at + 1),
                    b']' => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        b'{' => {
            if depth >= MAX_NESTING {
                return None;
            }
            let mut at = skip_whitespace(bytes, at + 1);
            if bytes.get(at) == Some(&b'}') {
                return Some(at + 1);
            }
            loop {
                let (_, after_key) = key(bytes, at)?;
                let start = skip_whitespace(bytes, after_key);
                at = skip_whitespace(bytes, value(bytes, start, depth + 1, escaped)?);
                match bytes.get(at)? {
                    b',' => at = skip_whitespace(bytes, at + 1),
                    b'}' => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        b't' => literal(bytes, at, b"true"),
        b'f' => literal(bytes, at, b"false"),
        b'n' => literal(bytes, at, b"null"),
        _ => number(bytes, at),
    }
}

fn literal(bytes: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    (bytes.get(at..at + word.len())? == word).then_some(at + word.len())
}

/// A number by RFC 8259's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number(bytes: &[u8], mut at: usize) -> Option<usize> {
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => at = digits(bytes, at + 1),
        _ => return None,
    }
    if bytes.get(at) == Some(&b'.') {
        at = at_least_one_digit(bytes, at + 1)?;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        at = at_least_one_digit(bytes, at)?;
    }
    Some(at)
}

fn digits(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

fn at_least_one_digit(bytes: &[u8], at: usize) -> Option<usize> {
    let end = digits(bytes, at);
    (end > at).then_some(end)
}

#[inline(always)]
fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    // Every whitespace byte is at most b' ': one comparison for the usual next byte.
    while bytes.get(at).is_some_and(|&byte| byte <= b' ')
        && matches!(bytes.get(at), Some(b' ' | b'\n' | b'\t' | b'\r'))
    {
        at += 1;
    }
    at
}

/// Where the string value whose text starts at `at` ends (its closing quote), setting
/// `escaped` when it has an escape.
#[inline]
fn string_end(bytes: &[u8], at: usize, escaped: &mut bool) -> Option<usize> {
    let end = text_end(bytes, at)?;
    if bytes.get(end) == Some(&b'"') {
        return Some(end);
    }
    *escaped = true;
    escaped_string_end(bytes, end)
}

/// [`string_end`] from the escape at `at` on. An escape is checked as serde_json checks one
/// in a value it keeps as text: a `\u` needs four hex digits, whatever code point they make.
#[cold]
#[inline(never)]
fn escaped_string_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let next = match bytes.get(at + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at + 2,
            b'u' => {
                let hex = bytes.get(at + 2..at + 6)?;
                hex.iter().all(u8::is_ascii_hexdigit).then_some(at + 6)?
            }
            _ => return None,
        };
        at = text_end(bytes, next)?;
        if bytes.get(at) == Some(&b'"') {
            return Some(at);
        }
    }
}

/// Where the text of a string starting at `at` stops: its closing quote or its first
/// backslash; `None` at a control character or the end of the text. Its first 128 bytes
/// eight at a time; past them, memchr finds the stop and the text up to it is checked for
/// control characters eight bytes at a time.
#[inline]
fn text_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    let words_end = at + 128;
    while at < words_end {
        let Some(chunk) = bytes.get(at..at + 8) else {
            return short_text_end(bytes, at);
        };
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let found = zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | control(word);
        if found != 0 {
            return short_text_end(bytes, at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    long_text_end(bytes, at)
}

/// [`text_end`] past the first 128 bytes of a string.
#[inline(never)]
fn long_text_end(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = bytes.get(at..)?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    let text = rest.get(..end)?;
    let mut words = text.chunks_exact(8);
    let mut found = 0;
    for chunk in &mut words {
        found |= control(u64::from_le_bytes(chunk.try_into().ok()?));
    }
    let clean = found == 0 && words.remainder().iter().all(|&byte| byte >= 0x20);
    clean.then_some(at + end)
}

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGH: u64 = ONES << 7;

/// The zero bytes of `word`, as their high bits: exact for the lowest one, and only bytes
/// after it can be flagged wrongly, so the first flagged byte is the first zero, and none is
/// flagged when none is zero.
fn zero(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGH
}

/// The bytes of `word` below 0x20, flagged as [`zero`] flags zeros.
fn control(word: u64) -> u64 {
    word.wrapping_sub(ONES * 0x20) & !word & HIGH
}

/// [`text_end`] byte by byte.
fn short_text_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        match *bytes.get(at)? {
            b'"' | b'\\' => return Some(at),
            0..=0x1F => return None,
            _ => at += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::de::IgnoredAny;

    use super::*;

    fn field(text: &str) -> Option<&str> {
        read(text)?.code
    }

    #[test]
    fn reads_the_fields_and_counts_the_others() {
        let text = r#" {"code" : 600074, "description":"No such customer.","data":[],"x":{"y":[1,"z"]},"source":"PartnerFD","code":"2"} "#;
        assert_eq!(
            read(text),
            Some(Flat {
                code: Some(r#""2""#),
                description: Some(r#""No such customer.""#),
                data: Some("[]"),
                source: Some(r#""PartnerFD""#),
                extra: 1,
                escaped: false,
            })
        );
        assert_eq!(read("{}"), Some(Flat::default()));
        let text = r#"{"code":"a\"b\\\/\b\f\n\r\t\u00e9\uD800","x":["\""]}"#;
        let escaped = read(text).expect("read");
        assert_eq!(escaped.code, Some(r#""a\"b\\\/\b\f\n\r\t\u00e9\uD800""#));
        assert!(escaped.escaped);
        assert!(read(r#"{"x":["\u0041"]}"#).expect("read").escaped);
        assert!(!read(r#"{"code":"a"}"#).expect("read").escaped);
    }

    #[test]
    fn gives_up_on_what_it_does_not_follow() {
        for text in [
            r#"{"c\u006fde":"1"}"#,
            r#"{"code":"\x"}"#,
            r#"{"code":"\u12"}"#,
            r#"{"code":"\u12G4"}"#,
            r#"{"code":"\"}"#,
            r#"{"code":"1","error":{}}"#,
            "{\"code\":\"a\u{1}b\"}",
            r#"{"code":01}"#,
            r#"{"code":1.}"#,
            r#"{"code":-}"#,
            r#"{"code":1e}"#,
            r#"{"code":tru}"#,
            r#"{"code":1,}"#,
            r#"{"code":1}x"#,
            r#"{"code":[1,]}"#,
            r#"{"code":{"a"}}"#,
            r#"{"code":"1""#,
            "[1]",
            "",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
        let deep = format!(r#"{{"code":{}{}}}"#, "[".repeat(40), "]".repeat(40));
        assert_eq!(read(&deep), None);
        let shallow = format!(r#"{{"code":{}{}}}"#, "[".repeat(20), "]".repeat(20));
        assert!(read(&shallow).is_some());
    }

    #[test]
    fn strings_are_read_a_word_at_a_time_to_their_first_quote() {
        // Past 128 bytes too, where memchr takes over.
        for len in (0..40).chain([63, 64, 65, 100, 150]) {
            let text = format!(r#"{{"code":"{}"}}"#, "é".repeat(len));
            assert_eq!(field(&text).map(str::len), Some(2 * len + 2), "{len}");
            let control = format!("{{\"code\":\"{}\u{1f}\"}}", "a".repeat(len));
            assert_eq!(read(&control), None, "{len}");
        }
    }

    fn json_like() -> impl Strategy<Value = String> {
        let atom = prop::sample::select(vec![
            "0",
            "-0",
            "1",
            "-12",
            "\\",
            "u",
            "00e9",
            "\"\\u12\"",
            "01",
            "1.5",
            "1.",
            ".5",
            "1e9",
            "1E+2",
            "2e-",
            "-",
            "true",
            "tru",
            "false",
            "null",
            "\"\"",
            "\"a\"",
            "\"\\n\"",
            "\"\u{1}\"",
            "\"é\"",
            "[",
            "]",
            "{",
            "}",
            ":",
            ",",
            " ",
            "\n",
            "\"code\"",
            "\"data\"",
            "\"x\"",
            "\"",
        ]);
        prop::collection::vec(atom, 0..24).prop_map(|parts| parts.concat())
    }

    proptest! {
        /// What the scanner accepts, serde_json accepts, and the scanner's fields are the
        /// last of each name, as serde_json reads them.
        #[test]
        fn accepts_only_what_serde_json_accepts(tail in json_like()) {
            let text = format!("{{{tail}");
            if let Some(flat) = read(&text) {
                let value: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&text).expect("serde_json accepts it");
                let raw = |name: &str| flat_field(&flat, name).map(|raw| {
                    serde_json::from_str::<serde_json::Value>(raw).expect("a value")
                });
                for name in ["code", "description", "data", "source"] {
                    let read = raw(name);
                    prop_assert_eq!(read.as_ref(), value.get(name));
                }
            } else {
                // Not a claim that serde_json refuses it: only that the scanner gave up.
                let _ = serde_json::from_str::<IgnoredAny>(&text);
            }
        }
    }

    /// Objects serde_json writes, with fields of `names`, in any of three spacings.
    fn object(names: &[&'static str]) -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "[a-z é\"\\\\\n\u{1}\u{2028}]{0,12}".prop_map(serde_json::Value::from),
            "[a-z \"\\\\\u{1f}]{100,200}".prop_map(serde_json::Value::from),
        ];
        let value = leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::vec(("[a-z]{1,3}", inner), 0..4)
                    .prop_map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
            ]
        });
        let name = prop::sample::select(names.to_vec());
        (
            prop::collection::vec((name, value), 0..6),
            prop::sample::select(vec!["", " ", "\n\t"]),
        )
            .prop_map(|(fields, space)| {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{space}\"{name}\"{space}:{space}{value}{space}"))
                    .collect();
                format!("{space}{{{}}}{space}", fields.join(","))
            })
    }

    proptest! {
        /// Objects serde_json wrote (keys without escapes): the scanner reads each one, its
        /// fields are the last of each name, and it knows whether a string had an escape.
        #[test]
        fn reads_what_serde_json_writes(
            text in object(&["code", "description", "data", "source", "x"])
        ) {
            let value: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).expect("valid JSON");
            match read(&text) {
                Some(flat) => {
                    prop_assert_eq!(flat.escaped, text.contains('\\'));
                    for name in ["code", "description", "data", "source"] {
                        let raw = flat_field(&flat, name)
                            .map(|raw| serde_json::from_str::<serde_json::Value>(raw).expect("a value"));
                        prop_assert_eq!(raw.as_ref(), value.get(name));
                    }
                }
                None => prop_assert!(false, "gave up on {}", text),
            }
        }
    }

    proptest! {
        /// A body read through the scanner is the body serde_json reads: the same payload,
        /// violations and schema, under Partner Center's schema and Auto.
        #[test]
        fn parses_as_serde_json_reads(
            text in object(&["code", "description", "data", "source", "x", "error", "message"]),
            auto in any::<bool>(),
        ) {
            use crate::schema::{parse_as, read::parse_with_serde_json, Schema};
            let schema = if auto { Schema::Auto } else { Schema::PartnerCenter };
            let body = bytes::Bytes::from(text);
            prop_assert_eq!(
                parse_as(schema, body.clone(), None, None),
                parse_with_serde_json(body, schema)
            );
        }
    }

    fn flat_field<'a>(flat: &Flat<'a>, name: &str) -> Option<&'a str> {
        match name {
            "code" => flat.code,
            "description" => flat.description,
            "data" => flat.data,
            _ => flat.source,
        }
    }
}

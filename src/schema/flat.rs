//! The common bodies read in one pass without serde: a JSON object whose keys have no
//! escapes and whose values nest a few levels at most, its Partner Center fields and the
//! fields of Graph's `error` object found as it is checked.
//!
//! The scanner only accepts text that is valid JSON (it follows RFC 8259's grammar, and
//! checks escapes in values as serde_json checks those of a value it keeps as text) and gives
//! up on anything it does not follow: an escape in a key, a control character, deep nesting,
//! or any fault. Text it gives up on is read by serde_json, which decides, and names the
//! fault. It also gives up at an `error` that is not an object, which serde_json reads as a
//! value of its own (a number's range and a string's escapes checked).
//!
//! Why by hand: serde_json's borrowed reading (a `RawValue` per field, a visitor per key) costs
//! more than deserialising the same body into owned `String`s, the floor this crate measures
//! itself against; and another JSON crate would bring acceptance rules of its own to reconcile
//! with serde_json's, which stays the one judge of what is JSON here. The scanner is the
//! grammar and nothing more, and defers to serde_json on everything it does not follow.

use super::read::GraphFields;
use super::text::json_type_of;
use super::JsonType;

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

/// The fields of an object that make envelopes other than Partner Center's (the last of each
/// name): kept apart from [`Flat`], which the common body moves on.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Others<'a> {
    /// Whether it has a member of problem details: `type`, `title`, `status`, `detail` or
    /// `instance`.
    pub(super) problem: bool,
    /// `statusCode`, the gateway's.
    pub(super) status_code: Option<&'a str>,
    /// `message`, the gateway's.
    pub(super) message: Option<&'a str>,
    /// The fields of `error`, Graph's envelope.
    pub(super) error: Option<GraphFields<'a>>,
}

impl<'a> Others<'a> {
    /// Returns the fields of the `error` object when the object with `flat` is Graph's
    /// envelope, as `shape` decides: no `description`, no member of problem details, no
    /// `code`, no number `statusCode` and no string `message`.
    pub(super) fn graph_error(&self, flat: &Flat<'_>) -> Option<GraphFields<'a>> {
        let gateway = self
            .status_code
            .is_some_and(|v| json_type_of(v) == JsonType::Number)
            || self
                .message
                .is_some_and(|v| json_type_of(v) == JsonType::String);
        let other = flat.description.is_some() || self.problem || flat.code.is_some();
        self.error.filter(|_| !other && !gateway)
    }
}

/// Deepest nesting the scanner follows; deeper text is left to serde_json.
const MAX_NESTING: usize = 32;

/// Reads `text` (valid UTF-8) as one JSON object, its other envelopes' fields into `others`,
/// or `None` when the scanner gives up.
pub(super) fn read<'a>(text: &'a str, others: &mut Others<'a>) -> Option<Flat<'a>> {
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
            let end = if name == "error" {
                let (error, end) = error_object(text, start, &mut flat.escaped)?;
                others.error = Some(error);
                flat.extra += 1;
                end
            } else {
                let end = value(bytes, start, 1, &mut flat.escaped)?;
                let raw = text.get(start..end);
                match name {
                    "code" => flat.code = raw,
                    "description" => flat.description = raw,
                    "data" => flat.data = raw,
                    "source" => flat.source = raw,
                    _ => {
                        flat.extra += 1;
                        match name {
                            "type" | "title" | "status" | "detail" | "instance" => {
                                others.problem = true;
                            }
                            "statusCode" => others.status_code = raw,
                            "message" => others.message = raw,
                            _ => {}
                        }
                    }
                }
                end
            };
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

/// Reads the `error` object at `at` (one level down), Graph's envelope: the fields of it the
/// parser looks at (the last of each name), and where it ends. `None` when it is not an
/// object, or when the scanner gives up on it.
fn error_object<'a>(
    text: &'a str,
    at: usize,
    escaped: &mut bool,
) -> Option<(GraphFields<'a>, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    let mut fields = GraphFields::default();
    let mut at = skip_whitespace(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        return Some((fields, at + 1));
    }
    loop {
        let (key, after_key) = key(bytes, at)?;
        let start = skip_whitespace(bytes, after_key);
        let end = value(bytes, start, 2, escaped)?;
        let raw = text.get(start..end);
        match text.get(key)? {
            "code" => fields.code = raw,
            "message" => fields.message = raw,
            "target" => fields.target = raw,
            "details" => fields.details = raw,
            "innerError" => fields.inner_error = raw,
            "innererror" => fields.inner_error_lower = raw,
            _ => {}
        }
        at = skip_whitespace(bytes, end);
        match bytes.get(at)? {
            b',' => at = skip_whitespace(bytes, at + 1),
            b'}' => return Some((fields, at + 1)),
            _ => return None,
        }
    }
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

    /// [`read`], its other envelopes' fields set aside.
    fn scan(text: &str) -> Option<Flat<'_>> {
        read(text, &mut Others::default())
    }

    /// [`read`], with its other envelopes' fields.
    fn scan_all(text: &str) -> Option<(Flat<'_>, Others<'_>)> {
        let mut others = Others::default();
        read(text, &mut others).map(|flat| (flat, others))
    }

    fn field(text: &str) -> Option<&str> {
        scan(text)?.code
    }

    #[test]
    fn reads_the_fields_and_counts_the_others() {
        let text = r#" {"code" : 600074, "description":"No such customer.","data":[],"x":{"y":[1,"z"]},"source":"PartnerFD","code":"2"} "#;
        assert_eq!(
            scan(text),
            Some(Flat {
                code: Some(r#""2""#),
                description: Some(r#""No such customer.""#),
                data: Some("[]"),
                source: Some(r#""PartnerFD""#),
                extra: 1,
                escaped: false,
            })
        );
        assert_eq!(scan("{}"), Some(Flat::default()));
        let text = r#"{"code":"a\"b\\\/\b\f\n\r\t\u00e9\uD800","x":["\""]}"#;
        let escaped = scan(text).expect("read");
        assert_eq!(escaped.code, Some(r#""a\"b\\\/\b\f\n\r\t\u00e9\uD800""#));
        assert!(escaped.escaped);
        assert!(scan(r#"{"x":["\u0041"]}"#).expect("read").escaped);
        assert!(!scan(r#"{"code":"a"}"#).expect("read").escaped);
    }

    #[test]
    fn gives_up_on_what_it_does_not_follow() {
        for text in [
            r#"{"c\u006fde":"1"}"#,
            r#"{"code":"\x"}"#,
            r#"{"code":"\u12"}"#,
            r#"{"code":"\u12G4"}"#,
            r#"{"code":"\"}"#,
            r#"{"code":"1","error":[]}"#,
            r#"{"code":"1","error":"x"}"#,
            r#"{"code":"1","error":1e400}"#,
            r#"{"error":{"c\u006fde":"1"}}"#,
            r#"{"error":{"code":"1",}}"#,
            r#"{"error":{"code"}}"#,
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
            assert_eq!(scan(text), None, "{text}");
        }
        let deep = format!(r#"{{"code":{}{}}}"#, "[".repeat(40), "]".repeat(40));
        assert_eq!(scan(&deep), None);
        let shallow = format!(r#"{{"code":{}{}}}"#, "[".repeat(20), "]".repeat(20));
        assert!(scan(&shallow).is_some());
    }

    #[test]
    fn reads_graph_s_error_object_in_the_same_pass() {
        let text = r#"{"error":{"code":"A","message":"m","code":7,"details":[{"code":"x"}],"innererror":{},"innerError":null,"target":"t","y":{"code":"z"}},"x":1}"#;
        let (flat, others) = scan_all(text).expect("read");
        let fields = GraphFields {
            code: Some("7"),
            message: Some(r#""m""#),
            target: Some(r#""t""#),
            details: Some(r#"[{"code":"x"}]"#),
            inner_error: Some("null"),
            inner_error_lower: Some("{}"),
        };
        assert_eq!(others.error, Some(fields));
        assert_eq!(flat.extra, 2);
        assert_eq!(others.graph_error(&flat), Some(fields));
        let (flat, last) =
            scan_all(r#"{"error":{"code":"A"},"error":{"message":"m"}}"#).expect("read");
        let message = GraphFields {
            message: Some(r#""m""#),
            ..GraphFields::default()
        };
        assert_eq!(last.graph_error(&flat), Some(message));
        // Fields of other envelopes make it another envelope, as `shape` decides.
        for (other, graph) in [
            (r#""description":"d""#, false),
            (r#""code":null"#, false),
            (r#""type":1"#, false),
            (r#""title":"t""#, false),
            (r#""status":400"#, false),
            (r#""detail":"d""#, false),
            (r#""instance":"i""#, false),
            (r#""statusCode":400"#, false),
            (r#""message":"m""#, false),
            (r#""statusCode":"400""#, true),
            (r#""message":1"#, true),
            (r#""data":[]"#, true),
        ] {
            let text = format!(r#"{{{other},"error":{{}}}}"#);
            let (flat, others) = scan_all(&text).expect("read");
            assert_eq!(others.graph_error(&flat).is_some(), graph, "{text}");
        }
    }

    #[test]
    fn an_error_of_another_type_is_read_by_serde_json() {
        use crate::schema::{parse_as, read::parse_with_serde_json, Schema};
        // serde_json reads it as a value of its own: a number out of range, or a string
        // with a lone surrogate, is not JSON to it.
        for text in [
            r#"{"description":"d","error":1e400}"#,
            r#"{"description":"d","error":"\uD800"}"#,
        ] {
            assert_eq!(scan(text), None, "{text}");
            for schema in [Schema::PartnerCenter, Schema::Auto, Schema::Graph] {
                let body = bytes::Bytes::from(text);
                let parsed = parse_as(schema, body.clone(), None, None);
                assert!(!parsed.is_valid(), "{text}");
                assert_eq!(parsed, parse_with_serde_json(body, schema), "{text}");
            }
        }
    }

    #[test]
    fn strings_are_read_a_word_at_a_time_to_their_first_quote() {
        // Past 128 bytes too, where memchr takes over.
        for len in (0..40).chain([63, 64, 65, 100, 150]) {
            let text = format!(r#"{{"code":"{}"}}"#, "é".repeat(len));
            assert_eq!(field(&text).map(str::len), Some(2 * len + 2), "{len}");
            let control = format!("{{\"code\":\"{}\u{1f}\"}}", "a".repeat(len));
            assert_eq!(scan(&control), None, "{len}");
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
            if let Some(flat) = scan(&text) {
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

    /// Values serde_json writes, nesting a few levels.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "[a-z é\"\\\\\n\u{1}\u{2028}]{0,12}".prop_map(serde_json::Value::from),
            "[a-z \"\\\\\u{1f}]{100,200}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::vec(("[a-z]{1,3}", inner), 0..4)
                    .prop_map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// Objects of fields of `names` (duplicates and all) whose values are texts of `value`,
    /// in any of three spacings.
    fn object_of(
        names: &[&'static str],
        value: impl Strategy<Value = String>,
    ) -> impl Strategy<Value = String> {
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

    /// Objects serde_json writes, with fields of `names`, in any of three spacings.
    fn object(names: &[&'static str]) -> impl Strategy<Value = String> {
        object_of(names, json_value().prop_map(|value| value.to_string()))
    }

    /// Graph's envelope and objects near it: `error` objects of Graph's fields and others
    /// (nested values, `innerError` and `innererror`, duplicates), or `error` of another
    /// type, among fields that make other envelopes.
    fn graph_like() -> impl Strategy<Value = String> {
        let error = object_of(
            &[
                "code",
                "message",
                "target",
                "details",
                "innerError",
                "innererror",
                "x",
            ],
            json_value().prop_map(|value| value.to_string()),
        );
        let value = prop_oneof![
            3 => error,
            1 => json_value().prop_map(|value| value.to_string()),
        ];
        object_of(
            &[
                "error",
                "error",
                "error",
                "error",
                "error",
                "x",
                "x",
                "code",
                "description",
                "message",
                "statusCode",
                "type",
                "instance",
                "data",
            ],
            value,
        )
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
            match scan(&text) {
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

    fn schema() -> impl Strategy<Value = crate::schema::Schema> {
        use crate::schema::Schema;
        prop::sample::select(vec![Schema::PartnerCenter, Schema::Auto, Schema::Graph])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// A body read through the scanner is the body serde_json reads: the same payload,
        /// violations and schema, under Partner Center's schema, Graph's and Auto.
        #[test]
        fn parses_as_serde_json_reads(
            text in prop_oneof![
                1 => object(&["code", "description", "data", "source", "x", "error", "message"]),
                2 => graph_like(),
            ],
            schema in schema(),
        ) {
            use crate::schema::{parse_as, read::parse_with_serde_json};
            let body = bytes::Bytes::from(text);
            prop_assert_eq!(
                parse_as(schema, body.clone(), None, None),
                parse_with_serde_json(body, schema)
            );
        }
    }

    proptest! {
        /// Graph's envelope and objects near it, as serde_json wrote their values: the
        /// scanner reads each one whose last `error` (if any) is an object, and finds the
        /// last of each of its fields.
        #[test]
        fn reads_the_error_object_serde_json_reads(text in graph_like()) {
            let value: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).expect("valid JSON");
            let error = value.get("error");
            let whole = bytestring::ByteString::from(text.clone());
            let all_objects = crate::schema::read::object_fields(&whole)
                .iter()
                .filter(|(key, _)| key.as_str() == "error")
                .all(|(_, value)| value.get().starts_with('{'));
            match (scan_all(&text), error) {
                (Some((_, others)), Some(serde_json::Value::Object(fields))) => {
                    let found = others.error.expect("the error object's fields");
                    let read = [
                        ("code", found.code),
                        ("message", found.message),
                        ("target", found.target),
                        ("details", found.details),
                        ("innerError", found.inner_error),
                        ("innererror", found.inner_error_lower),
                    ];
                    for (name, raw) in read {
                        let raw = raw.map(|raw| {
                            serde_json::from_str::<serde_json::Value>(raw).expect("a value")
                        });
                        prop_assert_eq!(raw.as_ref(), fields.get(name));
                    }
                }
                (Some((_, others)), None) => prop_assert_eq!(others.error, None),
                (None, Some(_)) if !all_objects => {}
                (read, error) => prop_assert!(false, "{:?} for {:?} in {}", read, error, text),
            }
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

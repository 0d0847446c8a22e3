//! Text that refers into the body: a string field, or a JSON value kept as sent.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use bytes::Bytes;
use bytestring::ByteString;
use serde_json::Value;

use super::{JsonType, MAX_TEXT_BYTES};
use crate::sanitize::Sanitized;

/// Most characters of one kept string that `Debug` prints.
const DEBUG_CHARS: usize = 120;

/// A string read from an error body.
///
/// When the JSON string had no escapes, this is a slice of the body's own bytes: no copy, and
/// cloning it only bumps a reference count. A string with escapes keeps its JSON text (also a
/// slice of the body) and is decoded on first use, into a buffer no longer than that text; an
/// escaped UTF-16 surrogate without its other half (`\ud83d`) decodes to U+FFFD.
/// The text of a body that is not UTF-8 keeps its bytes (a slice of the body, at most
/// [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES)) and is decoded lossily on first use, into at
/// most as many bytes.
/// It dereferences to `str` and compares equal to `str` and `String`.
///
/// `Debug` prints at most 120 characters, sanitised, and says how many it left out.
#[derive(Clone)]
pub struct BodyStr(Repr);

#[derive(Clone)]
enum Repr {
    /// The text itself.
    Text(ByteString),
    /// A JSON string literal with escapes, quotes included, and its text once decoded (boxed:
    /// rare, and it would double the size of every `BodyStr`).
    Escaped(Box<Escaped>),
    /// Bytes that are not UTF-8, and their lossy decoding once done (boxed, as `Escaped`).
    Lossy(Box<Lossy>),
}

#[derive(Clone)]
struct Escaped {
    literal: ByteString,
    decoded: OnceLock<Box<str>>,
}

#[derive(Clone)]
struct Lossy {
    bytes: Bytes,
    decoded: OnceLock<Box<str>>,
}

impl BodyStr {
    /// Returns the text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Text(text) => text,
            Repr::Escaped(escaped) => escaped
                .decoded
                .get_or_init(|| decode_literal(&escaped.literal).into_boxed_str()),
            Repr::Lossy(lossy) => lossy
                .decoded
                .get_or_init(|| lossy_text(&lossy.bytes).into_boxed_str()),
        }
    }

    /// Runs `f` on the text; a string with escapes not decoded yet is decoded for the call
    /// only, not kept.
    pub(super) fn inspect<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            Repr::Escaped(escaped) if escaped.decoded.get().is_none() => {
                f(&decode_literal(&escaped.literal))
            }
            Repr::Lossy(lossy) if lossy.decoded.get().is_none() => f(&lossy_text(&lossy.bytes)),
            _ => f(self.as_str()),
        }
    }

    /// The text without decoding it: itself, the JSON literal (quotes and escapes included)
    /// of a string with escapes, or the UTF-8 part of a text that is not UTF-8, whether or not
    /// it was decoded since. For scans that must not copy, and must not depend on what was
    /// asked before.
    pub(crate) fn undecoded(&self) -> &str {
        match &self.0 {
            Repr::Text(text) => text,
            Repr::Escaped(escaped) => &escaped.literal,
            // Bytes that are not UTF-8: the part before the first of them.
            Repr::Lossy(lossy) => match std::str::from_utf8(&lossy.bytes) {
                Ok(text) => text,
                Err(error) => lossy
                    .bytes
                    .get(..error.valid_up_to())
                    .and_then(|valid| std::str::from_utf8(valid).ok())
                    .unwrap_or_default(),
            },
        }
    }

    pub(super) fn shared(whole: &ByteString, part: &str) -> Self {
        Self(Repr::Text(whole.slice_ref(part)))
    }

    /// The text of `bytes`, which are not UTF-8: at most [`MAX_TEXT_BYTES`] of them are kept
    /// (a slice, no copy), decoded lossily on first use.
    pub(super) fn lossy(bytes: &Bytes) -> Self {
        let kept = bytes.slice(..bytes.len().min(MAX_TEXT_BYTES));
        Self(Repr::Lossy(Box::new(Lossy {
            bytes: kept,
            decoded: OnceLock::new(),
        })))
    }
}

impl Default for BodyStr {
    fn default() -> Self {
        Self(Repr::Text(ByteString::new()))
    }
}

impl PartialEq for BodyStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for BodyStr {}

impl std::hash::Hash for BodyStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for BodyStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BodyStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Deref for BodyStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for BodyStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for BodyStr {
    fn from(text: String) -> Self {
        Self(Repr::Text(ByteString::from(text)))
    }
}

impl From<&str> for BodyStr {
    fn from(text: &str) -> Self {
        Self(Repr::Text(ByteString::from(text)))
    }
}

impl PartialEq<str> for BodyStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for BodyStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for BodyStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl fmt::Display for BodyStr {
    /// Prints the text as it is: sanitise it yourself before showing it to a person.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for BodyStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        bounded_debug(self, f)
    }
}

/// Writes `"text"` sanitised and cut at [`DEBUG_CHARS`], with the count of characters left out.
pub(super) fn bounded_debug(text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let shown = Sanitized::with_limit(text, DEBUG_CHARS);
    write!(f, "\"{shown}\"")?;
    let left_out = text.chars().skip(shown.shown_chars()).count();
    if left_out > 0 {
        write!(f, " (+{left_out} chars)")?;
    }
    Ok(())
}

/// A JSON value kept as the text that was sent, parsed only when asked
/// ([`to_value`](Self::to_value)).
///
/// The text is a slice of the body's own bytes. `Debug` is bounded as [`BodyStr`]'s is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawJson(ByteString);

impl RawJson {
    /// Returns the value's JSON text, exactly as sent (no surrounding whitespace).
    pub fn get(&self) -> &str {
        &self.0
    }

    /// Returns the value's JSON type, read from its first byte.
    pub fn json_type(&self) -> JsonType {
        json_type_of(&self.0)
    }

    /// Parses the value into a [`serde_json::Value`]. The text was valid JSON when it was kept,
    /// yet serde_json's `Value` cannot hold all of JSON: this fails past serde_json's recursion
    /// limit (nesting deeper than 128) and on a number too large for an `f64` (`1e400`). A
    /// string in it with an escaped UTF-16 surrogate that lacks its other half (`"\ud83d"`),
    /// which no Rust string can hold, reads with U+FFFD in its place.
    ///
    /// ```
    /// use partner_center_errors::schema::{self, Payload};
    ///
    /// let parsed = schema::parse(br#"{"code":"1","description":"d","data":[1e400, 1]}"#, None);
    /// let Payload::PartnerCenter(body) = parsed.payload else { unreachable!() };
    /// let data = body.data.expect("kept as sent");
    /// assert_eq!(data.get(), "[1e400, 1]");
    /// assert!(data.to_value().is_err());
    /// ```
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.0).or_else(|error| match without_lone_surrogates(&self.0) {
            Some(repaired) => serde_json::from_str(&repaired),
            None => Err(error),
        })
    }

    /// Returns the value as a string, when it is a JSON string (decoding escapes, so it may copy).
    pub fn to_str(&self) -> Option<BodyStr> {
        decode_string(&self.0, self.get())
    }

    /// Returns the value as a bool, when it is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.get() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Returns the object's fields, in the order sent, when the value is an object.
    pub(super) fn fields(&self) -> Vec<(BodyStr, RawJson)> {
        super::read::object_fields(&self.0)
    }

    /// Returns the fields of the object that `pick` keeps (see [`picked_fields`]).
    ///
    /// [`picked_fields`]: super::read::picked_fields
    pub(super) fn picked_fields(&self, pick: super::read::Pick<'_>) -> Vec<(BodyStr, RawJson)> {
        super::read::picked_fields(&self.0, pick)
    }

    /// Returns the array's items, in the order sent, when the value is an array; empty
    /// otherwise. Each item is a slice of the same bytes.
    pub(super) fn elements(&self) -> Vec<RawJson> {
        serde_json::from_str::<Vec<&serde_json::value::RawValue>>(&self.0)
            .map(|items| {
                items
                    .into_iter()
                    .map(|item| Self::shared(&self.0, item.get()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value's text as a [`BodyStr`], for a number kept as sent.
    pub(super) fn number_text(&self) -> BodyStr {
        BodyStr::shared(&self.0, self.get())
    }

    /// Builds a value's JSON text (for bodies built to answer with, not read).
    pub fn from_value(value: &Value) -> Self {
        Self(ByteString::from(value.to_string()))
    }

    pub(super) fn shared(whole: &ByteString, part: &str) -> Self {
        Self(whole.slice_ref(part))
    }
}

/// Compares the parsed value (so `[1, 2]` equals `[1,2]`).
impl PartialEq<Value> for RawJson {
    fn eq(&self, other: &Value) -> bool {
        self.to_value().is_ok_and(|value| value == *other)
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawJson(")?;
        bounded_debug(self.get(), f)?;
        f.write_str(")")
    }
}

/// Decodes the JSON string `literal` (quotes included, a slice of `whole`): a slice of `whole`
/// when it has no escapes, else a decoded copy. `None` when `literal` is not a JSON string.
pub(super) fn decode_string(whole: &ByteString, literal: &str) -> Option<BodyStr> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        return Some(BodyStr::shared(whole, inner));
    }
    Some(BodyStr(Repr::Escaped(Box::new(Escaped {
        literal: whole.slice_ref(literal),
        decoded: OnceLock::new(),
    }))))
}

/// The JSON string `literal` (quotes included, a slice of `whole`) known to hold no escapes:
/// a slice of `whole`. `None` when `literal` is not a JSON string.
pub(super) fn unescaped_string(whole: &ByteString, literal: &str) -> Option<BodyStr> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    Some(BodyStr::shared(whole, inner))
}

/// The type of the JSON value whose text is `json` (valid JSON, no leading whitespace), read
/// from its first byte.
pub(super) fn json_type_of(json: &str) -> JsonType {
    match json.as_bytes().first() {
        Some(b'"') => JsonType::String,
        Some(b'{') => JsonType::Object,
        Some(b'[') => JsonType::Array,
        Some(b't' | b'f') => JsonType::Bool,
        Some(b'n') | None => JsonType::Null,
        Some(_) => JsonType::Number,
    }
}

/// Decodes the JSON string `literal` (quotes included), which was valid JSON when it was kept,
/// an unpaired surrogate escape as U+FFFD (see [`without_lone_surrogates`]). Never longer than
/// `literal`.
fn decode_literal(literal: &str) -> String {
    serde_json::from_str::<String>(literal)
        .ok()
        .or_else(|| serde_json::from_str(&without_lone_surrogates(literal)?).ok())
        .unwrap_or_default()
}

/// `json` with every escaped UTF-16 surrogate that lacks its other half (`\ud83d` alone)
/// written `\ufffd` instead; `None` when there is none.
///
/// Such an escape is valid JSON text (RFC 8259 §8.2), and what a service sends when it cuts a
/// text between the halves of an emoji and escapes non-ASCII characters, but no Rust string can
/// hold it: serde_json refuses the whole value. Written as U+FFFD (as a lossy UTF-8 decoder
/// treats a broken sequence), the rest of the value reads as sent. The text keeps its length:
/// both escapes are six bytes. A backslash in JSON text only ever starts an escape in a string,
/// so the escapes are found without following the strings.
fn without_lone_surrogates(json: &str) -> Option<String> {
    let bytes = json.as_bytes();
    let unit_at = |at: usize| -> Option<u32> {
        let escape = bytes.get(at..at.checked_add(6)?)?;
        let hex = escape.strip_prefix(b"\\u")?;
        u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let mut repaired = String::new();
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = bytes.get(at..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let escape = at + found;
        let lone = match unit_at(escape) {
            None => {
                // `\\`, `\"`, `\n`, ...: two bytes.
                at = escape + 2;
                continue;
            }
            Some(0xD800..=0xDBFF) => {
                if unit_at(escape + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) {
                    at = escape + 12;
                    continue;
                }
                true
            }
            Some(unit) => (0xDC00..=0xDFFF).contains(&unit),
        };
        at = escape + 6;
        if lone {
            repaired.push_str(json.get(copied..escape)?);
            repaired.push_str("\\ufffd");
            copied = at;
        }
    }
    if copied == 0 {
        return None;
    }
    repaired.push_str(json.get(copied..)?);
    Some(repaired)
}

/// Lossy UTF-8 of at most [`MAX_TEXT_BYTES`] bytes, decoding no more of the input than that.
fn lossy_text(bytes: &[u8]) -> String {
    let mut end = bytes.len().min(MAX_TEXT_BYTES);
    // Back off over the continuation bytes of a character the cut would split (at most
    // three), so it is dropped rather than replaced with U+FFFD.
    let floor = end.saturating_sub(3);
    while end > floor && bytes.get(end).is_some_and(|&b| b & 0xC0 == 0x80) {
        end -= 1;
    }
    let mut text = String::from_utf8_lossy(bytes.get(..end).unwrap_or(bytes)).into_owned();
    // Each invalid byte becomes a three-byte U+FFFD, so the decoded text may outgrow the cap.
    if text.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every character escaped as `\u` units, as serializers that escape non-ASCII send it.
    fn escaped(text: &str) -> String {
        let units: String = text
            .encode_utf16()
            .map(|unit| format!("\\u{unit:04x}"))
            .collect();
        format!("\"{units}\"")
    }

    #[test]
    fn an_unpaired_surrogate_is_a_replacement_character_and_the_rest_is_kept() {
        for (literal, expected) in [
            (r#""\ud83d""#, "\u{fffd}"),
            (r#""\ude00""#, "\u{fffd}"),
            (r#""a\ud83db""#, "a\u{fffd}b"),
            (r#""\ud83d\ud83d\ude00""#, "\u{fffd}\u{1f600}"),
            (r#""\ude00\ud83d""#, "\u{fffd}\u{fffd}"),
            (r#""\ud83d\n\"\\\/\t""#, "\u{fffd}\n\"\\/\t"),
            (r#""\ud83d\u00e9""#, "\u{fffd}é"),
            (r#""\\ud83d\ud83d""#, "\\ud83d\u{fffd}"),
        ] {
            assert_eq!(decode_literal(literal), expected, "{literal}");
            assert!(decode_literal(literal).len() <= literal.len(), "{literal}");
        }
    }

    proptest! {
        /// Text serde_json can decode holds no lone surrogate: it is left alone.
        #[test]
        fn text_without_a_lone_surrogate_is_left_alone(text in any::<String>()) {
            for literal in [serde_json::to_string(&text).unwrap(), escaped(&text)] {
                prop_assert_eq!(without_lone_surrogates(&literal), None);
                prop_assert_eq!(decode_literal(&literal), text.as_str());
            }
        }

        /// Any run of escaped UTF-16 units decodes as the lossy UTF-16 decoder does.
        #[test]
        fn escaped_units_decode_as_lossy_utf16(units in prop::collection::vec(
            prop_oneof![0xD800u16..0xE000, any::<u16>(), Just(0x41)], 0..16,
        )) {
            let literal: String = units.iter().map(|unit| format!("\\u{unit:04x}")).collect();
            let literal = format!("\"{literal}\"");
            prop_assert_eq!(decode_literal(&literal), String::from_utf16_lossy(&units));
        }
    }
}

//! Text that refers into the body: a string field, or a JSON value kept as sent.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;
use serde_json::Value;

use super::JsonType;
use crate::sanitize::Sanitized;

/// Most characters of one kept string that `Debug` prints.
const DEBUG_CHARS: usize = 120;

/// A string read from an error body.
///
/// When the JSON string had no escapes, this is a slice of the body's own bytes: no copy, and
/// cloning it only bumps a reference count. A string with escapes is decoded once, when parsed.
/// It dereferences to `str` and compares equal to `str` and `String`.
///
/// `Debug` prints at most 120 characters, sanitised, and says how many it left out.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct BodyStr(ByteString);

impl BodyStr {
    /// Returns the text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the bytes the text is a view of (shared with the body when it was not copied).
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    pub(super) fn shared(whole: &ByteString, part: &str) -> Self {
        Self(whole.slice_ref(part))
    }
}

impl Deref for BodyStr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for BodyStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<String> for BodyStr {
    fn from(text: String) -> Self {
        Self(ByteString::from(text))
    }
}

impl From<&str> for BodyStr {
    fn from(text: &str) -> Self {
        Self(ByteString::from(text))
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
    write!(f, "\"{}\"", Sanitized::with_limit(text, DEBUG_CHARS))?;
    let left_out = text.chars().skip(DEBUG_CHARS).count();
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
        match self.0.as_bytes().first() {
            Some(b'"') => JsonType::String,
            Some(b'{') => JsonType::Object,
            Some(b'[') => JsonType::Array,
            Some(b't' | b'f') => JsonType::Bool,
            Some(b'n') | None => JsonType::Null,
            Some(_) => JsonType::Number,
        }
    }

    /// Parses the value into a [`serde_json::Value`]. The text was valid JSON when it was kept,
    /// so this only fails past serde_json's recursion limit (nesting deeper than 128).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// The value as a string, when it is a JSON string (decoding escapes, so it may copy).
    pub fn to_str(&self) -> Option<BodyStr> {
        decode_string(&self.0, self.get())
    }

    /// The value as a bool, when it is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.get() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
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
    if !inner.contains('\\') {
        return Some(BodyStr::shared(whole, inner));
    }
    serde_json::from_str::<String>(literal)
        .ok()
        .map(BodyStr::from)
}

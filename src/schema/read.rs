//! Reading a body into a payload and its violations, every string and value a slice of it.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::body::SCHEMA_FIELDS;
use super::flat::{self, Flat, Others};
use super::problem::PROBLEM_FIELDS;
use super::text::{decode_string, json_type_of, unescaped_string, BodyStr, RawJson};
use super::{
    Envelope, ErrorBody, Extras, Field, GatewayError, GraphError, JsonType, ParsedBody, Payload,
    ProblemDetails, Schema, Violation, BOM, MAX_DESCRIPTION_CHARS, MAX_TEXT_BYTES,
};

/// Parses `raw` (the body as read, BOM and all) against `schema` without copying it.
pub(super) fn parse_shared(
    raw: Bytes,
    content_type: Option<&str>,
    schema: Schema,
    status: Option<u16>,
) -> ParsedBody {
    parse_with(raw, content_type, schema, status, true)
}

/// [`parse_shared`], with `scan`: the common bodies through [`flat`] first.
fn parse_with(
    raw: Bytes,
    content_type: Option<&str>,
    schema: Schema,
    status: Option<u16>,
    scan: bool,
) -> ParsedBody {
    let problem_media_type = content_type.is_some_and(is_problem_json);
    // Auto picks by content type first; by shape once the object is read.
    let schema = match schema {
        Schema::Auto if problem_media_type => Schema::ProblemDetails,
        schema => schema,
    };
    let mut parsed = parse_any(raw, content_type, schema, status, scan);
    if parsed.schema == Schema::ProblemDetails && !problem_media_type {
        parsed.violations.push(Violation::NotProblemMediaType);
    }
    parsed
}

/// Reads `raw` against `schema`, with `scan`: the common bodies through [`flat`] first.
fn parse_any(
    raw: Bytes,
    content_type: Option<&str>,
    schema: Schema,
    status: Option<u16>,
    scan: bool,
) -> ParsedBody {
    // Not an object: nothing to pick by, so Auto falls back to Partner Center's reading.
    let flat = match schema {
        Schema::Auto => Schema::PartnerCenter,
        schema => schema,
    };
    let bytes = if raw.starts_with(BOM) {
        raw.slice(BOM.len()..)
    } else {
        raw
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return ParsedBody {
            payload: Payload::Empty,
            violations: vec![Violation::EmptyBody],
            schema: flat,
        };
    }
    let whole = match ByteString::try_from(bytes.clone()) {
        Ok(whole) => whole,
        // Not UTF-8, so not JSON: serde_json names the first fault.
        Err(_) => {
            let error = serde_json::from_slice::<IgnoredAny>(&bytes).err();
            return parse_text(&bytes, None, content_type, error, flat);
        }
    };
    // The common bodies, read without serde's machinery when their reading is Partner
    // Center's (by the schema asked for, or by Auto for an object with a `description`) or
    // Graph's (by the schema asked for or by Auto, for an object of Graph's envelope, as
    // `shape` decides).
    let scanned = matches!(schema, Schema::PartnerCenter | Schema::Auto | Schema::Graph);
    if scan && scanned {
        let mut others = Others::default();
        if let Some(flat) = flat::read(&whole, &mut others) {
            match schema {
                Schema::Auto if flat.description.is_some() => return partner_center(&whole, flat),
                Schema::PartnerCenter if flat.code.is_some() || flat.description.is_some() => {
                    return partner_center(&whole, flat)
                }
                Schema::Auto | Schema::Graph => {
                    if let Some(error) = others.graph_error(&flat) {
                        return graph_envelope(&whole, error);
                    }
                }
                _ => {}
            }
        }
    }
    match read_object(&whole) {
        Ok(Top::Object(known)) => match schema {
            Schema::Graph => graph(&whole, known),
            Schema::ProblemDetails => problem(&whole, known, status),
            Schema::Auto => match shape(&known) {
                Some(Envelope::Graph) => graph(&whole, known),
                Some(Envelope::ProblemDetails) => problem(&whole, known, status),
                _ => parse_object(&whole, known),
            },
            _ => parse_object(&whole, known),
        },
        Ok(Top::Other(found)) => {
            let text = whole.trim_matches(|c: char| c.is_ascii_whitespace());
            ParsedBody {
                payload: Payload::OtherJson(RawJson::shared(&whole, text)),
                violations: vec![Violation::NotObject { found }],
                schema: flat,
            }
        }
        Err(error) => parse_text(&bytes, Some(&whole), content_type, Some(error), flat),
    }
}

/// [`parse_as`](super::parse_as) of a body with no content type, read by serde_json alone:
/// what the scanner's reading must equal.
#[cfg(test)]
pub(super) fn parse_with_serde_json(raw: Bytes, schema: Schema) -> ParsedBody {
    parse_with(raw, None, schema, None, false)
}

/// Whether a `Content-Type` is `application/problem+json` (case-insensitive, parameters
/// ignored).
fn is_problem_json(content_type: &str) -> bool {
    const PROBLEM_JSON: &str = "application/problem+json";
    let media_type = memchr::memchr(b';', content_type.as_bytes())
        .and_then(|end| content_type.get(..end))
        .unwrap_or(content_type);
    // Trimming only shortens it: a shorter one is not it, whatever it holds.
    media_type.len() >= PROBLEM_JSON.len() && media_type.trim().eq_ignore_ascii_case(PROBLEM_JSON)
}

/// Which envelope an object's fields make: Partner Center's when it has a `description`;
/// else problem details' when it has any of their members; else Partner Center's when it has
/// a `code`; else the gateway's or Graph's by their fields; `None` when it has none of them.
fn shape(known: &Known<'_>) -> Option<Envelope> {
    if known.description.is_some() {
        return Some(Envelope::PartnerCenter);
    }
    let problem = [
        known.problem_type,
        known.title,
        known.status,
        known.detail,
        known.instance,
    ];
    if problem.iter().any(Option::is_some) {
        // `code` is a common extension member of problem details.
        return Some(Envelope::ProblemDetails);
    }
    if known.code.is_some() {
        return Some(Envelope::PartnerCenter);
    }
    if known
        .status_code
        .is_some_and(|v| type_of(v) == JsonType::Number)
        || known
            .message
            .is_some_and(|v| type_of(v) == JsonType::String)
    {
        return Some(Envelope::Gateway);
    }
    matches!(known.error, Some(Top::Object(_))).then_some(Envelope::Graph)
}

/// The fields of an object, in the order sent: names decoded, values as sent.
type Fields<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// What an object's fields are gathered into, one field at a time.
trait FieldSink<'de>: Default {
    /// Reads the value of the field `key` from `map`, in the pass that reads the object.
    fn field<A: MapAccess<'de>>(&mut self, key: Cow<'de, str>, map: &mut A)
        -> Result<(), A::Error>;
}

impl<'de> FieldSink<'de> for Fields<'de> {
    fn field<A: MapAccess<'de>>(
        &mut self,
        key: Cow<'de, str>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        self.push((key, map.next_value()?));
        Ok(())
    }
}

/// The fields the parser looks at (the last of each name, as serde_json decides duplicates),
/// and a count of the others: constant memory however many fields an object has.
#[derive(Default)]
struct Known<'a> {
    code: Option<&'a RawValue>,
    description: Option<&'a RawValue>,
    data: Option<&'a RawValue>,
    source: Option<&'a RawValue>,
    status_code: Option<&'a RawValue>,
    message: Option<&'a RawValue>,
    /// `error`, read in the same pass as the object around it: Graph's error object's
    /// fields, or the type of anything else.
    error: Option<Top<GraphFields<'a>>>,
    problem_type: Option<&'a RawValue>,
    title: Option<&'a RawValue>,
    status: Option<&'a RawValue>,
    detail: Option<&'a RawValue>,
    instance: Option<&'a RawValue>,
    /// Fields other than `code`, `description`, `data` and `source`.
    extra: usize,
    /// Fields other than `type`, `title`, `status`, `detail` and `instance`.
    problem_extra: usize,
}

impl<'de> FieldSink<'de> for Known<'de> {
    fn field<A: MapAccess<'de>>(
        &mut self,
        key: Cow<'de, str>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        if key == "error" {
            // Read once, here: its fields are slices of the text like the others.
            self.extra += 1;
            self.problem_extra += 1;
            self.error = Some(map.next_value()?);
            return Ok(());
        }
        // Which slot, and whether the field is extra to Partner Center's schema and to
        // problem details'.
        let (slot, extra, problem_extra) = match &*key {
            "code" => (&mut self.code, 0, 1),
            "description" => (&mut self.description, 0, 1),
            "data" => (&mut self.data, 0, 1),
            "source" => (&mut self.source, 0, 1),
            "type" => (&mut self.problem_type, 1, 0),
            "title" => (&mut self.title, 1, 0),
            "status" => (&mut self.status, 1, 0),
            "detail" => (&mut self.detail, 1, 0),
            "instance" => (&mut self.instance, 1, 0),
            "statusCode" => (&mut self.status_code, 1, 1),
            "message" => (&mut self.message, 1, 1),
            _ => {
                self.extra += 1;
                self.problem_extra += 1;
                return map.next_value::<IgnoredAny>().map(drop);
            }
        };
        self.extra += extra;
        self.problem_extra += problem_extra;
        *slot = Some(map.next_value()?);
        Ok(())
    }
}

/// The fields of Graph's `error` object the parser looks at (the last of each name), each
/// value's JSON text as sent: constant memory however many fields it has.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct GraphFields<'a> {
    pub(super) code: Option<&'a str>,
    pub(super) message: Option<&'a str>,
    pub(super) target: Option<&'a str>,
    pub(super) details: Option<&'a str>,
    pub(super) inner_error: Option<&'a str>,
    pub(super) inner_error_lower: Option<&'a str>,
}

impl<'de> FieldSink<'de> for GraphFields<'de> {
    fn field<A: MapAccess<'de>>(
        &mut self,
        key: Cow<'de, str>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let slot = match &*key {
            "code" => &mut self.code,
            "message" => &mut self.message,
            "target" => &mut self.target,
            "details" => &mut self.details,
            "innerError" => &mut self.inner_error,
            "innererror" => &mut self.inner_error_lower,
            _ => return map.next_value::<IgnoredAny>().map(drop),
        };
        *slot = Some(map.next_value::<&RawValue>()?.get());
        Ok(())
    }
}

/// A JSON value: an object's fields, or the type of anything else.
#[derive(Clone, Copy)]
enum Top<T> {
    Object(T),
    Other(JsonType),
}

impl<T> Top<T> {
    fn json_type(&self) -> JsonType {
        match self {
            Top::Object(_) => JsonType::Object,
            Top::Other(found) => *found,
        }
    }
}

impl<'de, T: FieldSink<'de>> de::Deserialize<'de> for Top<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopVisitor(std::marker::PhantomData))
    }
}

/// Nesting serde_json refuses: the same limit for values kept as text, which serde_json
/// itself reads without counting depth.
const MAX_DEPTH: usize = 128;

fn read_object<'a, T: FieldSink<'a>>(text: &'a str) -> Result<Top<T>, serde_json::Error> {
    // Only a text with more brackets than the limit can nest past it, and only one that does
    // nest that deep is read a second time, counting depth (as serde_json does for a
    // `Value`), so that serde_json names the fault.
    // (memchr skips the text between brackets a vector at a time, and stops at the limit.)
    let brackets = memchr::memchr2_iter(b'[', b'{', text.as_bytes())
        .take(MAX_DEPTH)
        .count();
    if brackets >= MAX_DEPTH && may_nest(text.as_bytes(), MAX_DEPTH) {
        serde_json::from_str::<Nested>(text)?;
    }
    read_checked(text)
}

/// Whether `text` may nest `limit` brackets deep, strings skipped: exact for valid JSON (and
/// for invalid JSON up to its first fault, as far as serde_json reads it), `true` for a text
/// that ends inside a string. One scan, [`BLOCK`] bytes at a time; no allocation.
fn may_nest(text: &[u8], limit: usize) -> bool {
    let (blocks, rest) = text.as_chunks::<BLOCK>();
    let mut scan = DepthScan::default();
    blocks.iter().any(|block| scan.block(block, limit))
        || scan.bytes(rest, limit)
        // An unterminated string: let serde_json read it.
        || scan.in_string
}

/// The bytes [`may_nest`] classifies at once: 32 skips more blocks of no bracket than 64
/// does, for fewer instructions in all (a nibble per lane counts up to `BLOCK / 8` brackets).
const BLOCK: usize = 32;
const _: () = assert!(BLOCK.is_multiple_of(8) && BLOCK / 8 < 16);

/// A one in each byte lane of a `u64`.
const LANES: u64 = u64::from_le_bytes([1; 8]);

/// The low nibble of each byte lane.
const LOW_NIBBLES: u64 = u64::from_le_bytes([0x0f; 8]);

/// Where [`may_nest`] is: the depth so far, and whether inside a string, after a backslash.
#[derive(Default)]
struct DepthScan {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl DepthScan {
    /// Scans a block, `true` once the depth reaches `limit`. A block of no backslash is
    /// classified whole, in loops the compiler vectorises: one byte lane per byte, whether it
    /// is inside a string found by summing its quotes (a multiplication by [`LANES`] sums the
    /// lanes up to each). Only a block with a backslash, or one that could reach `limit`, is
    /// walked a byte at a time.
    fn block(&mut self, block: &[u8; BLOCK], limit: usize) -> bool {
        let mut quotes = [0u8; BLOCK];
        // Openers in the low nibble, closers in the high one.
        let mut brackets = [0u8; BLOCK];
        let (mut backslashes, mut any_bracket, mut quote_count) = (0u8, 0u8, 0u8);
        for ((quote, bracket), &byte) in quotes.iter_mut().zip(&mut brackets).zip(block) {
            // `[` and `{` differ in 0x20 only, as do `]` and `}`.
            let folded = byte | 0x20;
            *quote = u8::from(byte == b'"');
            *bracket = u8::from(folded == b'{') | u8::from(folded == b'}') << 4;
            backslashes |= u8::from(byte == b'\\');
            any_bracket |= *bracket;
            quote_count += *quote;
        }
        if backslashes != 0 || self.escaped {
            return self.bytes(block, limit);
        }
        if any_bracket == 0 {
            self.in_string ^= quote_count % 2 == 1;
            return false;
        }
        let mut carry = if self.in_string { LANES } else { 0 };
        // Per lane, the brackets outside strings, openers and closers a nibble each.
        let mut outside = 0u64;
        for (quotes, brackets) in quotes
            .as_chunks::<8>()
            .0
            .iter()
            .zip(brackets.as_chunks::<8>().0)
        {
            let quotes = u64::from_le_bytes(*quotes);
            // Lane k sums the quotes up to k: odd inside a string (its opening quote too).
            let inside = (quotes.wrapping_mul(LANES) + carry) & LANES;
            carry = (inside >> 56).wrapping_mul(LANES);
            outside += u64::from_le_bytes(*brackets) & (inside ^ LANES).wrapping_mul(0x11);
        }
        // The lanes' sums, in the top lane of the products.
        let opened = ((outside & LOW_NIBBLES).wrapping_mul(LANES) >> 56) as usize;
        let closed = ((outside >> 4 & LOW_NIBBLES).wrapping_mul(LANES) >> 56) as usize;
        if self.depth + opened >= limit {
            // Could reach it: in order.
            return self.bytes(block, limit);
        }
        self.in_string = carry != 0;
        // Past a closer with nothing open, serde_json has stopped already.
        self.depth = (self.depth + opened).saturating_sub(closed);
        false
    }

    /// Scans `bytes` one at a time, `true` once the depth reaches `limit`.
    fn bytes(&mut self, bytes: &[u8], limit: usize) -> bool {
        for &byte in bytes {
            if self.escaped {
                // Never a string's end.
                self.escaped = false;
            } else if self.in_string {
                match byte {
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
            } else {
                match byte {
                    b'[' | b'{' => {
                        self.depth += 1;
                        if self.depth >= limit {
                            return true;
                        }
                    }
                    b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                    b'"' => self.in_string = true,
                    _ => {}
                }
            }
        }
        false
    }
}

/// [`read_object`] for a value inside a body that was read whole already: its depth was
/// counted then.
fn read_checked<'a, T: FieldSink<'a>>(text: &'a str) -> Result<Top<T>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let top = de::Deserialize::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(top)
}

/// Any JSON value, read through `deserialize_any` so that serde_json counts its depth (its
/// `IgnoredAny` does not), keeping nothing.
struct Nested;

impl<'de> de::Deserialize<'de> for Nested {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NestedVisitor)
    }
}

struct NestedVisitor;

impl<'de> Visitor<'de> for NestedVisitor {
    type Value = Nested;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, Nested>()?.is_some() {}
        Ok(Nested)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Nested>()?.is_some() {}
        Ok(Nested)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Nested)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Nested)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Nested)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Nested)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Nested)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Nested)
    }
}

struct TopVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: FieldSink<'de>> Visitor<'de> for TopVisitor<T> {
    type Value = Top<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = T::default();
        while let Some(Key(key)) = map.next_key()? {
            fields.field(key, &mut map)?;
        }
        Ok(Top::Object(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Top::Other(JsonType::Array))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Top::Other(JsonType::Bool))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Top::Other(JsonType::Number))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Top::Other(JsonType::Number))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Top::Other(JsonType::Number))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Top::Other(JsonType::String))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Top::Other(JsonType::Null))
    }
}

/// An object key: borrowed from the text when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
            fn visit_string<E>(self, key: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The fields of the object `whole`, names and values slices of it (a name with escapes is
/// decoded); empty when it is not an object.
pub(super) fn object_fields(whole: &ByteString) -> Vec<(BodyStr, RawJson)> {
    match read_checked::<Fields<'_>>(whole) {
        Ok(Top::Object(fields)) => fields
            .into_iter()
            .map(|(key, value)| (key_text(whole, key), RawJson::shared(whole, value.get())))
            .collect(),
        _ => Vec::new(),
    }
}

/// Which fields of an object [`picked_fields`] keeps.
#[derive(Clone, Copy)]
pub(super) enum Pick<'n> {
    /// The first `most` fields whose names are not in `skip`.
    First {
        /// Names left out.
        skip: &'n [&'n str],
        /// Most fields kept.
        most: usize,
    },
    /// The last field of this name.
    Last(&'n str),
}

/// The fields of the object `whole` that `pick` keeps, as [`object_fields`] gives them; the
/// others are skipped, not gathered: what it allocates is bounded by what it keeps, however
/// many fields the object has. Empty when `whole` is not an object.
pub(super) fn picked_fields(whole: &ByteString, pick: Pick<'_>) -> Vec<(BodyStr, RawJson)> {
    struct Picking<'n>(Pick<'n>);
    impl<'de> Visitor<'de> for Picking<'_> {
        type Value = Vec<(Cow<'de, str>, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = Vec::new();
            while let Some(Key(key)) = map.next_key()? {
                let keep = match self.0 {
                    Pick::First { skip, most } => kept.len() < most && !skip.contains(&&*key),
                    Pick::Last(name) => key == name,
                };
                if !keep {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                let value = map.next_value()?;
                if matches!(self.0, Pick::Last(_)) {
                    kept.clear();
                }
                kept.push((key, value));
            }
            Ok(kept)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(whole);
    match deserializer.deserialize_map(Picking(pick)) {
        Ok(fields) => fields
            .into_iter()
            .map(|(key, value)| (key_text(whole, key), RawJson::shared(whole, value.get())))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn key_text(whole: &ByteString, key: Cow<'_, str>) -> BodyStr {
    match key {
        Cow::Borrowed(key) => BodyStr::shared(whole, key),
        Cow::Owned(key) => BodyStr::from(key),
    }
}

fn type_of(value: &RawValue) -> JsonType {
    json_type_of(value.get())
}

fn parse_object(whole: &ByteString, known: Known<'_>) -> ParsedBody {
    if known.code.is_none() && known.description.is_none() {
        let status_code = known.status_code.filter(|v| type_of(v) == JsonType::Number);
        let message = known.message.and_then(|v| decode_string(whole, v.get()));
        if status_code.is_some() || message.is_some() {
            let gateway = GatewayError {
                status_code: status_code.and_then(|v| v.get().parse().ok()),
                message,
            };
            return foreign(Payload::Gateway(gateway), Envelope::Gateway);
        }
        if let Some(Top::Object(error)) = known.error {
            return foreign(Payload::Graph(graph_error(whole, error)), Envelope::Graph);
        }
    }
    // Neither envelope (possibly an empty object, or one with only unknown fields).
    partner_center(
        whole,
        Flat {
            code: known.code.map(RawValue::get),
            description: known.description.map(RawValue::get),
            data: known.data.map(RawValue::get),
            source: known.source.map(RawValue::get),
            extra: known.extra,
            escaped: true,
        },
    )
}

fn foreign(payload: Payload, envelope: Envelope) -> ParsedBody {
    ParsedBody {
        payload,
        violations: vec![Violation::ForeignEnvelope { envelope }],
        schema: Schema::PartnerCenter,
    }
}

/// The Graph envelope of the object `error`, with no violations recorded.
fn graph_error(whole: &ByteString, error: GraphFields<'_>) -> GraphError {
    read_graph_error(whole, error, &mut Vec::new())
}

/// The Graph envelope of the object `error`, read with the body around it, recording how it
/// breaks Graph's contract.
fn read_graph_error(
    whole: &ByteString,
    known: GraphFields<'_>,
    violations: &mut Vec<Violation>,
) -> GraphError {
    let code = match known.code {
        Some(code) if json_type_of(code) == JsonType::Number => {
            violations.push(Violation::WrongType {
                field: Field::GraphCode,
                expected: JsonType::String,
                found: JsonType::Number,
            });
            Some(BodyStr::shared(whole, code))
        }
        code => string_field(whole, Field::GraphCode, code, violations),
    };
    let message = string_field(whole, Field::GraphMessage, known.message, violations);
    let target = optional(whole, Field::GraphTarget, known.target, violations);
    let inner_error = known.inner_error.or(known.inner_error_lower);
    for (field, value) in [
        (Field::GraphDetails, known.details),
        (Field::GraphInnerError, inner_error),
    ] {
        check_type(field, value, violations);
    }
    let raw = |value: Option<&str>| value.map(|v| RawJson::shared(whole, v));
    GraphError {
        code,
        message,
        target,
        details: raw(known.details),
        inner_error: raw(inner_error),
    }
}

/// A body read against Graph's contract.
fn graph(whole: &ByteString, known: Known<'_>) -> ParsedBody {
    match known.error {
        Some(Top::Object(error)) if shape(&known) == Some(Envelope::Graph) => {
            graph_envelope(whole, error)
        }
        _ => other_envelope(whole, known, Schema::Graph, Field::GraphError),
    }
}

/// A body of Graph's envelope, read against Graph's contract: the fields of its `error`.
fn graph_envelope(whole: &ByteString, error: GraphFields<'_>) -> ParsedBody {
    let mut violations = Vec::new();
    let payload = Payload::Graph(read_graph_error(whole, error, &mut violations));
    ParsedBody {
        payload,
        violations,
        schema: Schema::Graph,
    }
}

/// An object read against the Graph or problem details schema that is not of it: read as
/// what it is, the violation naming both.
fn other_envelope(
    whole: &ByteString,
    known: Known<'_>,
    expected: Schema,
    required: Field,
) -> ParsedBody {
    let found = shape(&known);
    let mut parsed = match found {
        Some(Envelope::ProblemDetails) => problem(whole, known, None),
        Some(Envelope::Graph) => {
            let payload = match known.error {
                Some(Top::Object(error)) => Payload::Graph(graph_error(whole, error)),
                _ => Payload::Empty,
            };
            ParsedBody {
                payload,
                violations: Vec::new(),
                schema: expected,
            }
        }
        Some(_) => parse_object(whole, known),
        None => {
            // An object of none of the envelopes: the schema's required member is missing,
            // or of the wrong type.
            let mut violations = Vec::new();
            if required == Field::GraphError {
                match known.error.as_ref().map(Top::json_type) {
                    None => violations.push(Violation::Missing { field: required }),
                    Some(JsonType::Null) => violations.push(Violation::Null { field: required }),
                    Some(found) => violations.push(Violation::WrongType {
                        field: required,
                        expected: JsonType::Object,
                        found,
                    }),
                }
            }
            let payload = match expected {
                Schema::Graph => Payload::Graph(graph_error(whole, GraphFields::default())),
                _ => problem(whole, known, None).payload,
            };
            return ParsedBody {
                payload,
                violations,
                schema: expected,
            };
        }
    };
    parsed.schema = expected;
    parsed.violations = found
        .map(|found| Violation::WrongEnvelope { found, expected })
        .into_iter()
        .collect();
    parsed
}

/// A body read against RFC 9457: every member optional, each of its type; `status` the
/// response's.
fn problem(whole: &ByteString, known: Known<'_>, status: Option<u16>) -> ParsedBody {
    if matches!(
        shape(&known),
        Some(Envelope::PartnerCenter | Envelope::Gateway | Envelope::Graph)
    ) {
        return other_envelope(whole, known, Schema::ProblemDetails, Field::ProblemType);
    }
    let mut violations = Vec::new();
    let problem_type = optional(
        whole,
        Field::ProblemType,
        known.problem_type.map(RawValue::get),
        &mut violations,
    );
    let title = optional(
        whole,
        Field::ProblemTitle,
        known.title.map(RawValue::get),
        &mut violations,
    );
    let sent_status = match known.status {
        Some(value) if type_of(value) == JsonType::Number => {
            let sent = value.get().parse::<u16>().ok();
            if sent.is_none() {
                // A fraction, an exponent, a negative or a too-large number: not a status.
                violations.push(Violation::WrongType {
                    field: Field::ProblemStatus,
                    expected: JsonType::Number,
                    found: JsonType::Number,
                });
            }
            sent
        }
        value => {
            check_type(
                Field::ProblemStatus,
                value.map(RawValue::get),
                &mut violations,
            );
            None
        }
    };
    if let (Some(body), Some(response)) = (sent_status, status) {
        if body != response {
            violations.push(Violation::StatusMismatch { body, response });
        }
    }
    let detail = optional(
        whole,
        Field::ProblemDetail,
        known.detail.map(RawValue::get),
        &mut violations,
    );
    let instance = optional(
        whole,
        Field::ProblemInstance,
        known.instance.map(RawValue::get),
        &mut violations,
    );
    let extra = known.problem_extra;
    ParsedBody {
        payload: Payload::Problem(ProblemDetails {
            problem_type,
            title,
            status: sent_status,
            detail,
            instance,
            extensions: Extras::lazy(
                || RawJson::shared(whole, whole.trim()),
                extra,
                PROBLEM_FIELDS,
            ),
        }),
        violations,
        schema: Schema::ProblemDetails,
    }
}

/// Records a present, non-null value of a type other than the field's.
fn check_type(field: Field, value: Option<&str>, violations: &mut Vec<Violation>) {
    let found = value.map_or(JsonType::Null, json_type_of);
    if found != JsonType::Null && found != field.schema_type() {
        violations.push(Violation::WrongType {
            field,
            expected: field.schema_type(),
            found,
        });
    }
}

/// Reads an optional string field (absent or null is fine), recording a wrong type.
fn optional(
    whole: &ByteString,
    field: Field,
    value: Option<&str>,
    violations: &mut Vec<Violation>,
) -> Option<BodyStr> {
    check_type(field, value, violations);
    value
        .filter(|v| json_type_of(v) == JsonType::String)
        .and_then(|v| decode_string(whole, v))
}

fn partner_center(whole: &ByteString, fields: Flat<'_>) -> ParsedBody {
    let Flat {
        code,
        description,
        data,
        source,
        extra,
        escaped,
    } = fields;
    let string = |field, value, violations: &mut Vec<Violation>| {
        required_string(whole, field, value, escaped, violations)
    };

    let mut violations = Vec::new();
    let code = match code {
        Some(number) if json_type_of(number) == JsonType::Number => {
            violations.push(Violation::WrongType {
                field: Field::Code,
                expected: JsonType::String,
                found: JsonType::Number,
            });
            Some(BodyStr::shared(whole, number))
        }
        other => string(Field::Code, other, &mut violations),
    };
    let description = string(Field::Description, description, &mut violations);
    if let Some(text) = &description {
        // Read without keeping a decoded copy: an escaped description is decoded on first use.
        let (blank, chars) = text.inspect(|text| {
            let blank = is_blank(text);
            // Only a text of more bytes than the limit can have more chars than it.
            let chars = if text.len() > MAX_DESCRIPTION_CHARS {
                text.chars().count()
            } else {
                0
            };
            (blank, chars)
        });
        if blank {
            violations.push(Violation::EmptyDescription);
        }
        if chars > MAX_DESCRIPTION_CHARS {
            violations.push(Violation::DescriptionTooLong { chars });
        }
    }
    match data.map(json_type_of) {
        None | Some(JsonType::Array) => {}
        Some(JsonType::Null) => violations.push(Violation::Null { field: Field::Data }),
        Some(found) => violations.push(Violation::WrongType {
            field: Field::Data,
            expected: JsonType::Array,
            found,
        }),
    }
    let source = string(Field::Source, source, &mut violations);

    ParsedBody {
        payload: Payload::PartnerCenter(ErrorBody {
            code,
            description,
            data: data.map(|data| RawJson::shared(whole, data)),
            source,
            extra: Extras::lazy(
                || RawJson::shared(whole, whole.trim()),
                extra,
                SCHEMA_FIELDS,
            ),
        }),
        violations,
        schema: Schema::PartnerCenter,
    }
}

/// Whether `text` is empty or only whitespace (as `str::trim` counts it), deciding on the
/// first byte when it is visible ASCII.
fn is_blank(text: &str) -> bool {
    match text.as_bytes().first() {
        None => true,
        Some(&byte) if byte.is_ascii_graphic() => false,
        Some(_) => text.trim().is_empty(),
    }
}

/// Reads a required string field, recording why it is unusable when it is.
fn string_field(
    whole: &ByteString,
    field: Field,
    value: Option<&str>,
    violations: &mut Vec<Violation>,
) -> Option<BodyStr> {
    required_string(whole, field, value, true, violations)
}

/// [`string_field`] of a value's JSON text; `escaped` says whether a string may hold escapes.
fn required_string(
    whole: &ByteString,
    field: Field,
    value: Option<&str>,
    escaped: bool,
    violations: &mut Vec<Violation>,
) -> Option<BodyStr> {
    let Some(value) = value else {
        violations.push(Violation::Missing { field });
        return None;
    };
    match json_type_of(value) {
        JsonType::String if escaped => return decode_string(whole, value),
        JsonType::String => return unescaped_string(whole, value),
        JsonType::Null => violations.push(Violation::Null { field }),
        found => violations.push(Violation::WrongType {
            field,
            expected: JsonType::String,
            found,
        }),
    }
    None
}

/// A body that is not JSON: kept as text, at most [`MAX_TEXT_BYTES`] of it.
fn parse_text(
    bytes: &Bytes,
    whole: Option<&ByteString>,
    content_type: Option<&str>,
    error: Option<serde_json::Error>,
    schema: Schema,
) -> ParsedBody {
    let head = bytes.get(..MAX_TEXT_BYTES).unwrap_or(bytes);
    // A slice of the body either way: no copy.
    let text = match whole {
        Some(whole) => BodyStr::shared(whole, prefix(whole, MAX_TEXT_BYTES)),
        None => BodyStr::lossy(bytes),
    };
    let payload = match classify(head, content_type) {
        TextKind::Html => Payload::Html(text),
        TextKind::Xml => Payload::Xml(text),
        TextKind::Plain => Payload::Text(text),
    };
    ParsedBody {
        payload,
        violations: vec![Violation::NotJson {
            detail: error.map_or_else(|| "invalid UTF-8".to_owned(), |e| e.to_string()),
        }],
        schema,
    }
}

enum TextKind {
    Html,
    Xml,
    Plain,
}

/// Classifies non-JSON text: the declared media type first, then the first bytes.
fn classify(head: &[u8], content_type: Option<&str>) -> TextKind {
    if let Some(content_type) = content_type {
        let media_type = content_type
            .split_once(';')
            .map_or(content_type, |(media_type, _)| media_type)
            .trim();
        if media_type.eq_ignore_ascii_case("text/html") {
            return TextKind::Html;
        }
        if media_type.eq_ignore_ascii_case("application/xml")
            || media_type.eq_ignore_ascii_case("text/xml")
            || ends_with_ignore_case(media_type.as_bytes(), b"+xml")
        {
            return TextKind::Xml;
        }
    }
    let start = head.trim_ascii_start();
    if starts_with_ignore_case(start, b"<!doctype html")
        || head.windows(5).any(|w| w.eq_ignore_ascii_case(b"<html"))
    {
        TextKind::Html
    } else if starts_with_ignore_case(start, b"<?xml") {
        TextKind::Xml
    } else {
        TextKind::Plain
    }
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

fn ends_with_ignore_case(haystack: &[u8], suffix: &[u8]) -> bool {
    haystack
        .len()
        .checked_sub(suffix.len())
        .and_then(|at| haystack.get(at..))
        .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
}

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;
    use serde_json::Value;

    use super::{may_nest, DepthScan, BLOCK};
    use crate::schema::{parse_as, Payload, Schema, Violation};

    /// [`may_nest`] a byte at a time only.
    fn may_nest_bytewise(text: &[u8], limit: usize) -> bool {
        let mut scan = DepthScan::default();
        scan.bytes(text, limit) || scan.in_string
    }

    /// The deepest nesting of a value: 0 for a scalar.
    fn depth_of(value: &Value) -> usize {
        match value {
            Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
            Value::Object(fields) => 1 + fields.values().map(depth_of).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// JSON values whose strings are full of brackets, quotes and backslashes.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i32>().prop_map(Value::from),
            "[\\[\\]{}\"\\\\a\u{e9} ]{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(12, 200, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::vec(("[\\[\\]{}\"\\\\k]{0,6}", inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// Texts of brackets (never closing more than are open), strings with escapes, and other
    /// bytes, perhaps ending inside a string: not always JSON, but never past a fault
    /// [`may_nest`] may read differently from a walk a byte at a time.
    fn bracket_text() -> impl Strategy<Value = Vec<u8>> {
        let piece = (0u8..7, "[\\[\\]{}\"\\\\a ]{0,12}");
        (prop::collection::vec(piece, 0..300), 0u8..3).prop_map(|(pieces, end)| {
            let mut text = Vec::new();
            let mut depth = 0usize;
            for (kind, content) in pieces {
                match kind {
                    0 => text.push(b'['),
                    1 => text.push(b'{'),
                    2 | 3 if depth > 0 => text.push(if kind == 2 { b']' } else { b'}' }),
                    4 => {
                        text.push(b'"');
                        for byte in content.bytes() {
                            if matches!(byte, b'"' | b'\\') {
                                text.push(b'\\');
                            }
                            text.push(byte);
                        }
                        text.push(b'"');
                    }
                    // Long runs of no bracket, outside strings and in.
                    5 => text.extend_from_slice(" ".repeat(5 * content.len()).as_bytes()),
                    _ => text.extend_from_slice(
                        format!(r#", "{}":"#, "a".repeat(6 * content.len())).as_bytes(),
                    ),
                }
                match kind {
                    0 | 1 => depth += 1,
                    2 | 3 => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            match end {
                1 => text.extend_from_slice(br#""open"#),
                2 => text.extend_from_slice(br#""open\"#),
                _ => {}
            }
            text
        })
    }

    proptest! {
        #[test]
        fn may_nest_is_exact_for_json(
            value in json_value(),
            pretty in any::<bool>(),
            // Moves the text across the block boundaries.
            padding in 0..BLOCK,
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&value)
            } else {
                serde_json::to_string(&value)
            }
            .expect("serialisable");
            let text = format!("{}{text}", " ".repeat(padding));
            let depth = depth_of(&value);
            for limit in 1..=depth + 1 {
                prop_assert_eq!(may_nest(text.as_bytes(), limit), depth >= limit, "{}", limit);
            }
        }

        #[test]
        fn may_nest_reads_blocks_as_it_reads_bytes(text in bracket_text(), limit in 1usize..40) {
            prop_assert_eq!(may_nest(&text, limit), may_nest_bytewise(&text, limit));
        }
    }

    fn graph(body: String) -> crate::schema::ParsedBody {
        parse_as(
            Schema::Graph,
            Bytes::from(body),
            Some("application/json"),
            Some(400),
        )
    }

    #[test]
    fn may_nest_counts_depth_not_brackets() {
        let siblings = format!("[{}{{}}]", "{},".repeat(1_000));
        assert!(!may_nest(siblings.as_bytes(), 128));
        let in_string = format!(r#"{{"a":"{}"}}"#, "[".repeat(500));
        assert!(!may_nest(in_string.as_bytes(), 128));
        let after_escape = format!(r#"{{"a":"\"\\{}"}}"#, "{".repeat(500));
        assert!(!may_nest(after_escape.as_bytes(), 128));
        let shallow = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert!(!may_nest(shallow.as_bytes(), 128));
        assert!(may_nest("[".repeat(128).as_bytes(), 128));
        let deep_after_string = format!(r#"["]]]]",{}"#, "[".repeat(127));
        assert!(may_nest(deep_after_string.as_bytes(), 128));
        assert!(may_nest(br#"["unterminated"#, 128));
        // The same across blocks: a string, an escape and the limit each straddle a boundary.
        for at in 0..2 * BLOCK {
            let pad = " ".repeat(at);
            let straddling = format!(r#"{pad}["{}",[]]"#, "]".repeat(BLOCK));
            assert!(!may_nest(straddling.as_bytes(), 3), "{at}");
            assert!(may_nest(straddling.as_bytes(), 2), "{at}");
            let escaped = format!(r#"{pad}["\\{}\"",{}]"#, "]".repeat(at), "[".repeat(BLOCK));
            assert!(may_nest(escaped.as_bytes(), BLOCK + 1), "{at}");
            assert!(!may_nest(escaped.as_bytes(), BLOCK + 2), "{at}");
            let deep = format!("{pad}{}", "[".repeat(at + 1));
            assert!(may_nest(deep.as_bytes(), at + 1), "{at}");
            assert!(!may_nest(deep.as_bytes(), at + 2), "{at}");
        }
    }

    #[test]
    fn nesting_is_refused_where_serde_json_refuses_it() {
        let mut seen = [false; 2];
        for depth in [122, 123, 124, 125, 126, 127, 200] {
            let body = format!(
                r#"{{"error":{{"code":"c","message":"m","details":[{}{}{}]}}}}"#,
                "{},".repeat(200),
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let refused = serde_json::from_str::<serde_json::Value>(&body).is_err();
            let parsed = graph(body);
            assert_eq!(
                matches!(parsed.violations[..], [Violation::NotJson { .. }]),
                refused,
                "{depth}: {:?}",
                parsed.violations
            );
            assert_eq!(parsed.code().is_some(), !refused, "{depth}");
            seen[usize::from(refused)] = true;
        }
        assert_eq!(seen, [true, true], "both sides of the limit");
    }

    #[test]
    fn the_error_object_read_with_the_body_keeps_the_last_of_each_name() {
        let parsed = graph(
            r#"{"error":{"code":"A"},"\u0065rror":{"code":"B","code":"C","message":"m","x":[1,{"code":"D"}],"innererror":{"request-id":"r-1"}}}"#
                .to_owned(),
        );
        assert!(parsed.is_valid(), "{:?}", parsed.violations);
        assert_eq!(parsed.code(), Some("C"));
        let Payload::Graph(error) = &parsed.payload else {
            panic!("{:?}", parsed.payload)
        };
        assert_eq!(error.request_id().as_deref(), Some("r-1"));
        let parsed = graph(r#"{"error":{"code":"A","message":"m"},"error":[]}"#.to_owned());
        assert_eq!(parsed.code(), None);
        assert!(!parsed.is_valid());
    }
}

//! The Partner Center error body: its type, a pure parser, and the ways a body breaks the contract.
//!
//! [`parse`] takes the bytes of an error response and its `Content-Type` and returns a
//! [`ParsedBody`]: what the body is ([`Payload`]) and every way it departs from the documented
//! schema ([`Violation`]). It does no I/O, is not async, never panics, and its output grows no
//! faster than its input, so users, tests and fuzzers can call it without any service. There is
//! no tower or tower-http counterpart: this is the pure half that the middleware builds on.
//!
//! # The contract
//!
//! | field         | type   | rule                                                        |
//! |---------------|--------|-------------------------------------------------------------|
//! | `code`        | string | always returned, non-null                                   |
//! | `description` | string | always returned, non-null, non-empty, at most 1024 characters |
//! | `data`        | array  | only for some errors                                        |
//! | `source`      | string | always returned                                             |
//!
//! Real responses differ (numeric codes, a missing `source`, extra fields, gateway and
//! Graph-style envelopes, HTML pages from load balancers), so `parse` never rejects a body: it
//! reads what is there and lists the departures.
//!
//! # Rules
//!
//! 1. One leading UTF-8 byte order mark (`EF BB BF`) is stripped first.
//! 2. Nothing left but ASCII whitespace: [`Payload::Empty`], [`Violation::EmptyBody`].
//! 3. JSON is tried first, whatever the content type says. Not JSON: the text is kept as
//!    [`Payload::Html`] (media type `text/html`, or text starting with `<!doctype html` or
//!    `<html`, or containing `<html`), [`Payload::Xml`] (media type `application/xml`,
//!    `text/xml` or `*/*+xml`, or text starting with `<?xml`) or [`Payload::Text`], with
//!    [`Violation::NotJson`]. A declared media type wins over sniffing; media types are compared
//!    case-insensitively, parameters ignored. At most [`MAX_TEXT_BYTES`] of the body are kept
//!    (and sniffed), cut at a character boundary, decoded as lossy UTF-8.
//! 4. JSON that is not an object: [`Payload::OtherJson`], [`Violation::NotObject`].
//! 5. An object with neither `code` nor `description`:
//!    - with a numeric `statusCode` or a string `message`: [`Payload::Gateway`];
//!    - else with an object under `error`: [`Payload::Graph`];
//!
//!    both with [`Violation::ForeignEnvelope`].
//! 6. Any other object is read as the Partner Center schema ([`Payload::PartnerCenter`]), with
//!    violations in field order `code`, `description`, `data`, `source`:
//!    - missing ([`Violation::Missing`]; `data` may be absent), null ([`Violation::Null`]) or of
//!      the wrong type ([`Violation::WrongType`]). A numeric `code` is still kept, as its
//!      decimal text (`3000` becomes `"3000"`); a `data` that is not an array is kept as sent;
//!    - an empty or whitespace-only `description` ([`Violation::EmptyDescription`]), or one
//!      longer than [`MAX_DESCRIPTION_CHARS`] ([`Violation::DescriptionTooLong`]; the text is
//!      still kept whole).
//!
//!    Every other field (`errorName`, `isRetryable`, `message`, `parameters`, a capitalised
//!    `Source`, ...) lands in [`ErrorBody::extra`].
//!
//! # How the 1024 limit is counted
//!
//! In Unicode scalar values (Rust `char`s): `"é"` is one character although it is two bytes in
//! UTF-8, and `"😀"` is one character although it is four bytes in UTF-8 and two UTF-16 code
//! units. No normalisation is applied, so a decomposed `"e\u{301}"` counts as two.
//!
//! # Example
//!
//! ```
//! use partner_center_errors::schema::{self, Field, JsonType, Payload, Violation};
//!
//! // What Partner Center really sends: a numeric code, and a BOM before the JSON.
//! let body = b"\xEF\xBB\xBF{\"code\":3000,\"description\":\"No such customer.\",\"data\":[],\"source\":\"PartnerFD\"}";
//! let parsed = schema::parse(body, Some("application/json; charset=utf-8"));
//!
//! assert!(matches!(parsed.payload, Payload::PartnerCenter(_)));
//! assert_eq!(parsed.code(), Some("3000"));
//! assert_eq!(parsed.description(), Some("No such customer."));
//! assert_eq!(
//!     parsed.violations,
//!     [Violation::WrongType { field: Field::Code, expected: JsonType::String, found: JsonType::Number }],
//! );
//! assert_eq!(parsed.violations[0].to_string(), "`code` is a number; the schema says string");
//!
//! // A throttling answer from the gateway in front of the API.
//! let parsed = schema::parse(br#"{"statusCode":429,"message":"Slow down for 30 seconds."}"#, None);
//! assert!(matches!(parsed.payload, Payload::Gateway(ref g) if g.status_code == Some(429)));
//! assert_eq!(parsed.description(), Some("Slow down for 30 seconds."));
//! assert!(!parsed.is_valid());
//!
//! // A load balancer's HTML page keeps at most `MAX_TEXT_BYTES` of text.
//! let parsed = schema::parse(b"<html><body>502 Bad Gateway</body></html>", Some("text/html"));
//! assert!(matches!(parsed.payload, Payload::Html(_)));
//! assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));
//! ```

use std::fmt;

use serde_json::{Map, Value};

/// Longest description the contract allows, counted in Unicode scalar values (`char`s), not
/// bytes or UTF-16 units.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// Most bytes of text kept from a non-JSON body (HTML, XML, plain text), cut at a char boundary.
pub const MAX_TEXT_BYTES: usize = 4096;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses an error response body.
///
/// `content_type` is the response's `Content-Type` header value, if any (parameters such as
/// `charset` are ignored). It only decides how a body that is not JSON is classified: JSON is
/// always tried first. See the [module docs](self) for the rules.
///
/// Never panics; the result holds at most the input's data (non-JSON text is capped at
/// [`MAX_TEXT_BYTES`]).
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> ParsedBody {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return ParsedBody {
            payload: Payload::Empty,
            violations: vec![Violation::EmptyBody],
        };
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => parse_object(map),
        Ok(other) => ParsedBody {
            violations: vec![Violation::NotObject {
                found: JsonType::of(&other),
            }],
            payload: Payload::OtherJson(other),
        },
        Err(error) => parse_text(bytes, content_type, &error),
    }
}

/// The outcome of [`parse`]: what the body is, and how it departs from the schema.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ParsedBody {
    /// What the body holds.
    pub payload: Payload,
    /// Every departure from the Partner Center schema, in field order; empty when the body
    /// follows the contract.
    pub violations: Vec<Violation>,
}

impl ParsedBody {
    /// Whether the body follows the contract (no violations).
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }

    /// The error code, if the payload carries one; see [`Payload::code`].
    pub fn code(&self) -> Option<&str> {
        self.payload.code()
    }

    /// The human-readable description, if the payload carries one; see
    /// [`Payload::description`].
    pub fn description(&self) -> Option<&str> {
        self.payload.description()
    }
}

/// What an error response body holds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Payload {
    /// A JSON object read as the Partner Center schema, even when fields are missing or of
    /// the wrong type.
    PartnerCenter(ErrorBody),
    /// The API gateway's own envelope, e.g. a throttling answer:
    /// `{"statusCode": 429, "message": "..."}`.
    Gateway(GatewayError),
    /// A Graph-style envelope: `{"error": {"code": "...", "message": "...", ...}}`.
    Graph(GraphError),
    /// Valid JSON that is not an object (array, string, number, bool, null).
    OtherJson(Value),
    /// An HTML page (lossy UTF-8, at most [`MAX_TEXT_BYTES`], BOM stripped).
    Html(String),
    /// An XML document (lossy UTF-8, at most [`MAX_TEXT_BYTES`], BOM stripped).
    Xml(String),
    /// Any other text (lossy UTF-8, at most [`MAX_TEXT_BYTES`], BOM stripped).
    Text(String),
    /// No body: zero bytes, or only ASCII whitespace and a BOM.
    Empty,
}

impl Payload {
    /// The error code: the Partner Center `code`, or the Graph `error.code`; `None` otherwise.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::PartnerCenter(body) => body.code.as_deref(),
            Self::Graph(graph) => graph.code.as_deref(),
            _ => None,
        }
    }

    /// The human-readable text: the Partner Center `description`, or the Graph or gateway
    /// `message`; `None` otherwise.
    pub fn description(&self) -> Option<&str> {
        match self {
            Self::PartnerCenter(body) => body.description.as_deref(),
            Self::Graph(graph) => graph.message.as_deref(),
            Self::Gateway(gateway) => gateway.message.as_deref(),
            _ => None,
        }
    }

    /// The Partner Center body, if the payload is one.
    pub fn error_body(&self) -> Option<&ErrorBody> {
        match self {
            Self::PartnerCenter(body) => Some(body),
            _ => None,
        }
    }

    /// The kept text of a body that is not JSON ([`Html`](Self::Html), [`Xml`](Self::Xml) or
    /// [`Text`](Self::Text)).
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Html(text) | Self::Xml(text) | Self::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// A Partner Center error body, as read from the wire or built to answer with.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ErrorBody {
    /// `code`: kept as is when a string; a JSON number becomes its decimal text (`"3000"`);
    /// `None` when absent, null or of another type.
    pub code: Option<String>,
    /// `description`, when it is a JSON string (kept whole, even past the 1024 limit).
    pub description: Option<String>,
    /// `data`, of any JSON type, kept as sent (`Some(Value::Null)` for an explicit null);
    /// `None` when absent.
    pub data: Option<Value>,
    /// `source`, when it is a JSON string.
    pub source: Option<String>,
    /// Every other field, kept as sent: `errorName`, `isRetryable`, `message`, `parameters`,
    /// `errorMessageExtended`, a capitalised `Source`, ...
    pub extra: Map<String, Value>,
}

impl ErrorBody {
    /// A body with a code and a description, no `data`, no `source` and no extra fields.
    ///
    /// ```
    /// use partner_center_errors::schema::ErrorBody;
    ///
    /// let body = ErrorBody::new("600", "The request was malformed.").with_source("MyProxy");
    /// assert_eq!(
    ///     body.to_json(),
    ///     serde_json::json!({"code": "600", "description": "The request was malformed.", "source": "MyProxy"}),
    /// );
    /// ```
    pub fn new(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            code: Some(code.into()),
            description: Some(description.into()),
            ..Self::default()
        }
    }

    /// Sets `source`.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets `data` (the schema says an array).
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The extended envelope's `errorName` (e.g. `"PartnerConfirmedAgreementAlreadyExists"`),
    /// if it is a string.
    pub fn error_name(&self) -> Option<&str> {
        self.extra.get("errorName").and_then(Value::as_str)
    }

    /// The extended envelope's `message`, if it is a string.
    pub fn message(&self) -> Option<&str> {
        self.extra.get("message").and_then(Value::as_str)
    }

    /// The extended envelope's `isRetryable`, if it is a bool.
    pub fn is_retryable(&self) -> Option<bool> {
        self.extra.get("isRetryable").and_then(Value::as_bool)
    }

    /// The body as a JSON object in the schema: `code` (always a string) and `description`
    /// when `Some`, `data` and `source` when `Some`, and every extra field. A schema field
    /// wins over an extra field of the same name.
    pub fn to_json(&self) -> Value {
        let mut object = self.extra.clone();
        let fields = [
            ("code", self.code.clone().map(Value::String)),
            ("description", self.description.clone().map(Value::String)),
            ("data", self.data.clone()),
            ("source", self.source.clone().map(Value::String)),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                object.insert(name.to_owned(), value);
            }
        }
        Value::Object(object)
    }
}

/// The API gateway's envelope: `{"statusCode": 429, "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayError {
    /// `statusCode`, when it is a whole number that fits a `u16`.
    pub status_code: Option<u16>,
    /// `message`, when it is a string.
    pub message: Option<String>,
}

/// A Graph-style envelope: `{"error": {"code", "message", "target", "innerError"}}`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GraphError {
    /// `error.code`: a string as is, a number as its decimal text.
    pub code: Option<String>,
    /// `error.message`, when it is a string.
    pub message: Option<String>,
    /// `error.target`, when it is a string.
    pub target: Option<String>,
    /// `error.innerError` (or `error.innererror`), of any JSON type, kept as sent.
    pub inner_error: Option<Value>,
}

/// One way a body departs from the Partner Center schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// The body is empty (or only whitespace and a BOM).
    EmptyBody,
    /// The body is not JSON.
    NotJson {
        /// serde_json's error message (position and kind; it never quotes the body).
        detail: String,
    },
    /// The body is JSON, but not an object.
    NotObject {
        /// The type of the top-level value.
        found: JsonType,
    },
    /// The body is another service's error envelope.
    ForeignEnvelope {
        /// Which envelope.
        envelope: Envelope,
    },
    /// A field the schema always returns is absent.
    Missing {
        /// The absent field.
        field: Field,
    },
    /// A field is JSON `null`.
    Null {
        /// The null field.
        field: Field,
    },
    /// A field has the wrong JSON type.
    WrongType {
        /// The field.
        field: Field,
        /// The type the schema gives it.
        expected: JsonType,
        /// The type on the wire.
        found: JsonType,
    },
    /// `description` is empty or only whitespace; the schema says non-empty.
    EmptyDescription,
    /// `description` is longer than [`MAX_DESCRIPTION_CHARS`].
    DescriptionTooLong {
        /// Its length in Unicode scalar values (`char`s).
        chars: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyBody => f.write_str("the body is empty; the schema says a JSON object"),
            Self::NotJson { detail } => write!(f, "the body is not JSON: {detail}"),
            Self::NotObject { found } => write!(
                f,
                "the body is {} in JSON; the schema says object",
                found.with_article()
            ),
            Self::ForeignEnvelope { envelope } => {
                let fields = match envelope {
                    Envelope::Gateway => "`statusCode`, `message`",
                    Envelope::Graph => "an `error` object",
                };
                write!(
                    f,
                    "the body is a {envelope} envelope ({fields}), not the Partner Center schema"
                )
            }
            Self::Missing { field: Field::Data } => f.write_str("`data` is missing"),
            Self::Missing { field } => {
                write!(f, "`{field}` is missing; the schema says always returned")
            }
            Self::Null { field } => {
                write!(
                    f,
                    "`{field}` is null; the schema says {}",
                    field.schema_type()
                )
            }
            Self::WrongType {
                field,
                expected,
                found,
            } => write!(
                f,
                "`{field}` is {}; the schema says {expected}",
                found.with_article()
            ),
            Self::EmptyDescription => {
                f.write_str("`description` is empty or blank; the schema says non-empty")
            }
            Self::DescriptionTooLong { chars } => write!(
                f,
                "`description` has {chars} characters; the limit is {MAX_DESCRIPTION_CHARS}"
            ),
        }
    }
}

/// A field of the Partner Center schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `code`.
    Code,
    /// `description`.
    Description,
    /// `data`.
    Data,
    /// `source`.
    Source,
}

impl Field {
    /// The field's JSON name: `"code"`, `"description"`, `"data"` or `"source"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Description => "description",
            Self::Data => "data",
            Self::Source => "source",
        }
    }

    /// The type the schema gives the field: string, except `data`, an array.
    pub fn schema_type(self) -> JsonType {
        match self {
            Self::Data => JsonType::Array,
            Self::Code | Self::Description | Self::Source => JsonType::String,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The type of `value`.
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Bool,
            Value::Number(_) => Self::Number,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }

    /// The type's name, as JSON calls it: `"null"`, `"boolean"`, `"number"`, `"string"`,
    /// `"array"` or `"object"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "boolean",
            Self::Number => "number",
            Self::String => "string",
            Self::Array => "array",
            Self::Object => "object",
        }
    }

    fn with_article(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "an array",
            Self::Object => "an object",
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error envelope that is not the Partner Center schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Envelope {
    /// The API gateway's `{"statusCode", "message"}` (e.g. throttling).
    Gateway,
    /// The Graph-style `{"error": {"code", "message", ...}}`.
    Graph,
}

impl fmt::Display for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gateway => "gateway",
            Self::Graph => "Graph-style",
        })
    }
}

fn parse_object(map: Map<String, Value>) -> ParsedBody {
    if !map.contains_key("code") && !map.contains_key("description") {
        let status_code = map.get("statusCode").filter(|v| v.is_number());
        let message = map.get("message").and_then(Value::as_str);
        if status_code.is_some() || message.is_some() {
            let gateway = GatewayError {
                status_code: status_code
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok()),
                message: message.map(str::to_owned),
            };
            return foreign(Payload::Gateway(gateway), Envelope::Gateway);
        }
        if map.get("error").is_some_and(Value::is_object) {
            let error = map
                .into_iter()
                .find_map(|(key, value)| match value {
                    Value::Object(error) if key == "error" => Some(error),
                    _ => None,
                })
                .unwrap_or_default();
            return foreign(Payload::Graph(graph_error(error)), Envelope::Graph);
        }
    }
    // Neither envelope (possibly an empty object, or one with only unknown fields).
    partner_center(map)
}

fn foreign(payload: Payload, envelope: Envelope) -> ParsedBody {
    ParsedBody {
        payload,
        violations: vec![Violation::ForeignEnvelope { envelope }],
    }
}

fn graph_error(error: Map<String, Value>) -> GraphError {
    let mut graph = GraphError {
        code: None,
        message: None,
        target: None,
        inner_error: None,
    };
    for (key, value) in error {
        match (key.as_str(), value) {
            ("code", Value::String(code)) => graph.code = Some(code),
            ("code", Value::Number(code)) => graph.code = Some(code.to_string()),
            ("message", Value::String(message)) => graph.message = Some(message),
            ("target", Value::String(target)) => graph.target = Some(target),
            ("innerError", inner) => graph.inner_error = Some(inner),
            ("innererror", inner) if graph.inner_error.is_none() => graph.inner_error = Some(inner),
            _ => {}
        }
    }
    graph
}

fn partner_center(map: Map<String, Value>) -> ParsedBody {
    let (mut code, mut description, mut data, mut source) = (None, None, None, None);
    let mut extra = Map::new();
    // Iterating by value keeps `extra` in wire order when serde_json preserves order.
    for (key, value) in map {
        match key.as_str() {
            "code" => code = Some(value),
            "description" => description = Some(value),
            "data" => data = Some(value),
            "source" => source = Some(value),
            _ => {
                extra.insert(key, value);
            }
        }
    }

    let mut violations = Vec::new();
    let code = match code {
        Some(Value::Number(number)) => {
            violations.push(Violation::WrongType {
                field: Field::Code,
                expected: JsonType::String,
                found: JsonType::Number,
            });
            Some(number.to_string())
        }
        other => string_field(Field::Code, other, &mut violations),
    };
    let description = string_field(Field::Description, description, &mut violations);
    if let Some(text) = &description {
        if text.trim().is_empty() {
            violations.push(Violation::EmptyDescription);
        }
        let chars = text.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            violations.push(Violation::DescriptionTooLong { chars });
        }
    }
    match &data {
        None | Some(Value::Array(_)) => {}
        Some(Value::Null) => violations.push(Violation::Null { field: Field::Data }),
        Some(other) => violations.push(Violation::WrongType {
            field: Field::Data,
            expected: JsonType::Array,
            found: JsonType::of(other),
        }),
    }
    let source = string_field(Field::Source, source, &mut violations);

    ParsedBody {
        payload: Payload::PartnerCenter(ErrorBody {
            code,
            description,
            data,
            source,
            extra,
        }),
        violations,
    }
}

/// Reads a required string field, recording why it is unusable when it is.
fn string_field(
    field: Field,
    value: Option<Value>,
    violations: &mut Vec<Violation>,
) -> Option<String> {
    match value {
        Some(Value::String(text)) => return Some(text),
        None => violations.push(Violation::Missing { field }),
        Some(Value::Null) => violations.push(Violation::Null { field }),
        Some(other) => violations.push(Violation::WrongType {
            field,
            expected: JsonType::String,
            found: JsonType::of(&other),
        }),
    }
    None
}

fn parse_text(bytes: &[u8], content_type: Option<&str>, error: &serde_json::Error) -> ParsedBody {
    let head = bytes.get(..MAX_TEXT_BYTES).unwrap_or(bytes);
    let text = bounded_text(bytes);
    let payload = match classify(head, content_type) {
        TextKind::Html => Payload::Html(text),
        TextKind::Xml => Payload::Xml(text),
        TextKind::Plain => Payload::Text(text),
    };
    ParsedBody {
        payload,
        violations: vec![Violation::NotJson {
            detail: error.to_string(),
        }],
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

/// Lossy UTF-8 of at most [`MAX_TEXT_BYTES`] bytes, decoding no more of the input than that.
fn bounded_text(bytes: &[u8]) -> String {
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
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn pc(parsed: &ParsedBody) -> &ErrorBody {
        match &parsed.payload {
            Payload::PartnerCenter(body) => body,
            other => panic!("expected a Partner Center body, got {other:?}"),
        }
    }

    fn parse_json(value: Value) -> ParsedBody {
        parse(value.to_string().as_bytes(), Some("application/json"))
    }

    fn wrong(field: Field, expected: JsonType, found: JsonType) -> Violation {
        Violation::WrongType {
            field,
            expected,
            found,
        }
    }

    fn valid_with(field: &str, value: Value) -> Value {
        let mut body = json!({
            "code": "2001",
            "description": "This tenant has no such customer.",
            "data": [],
            "source": "PartnerApiServiceControllers",
        });
        body[field] = value;
        body
    }

    fn without(field: &str) -> Value {
        let mut body = valid_with(field, Value::Null);
        if let Value::Object(map) = &mut body {
            map.remove(field);
        }
        body
    }

    #[test]
    fn valid_body_has_no_violations() {
        let parsed = parse(
            br#"{"code":"2001","description":"This tenant has no such customer.","data":[],"source":"PartnerFD"}"#,
            Some("application/json"),
        );
        assert!(parsed.is_valid(), "{:?}", parsed.violations);
        let body = pc(&parsed);
        assert_eq!(body.code.as_deref(), Some("2001"));
        assert_eq!(
            body.description.as_deref(),
            Some("This tenant has no such customer.")
        );
        assert_eq!(body.data, Some(json!([])));
        assert_eq!(body.source.as_deref(), Some("PartnerFD"));
        assert!(body.extra.is_empty());
        assert_eq!(parsed.code(), Some("2001"));
        assert_eq!(
            parsed.description(),
            Some("This tenant has no such customer.")
        );
        assert_eq!(parsed.payload.error_body(), Some(body));
    }

    #[test]
    fn numeric_code_is_kept_as_decimal_text() {
        let parsed = parse(
            br#"{"code":3000,"description":"Something failed on our side.","data":[],"source":"PartnerFD"}"#,
            None,
        );
        assert_eq!(parsed.code(), Some("3000"));
        assert_eq!(
            parsed.violations,
            [wrong(Field::Code, JsonType::String, JsonType::Number)]
        );
        let parsed = parse_json(valid_with("code", json!(800090)));
        assert_eq!(parsed.code(), Some("800090"));
        let parsed = parse_json(valid_with("code", json!(-3)));
        assert_eq!(parsed.code(), Some("-3"));
    }

    #[test]
    fn code_violations() {
        let parsed = parse_json(without("code"));
        assert_eq!(
            parsed.violations,
            [Violation::Missing { field: Field::Code }]
        );
        assert_eq!(parsed.code(), None);

        let parsed = parse_json(valid_with("code", Value::Null));
        assert_eq!(parsed.violations, [Violation::Null { field: Field::Code }]);
        assert_eq!(parsed.code(), None);

        for (value, found) in [
            (json!(true), JsonType::Bool),
            (json!(["3000"]), JsonType::Array),
            (json!({"value": 3000}), JsonType::Object),
        ] {
            let parsed = parse_json(valid_with("code", value));
            assert_eq!(
                parsed.violations,
                [wrong(Field::Code, JsonType::String, found)]
            );
            assert_eq!(parsed.code(), None);
        }
    }

    #[test]
    fn description_violations() {
        let parsed = parse_json(without("description"));
        assert_eq!(
            parsed.violations,
            [Violation::Missing {
                field: Field::Description
            }]
        );
        let parsed = parse_json(valid_with("description", Value::Null));
        assert_eq!(
            parsed.violations,
            [Violation::Null {
                field: Field::Description
            }]
        );
        let parsed = parse_json(valid_with("description", json!(42)));
        assert_eq!(
            parsed.violations,
            [wrong(
                Field::Description,
                JsonType::String,
                JsonType::Number
            )]
        );
        assert_eq!(parsed.description(), None);

        for blank in ["", " ", "\t\r\n ", "\u{3000}"] {
            let parsed = parse_json(valid_with("description", json!(blank)));
            assert_eq!(
                parsed.violations,
                [Violation::EmptyDescription],
                "{blank:?}"
            );
            assert_eq!(parsed.description(), Some(blank));
        }
    }

    #[test]
    fn description_limit_counts_chars_not_bytes() {
        for c in ['é', '日', '😀'] {
            let at_limit: String = std::iter::repeat_n(c, MAX_DESCRIPTION_CHARS).collect();
            assert!(at_limit.len() >= 2 * MAX_DESCRIPTION_CHARS);
            let parsed = parse_json(valid_with("description", json!(at_limit)));
            assert!(parsed.is_valid(), "{c}: {:?}", parsed.violations);

            let over: String = std::iter::repeat_n(c, MAX_DESCRIPTION_CHARS + 1).collect();
            let parsed = parse_json(valid_with("description", json!(over)));
            assert_eq!(
                parsed.violations,
                [Violation::DescriptionTooLong { chars: 1025 }]
            );
            // Still kept whole.
            assert_eq!(parsed.description(), Some(over.as_str()));
        }
    }

    #[test]
    fn long_blank_description_reports_both() {
        let blank = " ".repeat(2000);
        let parsed = parse_json(valid_with("description", json!(blank)));
        assert_eq!(
            parsed.violations,
            [
                Violation::EmptyDescription,
                Violation::DescriptionTooLong { chars: 2000 }
            ]
        );
    }

    #[test]
    fn data_shapes() {
        let parsed = parse_json(without("data"));
        assert!(parsed.is_valid());
        assert_eq!(pc(&parsed).data, None);

        let strings = json!(["first line of a stack trace", "https://example.com/help"]);
        let parsed = parse_json(valid_with("data", strings.clone()));
        assert!(parsed.is_valid());
        assert_eq!(pc(&parsed).data, Some(strings));

        // The 2017 draft's object.
        let object = json!({"reason": "draft shape"});
        let parsed = parse_json(valid_with("data", object.clone()));
        assert_eq!(
            parsed.violations,
            [wrong(Field::Data, JsonType::Array, JsonType::Object)]
        );
        assert_eq!(pc(&parsed).data, Some(object));

        let parsed = parse_json(valid_with("data", Value::Null));
        assert_eq!(parsed.violations, [Violation::Null { field: Field::Data }]);
        assert_eq!(pc(&parsed).data, Some(Value::Null));
    }

    #[test]
    fn source_violations() {
        let parsed = parse_json(without("source"));
        assert_eq!(
            parsed.violations,
            [Violation::Missing {
                field: Field::Source
            }]
        );
        let parsed = parse_json(valid_with("source", Value::Null));
        assert_eq!(
            parsed.violations,
            [Violation::Null {
                field: Field::Source
            }]
        );
        let parsed = parse_json(valid_with("source", json!(7)));
        assert_eq!(
            parsed.violations,
            [wrong(Field::Source, JsonType::String, JsonType::Number)]
        );
        assert_eq!(pc(&parsed).source, None);
    }

    #[test]
    fn violations_come_in_field_order() {
        let parsed = parse(br#"{"data":5,"description":"","code":null}"#, None);
        assert_eq!(
            parsed.violations,
            [
                Violation::Null { field: Field::Code },
                Violation::EmptyDescription,
                wrong(Field::Data, JsonType::Array, JsonType::Number),
                Violation::Missing {
                    field: Field::Source
                },
            ]
        );
    }

    #[test]
    fn bom_and_charset_content_type() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(
            br#"{"code":"2000","description":"The request body could not be read.","data":[],"source":"PartnerFD"}"#,
        );
        let parsed = parse(&bytes, Some("Application/JSON; charset=utf-8"));
        assert!(parsed.is_valid(), "{:?}", parsed.violations);
        assert_eq!(parsed.code(), Some("2000"));
    }

    #[test]
    fn extended_envelope() {
        let parsed = parse(
            br#"{"code":600061,"description":"The agreement was already confirmed.","errorName":"PartnerConfirmedAgreementAlreadyExists","isRetryable":false,"message":"The agreement was already confirmed.","parameters":{"tenant":"abc"},"errorMessageExtended":"InternalErrorCode=600061"}"#,
            None,
        );
        let body = pc(&parsed);
        assert_eq!(body.code.as_deref(), Some("600061"));
        assert_eq!(
            body.error_name(),
            Some("PartnerConfirmedAgreementAlreadyExists")
        );
        assert_eq!(body.is_retryable(), Some(false));
        assert_eq!(body.message(), Some("The agreement was already confirmed."));
        assert_eq!(
            body.extra.get("parameters"),
            Some(&json!({"tenant": "abc"}))
        );
        assert_eq!(
            body.extra.get("errorMessageExtended"),
            Some(&json!("InternalErrorCode=600061"))
        );
        assert_eq!(body.extra.len(), 5);
        assert_eq!(
            parsed.violations,
            [
                wrong(Field::Code, JsonType::String, JsonType::Number),
                Violation::Missing {
                    field: Field::Source
                }
            ]
        );
    }

    #[test]
    fn getters_ignore_wrong_types() {
        let parsed = parse(
            br#"{"code":"1","description":"x","source":"s","errorName":3,"isRetryable":"yes","message":null}"#,
            None,
        );
        let body = pc(&parsed);
        assert_eq!(body.error_name(), None);
        assert_eq!(body.is_retryable(), None);
        assert_eq!(body.message(), None);
        assert!(parsed.is_valid());
    }

    #[test]
    fn capitalised_source_is_extra() {
        let parsed = parse(
            br#"{"code":"5","description":"An old draft shape.","data":[],"Source":"PartnerFD"}"#,
            None,
        );
        assert_eq!(
            parsed.violations,
            [Violation::Missing {
                field: Field::Source
            }]
        );
        let body = pc(&parsed);
        assert_eq!(body.source, None);
        assert_eq!(body.extra.get("Source"), Some(&json!("PartnerFD")));
    }

    #[test]
    fn gateway_throttling() {
        let parsed = parse(
            br#"{ "statusCode": 429, "message": "Too many calls; wait 57 seconds." }"#,
            Some("application/json"),
        );
        assert_eq!(
            parsed.payload,
            Payload::Gateway(GatewayError {
                status_code: Some(429),
                message: Some("Too many calls; wait 57 seconds.".into()),
            })
        );
        assert_eq!(
            parsed.violations,
            [Violation::ForeignEnvelope {
                envelope: Envelope::Gateway
            }]
        );
        assert_eq!(parsed.code(), None);
        assert_eq!(
            parsed.description(),
            Some("Too many calls; wait 57 seconds.")
        );

        let parsed = parse(br#"{"statusCode": 70000}"#, None);
        assert_eq!(
            parsed.payload,
            Payload::Gateway(GatewayError {
                status_code: None,
                message: None
            })
        );
        let parsed = parse(br#"{"message": "only a message"}"#, None);
        assert!(matches!(parsed.payload, Payload::Gateway(_)));
        // A Partner Center field makes it a Partner Center body.
        let parsed = parse(br#"{"statusCode": 429, "code": "429"}"#, None);
        assert!(matches!(parsed.payload, Payload::PartnerCenter(_)));
        assert_eq!(pc(&parsed).extra.get("statusCode"), Some(&json!(429)));
    }

    #[test]
    fn graph_envelope() {
        let parsed = parse(
            br#"{"error":{"code":"Request_BadRequest","message":"A field was malformed.","target":"customerId","innerError":{"request-id":"42"}}}"#,
            None,
        );
        assert_eq!(
            parsed.payload,
            Payload::Graph(GraphError {
                code: Some("Request_BadRequest".into()),
                message: Some("A field was malformed.".into()),
                target: Some("customerId".into()),
                inner_error: Some(json!({"request-id": "42"})),
            })
        );
        assert_eq!(
            parsed.violations,
            [Violation::ForeignEnvelope {
                envelope: Envelope::Graph
            }]
        );
        assert_eq!(parsed.code(), Some("Request_BadRequest"));
        assert_eq!(parsed.description(), Some("A field was malformed."));

        let parsed = parse(br#"{"error":{"code":404,"innererror":[1]}}"#, None);
        assert_eq!(
            parsed.payload,
            Payload::Graph(GraphError {
                code: Some("404".into()),
                message: None,
                target: None,
                inner_error: Some(json!([1])),
            })
        );
        // `error` not an object: read as Partner Center.
        let parsed = parse(br#"{"error":"nope"}"#, None);
        let body = pc(&parsed);
        assert_eq!(body.extra.get("error"), Some(&json!("nope")));
        assert_eq!(parsed.violations.len(), 3);
    }

    #[test]
    fn empty_object_misses_every_required_field() {
        let parsed = parse(b"{}", None);
        assert_eq!(
            parsed.violations,
            [
                Violation::Missing { field: Field::Code },
                Violation::Missing {
                    field: Field::Description
                },
                Violation::Missing {
                    field: Field::Source
                },
            ]
        );
        assert_eq!(pc(&parsed), &ErrorBody::default());
    }

    #[test]
    fn html_bad_gateway_page() {
        let page = b"<!DOCTYPE html>\n<html><head><title>502</title></head><body>The upstream did not answer.</body></html>";
        let parsed = parse(page, Some("text/html"));
        assert_eq!(
            parsed.payload,
            Payload::Html(String::from_utf8_lossy(page).into_owned())
        );
        assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));
        assert_eq!(parsed.code(), None);
        assert_eq!(parsed.description(), None);
        assert!(parsed.payload.text().is_some());

        // Sniffed without a content type, or against a wrong one.
        for body in [
            &b"  <!doctype HTML><p>x</p>"[..],
            b"\n<HTML>down</HTML>",
            b"error page follows <html><body>x</body></html>",
        ] {
            assert!(
                matches!(parse(body, None).payload, Payload::Html(_)),
                "{body:?}"
            );
            assert!(matches!(
                parse(body, Some("application/json")).payload,
                Payload::Html(_)
            ));
        }
        // Declared by content type alone.
        let parsed = parse(b"Bad Gateway", Some("TEXT/HTML; charset=UTF-8"));
        assert_eq!(parsed.payload, Payload::Html("Bad Gateway".into()));
    }

    #[test]
    fn xml_bodies() {
        let doc = "<?xml version=\"1.0\"?><Error><Code>3000</Code></Error>";
        let parsed = parse(doc.as_bytes(), None);
        assert_eq!(parsed.payload, Payload::Xml(doc.into()));
        assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));

        let doc = "<Error><Code>3000</Code></Error>";
        for content_type in [
            "application/xml",
            "text/xml; charset=utf-8",
            "application/problem+XML",
        ] {
            assert_eq!(
                parse(doc.as_bytes(), Some(content_type)).payload,
                Payload::Xml(doc.into()),
                "{content_type}"
            );
        }
        assert_eq!(
            parse(doc.as_bytes(), None).payload,
            Payload::Text(doc.into())
        );
    }

    #[test]
    fn plain_text() {
        let parsed = parse(b"upstream connect error", Some("text/plain"));
        assert_eq!(
            parsed.payload,
            Payload::Text("upstream connect error".into())
        );
        assert_eq!(parsed.payload.text(), Some("upstream connect error"));
        assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));
        // Truncated JSON is not JSON either.
        let parsed = parse(br#"{"code":"3000","descr"#, Some("application/json"));
        assert!(matches!(parsed.payload, Payload::Text(_)));
    }

    #[test]
    fn not_json_detail_does_not_echo_the_body() {
        let parsed = parse(b"secret-token-abc", None);
        let [Violation::NotJson { detail }] = &parsed.violations[..] else {
            panic!("{:?}", parsed.violations)
        };
        assert!(!detail.contains("secret"), "{detail}");
        assert!(!parsed.violations[0].to_string().contains("secret"));
    }

    #[test]
    fn empty_and_blank_bodies() {
        for body in [
            &b""[..],
            b" ",
            b"\r\n\t ",
            b"\xEF\xBB\xBF",
            b"\xEF\xBB\xBF \n",
        ] {
            let parsed = parse(body, Some("application/json"));
            assert_eq!(parsed.payload, Payload::Empty, "{body:?}");
            assert_eq!(parsed.violations, [Violation::EmptyBody]);
        }
        // Only one BOM is stripped.
        let parsed = parse(b"\xEF\xBB\xBF\xEF\xBB\xBF", None);
        assert_eq!(parsed.payload, Payload::Text("\u{FEFF}".into()));
    }

    #[test]
    fn huge_non_json_is_bounded() {
        let ten_mb = 10 * 1024 * 1024;
        let parsed = parse(&vec![b'a'; ten_mb], None);
        assert_eq!(parsed.payload, Payload::Text("a".repeat(MAX_TEXT_BYTES)));

        let mut html = b"<html>".to_vec();
        html.resize(ten_mb, b'x');
        let text = parse(&html, None).payload;
        assert!(matches!(text, Payload::Html(ref t) if t.len() == MAX_TEXT_BYTES));

        // Three-byte characters: the cut falls inside one, which is dropped, not replaced.
        let wide = "日".repeat(ten_mb / 3);
        let parsed = parse(wide.as_bytes(), None);
        let text = parsed.payload.text().unwrap();
        assert_eq!(text.len(), MAX_TEXT_BYTES / 3 * 3);
        assert!(text.chars().all(|c| c == '日'));

        // Invalid bytes expand to U+FFFD (three bytes each): still capped.
        let parsed = parse(&vec![0xFF; ten_mb], None);
        let text = parsed.payload.text().unwrap();
        assert!(text.len() <= MAX_TEXT_BYTES);
        assert_eq!(text.len(), MAX_TEXT_BYTES / 3 * 3);
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let parsed = parse(b"broken \xFF\xC3 bytes", None);
        assert_eq!(
            parsed.payload,
            Payload::Text("broken \u{FFFD}\u{FFFD} bytes".into())
        );
        assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));
    }

    #[test]
    fn other_json() {
        for (body, found) in [
            (&br#"[{"code":"1"}]"#[..], JsonType::Array),
            (br#""just a string""#, JsonType::String),
            (b"503", JsonType::Number),
            (b"true", JsonType::Bool),
            (b" null ", JsonType::Null),
        ] {
            let parsed = parse(body, None);
            assert_eq!(
                parsed.payload,
                Payload::OtherJson(serde_json::from_slice(body).unwrap())
            );
            assert_eq!(parsed.violations, [Violation::NotObject { found }]);
            assert_eq!(parsed.code(), None);
            assert_eq!(parsed.description(), None);
        }
    }

    #[test]
    fn deep_nesting_and_duplicate_keys() {
        let deep = "[".repeat(100_000);
        let parsed = parse(deep.as_bytes(), None);
        assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));

        let parsed = parse(
            br#"{"code":"1","code":"2","description":"d","source":"s"}"#,
            None,
        );
        assert_eq!(parsed.code(), Some("2"));
    }

    #[test]
    fn to_json_round_trip() {
        let original = json!({
            "code": "2200",
            "description": "The offer is not available in this market.",
            "data": ["details"],
            "source": "ComplianceController",
            "errorName": "OfferUnavailable",
            "isRetryable": true,
        });
        let parsed = parse_json(original.clone());
        let body = pc(&parsed);
        assert_eq!(body.to_json(), original);
        let again = parse_json(body.to_json());
        assert_eq!(&again, &parsed);

        // A numeric code comes back as a string.
        let parsed = parse_json(valid_with("code", json!(3000)));
        assert_eq!(pc(&parsed).to_json()["code"], json!("3000"));
        assert!(parse_json(pc(&parsed).to_json()).is_valid());

        let built = ErrorBody::new("3000", "Try again later.")
            .with_data(json!([]))
            .with_source("Proxy");
        assert_eq!(
            built.to_json(),
            json!({"code": "3000", "description": "Try again later.", "data": [], "source": "Proxy"})
        );
        assert!(parse_json(built.to_json()).is_valid());
        assert_eq!(pc(&parse_json(built.to_json())), &built);

        // Absent fields stay absent; schema fields win over extra ones.
        let mut body = ErrorBody::default();
        body.extra.insert("code".into(), json!(1));
        assert_eq!(body.to_json(), json!({"code": 1}));
        body.code = Some("2".into());
        assert_eq!(body.to_json(), json!({"code": "2"}));
    }

    #[test]
    fn display() {
        let cases = [
            (
                wrong(Field::Code, JsonType::String, JsonType::Number),
                "`code` is a number; the schema says string",
            ),
            (
                Violation::DescriptionTooLong { chars: 1025 },
                "`description` has 1025 characters; the limit is 1024",
            ),
            (
                Violation::Missing {
                    field: Field::Source,
                },
                "`source` is missing; the schema says always returned",
            ),
            (
                Violation::Null { field: Field::Data },
                "`data` is null; the schema says array",
            ),
            (
                wrong(Field::Data, JsonType::Array, JsonType::Object),
                "`data` is an object; the schema says array",
            ),
            (
                Violation::NotObject {
                    found: JsonType::Array,
                },
                "the body is an array in JSON; the schema says object",
            ),
            (
                Violation::ForeignEnvelope {
                    envelope: Envelope::Gateway,
                },
                "the body is a gateway envelope (`statusCode`, `message`), not the Partner Center schema",
            ),
            (
                Violation::EmptyBody,
                "the body is empty; the schema says a JSON object",
            ),
            (
                Violation::EmptyDescription,
                "`description` is empty or blank; the schema says non-empty",
            ),
        ];
        for (violation, text) in cases {
            assert_eq!(violation.to_string(), text);
        }
        let parsed = parse(b"<", None);
        assert!(parsed.violations[0]
            .to_string()
            .starts_with("the body is not JSON: "));
        assert_eq!(Field::Description.to_string(), "description");
        assert_eq!(JsonType::Bool.to_string(), "boolean");
        assert_eq!(JsonType::of(&json!({})), JsonType::Object);
        assert_eq!(Envelope::Graph.to_string(), "Graph-style");
    }

    fn content_type() -> impl Strategy<Value = Option<&'static str>> {
        prop::option::of(prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "text/html",
            "application/xml",
            "text/plain",
            "application/problem+xml",
            "",
            ";;;",
            "é/ü+xml",
        ]))
    }

    fn check_invariants(parsed: &ParsedBody) {
        assert_eq!(parsed.is_valid(), parsed.violations.is_empty());
        match &parsed.payload {
            Payload::Html(text) | Payload::Xml(text) | Payload::Text(text) => {
                assert!(text.len() <= MAX_TEXT_BYTES);
                assert!(!text.is_empty());
                assert!(matches!(parsed.violations[..], [Violation::NotJson { .. }]));
            }
            Payload::Empty => assert_eq!(parsed.violations, [Violation::EmptyBody]),
            Payload::OtherJson(_) => {
                assert!(matches!(
                    parsed.violations[..],
                    [Violation::NotObject { .. }]
                ))
            }
            Payload::Gateway(_) | Payload::Graph(_) => assert!(matches!(
                parsed.violations[..],
                [Violation::ForeignEnvelope { .. }]
            )),
            Payload::PartnerCenter(_) => {}
        }
        for violation in &parsed.violations {
            assert!(!violation.to_string().is_empty());
        }
    }

    /// Any JSON value, shallow, with strings that exercise the description rules.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            // Floats that survive a text round trip exactly.
            prop::sample::select(vec![1.5, 3000.0, -0.25, 1e20]).prop_map(Value::from),
            "\\PC{0,40}".prop_map(Value::from),
            prop::sample::select(vec!["", " ", "\t\n", "\u{3000}"]).prop_map(Value::from),
            (1020usize..1030, prop::sample::select(vec!['a', 'é', '😀']))
                .prop_map(|(n, c)| Value::from(std::iter::repeat_n(c, n).collect::<String>())),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The violations the rules give for one field's value.
    fn expected_for(field: Field, value: &Option<Value>) -> Vec<Violation> {
        match (field, value) {
            (Field::Data, None | Some(Value::Array(_))) => vec![],
            (_, None) => vec![Violation::Missing { field }],
            (_, Some(Value::Null)) => vec![Violation::Null { field }],
            (Field::Data, Some(other)) => {
                vec![wrong(field, JsonType::Array, JsonType::of(other))]
            }
            (_, Some(Value::String(text))) => {
                let mut out = vec![];
                if field == Field::Description {
                    if text.trim().is_empty() {
                        out.push(Violation::EmptyDescription);
                    }
                    let chars = text.chars().count();
                    if chars > MAX_DESCRIPTION_CHARS {
                        out.push(Violation::DescriptionTooLong { chars });
                    }
                }
                out
            }
            (_, Some(other)) => vec![wrong(field, JsonType::String, JsonType::of(other))],
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..8192),
            content_type in content_type(),
        ) {
            check_invariants(&parse(&bytes, content_type));
        }

        #[test]
        fn markup_like_bytes_never_panic(
            prefix in prop::sample::select(vec![
                &b""[..], b"\xEF\xBB\xBF", b"<html", b"  <!DOCTYPE html", b"<?xml", b"{", b"[", b"\"",
            ]),
            bytes in prop::collection::vec(any::<u8>(), 0..6000),
            content_type in content_type(),
        ) {
            let mut input = prefix.to_vec();
            input.extend_from_slice(&bytes);
            check_invariants(&parse(&input, content_type));
        }

        #[test]
        fn valid_utf8_text_is_kept_as_a_prefix(
            text in "\\PC{1,3000}",
            content_type in content_type(),
        ) {
            let parsed = parse(text.as_bytes(), content_type);
            check_invariants(&parsed);
            if let Some(kept) = parsed.payload.text() {
                let input = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
                prop_assert!(input.starts_with(kept));
                prop_assert!(kept == input || kept.len() > MAX_TEXT_BYTES - 4);
            }
        }

        #[test]
        fn schema_fields_of_any_type(
            code in prop::option::of(json_value()),
            description in prop::option::of(json_value()),
            data in prop::option::of(json_value()),
            source in prop::option::of(json_value()),
            extra in prop::collection::btree_map(
                prop::sample::select(vec!["errorName", "isRetryable", "parameters", "Source", "zzz"]),
                json_value(),
                0..3,
            ),
        ) {
            let mut map = Map::new();
            for (key, value) in &extra {
                map.insert((*key).to_owned(), value.clone());
            }
            for (key, value) in [("code", &code), ("description", &description), ("data", &data), ("source", &source)] {
                if let Some(value) = value {
                    map.insert(key.to_owned(), value.clone());
                }
            }
            let bytes = serde_json::to_vec(&Value::Object(map)).unwrap();
            let parsed = parse(&bytes, Some("application/json"));
            check_invariants(&parsed);
            let body = pc(&parsed);

            let mut expected = expected_for(Field::Code, &code);
            expected.extend(expected_for(Field::Description, &description));
            expected.extend(expected_for(Field::Data, &data));
            expected.extend(expected_for(Field::Source, &source));
            prop_assert_eq!(&parsed.violations, &expected);

            match &code {
                Some(Value::Number(n)) => {
                    prop_assert_eq!(body.code.clone(), Some(n.to_string()));
                    prop_assert!(parsed.violations.contains(&wrong(Field::Code, JsonType::String, JsonType::Number)));
                }
                Some(Value::String(s)) => prop_assert_eq!(body.code.as_ref(), Some(s)),
                _ => prop_assert_eq!(body.code.as_ref(), None),
            }
            prop_assert_eq!(body.description.as_deref(), description.as_ref().and_then(Value::as_str));
            prop_assert_eq!(body.source.as_deref(), source.as_ref().and_then(Value::as_str));
            prop_assert_eq!(&body.data, &data);
            prop_assert_eq!(body.extra.len(), extra.len());

            // Back to JSON and again: the same body, minus the types that were dropped.
            let again = parse(body.to_json().to_string().as_bytes(), None);
            if let Payload::PartnerCenter(again) = &again.payload {
                prop_assert_eq!(&again.code, &body.code);
                prop_assert_eq!(&again.description, &body.description);
                prop_assert_eq!(&again.data, &body.data);
                prop_assert_eq!(&again.extra, &body.extra);
            }
        }
    }
}

//! The shapes an error body can take.

use serde_json::{Map, Value};

use super::read::Pick;
use super::text::{bounded_debug, BodyStr, RawJson};
use super::{Detail, GraphError, ProblemDetails};

/// What an error response body holds.
///
/// Every string and JSON value of a JSON body refers into the body's bytes (see [`BodyStr`]
/// and [`RawJson`]); nothing is parsed into a `serde_json::Value` until asked. The text of a
/// body that is not JSON is at most [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES) of it, also
/// referring into the body (decoded lossily on first use when it is not UTF-8).
///
/// `Debug` is bounded: each text sanitised and cut at 120 characters, saying how many more
/// there were.
#[derive(Clone, PartialEq)]
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
    /// RFC 9457 problem details: `{"type", "title", "status", "detail", "instance", ...}`.
    Problem(ProblemDetails),
    /// Valid JSON that is not an object (array, string, number, bool, null), as sent.
    OtherJson(RawJson),
    /// An HTML page (lossy UTF-8, at most [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES), BOM stripped).
    Html(BodyStr),
    /// An XML document (lossy UTF-8, at most [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES), BOM stripped).
    Xml(BodyStr),
    /// Any other text (lossy UTF-8, at most [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES), BOM stripped).
    Text(BodyStr),
    /// No body: zero bytes, or only ASCII whitespace and a BOM.
    Empty,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |f: &mut std::fmt::Formatter<'_>, name: &str, text: &str| {
            write!(f, "{name}(")?;
            bounded_debug(text, f)?;
            f.write_str(")")
        };
        match self {
            Self::PartnerCenter(body) => f.debug_tuple("PartnerCenter").field(body).finish(),
            Self::Gateway(gateway) => f.debug_tuple("Gateway").field(gateway).finish(),
            Self::Graph(graph) => f.debug_tuple("Graph").field(graph).finish(),
            Self::Problem(problem) => f.debug_tuple("Problem").field(problem).finish(),
            Self::OtherJson(json) => f.debug_tuple("OtherJson").field(json).finish(),
            Self::Html(html) => text(f, "Html", html),
            Self::Xml(xml) => text(f, "Xml", xml),
            Self::Text(plain) => text(f, "Text", plain),
            Self::Empty => f.write_str("Empty"),
        }
    }
}

impl PartialEq<&Payload> for Payload {
    fn eq(&self, other: &&Payload) -> bool {
        self == *other
    }
}

impl Payload {
    /// Returns the error code: the Partner Center `code`, the Graph `error.code`, or the problem
    /// details `type` (a URI reference); `None` otherwise.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::PartnerCenter(body) => body.code.as_deref(),
            Self::Graph(graph) => graph.code.as_deref(),
            Self::Problem(problem) => problem.problem_type.as_deref(),
            _ => None,
        }
    }

    /// Returns the human-readable text: the Partner Center `description`, the Graph or gateway
    /// `message`, or the problem details `detail` (else its `title`); `None` otherwise.
    pub fn description(&self) -> Option<&str> {
        match self {
            Self::PartnerCenter(body) => body.description.as_deref(),
            Self::Graph(graph) => graph.message.as_deref(),
            Self::Gateway(gateway) => gateway.message.as_deref(),
            Self::Problem(problem) => problem.detail.as_deref().or(problem.title.as_deref()),
            _ => None,
        }
    }

    /// Returns what the error is about: the Graph `error.target`; `None` otherwise (Partner Center
    /// and problem details have no such field).
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::Graph(graph) => graph.target.as_deref(),
            _ => None,
        }
    }

    /// Returns the list of details, read on each call (nothing is kept): the Graph `error.details`,
    /// the Partner Center `data` (its strings as messages, its objects' `code`, `message`
    /// or `description`, `target`), or a problem details `errors` extension (an array of such
    /// objects, or an object of `field: [messages]` as ASP.NET Core's validation problems
    /// send). Empty when there are none. Each call allocates for every item it reads, many
    /// times the body for a long list of small items (`[{},{},...]`).
    pub fn details(&self) -> Vec<Detail> {
        let list = match self {
            Self::PartnerCenter(body) => body.data.as_ref(),
            Self::Graph(graph) => graph.details.as_ref(),
            Self::Problem(problem) => return problem.errors(),
            _ => None,
        };
        list.map(Detail::list).unwrap_or_default()
    }

    /// Returns the Graph envelope, if the payload is one.
    pub fn graph(&self) -> Option<&GraphError> {
        match self {
            Self::Graph(graph) => Some(graph),
            _ => None,
        }
    }

    /// Returns the problem details, if the payload is one.
    pub fn problem(&self) -> Option<&ProblemDetails> {
        match self {
            Self::Problem(problem) => Some(problem),
            _ => None,
        }
    }

    /// Returns the Partner Center body, if the payload is one.
    pub fn error_body(&self) -> Option<&ErrorBody> {
        match self {
            Self::PartnerCenter(body) => Some(body),
            _ => None,
        }
    }

    /// Returns the kept text of a body that is not JSON ([`Html`](Self::Html), [`Xml`](Self::Xml)
    /// or [`Text`](Self::Text)).
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Html(text) | Self::Xml(text) | Self::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }
}

/// A Partner Center error body, as read from the wire or built to answer with.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ErrorBody {
    /// `code`: kept as is when a string; a JSON number is kept as its text as sent (`"3000"`);
    /// `None` when absent, null or of another type.
    pub code: Option<BodyStr>,
    /// `description`, when it is a JSON string (kept whole, even past the 1024 limit).
    pub description: Option<BodyStr>,
    /// `data`, of any JSON type, kept as sent and parsed only when asked
    /// ([`RawJson::to_value`]); `None` when absent.
    pub data: Option<RawJson>,
    /// `source`, when it is a JSON string.
    pub source: Option<BodyStr>,
    /// Every other field, kept as sent: `errorName`, `isRetryable`, `message`, `parameters`,
    /// `errorMessageExtended`, a capitalised `Source`, ...
    pub extra: Extras,
}

impl ErrorBody {
    /// Returns a body with a code and a description, no `data`, no `source` and no extra fields.
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
            code: Some(BodyStr::from(code.into())),
            description: Some(BodyStr::from(description.into())),
            ..Self::default()
        }
    }

    /// Sets `source`.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(BodyStr::from(source.into()));
        self
    }

    /// Sets `data` (the schema says an array).
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(RawJson::from_value(&data));
        self
    }

    /// Returns the extended envelope's `errorName` (e.g.
    /// `"PartnerConfirmedAgreementAlreadyExists"`), if it is a string.
    pub fn error_name(&self) -> Option<BodyStr> {
        self.extra
            .get("errorName")
            .as_ref()
            .and_then(RawJson::to_str)
    }

    /// Returns the extended envelope's `message`, if it is a string.
    pub fn message(&self) -> Option<BodyStr> {
        self.extra.get("message").as_ref().and_then(RawJson::to_str)
    }

    /// Returns the extended envelope's `isRetryable`, if it is a bool.
    pub fn is_retryable(&self) -> Option<bool> {
        self.extra
            .get("isRetryable")
            .as_ref()
            .and_then(RawJson::as_bool)
    }

    /// Returns the body as a JSON object in the schema: `code` (always a string) and `description`
    /// when `Some`, `data` and `source` when `Some`, and every extra field. A schema field
    /// wins over an extra field of the same name; a value [`RawJson::to_value`] cannot read
    /// (past serde_json's recursion limit, or a number too large for an `f64`) becomes `null`.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        for (name, value) in self.extra.iter() {
            object.insert(name.to_string(), value.to_value().unwrap_or(Value::Null));
        }
        let string = |text: &Option<BodyStr>| text.as_deref().map(Value::from);
        let fields = [
            ("code", string(&self.code)),
            ("description", string(&self.description)),
            (
                "data",
                self.data
                    .as_ref()
                    .map(|data| data.to_value().unwrap_or(Value::Null)),
            ),
            ("source", string(&self.source)),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                object.insert(name.to_owned(), value);
            }
        }
        Value::Object(object)
    }
}

/// The fields of an object beyond those the schema names, in the order sent, values kept as
/// JSON text. A name sent twice is kept twice; [`get`](Self::get) finds the last, as JSON
/// parsers do.
///
/// Read lazily: what the parser keeps is the object's text and the count of extra fields;
/// [`get`](Self::get) and [`iter`](Self::iter) read the object again (no copy: names and values
/// are slices of the body). `get` (and the getters built on it, such as
/// [`ErrorBody::error_name`]) keeps only the field asked for; `iter` gathers every field, so
/// its cost grows with their number. `Debug` prints at most the first eight fields and the
/// count, and reads no more of them into memory.
#[derive(Clone, Default)]
pub struct Extras {
    /// The whole object as sent, when read from a body.
    object: Option<RawJson>,
    /// The schema's own fields, which are not extra.
    schema_fields: &'static [&'static str],
    /// How many of its fields are extra.
    read: usize,
    /// Fields added with [`insert`](Self::insert).
    added: Vec<(BodyStr, RawJson)>,
}

/// The fields the Partner Center schema names, which [`Extras`] leaves out.
pub(super) const SCHEMA_FIELDS: &[&str] = &["code", "description", "data", "source"];

impl Extras {
    /// The extra fields of `object`, `read` of them, beyond `schema_fields`.
    pub(super) fn lazy(
        object: impl FnOnce() -> RawJson,
        read: usize,
        schema_fields: &'static [&'static str],
    ) -> Self {
        Self {
            object: (read > 0).then(object),
            schema_fields,
            read,
            added: Vec::new(),
        }
    }

    /// Returns the value of the last field called `name` (case-sensitive, as JSON is).
    ///
    /// Reads the object again, keeping only the field asked for: no allocation that grows with
    /// the number of fields.
    pub fn get(&self, name: &str) -> Option<RawJson> {
        let added = self
            .added
            .iter()
            .rev()
            .find(|(key, _)| key.as_str() == name);
        if let Some((_, value)) = added {
            return Some(value.clone());
        }
        if self.schema_fields.contains(&name) {
            return None;
        }
        let object = self.object.as_ref()?;
        let (_, value) = object.picked_fields(Pick::Last(name)).pop()?;
        Some(value)
    }

    /// Returns the first `most` fields, in the order sent, reading no more of the object than
    /// that into memory.
    fn first(&self, most: usize) -> impl Iterator<Item = (BodyStr, RawJson)> + '_ {
        let skip = self.schema_fields;
        let read = self
            .object
            .as_ref()
            .map(|object| object.picked_fields(Pick::First { skip, most }))
            .unwrap_or_default();
        read.into_iter()
            .chain(self.added.iter().cloned())
            .take(most)
    }

    /// Adds a field after the others (for bodies built to answer with).
    pub fn insert(&mut self, name: impl Into<String>, value: Value) {
        self.added
            .push((BodyStr::from(name.into()), RawJson::from_value(&value)));
    }

    /// Returns whether a field called `name` was sent.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Returns the fields, in the order sent (reading the object again).
    pub fn iter(&self) -> impl Iterator<Item = (BodyStr, RawJson)> + '_ {
        let read = self
            .object
            .as_ref()
            .map(RawJson::fields)
            .unwrap_or_default();
        read.into_iter()
            .filter(|(key, _)| !self.schema_fields.contains(&key.as_str()))
            .chain(self.added.iter().cloned())
    }

    /// Returns the names of the fields, in the order sent.
    pub fn keys(&self) -> impl Iterator<Item = BodyStr> + '_ {
        self.iter().map(|(key, _)| key)
    }

    /// Returns how many fields there are.
    pub fn len(&self) -> usize {
        self.read + self.added.len()
    }

    /// Returns whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Extras {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for Extras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 8;
        let mut map = f.debug_map();
        map.entries(self.first(SHOWN));
        if self.len() > SHOWN {
            map.entry(&"..", &format_args!("{} more", self.len() - SHOWN));
        }
        map.finish()
    }
}

/// The API gateway's envelope: `{"statusCode": 429, "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayError {
    /// `statusCode`, when it is a whole number that fits a `u16`.
    pub status_code: Option<u16>,
    /// `message`, when it is a string.
    pub message: Option<BodyStr>,
}

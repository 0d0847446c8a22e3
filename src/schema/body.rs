//! The shapes an error body can take.

use serde_json::{Map, Value};

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
    /// An HTML page (lossy UTF-8, at most [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES), BOM stripped).
    Html(String),
    /// An XML document (lossy UTF-8, at most [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES), BOM stripped).
    Xml(String),
    /// Any other text (lossy UTF-8, at most [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES), BOM stripped).
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

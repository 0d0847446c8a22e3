//! How a body departs from the schema.

use std::fmt;

use serde_json::Value;

use super::MAX_DESCRIPTION_CHARS;

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

impl Violation {
    /// Returns what kind of violation this is, without its details.
    pub fn kind(&self) -> ViolationKind {
        match self {
            Self::EmptyBody => ViolationKind::EmptyBody,
            Self::NotJson { .. } => ViolationKind::NotJson,
            Self::NotObject { .. } => ViolationKind::NotObject,
            Self::ForeignEnvelope { .. } => ViolationKind::ForeignEnvelope,
            Self::Missing { field } => ViolationKind::Missing(*field),
            Self::Null { field } => ViolationKind::Null(*field),
            Self::WrongType { field, found, .. } => ViolationKind::WrongType(*field, *found),
            Self::EmptyDescription => ViolationKind::EmptyDescription,
            Self::DescriptionTooLong { .. } => ViolationKind::DescriptionTooLong,
        }
    }

    /// Returns how serious the violation is: a [known deviation](Severity::KnownDeviation) the
    /// real service sends, or a [breach](Severity::Breach) of the contract. See
    /// [`ViolationKind::severity`].
    pub fn severity(&self) -> Severity {
        self.kind().severity()
    }
}

/// How serious a [`Violation`] is.
///
/// [Strict mode](crate::PartnerErrorsLayer::strict) rejects breaches and accepts known
/// deviations by default; [`StrictPolicy`](super::StrictPolicy) moves single kinds either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// The real Partner Center service is known to send this: a numeric `code`, a missing
    /// `source`, an empty body (some 404s, the MFA 401).
    KnownDeviation,
    /// The body breaks the contract in a way no known Partner Center response does.
    Breach,
}

impl Severity {
    /// Returns the severity's name: `"known_deviation"` or `"breach"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::KnownDeviation => "known_deviation",
            Self::Breach => "breach",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind a [`Violation`] is, without its details: what [`StrictPolicy`](super::StrictPolicy)
/// is set by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViolationKind {
    /// [`Violation::EmptyBody`].
    EmptyBody,
    /// [`Violation::NotJson`].
    NotJson,
    /// [`Violation::NotObject`].
    NotObject,
    /// [`Violation::ForeignEnvelope`].
    ForeignEnvelope,
    /// [`Violation::Missing`] of this field.
    Missing(Field),
    /// [`Violation::Null`] of this field.
    Null(Field),
    /// [`Violation::WrongType`] of this field, with the type found on the wire.
    WrongType(Field, JsonType),
    /// [`Violation::EmptyDescription`].
    EmptyDescription,
    /// [`Violation::DescriptionTooLong`].
    DescriptionTooLong,
}

impl ViolationKind {
    /// Returns the default severity of this kind.
    ///
    /// Known deviations, sent by the real service: a numeric `code`
    /// (`WrongType(Code, Number)`), a missing `data` or `source`, an empty body (some 404s and
    /// the MFA 401 have none). A byte order mark and the extended envelope's extra fields
    /// (`errorName`, `isRetryable`, ...) are not violations at all.
    ///
    /// Everything else is a breach: not JSON, not an object, a foreign envelope where the
    /// schema was expected, an empty or over-long description, a missing `code` or
    /// `description`, a null field, any other wrong type.
    pub fn severity(self) -> Severity {
        match self {
            Self::WrongType(Field::Code, JsonType::Number)
            | Self::Missing(Field::Data | Field::Source)
            | Self::EmptyBody => Severity::KnownDeviation,
            _ => Severity::Breach,
        }
    }

    /// A small number per kind, below 64, for [`StrictPolicy`](super::StrictPolicy)'s masks.
    pub(super) fn bit(self) -> u32 {
        let field = |field: Field| match field {
            Field::Code => 0,
            Field::Description => 1,
            Field::Data => 2,
            Field::Source => 3,
        };
        let json = |found: JsonType| match found {
            JsonType::Null => 0,
            JsonType::Bool => 1,
            JsonType::Number => 2,
            JsonType::String => 3,
            JsonType::Array => 4,
            JsonType::Object => 5,
        };
        match self {
            Self::EmptyBody => 0,
            Self::NotJson => 1,
            Self::NotObject => 2,
            Self::ForeignEnvelope => 3,
            Self::EmptyDescription => 4,
            Self::DescriptionTooLong => 5,
            Self::Missing(f) => 6 + field(f),
            Self::Null(f) => 10 + field(f),
            Self::WrongType(f, found) => 14 + field(f) * 6 + json(found),
        }
    }
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

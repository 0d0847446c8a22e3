//! How a body departs from the schema.

use std::fmt;

use serde_json::Value;

use super::{Schema, MAX_DESCRIPTION_CHARS};
use crate::sanitize::Sanitized;

/// Most characters of a `Content-Encoding` that [`Violation::Encoded`] keeps.
pub(crate) const MAX_CODING_CHARS: usize = 32;

/// One way a body departs from the schema it was read against (Partner Center's by default;
/// see [`Schema`]).
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
    /// The body is another service's error envelope, where the Partner Center schema was
    /// expected.
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
    /// A field has the wrong JSON type. A problem details `status` that is a number but no
    /// status code (a fraction, an exponent, a sign, past 65535) is this too, with `found` and
    /// `expected` both [`JsonType::Number`].
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
    /// The body is another schema's envelope, where the Graph or problem details schema was
    /// expected.
    WrongEnvelope {
        /// What the body is.
        found: Envelope,
        /// The schema it was read against.
        expected: Schema,
    },
    /// A problem details `status` that is not the response's status (RFC 9457 says they
    /// must be the same).
    StatusMismatch {
        /// The body's `status`.
        body: u16,
        /// The response's status.
        response: u16,
    },
    /// A problem details body whose `Content-Type` is not `application/problem+json`.
    NotProblemMediaType,
    /// A body that is not JSON came with a `Content-Encoding` (`gzip`, `br`, ...): it was read
    /// as sent, still encoded, so decompression sits outside the layer, where it must be inside
    /// (see the crate docs). Named before [`Violation::NotJson`], and only with it: a body
    /// that parses needed no decoding. Never produced by [`parse`](super::parse), which sees no
    /// headers; the layer and [`ApiError`](crate::ApiError) add it.
    Encoded {
        /// The `Content-Encoding` as sent, at most 32 characters of it.
        coding: String,
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
            Self::WrongEnvelope { .. } => ViolationKind::WrongEnvelope,
            Self::StatusMismatch { .. } => ViolationKind::StatusMismatch,
            Self::NotProblemMediaType => ViolationKind::NotProblemMediaType,
            Self::Encoded { .. } => ViolationKind::Encoded,
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
    /// The real service is known to send this: a numeric `code`, a missing `source`, an empty
    /// body (some 404s, the MFA 401), problem details served as plain `application/json`.
    KnownDeviation,
    /// The body breaks the contract in a way no known response of that service does.
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
    /// [`Violation::WrongEnvelope`].
    WrongEnvelope,
    /// [`Violation::StatusMismatch`].
    StatusMismatch,
    /// [`Violation::NotProblemMediaType`].
    NotProblemMediaType,
    /// [`Violation::Encoded`].
    Encoded,
}

impl ViolationKind {
    /// Returns the default severity of this kind.
    ///
    /// Known deviations, sent by the real service: a numeric `code`
    /// (`WrongType(Code, Number)`), a missing `data` or `source`, an empty body (some 404s and
    /// the MFA 401 have none), and problem details sent as `application/json` rather than
    /// `application/problem+json` (many frameworks do). A byte order mark and the extended
    /// envelope's extra fields (`errorName`, `isRetryable`, ...) are not violations at all.
    ///
    /// Everything else is a breach: not JSON (still encoded or not), not an object, a foreign envelope where the
    /// schema was expected, an empty or over-long description, a missing `code` or
    /// `description` (or Graph `error`, `error.code`, `error.message`), a null field, any other
    /// wrong type, a problem details `status` that is not the response's.
    pub fn severity(self) -> Severity {
        match self {
            Self::WrongType(Field::Code, JsonType::Number)
            | Self::Missing(Field::Data | Field::Source)
            | Self::EmptyBody
            | Self::NotProblemMediaType => Severity::KnownDeviation,
            _ => Severity::Breach,
        }
    }

    /// A small number per kind, below 64, for [`StrictPolicy`](super::StrictPolicy)'s masks
    /// (kept at 64 bits: the layer's settings ride in every response future). Kinds the
    /// parser never produces (a missing problem details member, a null optional field) share
    /// bit 63, which no produced kind uses.
    pub(super) fn bit(self) -> u32 {
        const NEVER_PRODUCED: u32 = 63;
        // Partner Center's fields, and Graph's that can be missing or null.
        let checked = |field: Field| match field {
            Field::Code => Some(0),
            Field::Description => Some(1),
            Field::Data => Some(2),
            Field::Source => Some(3),
            Field::GraphError => Some(4),
            Field::GraphCode => Some(5),
            Field::GraphMessage => Some(6),
            _ => None,
        };
        let json = |found: JsonType| match found {
            JsonType::Bool | JsonType::Null => 0, // (`Null` never gets here: matched above)
            JsonType::Number => 1,
            JsonType::String => 2,
            JsonType::Array => 3,
            JsonType::Object => 4,
        };
        match self {
            Self::EmptyBody => 0,
            Self::NotJson => 1,
            Self::NotObject => 2,
            Self::ForeignEnvelope => 3,
            Self::EmptyDescription => 4,
            Self::DescriptionTooLong => 5,
            Self::WrongEnvelope => 6,
            Self::StatusMismatch => 7,
            Self::NotProblemMediaType => 8,
            Self::Encoded => 54,
            Self::Missing(f) => checked(f).map_or(NEVER_PRODUCED, |f| 9 + f),
            // A wrong type of `null` is the field's `Null`: the same thing said twice.
            Self::Null(f) | Self::WrongType(f, JsonType::Null) => {
                checked(f).map_or(NEVER_PRODUCED, |f| 16 + f)
            }
            // Partner Center's fields by the type found (23..=42); the others by field alone
            // (43..=53).
            Self::WrongType(f, found) => match f {
                Field::Code | Field::Description | Field::Data | Field::Source => {
                    23 + (f as u32) * 5 + json(found)
                }
                _ => 43 + (f as u32 - Field::GraphError as u32),
            },
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
            Self::ForeignEnvelope { envelope } => write!(
                f,
                "the body is a {envelope} envelope ({}), not the Partner Center schema",
                envelope.fields()
            ),
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
            // The one type that is right and still not the schema's: a number no `u16` holds.
            Self::WrongType {
                field: Field::ProblemStatus,
                found: JsonType::Number,
                ..
            } => f.write_str(
                "`status` is a number but no status code (it has a fraction, an exponent or a \
                 sign, or is past 65535); the schema says a whole number",
            ),
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
            Self::WrongEnvelope { found, expected } => write!(
                f,
                "the body is a {found} envelope ({}), not the {expected} schema",
                found.fields()
            ),
            Self::StatusMismatch { body, response } => write!(
                f,
                "`status` is {body} but the response status is {response}; they must be the same"
            ),
            Self::NotProblemMediaType => {
                f.write_str("the content type is not `application/problem+json`")
            }
            Self::Encoded { coding } => write!(
                f,
                "the body is still encoded (`Content-Encoding: {}`); decompress inside the layer",
                Sanitized::with_limit(coding, MAX_CODING_CHARS)
            ),
        }
    }
}

/// A field of a schema: Partner Center's, Graph's (`error.*`) or problem details'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// Partner Center's `code`.
    Code,
    /// Partner Center's `description`.
    Description,
    /// Partner Center's `data`.
    Data,
    /// Partner Center's `source`.
    Source,
    /// Graph's top-level `error` object.
    GraphError,
    /// Graph's `error.code`.
    GraphCode,
    /// Graph's `error.message`.
    GraphMessage,
    /// Graph's `error.target`.
    GraphTarget,
    /// Graph's `error.details`.
    GraphDetails,
    /// Graph's `error.innerError`.
    GraphInnerError,
    /// Problem details' `type`.
    ProblemType,
    /// Problem details' `title`.
    ProblemTitle,
    /// Problem details' `status`.
    ProblemStatus,
    /// Problem details' `detail`.
    ProblemDetail,
    /// Problem details' `instance`.
    ProblemInstance,
}

impl Field {
    /// Returns the field's JSON name, with its path in Graph's envelope: `"code"`, `"description"`,
    /// `"error.message"`, `"status"`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Description => "description",
            Self::Data => "data",
            Self::Source => "source",
            Self::GraphError => "error",
            Self::GraphCode => "error.code",
            Self::GraphMessage => "error.message",
            Self::GraphTarget => "error.target",
            Self::GraphDetails => "error.details",
            Self::GraphInnerError => "error.innerError",
            Self::ProblemType => "type",
            Self::ProblemTitle => "title",
            Self::ProblemStatus => "status",
            Self::ProblemDetail => "detail",
            Self::ProblemInstance => "instance",
        }
    }

    /// Returns the type the schema gives the field: string, except `data` and `error.details`
    /// (arrays), `error` and `error.innerError` (objects), and `status` (a number).
    pub fn schema_type(self) -> JsonType {
        match self {
            Self::Data | Self::GraphDetails => JsonType::Array,
            Self::GraphError | Self::GraphInnerError => JsonType::Object,
            Self::ProblemStatus => JsonType::Number,
            _ => JsonType::String,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of a JSON value.
///
/// Exhaustive on purpose, as `serde_json::Value` is: JSON has these six types and no others.
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
    /// Returns the type of `value`.
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

    /// Returns the type's name, as JSON calls it: `"null"`, `"boolean"`, `"number"`, `"string"`,
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

/// An error envelope other than the schema a body was read against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Envelope {
    /// The API gateway's `{"statusCode", "message"}` (e.g. throttling).
    Gateway,
    /// The Graph-style `{"error": {"code", "message", ...}}`.
    Graph,
    /// Partner Center's `{"code", "description", ...}`.
    PartnerCenter,
    /// RFC 9457 problem details: `{"type", "title", "status", "detail", "instance"}`.
    ProblemDetails,
}

impl Envelope {
    /// The fields that make the envelope, for messages.
    fn fields(self) -> &'static str {
        match self {
            Self::Gateway => "`statusCode`, `message`",
            Self::Graph => "an `error` object",
            Self::PartnerCenter => "`code`, `description`",
            Self::ProblemDetails => "`type`, `title`, `status`, `detail`, `instance`",
        }
    }
}

impl fmt::Display for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gateway => "gateway",
            Self::Graph => "Graph-style",
            Self::PartnerCenter => "Partner Center",
            Self::ProblemDetails => "problem details",
        })
    }
}

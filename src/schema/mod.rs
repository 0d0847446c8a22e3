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
//!    (and sniffed), cut at a character boundary; text that is not UTF-8 is decoded lossily on
//!    first read.
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
//!      text as sent (`3000` becomes `"3000"`); a `data` that is not an array is kept as sent;
//!    - an empty or whitespace-only `description` ([`Violation::EmptyDescription`]), or one
//!      longer than [`MAX_DESCRIPTION_CHARS`] ([`Violation::DescriptionTooLong`]; the text is
//!      still kept whole).
//!
//!    Every other field (`errorName`, `isRetryable`, `message`, `parameters`, a capitalised
//!    `Source`, ...) lands in [`ErrorBody::extra`]. ([`ApiError`](crate::ApiError) reads a
//!    `message` or `Message` there in place of a missing `description`, and a `Source` in
//!    place of a missing `source`; the parser itself does not.)
//!
//! # Other schemas
//!
//! [`parse_as`] reads a body against a [`Schema`]. The rules 1-4 above hold for each;
//! objects are read as follows.
//!
//! - [`Schema::Graph`], Microsoft Graph's OData envelope
//!   `{"error": {"code", "message", "target", "details", "innerError"}}`: `error` must be an
//!   object ([`Field::GraphError`]); `error.code` and `error.message` present, non-null
//!   strings (a numeric code is kept as its text, and named); `target` a string, `details` an
//!   array, `innerError` (or `innererror`) an object when present and not null. The items of
//!   `details` and the ids in `innerError` are read on demand ([`GraphError::details`],
//!   [`GraphError::request_id`]), not checked.
//! - [`Schema::ProblemDetails`], RFC 9457: every member is optional; `type`, `title`,
//!   `detail`, `instance` strings and `status` a whole number that fits a `u16`, else the
//!   member is ignored ([`None`]) and named ([`Violation::WrongType`]); a `status` other than
//!   the response's is [`Violation::StatusMismatch`]; a `Content-Type` other than
//!   `application/problem+json` is [`Violation::NotProblemMediaType`] (a known deviation).
//!   Every other member is an extension, kept in [`ProblemDetails::extensions`].
//! - Under either, a body of another envelope (Partner Center's, the gateway's, the other one)
//!   is read as what it is, with [`Violation::WrongEnvelope`]; an object of no envelope gets the
//!   Graph schema's [`Violation::Missing`] of `error`, or is an (empty) problem.
//! - [`Schema::Auto`] picks per body (see its docs) and records its pick in
//!   [`ParsedBody::schema`]; a body that is not an object is read by Partner Center's rules.
//!
//! # What serde_json decides
//!
//! - Duplicate keys: the last value wins for the schema's fields; [`Extras`] keeps every
//!   other field as sent, duplicates included.
//! - JSON nested deeper than serde_json's recursion limit (128) is [`Violation::NotJson`].
//! - A numeric `code` in exponent or fraction form is kept as sent: `1e15` stays `"1e15"`.
//! - A string with an escaped UTF-16 surrogate that lacks its other half (`"\ud83d"`, sent by
//!   a service that cut a text between the halves of an emoji) is valid JSON text that
//!   serde_json will not decode into a `String`: it is decoded lossily, the lone surrogate as
//!   U+FFFD, so a description cut that way is kept, not lost.
//!
//! A body of the common shape (an object whose keys have no escapes, nested a few levels at
//! most) is first read by a scanner of JSON's own grammar, which only accepts what serde_json
//! accepts and reads it the same way; every other body goes to serde_json.
//!
//! # What the result holds
//!
//! [`parse_bytes`] keeps no copy of a JSON body: `code`, `description`, `source` and every
//! key are [`BodyStr`]s, slices of the body's own [`Bytes`] (a string with escapes is decoded,
//! on first read, into its own buffer no longer than its escaped form); `data`, extra fields, a Graph
//! `innerError` and JSON that is not an object are [`RawJson`], the value's text as sent,
//! parsed only when asked. A body that is not JSON keeps at most [`MAX_TEXT_BYTES`] of it, a
//! slice of the body too. Each [`Violation`] carries a [`Severity`]; [`StrictPolicy`] says which
//! ones strict mode rejects.
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

use bytes::Bytes;

mod body;
mod detail;
mod flat;
mod graph;
mod problem;
mod read;
mod strict;
#[cfg(test)]
mod tests;
mod text;
mod violation;

pub use body::{ErrorBody, Extras, GatewayError, Payload};
pub use detail::Detail;
pub use graph::GraphError;
pub use problem::ProblemDetails;
pub use strict::StrictPolicy;
pub use text::{BodyStr, RawJson};
pub(crate) use violation::MAX_CODING_CHARS;
pub use violation::{Envelope, Field, JsonType, Severity, Violation, ViolationKind};

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
    parse_bytes(Bytes::copy_from_slice(bytes), content_type)
}

/// Parses an error response body held in [`Bytes`], without copying it: every string and
/// JSON value of the result is a slice of `bytes` (a string with escapes is the one exception:
/// it is decoded into its own buffer).
///
/// Otherwise the same as [`parse`], which copies its input once and calls this.
pub fn parse_bytes(bytes: Bytes, content_type: Option<&str>) -> ParsedBody {
    read::parse_shared(bytes, content_type, Schema::PartnerCenter, None)
}

/// Parses an error response body against `schema`, without copying it (as [`parse_bytes`]).
///
/// `status` is the response's status, if known: a problem details `status` that differs from
/// it is a [`Violation::StatusMismatch`]. With [`Schema::Auto`], [`ParsedBody::schema`] says
/// which schema was chosen. See the [module docs](self) for each schema's contract.
///
/// ```
/// use partner_center_errors::schema::{self, Schema, Violation};
///
/// let body = br#"{"type":"https://example.com/probs/out-of-stock","title":"Out of stock","status":409}"#;
/// let parsed = schema::parse_as(Schema::Auto, body[..].into(), Some("application/problem+json"), Some(404));
/// assert_eq!(parsed.schema, Schema::ProblemDetails);
/// assert_eq!(parsed.description(), Some("Out of stock"));
/// assert_eq!(parsed.violations, [Violation::StatusMismatch { body: 409, response: 404 }]);
/// ```
pub fn parse_as(
    schema: Schema,
    bytes: Bytes,
    content_type: Option<&str>,
    status: Option<u16>,
) -> ParsedBody {
    read::parse_shared(bytes, content_type, schema, status)
}

/// The schema an error body is read against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Schema {
    /// Partner Center's `{"code", "description", "data", "source"}` (the default).
    #[default]
    PartnerCenter,
    /// Microsoft Graph's OData envelope: `{"error": {"code", "message", "target", "details",
    /// "innerError"}}`.
    Graph,
    /// RFC 9457 problem details (`application/problem+json`): `{"type", "title", "status",
    /// "detail", "instance", ...}`.
    ProblemDetails,
    /// Picks one per body: problem details when the `Content-Type` is
    /// `application/problem+json`; else by shape, for an object with no `description`:
    /// problem details when it has any of `type`, `title`, `status`, `detail`, `instance`
    /// (a `code` beside them is an extension member), else Graph when it has an `error`
    /// object and no `code` (and is not the gateway's `{"statusCode", "message"}`); Partner
    /// Center otherwise.
    Auto,
}

impl Schema {
    /// Returns the schema's name: `"partner_center"`, `"graph"`, `"problem_details"` or
    /// `"auto"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::PartnerCenter => "partner_center",
            Self::Graph => "graph",
            Self::ProblemDetails => "problem_details",
            Self::Auto => "auto",
        }
    }
}

impl std::fmt::Display for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PartnerCenter => "Partner Center",
            Self::Graph => "Graph",
            Self::ProblemDetails => "problem details",
            Self::Auto => "automatic",
        })
    }
}

/// The outcome of [`parse`]: what the body is, and how it departs from the schema.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ParsedBody {
    /// What the body holds.
    pub payload: Payload,
    /// Every departure from the schema, in field order; empty when the body follows the
    /// contract.
    pub violations: Vec<Violation>,
    /// The schema the body was read against: the one asked for, or the one
    /// [`Schema::Auto`] chose (never `Auto`).
    pub schema: Schema,
}

impl ParsedBody {
    /// Returns whether the body follows the contract (no violations).
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }

    /// Returns whether the body breaks the contract in a way the real service is not known to: any
    /// violation of [`Severity::Breach`].
    pub fn has_breach(&self) -> bool {
        self.violations
            .iter()
            .any(|violation| violation.severity() == Severity::Breach)
    }

    /// Returns the error code, if the payload carries one; see [`Payload::code`].
    pub fn code(&self) -> Option<&str> {
        self.payload.code()
    }

    /// Returns the human-readable description, if the payload carries one; see
    /// [`Payload::description`].
    pub fn description(&self) -> Option<&str> {
        self.payload.description()
    }

    /// Returns the list of details; see [`Payload::details`].
    pub fn details(&self) -> Vec<Detail> {
        self.payload.details()
    }
}

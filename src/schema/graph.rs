//! Microsoft Graph's OData error envelope.

use super::read::Pick;
use super::text::{BodyStr, RawJson};
use super::Detail;

/// A Graph-style (OData) envelope:
/// `{"error": {"code", "message", "target", "details": [...], "innerError": {...}}}`.
///
/// Every field refers into the body's bytes; `details` and `innerError` are kept as sent and
/// read only when asked ([`details`](Self::details), [`request_id`](Self::request_id), ...).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GraphError {
    /// `error.code`: a string as is, a number as its text as sent.
    pub code: Option<BodyStr>,
    /// `error.message`, when it is a string.
    pub message: Option<BodyStr>,
    /// `error.target`, when it is a string.
    pub target: Option<BodyStr>,
    /// `error.details`, of any JSON type, kept as sent (the schema says an array of
    /// `{code, message, target}` objects).
    pub details: Option<RawJson>,
    /// `error.innerError` (or `error.innererror`), of any JSON type, kept as sent.
    pub inner_error: Option<RawJson>,
}

impl GraphError {
    /// Returns `error.details`, read on each call: each item's `code`, `message` and `target`.
    pub fn details(&self) -> Vec<Detail> {
        self.details.as_ref().map(Detail::list).unwrap_or_default()
    }

    /// Returns `error.innerError.request-id`, the id Graph asks support tickets to quote.
    pub fn request_id(&self) -> Option<BodyStr> {
        self.inner_string("request-id")
    }

    /// Returns `error.innerError.client-request-id`: the caller's own id, echoed back.
    pub fn client_request_id(&self) -> Option<BodyStr> {
        self.inner_string("client-request-id")
    }

    /// Returns `error.innerError.date`, as sent (Graph sends an ISO 8601 time).
    pub fn date(&self) -> Option<BodyStr> {
        self.inner_string("date")
    }

    /// The last string field called `name` of `innerError`, read without gathering the others.
    fn inner_string(&self, name: &str) -> Option<BodyStr> {
        let inner_error = self.inner_error.as_ref()?;
        let (_, value) = inner_error.picked_fields(Pick::Last(name)).pop()?;
        value.to_str()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::schema::{
        parse_as, Envelope, Field, JsonType, Payload, Schema, Severity, Violation,
    };

    fn graph(body: &'static str) -> crate::schema::ParsedBody {
        parse_as(
            Schema::Graph,
            Bytes::from(body),
            Some("application/json"),
            Some(400),
        )
    }

    #[test]
    fn a_graph_error_with_details_and_inner_error_keeps_the_contract() {
        let parsed = graph(
            r#"{"error":{"code":"BadRequest","message":"Two fields are wrong.","target":"user","details":[{"code":"InvalidValue","message":"Not a mail address.","target":"mail"},{"code":17,"message":"Too long."}],"innerError":{"date":"2026-11-30T20:00:00","request-id":"r-1","client-request-id":"c-1"}}}"#,
        );
        assert_eq!(parsed.schema, Schema::Graph);
        assert!(parsed.is_valid(), "{:?}", parsed.violations);
        let Payload::Graph(error) = &parsed.payload else {
            panic!("{:?}", parsed.payload)
        };
        assert_eq!(error.target.as_deref(), Some("user"));
        assert_eq!(error.request_id().as_deref(), Some("r-1"));
        assert_eq!(error.client_request_id().as_deref(), Some("c-1"));
        assert_eq!(error.date().as_deref(), Some("2026-11-30T20:00:00"));
        let details = parsed.details();
        assert_eq!(details.len(), 2);
        assert_eq!(details[0].code.as_deref(), Some("InvalidValue"));
        assert_eq!(details[0].target.as_deref(), Some("mail"));
        assert_eq!(details[1].code.as_deref(), Some("17"));
        assert_eq!(details[1].message.as_deref(), Some("Too long."));
    }

    #[test]
    fn graph_breaches_are_named_with_their_paths() {
        let parsed = graph(r#"{"error":{"code":5,"details":{},"innerError":"x"}}"#);
        assert_eq!(
            parsed.violations,
            [
                Violation::WrongType {
                    field: Field::GraphCode,
                    expected: JsonType::String,
                    found: JsonType::Number
                },
                Violation::Missing {
                    field: Field::GraphMessage
                },
                Violation::WrongType {
                    field: Field::GraphDetails,
                    expected: JsonType::Array,
                    found: JsonType::Object
                },
                Violation::WrongType {
                    field: Field::GraphInnerError,
                    expected: JsonType::Object,
                    found: JsonType::String
                },
            ]
        );
        assert!(parsed
            .violations
            .iter()
            .all(|v| v.severity() == Severity::Breach));
        assert_eq!(
            parsed.violations[1].to_string(),
            "`error.message` is missing; the schema says always returned"
        );
        let parsed = graph(r#"{"error":"down"}"#);
        assert_eq!(
            parsed.violations,
            [Violation::WrongType {
                field: Field::GraphError,
                expected: JsonType::Object,
                found: JsonType::String
            }]
        );
        let parsed = graph(r#"{"error":null}"#);
        assert_eq!(
            parsed.violations,
            [Violation::Null {
                field: Field::GraphError
            }]
        );
        let parsed = graph(r#"{"unexpected":true}"#);
        assert_eq!(
            parsed.violations,
            [Violation::Missing {
                field: Field::GraphError
            }]
        );
    }

    #[test]
    fn a_partner_center_body_under_graph_is_named_and_still_read() {
        let parsed =
            graph(r#"{"code":2001,"description":"No such customer.","source":"PartnerFD"}"#);
        assert_eq!(parsed.schema, Schema::Graph);
        assert_eq!(
            parsed.violations,
            [Violation::WrongEnvelope {
                found: Envelope::PartnerCenter,
                expected: Schema::Graph
            }]
        );
        assert_eq!(
            parsed.violations[0].to_string(),
            "the body is a Partner Center envelope (`code`, `description`), not the Graph schema"
        );
        assert_eq!(parsed.code(), Some("2001"));
        assert_eq!(parsed.description(), Some("No such customer."));
    }
}

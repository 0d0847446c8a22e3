//! RFC 9457 problem details.

use super::body::Extras;
use super::text::BodyStr;
use super::{Detail, JsonType};

/// The members RFC 9457 defines, which [`ProblemDetails::extensions`] leaves out.
pub(super) const PROBLEM_FIELDS: &[&str] = &["type", "title", "status", "detail", "instance"];

/// RFC 9457 problem details (`application/problem+json`):
/// `{"type", "title", "status", "detail", "instance", ...extension members}`.
///
/// Every member is optional. A member of the wrong type is `None` here (RFC 9457 says to
/// ignore it) and named in the violations.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ProblemDetails {
    /// `type`: a URI reference naming the problem type (`about:blank` when absent).
    pub problem_type: Option<BodyStr>,
    /// `title`: a short summary of the problem type.
    pub title: Option<BodyStr>,
    /// `status`: the HTTP status the server meant, when it is a whole number that fits a
    /// `u16`.
    pub status: Option<u16>,
    /// `detail`: what went wrong in this occurrence.
    pub detail: Option<BodyStr>,
    /// `instance`: a URI reference naming this occurrence.
    pub instance: Option<BodyStr>,
    /// The extension members (`traceId`, `errors`, ...), kept as sent.
    pub extensions: Extras,
}

impl ProblemDetails {
    /// Returns the `errors` extension as a list of details: an array of `{code, message,
    /// target}` objects (or strings), or an object of `field: [messages]` (ASP.NET Core's
    /// validation problems), one detail per message with the field as its target.
    pub fn errors(&self) -> Vec<Detail> {
        let Some(errors) = self.extensions.get("errors") else {
            return Vec::new();
        };
        if errors.json_type() != JsonType::Object {
            return Detail::list(&errors);
        }
        let mut details = Vec::new();
        for (field, messages) in errors.fields() {
            let messages = match messages.json_type() {
                JsonType::String => vec![messages],
                _ => messages.elements(),
            };
            details.extend(messages.iter().filter_map(|message| {
                Some(Detail {
                    code: None,
                    message: Some(message.to_str()?),
                    target: Some(field.clone()),
                })
            }));
        }
        details
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::schema::{
        parse_as, Envelope, Field, JsonType, ParsedBody, Payload, Schema, Severity, StrictPolicy,
        Violation,
    };

    const PROBLEM_JSON: Option<&str> = Some("application/problem+json");

    fn problem(body: &'static str, content_type: Option<&str>, status: u16) -> ParsedBody {
        parse_as(
            Schema::ProblemDetails,
            Bytes::from(body),
            content_type,
            Some(status),
        )
    }

    #[test]
    fn members_extensions_and_a_status_that_disagrees() {
        let parsed = problem(
            r#"{"type":"https://example.net/probs/quota","title":"Quota used up","status":403,"detail":"All 20 seats are taken.","instance":"/orders/9","traceId":"00-ab-01","seats":20}"#,
            PROBLEM_JSON,
            429,
        );
        assert_eq!(
            parsed.violations,
            [Violation::StatusMismatch {
                body: 403,
                response: 429
            }]
        );
        assert_eq!(parsed.violations[0].severity(), Severity::Breach);
        assert!(StrictPolicy::new().rejects_any(&parsed.violations));
        let Payload::Problem(problem) = &parsed.payload else {
            panic!("{:?}", parsed.payload)
        };
        assert_eq!(problem.status, Some(403));
        assert_eq!(problem.instance.as_deref(), Some("/orders/9"));
        assert_eq!(parsed.code(), Some("https://example.net/probs/quota"));
        assert_eq!(parsed.description(), Some("All 20 seats are taken."));
        let names: Vec<_> = problem.extensions.keys().collect();
        assert_eq!(names, ["traceId", "seats"]);
        assert_eq!(problem.extensions.len(), 2);
        assert_eq!(
            problem.extensions.get("seats").map(|v| v.get().to_owned()),
            Some("20".to_owned())
        );
    }

    #[test]
    fn only_a_title_is_valid_and_plain_json_is_a_known_deviation() {
        let parsed = problem(r#"{"title":"Not Found"}"#, PROBLEM_JSON, 404);
        assert!(parsed.is_valid(), "{:?}", parsed.violations);
        assert_eq!(parsed.description(), Some("Not Found"));
        let parsed = problem(r#"{"title":"Not Found"}"#, Some("application/json"), 404);
        assert_eq!(parsed.violations, [Violation::NotProblemMediaType]);
        assert_eq!(parsed.violations[0].severity(), Severity::KnownDeviation);
        assert!(!StrictPolicy::new().rejects_any(&parsed.violations));
    }

    #[test]
    fn members_of_the_wrong_type_are_ignored_and_named() {
        let parsed = problem(
            r#"{"type":7,"title":["x"],"status":"404","detail":null,"instance":{}}"#,
            PROBLEM_JSON,
            404,
        );
        let wrong = |field, found| Violation::WrongType {
            field,
            expected: field.schema_type(),
            found,
        };
        assert_eq!(
            parsed.violations,
            [
                wrong(Field::ProblemType, JsonType::Number),
                wrong(Field::ProblemTitle, JsonType::Array),
                wrong(Field::ProblemStatus, JsonType::String),
                wrong(Field::ProblemInstance, JsonType::Object),
            ]
        );
        assert_eq!(parsed.description(), None);
        for status in ["404.5", "-404", "1e3", "70000"] {
            let body = format!(r#"{{"status":{status}}}"#);
            let parsed = parse_as(
                Schema::ProblemDetails,
                Bytes::from(body),
                PROBLEM_JSON,
                Some(404),
            );
            assert_eq!(
                parsed.violations,
                [wrong(Field::ProblemStatus, JsonType::Number)],
                "{status}"
            );
        }
    }

    /// A `status` that is a number but no status code is named as such: not "a number; the
    /// schema says number", which contradicts itself and hides what was wrong.
    #[test]
    fn a_number_that_is_no_status_code_says_so() {
        for status in ["404.0", "-404", "4.04e2", "70000"] {
            let body = format!(r#"{{"title":"t","status":{status}}}"#);
            let parsed = parse_as(
                Schema::ProblemDetails,
                Bytes::from(body),
                PROBLEM_JSON,
                Some(404),
            );
            let [violation] = &parsed.violations[..] else {
                panic!("{status}: {:?}", parsed.violations)
            };
            assert_eq!(
                violation.to_string(),
                "`status` is a number but no status code (it has a fraction, an exponent or a \
                 sign, or is past 65535); the schema says a whole number",
                "{status}"
            );
        }
        // Another type is still named by its type.
        let parsed = problem(r#"{"status":"404"}"#, PROBLEM_JSON, 404);
        assert_eq!(
            parsed.violations[0].to_string(),
            "`status` is a string; the schema says number"
        );
    }

    #[test]
    fn validation_errors_become_details() {
        let parsed = problem(
            r#"{"title":"One or more validation errors occurred.","status":400,"errors":{"Email":["Required.","Too short."],"Age":"Not a number."}}"#,
            PROBLEM_JSON,
            400,
        );
        let details: Vec<_> = parsed
            .details()
            .into_iter()
            .map(|d| {
                (
                    d.target.unwrap().to_string(),
                    d.message.unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            details,
            [
                ("Email".to_owned(), "Required.".to_owned()),
                ("Email".to_owned(), "Too short.".to_owned()),
                ("Age".to_owned(), "Not a number.".to_owned()),
            ]
        );
    }

    #[test]
    fn other_envelopes_under_problem_details_are_named() {
        let parsed = problem(
            r#"{"error":{"code":"Forbidden","message":"No."}}"#,
            PROBLEM_JSON,
            403,
        );
        assert_eq!(
            parsed.violations,
            [Violation::WrongEnvelope {
                found: Envelope::Graph,
                expected: Schema::ProblemDetails
            }]
        );
        assert_eq!(parsed.description(), Some("No."));
        let parsed = problem(r#"{"code":"1","description":"d"}"#, PROBLEM_JSON, 400);
        assert_eq!(
            parsed.violations,
            [Violation::WrongEnvelope {
                found: Envelope::PartnerCenter,
                expected: Schema::ProblemDetails
            }]
        );
    }

    #[test]
    fn auto_picks_by_content_type_then_by_shape() {
        let auto = |body: &'static str, content_type| {
            parse_as(Schema::Auto, Bytes::from(body), content_type, Some(404)).schema
        };
        let json = Some("application/json");
        assert_eq!(
            auto(r#"{"title":"x"}"#, PROBLEM_JSON),
            Schema::ProblemDetails
        );
        assert_eq!(auto("", PROBLEM_JSON), Schema::ProblemDetails);
        assert_eq!(auto(r#"{"title":"x"}"#, json), Schema::ProblemDetails);
        assert_eq!(auto(r#"{"error":{"code":"x"}}"#, json), Schema::Graph);
        assert_eq!(
            auto(r#"{"code":"x","title":"y"}"#, json),
            Schema::ProblemDetails
        );
        assert_eq!(
            auto(r#"{"code":"x","description":"d","title":"y"}"#, json),
            Schema::PartnerCenter
        );
        assert_eq!(auto(r#"{"statusCode":429}"#, json), Schema::PartnerCenter);
        assert_eq!(
            auto(r#"{"title":"x","message":"y"}"#, json),
            Schema::ProblemDetails
        );
        assert_eq!(auto("<html></html>", None), Schema::PartnerCenter);
        assert_eq!(auto("{}", json), Schema::PartnerCenter);
    }
}

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

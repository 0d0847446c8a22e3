//! Microsoft Graph's OData error envelope.

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

    /// The last string field called `name` of `innerError`.
    fn inner_string(&self, name: &str) -> Option<BodyStr> {
        let (_, value) = self
            .inner_error
            .as_ref()?
            .fields()
            .into_iter()
            .filter(|(key, _)| key.as_str() == name)
            .last()?;
        value.to_str()
    }
}

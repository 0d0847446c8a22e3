//! What kind of failure a status stands for.

use http::StatusCode;

/// What kind of failure a status stands for: one variant for each status the Partner Center
/// contract and its current docs list, and [`ErrorKind::Other`] for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the request was malformed or failed validation.
    BadRequest,
    /// 401: no or bad credentials; see [`ApiError::challenges`](crate::ApiError::challenges).
    Unauthorized,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: the resource does not exist.
    NotFound,
    /// 405: the method is not allowed on this resource.
    MethodNotAllowed,
    /// 406: the requested media type cannot be produced.
    NotAcceptable,
    /// 408: the server timed out waiting for the request.
    RequestTimeout,
    /// 409: the resource is in a conflicting state (it may already exist).
    Conflict,
    /// 412: a precondition (such as `If-Match`) failed.
    PreconditionFailed,
    /// 429: throttled; come back after [`ApiError::retry_after`](crate::ApiError::retry_after).
    TooManyRequests,
    /// 500: the server failed.
    InternalServerError,
    /// 501: the operation is not implemented.
    NotImplemented,
    /// 502: a gateway got a bad answer from upstream.
    BadGateway,
    /// 503: the service is unavailable for now; come back later.
    ServiceUnavailable,
    /// 504: a gateway timed out waiting for upstream; come back later.
    GatewayTimeout,
    /// Any other status.
    Other,
}

impl ErrorKind {
    /// Returns the kind a status stands for.
    pub const fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            406 => Self::NotAcceptable,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            412 => Self::PreconditionFailed,
            429 => Self::TooManyRequests,
            500 => Self::InternalServerError,
            501 => Self::NotImplemented,
            502 => Self::BadGateway,
            503 => Self::ServiceUnavailable,
            504 => Self::GatewayTimeout,
            _ => Self::Other,
        }
    }

    /// Returns whether the status means "come back later": 429, 503 and 504.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::TooManyRequests | Self::ServiceUnavailable | Self::GatewayTimeout
        )
    }
}

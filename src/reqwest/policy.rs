//! [`RetryAfterPolicy`] over reqwest's types: as a `tower::retry::Policy` for the layer around
//! `reqwest::Client`, and as the decision maker of [`RetryAfterMiddleware`](super::RetryAfterMiddleware).

use http::{HeaderMap, Method};
use tower::retry::Policy;

use crate::error::Moved;
use crate::retry::policy::{gave_up, Attempt, Failure, Session};
use crate::retry::Wait;
use crate::{ApiError, Error, GiveUpReason, RetryAfterPolicy};

impl Attempt for reqwest::Request {
    fn method(&self) -> &Method {
        reqwest::Request::method(self)
    }

    fn headers(&self) -> &HeaderMap {
        reqwest::Request::headers(self)
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        reqwest::Request::headers_mut(self)
    }
}

/// The middleware's error: the structured error is inside `Error::Middleware`.
impl Failure for reqwest_middleware::Error {
    fn api_error(&self) -> Option<&ApiError> {
        super::api_error(self)
    }

    fn give_up(&mut self, session: Session, reason: GiveUpReason) {
        let api_error = Failure::api_error(self).cloned();
        let last = match std::mem::replace(self, reqwest_middleware::Error::middleware(Moved)) {
            reqwest_middleware::Error::Middleware(inner) => match inner.downcast::<Error>() {
                Ok(error) => error,
                Err(other) => Error::Service(other.into()),
            },
            reqwest_middleware::Error::Reqwest(mut error) => {
                // Boxed into this crate's error: without the URL's query, as the layer does.
                super::redact_url(&mut error);
                Error::Service(Box::new(error))
            }
        };
        let gave_up = gave_up(Box::new(last), api_error, session, reason);
        *self = reqwest_middleware::Error::middleware(Error::GaveUp(gave_up));
    }
}

/// The policy around `PartnerErrors<reqwest::Client>`: `ServiceBuilder::new().retry(policy)
/// .layer(PartnerErrorsLayer::new()).service(client)`, over the layer's [`Error`] or a
/// [`BoxError`](crate::BoxError). Requests are replayed with `reqwest::Request::try_clone` (not
/// when the body is a stream).
impl<Res, E: Failure> Policy<reqwest::Request, Res, E> for RetryAfterPolicy {
    type Future = Wait;

    fn retry(
        &mut self,
        request: &mut reqwest::Request,
        result: &mut Result<Res, E>,
    ) -> Option<Wait> {
        self.decide(request, result)
    }

    fn clone_request(&mut self, request: &reqwest::Request) -> Option<reqwest::Request> {
        request.try_clone()
    }
}

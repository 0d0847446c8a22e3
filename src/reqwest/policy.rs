//! [`RetryAfterPolicy`] over reqwest's types: as a `tower::retry::Policy` for the layer around
//! `reqwest::Client`, and as the decision maker of [`RetryAfterMiddleware`](super::RetryAfterMiddleware).

use http::{HeaderMap, Method};
use tower::retry::Policy;

use crate::error::{is_error_status, Moved};
use crate::retry::policy::{gave_up, Attempt, Failure, Outcome, Session};
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
                Err(other) => Error::Service(crate::error::service_error(other.into())),
            },
            // Boxed into this crate's error the one way the layer boxes one (no URL query).
            reqwest_middleware::Error::Reqwest(error) => {
                Error::Service(crate::error::service_error(Box::new(error)))
            }
        };
        let gave_up = gave_up(Box::new(last), api_error, session, reason);
        *self = reqwest_middleware::Error::middleware(Error::GaveUp(gave_up));
    }
}

/// A raw error response of reqwest's: the policy inside the layer reads it as it reads an
/// `http::Response`, from its head alone.
impl Outcome for reqwest::Response {
    fn raw_error(&self) -> Option<ApiError> {
        let raw = is_error_status(self.status()) && self.extensions().get::<ApiError>().is_none();
        raw.then(|| ApiError::new(self.status(), self.headers().clone(), bytes::Bytes::new()))
    }
}

/// The policy around `PartnerErrors<reqwest::Client>`: `ServiceBuilder::new().retry(policy)
/// .layer(PartnerErrorsLayer::new()).service(client)`, over the layer's [`Error`] or a
/// [`BoxError`](crate::BoxError). Requests are replayed with `reqwest::Request::try_clone` (not
/// when the body is a stream).
///
/// Inside the layer (`.layer(PartnerErrorsLayer::new()).retry(policy)`, with the client's error
/// boxed) it retries raw error responses by the same rules, as over `http::Request`.
impl<Res: Outcome, E: Failure> Policy<reqwest::Request, Res, E> for RetryAfterPolicy {
    type Future = Wait;

    fn retry(
        &mut self,
        request: &mut reqwest::Request,
        result: &mut Result<Res, E>,
    ) -> Option<Wait> {
        if let Some(raw) = result.as_ref().ok().and_then(Outcome::raw_error) {
            let mut failure = Err::<(), Error>(Error::Api(raw));
            return self.decide(request, &mut failure);
        }
        self.decide(request, result)
    }

    fn clone_request(&mut self, request: &reqwest::Request) -> Option<reqwest::Request> {
        request.try_clone()
    }
}

//! Compile-time proof that the layer fits the stacks users build: `tower::ServiceBuilder`,
//! hyper-util's legacy client, `tower::retry::Retry`, and `Send + Sync + 'static` where spawned.

use std::future::Future;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use partner_center_errors::{ApiError, Error, PartnerErrors, PartnerErrorsLayer, PassThroughBody};
use tower::retry::Policy;
use tower::{Service, ServiceBuilder};

fn assert_send_sync_static<T: Send + Sync + 'static>() {}
fn assert_service<S, R>(_: &S)
where
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + Sync + 'static,
{
}

#[test]
fn public_types_are_send_sync_static() {
    assert_send_sync_static::<PartnerErrorsLayer>();
    assert_send_sync_static::<PartnerErrors<crate::support::HttpClient>>();
    assert_send_sync_static::<ApiError>();
    assert_send_sync_static::<Error>();
    assert_send_sync_static::<PassThroughBody<hyper::body::Incoming>>();
}

#[tokio::test]
async fn wraps_hyper_util_client_in_both_modes() {
    let service: PartnerErrors<crate::support::HttpClient> = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(crate::support::client());
    assert_service::<_, Request<Full<Bytes>>>(&service);
    let proxy = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(crate::support::client());
    assert_service::<_, Request<Full<Bytes>>>(&proxy);
}

/// The smallest policy: retry once on a retryable API error. Proves the error type flows
/// through `tower::retry::Policy`.
#[derive(Clone)]
struct RetryOnce(bool);

impl Policy<Request<Full<Bytes>>, Response<hyper::body::Incoming>, Error> for RetryOnce {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<hyper::body::Incoming>, Error>,
    ) -> Option<Self::Future> {
        match result {
            Err(error) if error.is_retryable() && !self.0 => {
                self.0 = true;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut clone = Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.headers_mut() = request.headers().clone();
        Some(clone)
    }
}

#[tokio::test]
async fn sits_inside_tower_retry() {
    let service = ServiceBuilder::new()
        .retry(RetryOnce(false))
        .layer(PartnerErrorsLayer::new())
        .service(crate::support::client());
    assert_service::<_, Request<Full<Bytes>>>(&service);
    fn spawnable<F: Future + Send + 'static>(_: F) {}
    let mut service = service;
    let addr = crate::support::serve(|_| crate::support::respond(200, &[], "ok")).await;
    spawnable(service.call(crate::support::get(addr, "/")));
}

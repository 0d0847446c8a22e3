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

/// The layer switched on and off is one type, so one stack holds either (what `option_layer`
/// cannot do: tower's `Either` needs one error type in both branches).
#[test]
fn the_layer_on_and_off_is_one_service_type() {
    let stack = |enabled: bool| {
        ServiceBuilder::new()
            .layer(PartnerErrorsLayer::new().enabled(enabled))
            .service(crate::support::client::<Full<Bytes>>())
    };
    let mut stacks = vec![stack(true)];
    stacks.push(stack(false));
    assert_service::<_, Request<Full<Bytes>>>(&stacks[1]);
}

/// The install line (README and crate docs) names the versions Cargo.toml builds against.
#[test]
fn the_install_line_names_the_versions_in_cargo_toml() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |file: &str| std::fs::read_to_string(format!("{root}/{file}")).unwrap();
    let manifest = read("Cargo.toml");
    let version = |name: &str| -> String {
        let line = manifest
            .lines()
            .find(|line| line.starts_with(&format!("{name} = {{ version = \"")))
            .unwrap_or_else(|| panic!("{name} in Cargo.toml"));
        line.split('"').nth(1).unwrap().to_owned()
    };
    let readme = read("README.md");
    let install = &readme[..readme.find("\n## ").unwrap()];
    let crate_docs = read("src/lib.rs");
    for (name, shown) in [
        ("reqwest", "reqwest"),
        ("reqwest-middleware", "reqwest-middleware"),
        ("reqwest-retry", "reqwest-retry"),
        ("axum-core", "axum-core"),
        ("tracing", "tracing"),
        ("redis", "redis"),
    ] {
        let named = format!("{shown} {}", version(name));
        assert!(
            install.contains(&named),
            "README install line lacks {named:?}"
        );
        assert!(crate_docs.contains(&named), "crate docs lack {named:?}");
    }
}

/// The rest of the crate's types: the gate, the retry pieces and the errors they return are held
/// across tasks (a gate in an `Arc`'d client, a `GateClosed` in a job queue) and sent to threads.
#[test]
fn gate_retry_and_error_types_are_send_sync_static() {
    use partner_center_errors::gate::{
        FusedGate, GateCounts, LocalStore, SharedScope, ThrottleGate, ThrottleGateLayer,
    };
    use partner_center_errors::middleware::ReturnError;
    use partner_center_errors::retry::{BufferRequest, BufferRequestLayer, BufferedBody};
    use partner_center_errors::PartnerErrors;
    use partner_center_errors::{
        BodyError, ErrorKind, GateClosed, GaveUp, GiveUpReason, Incomplete, RetryAfterPolicy,
        RetryHint,
    };
    type Client = crate::support::HttpClient;
    assert_send_sync_static::<ThrottleGateLayer>();
    assert_send_sync_static::<ThrottleGateLayer<fn(&Request<Full<Bytes>>) -> String>>();
    assert_send_sync_static::<ThrottleGate<Client>>();
    assert_send_sync_static::<PartnerErrorsLayer<ReturnError, ThrottleGateLayer>>();
    assert_send_sync_static::<PartnerErrors<Client, ReturnError, FusedGate<SharedScope>>>();
    assert_send_sync_static::<LocalStore>();
    assert_send_sync_static::<GateCounts>();
    assert_send_sync_static::<RetryAfterPolicy>();
    assert_send_sync_static::<BufferRequestLayer>();
    assert_send_sync_static::<BufferRequest<Client>>();
    assert_send_sync_static::<BufferedBody<hyper::body::Incoming>>();
    assert_send_sync_static::<GateClosed>();
    assert_send_sync_static::<GaveUp>();
    assert_send_sync_static::<GiveUpReason>();
    assert_send_sync_static::<Incomplete>();
    assert_send_sync_static::<BodyError>();
    assert_send_sync_static::<RetryHint>();
    assert_send_sync_static::<ErrorKind>();
    #[cfg(feature = "axum")]
    assert_send_sync_static::<partner_center_errors::axum::ErrorResponse>();
    #[cfg(feature = "redis")]
    assert_send_sync_static::<partner_center_errors::redis::BuildError>();
}

/// The whole stack (retry, gate, error layer, hyper-util's client) is a cloneable service whose
/// future can be spawned.
#[tokio::test]
async fn the_full_stack_is_a_spawnable_service() {
    use partner_center_errors::{RetryAfterPolicy, ServiceBuilderExt, ThrottleGateLayer};
    let service = ServiceBuilder::new()
        .retry_after(RetryAfterPolicy::new())
        .throttle_gate(ThrottleGateLayer::new())
        .partner_errors(PartnerErrorsLayer::new())
        .service(crate::support::client::<Full<Bytes>>());
    assert_service::<_, Request<Full<Bytes>>>(&service);
    // The gate fused into the error layer, in both modes.
    let fused = ServiceBuilder::new()
        .retry_after(RetryAfterPolicy::new())
        .partner_errors(PartnerErrorsLayer::new().throttle_gate(ThrottleGateLayer::new()))
        .service(crate::support::client::<Full<Bytes>>());
    assert_service::<_, Request<Full<Bytes>>>(&fused);
    let proxy = ServiceBuilder::new()
        .partner_errors(
            PartnerErrorsLayer::new()
                .pass_through()
                .throttle_gate(ThrottleGateLayer::new()),
        )
        .map_err(tower::BoxError::from)
        .service(crate::support::client::<Full<Bytes>>());
    assert_service::<_, Request<Full<Bytes>>>(&proxy);
}

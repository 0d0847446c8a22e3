//! The error path: capture + parse + validate + structured error for real-shaped bodies,
//! against the pipeline a user writes by hand today (collect the body, `serde_json::from_slice`
//! into `serde_json::Value`, check the fields by hand) and against `serde_json` into a typed
//! struct alone (the floor: no service, no body, no checks). `without_layer_baseline` calls the
//! same upstream the same way with no layer and collects the body: the harness's and the
//! stand-in upstream's own cost, to subtract from `layer`.
//!
//! Bodies: a 124-byte 404 with a numeric code, a 1024-character description, a 60 KiB `data`
//! array.
//!
//! The `schemas` group does the same for Graph's and problem details' bodies: the parser under
//! each schema (set, and `Auto`) against `serde_json` into a typed struct of that schema (its
//! own floor), beside the Partner Center parser and floor on the 124-byte 404, all in one run.
//!
//! Run: `cargo bench --bench error_path -- --warm-up-time 1 --measurement-time 3`
//! (only the schemas: add `schemas/`).

mod fixtures;

use std::convert::Infallible;
use std::future::{ready as done, Ready};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use partner_center_errors::{schema, Error, PartnerErrorsLayer};
use serde::Deserialize;
use serde_json::Value;
use tower::{service_fn, Layer, Service, ServiceExt};

type Answer = Ready<Result<Response<Full<Bytes>>, Infallible>>;

/// An upstream that answers every request with `status` and `body`, as a client would hand
/// back a response whose body is already in memory.
fn upstream(
    status: StatusCode,
    body: Bytes,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = Answer,
> + Clone {
    service_fn(move |_request: Request<Full<Bytes>>| {
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json; charset=utf-8")
            .header("ms-correlationid", "7c0e3b1a-5d2f-4e8a-9b61-0c4d2e7f8a13")
            .header("ms-requestid", "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9")
            .body(Full::new(body.clone()))
            .expect("response");
        done(Ok::<_, Infallible>(response))
    })
}

fn request() -> Request<Full<Bytes>> {
    Request::get("/v1/customers/x")
        .body(Full::default())
        .expect("request")
}

/// The upstream called with no layer: the response's head and its body collected, as the
/// layer's baseline.
async fn without_layer<S>(
    service: S,
    request: Request<Full<Bytes>>,
) -> (http::response::Parts, Bytes)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    let response = service
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .unwrap_or_else(|never| match never {})
        .to_bytes();
    (parts, bytes)
}

/// What a hand-written pipeline produces: the fields, checked by hand.
#[allow(dead_code)]
#[derive(Debug)]
struct HandError {
    status: StatusCode,
    code: Option<String>,
    description: Option<String>,
    source: Option<String>,
    follows_schema: bool,
    body: Value,
}

/// The pipeline a user writes today without the layer.
async fn by_hand<S>(
    service: S,
    request: Request<Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, HandError>
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    let response = service
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .unwrap_or_else(|never| match never {})
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let code = match body.get("code") {
        Some(Value::String(code)) => Some(code.clone()),
        Some(Value::Number(code)) => Some(code.to_string()),
        _ => None,
    };
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let source = body
        .get("source")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let follows_schema = matches!(body.get("code"), Some(Value::String(_)))
        && description
            .as_deref()
            .is_some_and(|d| !d.trim().is_empty() && d.chars().count() <= 1024)
        && matches!(body.get("data"), None | Some(Value::Array(_)))
        && source.is_some();
    Err(HandError {
        status: parts.status,
        code,
        description,
        source,
        follows_schema,
        body,
    })
}

/// The floor: the body straight into a typed struct.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct Typed {
    code: Value,
    description: String,
    #[serde(default)]
    data: Vec<Value>,
    source: Option<String>,
}

fn error_path(c: &mut Criterion) {
    let bodies = [
        (
            "404_124_bytes",
            StatusCode::NOT_FOUND,
            fixtures::not_found_124(),
        ),
        (
            "description_1024_chars",
            StatusCode::BAD_REQUEST,
            fixtures::description_1024(),
        ),
        (
            "data_60_kib",
            StatusCode::INTERNAL_SERVER_ERROR,
            fixtures::data_60k(),
        ),
    ];
    let mut group = c.benchmark_group("error_path");
    for (name, status, body) in bodies {
        let body = Bytes::from(body);
        group.throughput(Throughput::Bytes(body.len() as u64));

        let layered = PartnerErrorsLayer::new().layer(upstream(status, body.clone()));
        let check = fixtures::ready(layered.clone().oneshot(request()));
        let Err(Error::Api(error)) = check else {
            panic!("expected Error::Api")
        };
        assert_eq!(error.raw_body(), &body);
        assert!(error.description().is_some());
        // The whole error path, the error dropped inside the timed part.
        group.bench_function(BenchmarkId::new("layer", name), |b| {
            b.iter_batched(
                request,
                |r| drop(fixtures::ready(layered.clone().oneshot(r))),
                BatchSize::SmallInput,
            )
        });

        // The baseline for the layer: the same upstream and request, cloned and called the
        // same way, the body collected, with no layer. What the stand-in upstream and the
        // harness cost (the response and its 3 headers built, the service cloned, the request
        // built and dropped, the body collected and dropped) is not the error path's; the
        // layer's own cost is `layer` minus this.
        let bare = upstream(status, body.clone());
        let check = fixtures::ready(without_layer(bare.clone(), request()));
        assert_eq!(check.1, body);
        group.bench_function(BenchmarkId::new("without_layer_baseline", name), |b| {
            b.iter_batched(
                request,
                |r| drop(fixtures::ready(without_layer(bare.clone(), r))),
                BatchSize::SmallInput,
            )
        });

        // The pure parser on the body as the layer holds it (shared `Bytes`, no copy), and on
        // a slice (one copy), each result dropped inside the timed part.
        let content_type = Some("application/json; charset=utf-8");
        let parsed = schema::parse_bytes(body.clone(), content_type);
        assert!(parsed.description().is_some());
        group.bench_function(BenchmarkId::new("schema_parse_bytes", name), |b| {
            b.iter(|| {
                drop(schema::parse_bytes(
                    std::hint::black_box(&body).clone(),
                    content_type,
                ))
            })
        });
        group.bench_function(BenchmarkId::new("schema_parse_slice", name), |b| {
            b.iter(|| drop(schema::parse(std::hint::black_box(&body), content_type)))
        });

        let plain = upstream(status, body.clone());
        let check = fixtures::ready(by_hand(plain.clone(), request()));
        assert!(check.is_err_and(|e| e.description.is_some() && e.status == status));
        group.bench_function(BenchmarkId::new("by_hand_value", name), |b| {
            b.iter_batched(
                request,
                |r| fixtures::ready(by_hand(plain.clone(), r)),
                BatchSize::SmallInput,
            )
        });

        serde_json::from_slice::<Typed>(&body).expect("typed");
        group.bench_function(BenchmarkId::new("typed_struct_floor", name), |b| {
            b.iter(|| drop(serde_json::from_slice::<Typed>(std::hint::black_box(&body))))
        });
    }
    group.finish();
}

/// The Graph floor: the envelope straight into typed structs.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct TypedGraph {
    error: TypedGraphError,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedGraphError {
    code: String,
    message: String,
    target: Option<String>,
    #[serde(default)]
    details: Vec<TypedGraphDetail>,
    inner_error: Option<Value>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct TypedGraphDetail {
    code: String,
    message: String,
    target: Option<String>,
}

/// The problem details floor: the members, and the `errors` extension, into a typed struct.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct TypedProblem {
    #[serde(rename = "type")]
    problem_type: Option<String>,
    title: Option<String>,
    status: Option<u16>,
    detail: Option<String>,
    instance: Option<String>,
    #[serde(default)]
    errors: std::collections::HashMap<String, Vec<String>>,
}

fn schemas(c: &mut Criterion) {
    type Floor = fn(&[u8]) -> bool;
    let graph_floor: Floor = |body| serde_json::from_slice::<TypedGraph>(body).is_ok();
    let problem_floor: Floor = |body| serde_json::from_slice::<TypedProblem>(body).is_ok();
    let pc_floor: Floor = |body| serde_json::from_slice::<Typed>(body).is_ok();
    let bodies = [
        (
            "partner_center_404_124_bytes",
            schema::Schema::PartnerCenter,
            "application/json",
            fixtures::not_found_124(),
            pc_floor,
        ),
        (
            "graph_400",
            schema::Schema::Graph,
            "application/json",
            fixtures::graph_400(),
            graph_floor,
        ),
        (
            "graph_details_60_kib",
            schema::Schema::Graph,
            "application/json",
            fixtures::graph_details_60k(),
            graph_floor,
        ),
        (
            "problem_422",
            schema::Schema::ProblemDetails,
            "application/problem+json",
            fixtures::problem_422(),
            problem_floor,
        ),
        (
            "problem_errors_60_kib",
            schema::Schema::ProblemDetails,
            "application/problem+json",
            fixtures::problem_errors_60k(),
            problem_floor,
        ),
    ];
    let mut group = c.benchmark_group("schemas");
    for (name, chosen, content_type, body, floor) in bodies {
        let body = Bytes::from(body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        let parse = |schema| schema::parse_as(schema, body.clone(), Some(content_type), Some(400));
        // Each body keeps its schema's contract but for a status that is not 400.
        let parsed = parse(chosen);
        assert!(parsed.description().is_some(), "{name}");
        assert!(
            parsed
                .violations
                .iter()
                .all(|v| v.severity() == schema::Severity::KnownDeviation
                    || matches!(v, schema::Violation::StatusMismatch { .. })),
            "{name}: {:?}",
            parsed.violations
        );
        assert_eq!(parse(schema::Schema::Auto).schema, chosen, "{name}");
        assert!(floor(&body), "{name}: the floor reads it");
        for (label, schema) in [("set", chosen), ("auto", schema::Schema::Auto)] {
            group.bench_function(BenchmarkId::new(format!("parse_as_{label}"), name), |b| {
                b.iter(|| {
                    drop(schema::parse_as(
                        schema,
                        std::hint::black_box(&body).clone(),
                        Some(content_type),
                        Some(400),
                    ))
                })
            });
        }
        group.bench_function(BenchmarkId::new("typed_struct_floor", name), |b| {
            b.iter(|| floor(std::hint::black_box(&body)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = error_path, schemas
}
criterion_main!(benches);

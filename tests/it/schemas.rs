//! The three schemas over real HTTP: Graph / OData and RFC 9457 problem details bodies read in
//! automatic mode and with the schema set, and each schema naming the other's body.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use partner_center_errors::schema::{Envelope, Schema, Severity, Violation};
use partner_center_errors::{ApiError, Error, ErrorKind, PartnerErrorsLayer};
use tower::{ServiceBuilder, ServiceExt};

use crate::support::{client, get, respond, serve};

const JSON: &str = "application/json; charset=utf-8";
const PROBLEM_JSON: &str = "application/problem+json";

/// Graph's answer to a request with two bad fields.
const GRAPH_400: &str = r#"{"error":{"code":"Request_BadRequest","message":"Two properties of the request are not valid.","target":"invitation","details":[{"code":"InvalidValue","message":"The address has no domain.","target":"invitedUserEmailAddress"},{"code":"MissingValue","message":"A redirect address is needed.","target":"inviteRedirectUrl"}],"innerError":{"date":"2026-11-30T20:01:02","request-id":"body-req-400","client-request-id":"body-client-400"}}}"#;

/// Graph's answer to an expired token.
const GRAPH_401: &str = r#"{"error":{"code":"InvalidAuthenticationToken","message":"The access token ran out before this call arrived.","innerError":{"date":"2026-11-30T20:01:03","request-id":"body-req-401","client-request-id":"body-client-401"}}}"#;

/// Graph's throttling answer: no ids in the body, only in the headers.
const GRAPH_429: &str = r#"{"error":{"code":"TooManyRequests","message":"This tenant sent too many calls; slow down.","innerError":{"date":"2026-11-30T20:01:04"}}}"#;

/// An ASP.NET Core-style problem whose `status` is not the response's.
const PROBLEM_MISMATCH: &str = r#"{"type":"https://errors.example.org/seat-limit","title":"Seat limit reached","status":422,"detail":"The subscription has 25 seats and all are assigned.","instance":"/subscriptions/77/assignments","traceId":"00-5c1d-7a-01","errors":{"seats":["All seats are assigned."]},"limit":25}"#;

/// A problem with a title and nothing else.
const PROBLEM_404: &str = r#"{"title":"Not Found"}"#;

/// Partner Center's own body.
const PARTNER_CENTER: &str =
    r#"{"code":2001,"description":"The customer was not found.","data":[],"source":"PartnerFD"}"#;

/// A server answering each path with one real-shaped error response.
async fn upstream() -> SocketAddr {
    serve(|request| match request.uri().path() {
        "/graph-400" => respond(
            400,
            &[
                ("content-type", JSON),
                ("request-id", "header-req-400"),
                ("client-request-id", "header-client-400"),
            ],
            GRAPH_400,
        ),
        "/graph-401" => respond(
            401,
            &[
                ("content-type", JSON),
                (
                    "www-authenticate",
                    r#"Bearer realm="", authorization_uri="https://login.example.com/authorize", error="invalid_token""#,
                ),
            ],
            GRAPH_401,
        ),
        "/graph-429" => respond(
            429,
            &[
                ("content-type", JSON),
                ("retry-after", "7"),
                ("request-id", "header-req-429"),
                ("client-request-id", "header-client-429"),
            ],
            GRAPH_429,
        ),
        "/problem-mismatch" => respond(409, &[("content-type", PROBLEM_JSON)], PROBLEM_MISMATCH),
        "/problem-404" => respond(404, &[("content-type", PROBLEM_JSON)], PROBLEM_404),
        _ => respond(404, &[("content-type", JSON)], PARTNER_CENTER),
    })
    .await
}

/// Calls `path` through the layer set to `schema` and returns the structured error.
async fn call(addr: SocketAddr, schema: Schema, path: &str) -> ApiError {
    let layer = PartnerErrorsLayer::new().schema(schema);
    let service = ServiceBuilder::new().layer(layer).service(client());
    match service.oneshot(get(addr, path)).await {
        Err(Error::Api(error)) => error,
        other => panic!("{path} under {schema}: expected Error::Api, got {other:?}"),
    }
}

#[tokio::test]
async fn graph_400_with_details_and_inner_error() {
    let addr = upstream().await;
    for schema in [Schema::Auto, Schema::Graph] {
        let error = call(addr, schema, "/graph-400").await;
        assert_eq!(error.schema(), Schema::Graph, "{schema}");
        assert!(error.violations().is_empty(), "{:?}", error.violations());
        let view = error.view();
        assert_eq!(view.code(), Some("Request_BadRequest"));
        assert_eq!(
            view.message(),
            Some("Two properties of the request are not valid.")
        );
        assert_eq!(view.target(), Some("invitation"));
        let details: Vec<_> = view
            .details()
            .into_iter()
            .map(|d| {
                (
                    d.code.unwrap().to_string(),
                    d.target.unwrap().to_string(),
                    d.message.unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            details,
            [
                (
                    "InvalidValue".to_owned(),
                    "invitedUserEmailAddress".to_owned(),
                    "The address has no domain.".to_owned()
                ),
                (
                    "MissingValue".to_owned(),
                    "inviteRedirectUrl".to_owned(),
                    "A redirect address is needed.".to_owned()
                ),
            ]
        );
        // The body's ids win over the headers'.
        assert_eq!(view.request_id().as_deref(), Some("body-req-400"));
        assert_eq!(view.client_request_id().as_deref(), Some("body-client-400"));
        let graph = error.graph().expect("a Graph body");
        assert_eq!(graph.date().as_deref(), Some("2026-11-30T20:01:02"));
        assert_eq!(error.kind(), ErrorKind::BadRequest);
    }
}

#[tokio::test]
async fn graph_401_from_an_expired_token() {
    let addr = upstream().await;
    for schema in [Schema::Auto, Schema::Graph] {
        let error = call(addr, schema, "/graph-401").await;
        assert_eq!(error.schema(), Schema::Graph);
        assert!(error.violations().is_empty(), "{:?}", error.violations());
        assert_eq!(error.kind(), ErrorKind::Unauthorized);
        assert_eq!(error.view().code(), Some("InvalidAuthenticationToken"));
        assert_eq!(error.view().request_id().as_deref(), Some("body-req-401"));
        let challenge = &error.challenges()[0];
        assert!(challenge.is_scheme("Bearer"));
        assert_eq!(challenge.error(), Some("invalid_token"));
        assert!(error
            .to_string()
            .contains("The access token ran out before this call arrived."));
    }
}

#[tokio::test]
async fn graph_429_with_retry_after() {
    let addr = upstream().await;
    for schema in [Schema::Auto, Schema::Graph] {
        let error = call(addr, schema, "/graph-429").await;
        assert_eq!(error.schema(), Schema::Graph);
        assert!(error.violations().is_empty(), "{:?}", error.violations());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert!(error.retry_hint().is_retryable());
        let view = error.view();
        assert_eq!(view.code(), Some("TooManyRequests"));
        // No ids in the body: the headers'.
        assert_eq!(view.request_id().as_deref(), Some("header-req-429"));
        assert_eq!(
            view.client_request_id().as_deref(),
            Some("header-client-429")
        );
    }
}

#[tokio::test]
async fn problem_details_with_extensions_and_a_status_that_disagrees() {
    let addr = upstream().await;
    for schema in [Schema::Auto, Schema::ProblemDetails] {
        let error = call(addr, schema, "/problem-mismatch").await;
        assert_eq!(error.schema(), Schema::ProblemDetails);
        assert_eq!(
            error.violations(),
            [Violation::StatusMismatch {
                body: 422,
                response: 409
            }]
        );
        assert_eq!(error.violations()[0].severity(), Severity::Breach);
        let view = error.view();
        assert_eq!(view.code(), Some("https://errors.example.org/seat-limit"));
        assert_eq!(
            view.message(),
            Some("The subscription has 25 seats and all are assigned.")
        );
        assert_eq!(view.instance(), Some("/subscriptions/77/assignments"));
        let details = view.details();
        assert_eq!(details.len(), 1);
        assert_eq!(details[0].target.as_deref(), Some("seats"));
        let problem = error.problem().expect("problem details");
        assert_eq!(problem.title.as_deref(), Some("Seat limit reached"));
        assert_eq!(problem.status, Some(422));
        let extensions: Vec<_> = problem.extensions.keys().map(|k| k.to_string()).collect();
        assert_eq!(extensions, ["traceId", "errors", "limit"]);
        assert_eq!(problem.extensions.get("limit").unwrap().get(), "25");
    }
    // In strict mode the mismatch is refused.
    let layer = PartnerErrorsLayer::new()
        .schema(Schema::ProblemDetails)
        .strict(true);
    let service = ServiceBuilder::new().layer(layer).service(client());
    let outcome = service.oneshot(get(addr, "/problem-mismatch")).await;
    assert!(matches!(outcome, Err(Error::Schema(_))), "{outcome:?}");
}

/// A strict-mode refusal names the schema the body was read against, not always Partner
/// Center's: a problem whose status disagrees broke the problem details schema, Partner
/// Center's body read as Graph's broke Graph's.
#[tokio::test]
async fn a_strict_refusal_names_the_schema_the_body_broke() {
    let addr = upstream().await;
    for (schema, path, read_as) in [
        (
            Schema::ProblemDetails,
            "/problem-mismatch",
            "problem details",
        ),
        (Schema::Graph, "/partner-center", "Graph"),
        (Schema::Auto, "/problem-mismatch", "problem details"),
        (Schema::PartnerCenter, "/graph-400", "Partner Center"),
    ] {
        let layer = PartnerErrorsLayer::new().schema(schema).strict(true);
        let service = ServiceBuilder::new().layer(layer).service(client());
        let outcome = service.oneshot(get(addr, path)).await;
        let Err(refused @ Error::Schema(_)) = outcome else {
            panic!("{path} under {schema}: {outcome:?}")
        };
        let expected = format!("error body broke the {read_as} schema (1 violation): HTTP ");
        assert!(
            refused.to_string().starts_with(&expected),
            "{path} under {schema}: {refused}"
        );
    }
}

#[tokio::test]
async fn problem_details_404_with_only_a_title() {
    let addr = upstream().await;
    for schema in [Schema::Auto, Schema::ProblemDetails] {
        let error = call(addr, schema, "/problem-404").await;
        assert_eq!(error.schema(), Schema::ProblemDetails);
        assert!(error.violations().is_empty(), "{:?}", error.violations());
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
        let view = error.view();
        assert_eq!(view.message(), Some("Not Found"));
        assert_eq!(view.code(), None);
        assert_eq!(view.instance(), None);
        assert!(view.details().is_empty());
        assert_eq!(error.problem().expect("problem").status, None);
    }
}

#[tokio::test]
async fn partner_center_is_still_the_default_and_auto_keeps_it() {
    let addr = upstream().await;
    for schema in [Schema::PartnerCenter, Schema::Auto] {
        let error = call(addr, schema, "/partner-center").await;
        assert_eq!(error.schema(), Schema::PartnerCenter);
        assert_eq!(error.view().code(), Some("2001"));
        assert_eq!(error.view().message(), Some("The customer was not found."));
        assert!(error
            .violations()
            .iter()
            .all(|v| v.severity() == Severity::KnownDeviation));
    }
}

#[tokio::test]
async fn each_schema_names_the_others_body() {
    let addr = upstream().await;
    // Partner Center's body under Graph's schema: named, and still read.
    let error = call(addr, Schema::Graph, "/partner-center").await;
    assert_eq!(
        error.violations(),
        [Violation::WrongEnvelope {
            found: Envelope::PartnerCenter,
            expected: Schema::Graph
        }]
    );
    assert_eq!(
        error.violations()[0].to_string(),
        "the body is a Partner Center envelope (`code`, `description`), not the Graph schema"
    );
    assert_eq!(error.view().message(), Some("The customer was not found."));

    // And the reverse: Graph's body under Partner Center's schema (the default).
    let error = call(addr, Schema::PartnerCenter, "/graph-400").await;
    assert_eq!(
        error.violations(),
        [Violation::ForeignEnvelope {
            envelope: Envelope::Graph
        }]
    );
    assert_eq!(error.view().code(), Some("Request_BadRequest"));

    // Problem details under Graph's, and Graph's under problem details'.
    let error = call(addr, Schema::Graph, "/problem-404").await;
    assert_eq!(
        error.violations(),
        [Violation::WrongEnvelope {
            found: Envelope::ProblemDetails,
            expected: Schema::Graph
        }]
    );
    let error = call(addr, Schema::ProblemDetails, "/graph-429").await;
    assert_eq!(
        error.violations(),
        [
            Violation::WrongEnvelope {
                found: Envelope::Graph,
                expected: Schema::ProblemDetails
            },
            Violation::NotProblemMediaType
        ]
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
}

/// An axum app that relays the upstream's errors in the schema its caller asks for.
#[cfg(feature = "axum")]
mod axum_app {
    use std::net::SocketAddr;

    use axum::extract::{Path, State};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get as get_route;
    use axum::Router;
    use http::{HeaderMap, StatusCode};
    use partner_center_errors::axum::ErrorResponse;
    use partner_center_errors::schema::Schema;
    use partner_center_errors::PartnerErrorsLayer;
    use serde_json::Value;
    use tower::{ServiceBuilder, ServiceExt};

    use crate::support::{client, collect, get};

    async fn relay(
        State(upstream): State<SocketAddr>,
        Path(path): Path<String>,
        headers: HeaderMap,
    ) -> Response {
        let service = ServiceBuilder::new()
            .layer(PartnerErrorsLayer::new().schema(Schema::Auto))
            .service(client());
        match service.oneshot(get(upstream, &format!("/{path}"))).await {
            Ok(_) => StatusCode::OK.into_response(),
            Err(error) => ErrorResponse::new(error)
                .negotiate(&headers)
                .into_response(),
        }
    }

    async fn app(upstream: SocketAddr) -> SocketAddr {
        let router = Router::new()
            .route("/relay/{*path}", get_route(relay))
            .with_state(upstream);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        addr
    }

    async fn call(
        app: SocketAddr,
        path: &str,
        accept: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = get(app, path);
        if let Some(accept) = accept {
            request
                .headers_mut()
                .insert(http::header::ACCEPT, accept.parse().unwrap());
        }
        let response = client().request(request).await.expect("the app answers");
        let (parts, body) = response.into_parts();
        let body = serde_json::from_slice(&collect(body).await).expect("a JSON body");
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn answers_in_problem_details_when_the_caller_accepts_them() {
        let app = app(super::upstream().await).await;
        let (status, headers, body) = call(
            app,
            "/relay/graph-429",
            Some("application/problem+json, application/json;q=0.8"),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(headers["retry-after"], "7");
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["title"], "Too Many Requests");
        assert_eq!(body["status"], 429);
        assert_eq!(
            body["detail"],
            "This tenant sent too many calls; slow down."
        );
        assert_eq!(body["code"], "TooManyRequests");
        assert!(body.get("description").is_none());

        // Read back with the problem details schema: no violations.
        let error = partner_center_errors::ApiError::with_schema(
            Schema::Auto,
            status,
            headers.clone(),
            body.to_string().into(),
        );
        assert_eq!(error.schema(), Schema::ProblemDetails);
        assert!(error.violations().is_empty(), "{:?}", error.violations());
    }

    #[tokio::test]
    async fn answers_in_partner_center_schema_by_default() {
        let app = app(super::upstream().await).await;
        for accept in [
            None,
            Some("application/json"),
            Some("application/problem+json;q=0"),
        ] {
            let (status, headers, body) = call(app, "/relay/problem-404", accept).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(headers["content-type"], "application/json; charset=utf-8");
            assert_eq!(body["description"], "Not Found", "{accept:?}");
            assert_eq!(body["code"], "404");
            assert_eq!(body["source"], partner_center_errors::axum::DEFAULT_SOURCE);
        }
        // A hidden upstream failure stays hidden in problem details too.
        let (status, _, body) =
            call(app, "/relay/graph-401", Some("application/problem+json")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(!body.to_string().contains("access token"), "{body}");
        assert!(
            !body.to_string().contains("InvalidAuthenticationToken"),
            "{body}"
        );
    }
}

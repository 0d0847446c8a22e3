//! The error layer's reqwest forms against the tower layer over hyper-util, the reference: for
//! the same upstream answer over loopback, `PartnerErrorsMiddleware` and `PartnerErrors` around
//! `reqwest::Client` make the same `ApiError` (every field, the raw bytes, why reading stopped)
//! and, in pass-through mode, hand on the same status, headers and bytes.
#![cfg(feature = "reqwest")]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Full};
use partner_center_errors::reqwest::{partner_error, PartnerErrorsMiddleware};
use partner_center_errors::{ApiError, Error, Incomplete, PartnerErrorsLayer};
use tower::{ServiceBuilder, ServiceExt};

use crate::support::{client, serve_script, Step};

fn write(bytes: &'static [u8]) -> Step {
    Step::Write(Bytes::from_static(bytes))
}

/// What a user reads of an `ApiError`, the failed stream's own error left out (hyper's through
/// hyper-util, reqwest's through reqwest: only that it failed must agree).
fn fingerprint(error: &ApiError) -> String {
    let incomplete = match error.incomplete() {
        Some(Incomplete::Failed(_)) => "Failed".to_owned(),
        other => format!("{other:?}"),
    };
    format!(
        "status {:?}\nkind {:?}\ncode {:?}\ndescription {:?}\ndata {:?}\nsource {:?}\n\
         payload {:?}\nviolations {:?}\nids {:?}\nchallenges {:?}\nretry_after {:?}\n\
         incomplete {incomplete}\nraw_body {:?}\nheaders {:?}\ndisplay {}",
        error.status(),
        error.kind(),
        error.code(),
        error.description(),
        error.data(),
        error.body_source(),
        error.payload(),
        error.violations(),
        error.ids(),
        error.challenges(),
        error.retry_after(),
        error.raw_body(),
        error.headers(),
        error,
    )
}

/// The reference: the layer around hyper-util's client.
async fn through_hyper_util(layer: PartnerErrorsLayer, method: &Method, url: &str) -> ApiError {
    let request = http::Request::builder()
        .method(method.clone())
        .uri(url)
        .body(Full::<Bytes>::default())
        .unwrap();
    let service = ServiceBuilder::new().layer(layer).service(client());
    match service.oneshot(request).await {
        Err(Error::Api(error)) => error,
        other => panic!("hyper-util: expected Error::Api, got {other:?}"),
    }
}

/// The layer around `reqwest::Client` as a tower service.
async fn through_reqwest_tower(layer: PartnerErrorsLayer, method: &Method, url: &str) -> ApiError {
    let client = reqwest::Client::new();
    let request = client.request(method.clone(), url).build().unwrap();
    let service = ServiceBuilder::new().layer(layer).service(client);
    match service.oneshot(request).await {
        Err(Error::Api(error)) => error,
        other => panic!("reqwest tower: expected Error::Api, got {other:?}"),
    }
}

/// `PartnerErrorsMiddleware` in reqwest-middleware.
async fn through_reqwest_middleware(
    layer: PartnerErrorsLayer,
    method: &Method,
    url: &str,
) -> ApiError {
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(PartnerErrorsMiddleware::new(layer))
        .build();
    let error = client
        .request(method.clone(), url)
        .send()
        .await
        .unwrap_err();
    match partner_error(&error) {
        Some(Error::Api(error)) => error.clone(),
        _ => panic!("reqwest-middleware: expected Error::Api, got {error:?}"),
    }
}

/// One upstream answer, and the layer it is read with.
struct Case {
    name: &'static str,
    method: Method,
    layer: PartnerErrorsLayer,
    script: Vec<Step>,
}

fn case(name: &'static str, script: Vec<Step>) -> Case {
    Case {
        name,
        method: Method::GET,
        layer: PartnerErrorsLayer::new().body_timeout(Duration::from_secs(5)),
        script,
    }
}

/// The hostile and ordinary answers of `hostile_upstream.rs` and `wire_facts.rs`, each raw on
/// the wire so that every client sees the same bytes.
fn cases() -> Vec<Case> {
    vec![
        case(
            "a documented 404",
            vec![write(
                b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json; charset=utf-8\r\nms-correlationid: c-1,c-1\r\nms-requestid: r-1\r\nms-cv: sLRFZMWm+EKuL47u.0\r\ncontent-length: 79\r\n\r\n{\"code\":600074,\"description\":\"No customer has this id.\",\"data\":[],\"source\":\"x\"}",
            )],
        ),
        case(
            "a 401 with an OAuth challenge",
            vec![write(
                b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: OAuth realm=urn:cpsvc:cpid:5e2d0f6c\r\nwww-authenticate: Bearer error=\"invalid_token\"\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            )],
        ),
        case(
            "a gateway 429",
            vec![write(
                b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 57\r\ncontent-length: 82\r\n\r\n{\"statusCode\": 429, \"message\": \"Rate limit is exceeded. Try again in 57 seconds.\"}",
            )],
        ),
        case(
            "a BOM and invalid UTF-8",
            vec![write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 62\r\n\r\n\xef\xbb\xbf{\"code\":\"2001\",\"description\":\"caf\xe9 \xff\",\"source\":\"PartnerFD\"}",
            )],
        ),
        case(
            "an empty 404",
            vec![write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")],
        ),
        case(
            "an extended envelope without source",
            vec![write(
                b"HTTP/1.1 409 Conflict\r\ncontent-type: application/json; charset=utf-8\r\nms-correlationid: c-ext\r\ncontent-length: 220\r\n\r\n{\"code\":600061,\"description\":\"Already confirmed.\",\"message\":\"Already confirmed.\",\"errorName\":\"PartnerConfirmedAgreementAlreadyExists\",\"isRetryable\":false,\"parameters\":{},\"errorMessageExtended\":\"InternalErrorCode=600061\"}",
            )],
        ),
        case(
            "the draft's object data and capitalised Source",
            vec![write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 85\r\n\r\n{\"code\":\"2001\",\"description\":\"Not valid.\",\"data\":{\"field\":\"id\"},\"Source\":\"PartnerFD\"}",
            )],
        ),
        case(
            "an XML body",
            vec![write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/xml; charset=utf-8\r\ncontent-length: 53\r\n\r\n<?xml version=\"1.0\"?><Error><Code>2001</Code></Error>",
            )],
        ),
        case(
            "an HTML 503 with Retry-After",
            vec![write(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\nretry-after: 57\r\ncontent-length: 45\r\n\r\n<html><body>Service Unavailable</body></html>",
            )],
        ),
        case(
            "a BOM before a gateway 429",
            vec![write(
                b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: 82\r\n\r\n\xef\xbb\xbf{\"statusCode\":429,\"message\":\"Rate limit is exceeded. Try again in 57 seconds.\"}",
            )],
        ),
        case(
            "an unlisted 418 with a body",
            vec![write(
                b"HTTP/1.1 418 I'm a teapot\r\ncontent-type: application/json\r\nms-requestid: r-418,r-418\r\ncontent-length: 76\r\n\r\n{\"code\":0,\"description\":\"Reused small code.\",\"data\":[],\"source\":\"PartnerFD\"}",
            )],
        ),
        Case {
            layer: PartnerErrorsLayer::new().max_body_bytes(100),
            ..case(
                "a Content-Length over the cap",
                vec![
                    write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5000\r\nms-requestid: big-1\r\n\r\n"),
                    write(&[b'x'; 5000]),
                ],
            )
        },
        Case {
            layer: PartnerErrorsLayer::new().max_body_bytes(100),
            ..case(
                "a chunked body over the cap",
                vec![
                    write(b"HTTP/1.1 502 Bad Gateway\r\ntransfer-encoding: chunked\r\n\r\n"),
                    write(b"50\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"),
                    write(b"50\r\nyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n"),
                    write(b"0\r\n\r\n"),
                ],
            )
        },
        Case {
            method: Method::HEAD,
            layer: PartnerErrorsLayer::new().max_body_bytes(1000),
            ..case(
                "a HEAD with a large Content-Length",
                vec![write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 100000\r\nms-requestid: r-head\r\n\r\n")],
            )
        },
        case(
            "a Content-Length shorter than the body",
            vec![write(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 20\r\nms-requestid: short-1\r\n\r\n{\"code\":\"2001\",\"description\":\"Not valid.\",\"source\":\"PartnerFD\"}",
            )],
        ),
        case(
            "a chunked body with trailers",
            vec![
                write(b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\ntrailer: ms-cv\r\nms-requestid: trail-1\r\n\r\n"),
                write(b"1c\r\n{\"code\":3000,\"description\":\"\r\n"),
                write(b"21\r\nTry later.\",\"source\":\"PartnerFD\"}\r\n"),
                write(b"0\r\nms-cv: trailer-cv.1\r\n\r\n"),
            ],
        ),
        case(
            "a Content-Length longer than the body, then close",
            vec![write(
                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5000\r\nms-requestid: long-1\r\n\r\n{\"code\":3000,\"description\":\"Half a bo",
            )],
        ),
        case(
            "a Content-Length longer than the body, then silence",
            vec![
                write(b"HTTP/1.1 504 Gateway Timeout\r\ncontent-length: 5000\r\nretry-after: 7\r\n\r\n{\"code\":3000,"),
                Step::Hold,
            ],
        ),
        case(
            "a reset mid-body",
            vec![
                write(b"HTTP/1.1 502 Bad Gateway\r\ntransfer-encoding: chunked\r\nms-correlationid: reset-1\r\n\r\n19\r\n{\"code\":3000,\"description\r\n"),
                Step::Wait(Duration::from_secs(1)),
                Step::Reset,
            ],
        ),
        case(
            "a gzip'd body (no client here decodes it)",
            vec![
                write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-encoding: gzip\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n"),
                write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00\x43\xbf\xa6\xa3\x02\x00"),
            ],
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn every_form_makes_the_same_api_error_as_the_tower_layer_over_hyper_util() {
    let mut differences = Vec::new();
    for case in cases() {
        let (addr, _log): (SocketAddr, _) = serve_script(case.script).await;
        let url = format!("http://{addr}/v1/customers/x?size=1");
        let reference = fingerprint(&through_hyper_util(case.layer, &case.method, &url).await);
        let tower = fingerprint(&through_reqwest_tower(case.layer, &case.method, &url).await);
        let middleware =
            fingerprint(&through_reqwest_middleware(case.layer, &case.method, &url).await);
        for (form, seen) in [("reqwest tower", tower), ("reqwest-middleware", middleware)] {
            if seen != reference {
                differences.push(format!(
                    "{}: {form}\n--- hyper-util\n{reference}\n--- {form}\n{seen}",
                    case.name
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

/// What a caller reads of a forwarded body: its bytes and trailers, or that it failed, or that
/// it had not ended a minute (tokio's paused clock) after the head.
async fn forwarded<B: http_body::Body>(body: B) -> String {
    match tokio::time::timeout(Duration::from_secs(60), body.collect()).await {
        Ok(Ok(collected)) => {
            let trailers = collected.trailers().cloned();
            format!("{:?} trailers {trailers:?}", collected.to_bytes())
        }
        Ok(Err(_)) => "failed".to_owned(),
        Err(_) => "not ended".to_owned(),
    }
}

/// Pass-through: the status, headers and every byte (past the cap too) the reference hands on.
#[tokio::test(start_paused = true)]
async fn every_form_passes_through_what_the_tower_layer_over_hyper_util_does() {
    let mut differences = Vec::new();
    for case in cases() {
        let (addr, _log) = serve_script(case.script).await;
        let url = format!("http://{addr}/v1/customers/x?size=1");
        let layer = case.layer.pass_through();

        let request = http::Request::builder()
            .method(case.method.clone())
            .uri(&url)
            .body(Full::<Bytes>::default())
            .unwrap();
        let service = ServiceBuilder::new().layer(layer).service(client());
        let response = service.oneshot(request).await.expect("passed");
        let (parts, body) = response.into_parts();
        let length = http_body::Body::size_hint(&body).exact();
        let error = fingerprint(parts.extensions.get::<ApiError>().expect("error"));
        let body = forwarded(body).await;
        let reference = format!(
            "{:?} {:?} {length:?}\n{:?}\n{error}\nbody {body}",
            parts.status, parts.version, parts.headers
        );

        let mut seen = Vec::new();
        let client = reqwest::Client::new();
        let request = client.request(case.method.clone(), &url).build().unwrap();
        let service = ServiceBuilder::new().layer(layer).service(client);
        let response = service.oneshot(request).await.expect("passed");
        seen.push(("reqwest tower", response));
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(PartnerErrorsMiddleware::new(layer))
            .build();
        let response = client
            .request(case.method.clone(), &url)
            .send()
            .await
            .expect("passed");
        seen.push(("reqwest-middleware", response));
        for (form, response) in seen {
            assert_eq!(response.url().as_str(), url, "{}: {form}", case.name);
            let head = format!(
                "{:?} {:?} {:?}\n{:?}",
                response.status(),
                response.version(),
                response.content_length(),
                response.headers()
            );
            let error = fingerprint(response.extensions().get::<ApiError>().expect("error"));
            let body = forwarded(reqwest::Body::from(response)).await;
            let seen = format!("{head}\n{error}\nbody {body}");
            if seen != reference {
                differences.push(format!(
                    "{}: {form}\n--- hyper-util\n{reference}\n--- {form}\n{seen}",
                    case.name
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

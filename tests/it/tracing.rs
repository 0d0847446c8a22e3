//! What the crate logs (feature `tracing`), recorded by a real `tracing-subscriber` layer while
//! real clients talk to a hyper server on 127.0.0.1.
#![cfg(feature = "tracing")]

use crate::support::events::{Recorded, Recorder};
use crate::support::{client, collect, get, partner_center_body, respond, serve};
use partner_center_errors::{Error, PartnerErrorsLayer};
use tower::{ServiceBuilder, ServiceExt};
use tracing::Level;

const TARGET: &str = "partner_center_errors";

/// A description and body text that must never reach a log at INFO or above.
const SECRET: &str = "tenant 5e2d0f6c has no such offer";

fn error_events(recorder: &Recorder) -> Vec<Recorded> {
    recorder
        .events_of(TARGET)
        .into_iter()
        .filter(|event| event.field("message") == Some("partner center error response"))
        .collect()
}

async fn upstream() -> std::net::SocketAddr {
    serve(|request| match request.uri().path() {
        "/ok" => respond(200, &[], "fine"),
        "/404" => respond(
            404,
            &[
                ("content-type", "application/json"),
                ("ms-correlationid", "corr-1"),
                ("ms-requestid", "req-1"),
                ("ms-cv", "sLRFZMWm+EKuL47u.0"),
                ("ms-serverid", "srv-1"),
                ("request-context", "appId=cid-v1:3f2a9c1e"),
            ],
            partner_center_body(600074, SECRET),
        ),
        "/429" => respond(
            429,
            &[("retry-after", "57")],
            r#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}"#,
        ),
        _ => respond(
            502,
            &[("content-type", "text/html")],
            format!("<html><body>{SECRET}</body></html>"),
        ),
    })
    .await
}

#[tokio::test]
async fn one_warn_event_per_error_response_with_its_fields() {
    let (recorder, _guard) = Recorder::install();
    let addr = upstream().await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client());

    let ok = service.clone().oneshot(get(addr, "/ok")).await.unwrap();
    assert_eq!(collect(ok.into_body()).await, "fine");
    assert!(error_events(&recorder).is_empty(), "no event for a success");

    for path in ["/404", "/429", "/502"] {
        let result = service.clone().oneshot(get(addr, path)).await;
        assert!(matches!(result, Err(Error::Api(_))));
    }
    let events = error_events(&recorder);
    assert_eq!(events.len(), 3, "{events:#?}");

    let not_found = &events[0];
    assert_eq!(
        not_found.field("message"),
        Some("partner center error response")
    );
    assert_eq!(not_found.field("status"), Some("404"));
    assert_eq!(not_found.field("kind"), Some("NotFound"));
    assert_eq!(not_found.field("code"), Some("600074"));
    assert_eq!(not_found.field("payload"), Some("partner_center"));
    assert_eq!(not_found.field("correlation_id"), Some("corr-1"));
    assert_eq!(not_found.field("request_id"), Some("req-1"));
    assert_eq!(
        not_found.field("correlation_vector"),
        Some("sLRFZMWm+EKuL47u.0")
    );
    assert_eq!(not_found.field("server_id"), Some("srv-1"));
    assert_eq!(
        not_found.field("request_context"),
        Some("appId=cid-v1:3f2a9c1e")
    );
    assert_eq!(not_found.field("violations"), Some("1"), "the numeric code");
    let body_len = partner_center_body(600074, SECRET).len().to_string();
    assert_eq!(not_found.field("bytes_read"), Some(body_len.as_str()));
    assert_eq!(not_found.field("incomplete"), None);
    assert_eq!(not_found.field("retry_after_ms"), None);

    let throttled = &events[1];
    assert_eq!(throttled.field("kind"), Some("TooManyRequests"));
    assert_eq!(throttled.field("payload"), Some("gateway"));
    assert_eq!(throttled.field("retry_after_ms"), Some("57000"));
    assert_eq!(throttled.field("code"), None);

    let html = &events[2];
    assert_eq!(html.field("status"), Some("502"));
    assert_eq!(html.field("payload"), Some("html"));
}

#[tokio::test]
async fn no_body_text_at_info_or_above_and_the_description_at_debug() {
    let (recorder, _guard) = Recorder::install();
    let addr = upstream().await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new())
        .service(client());
    for path in ["/404", "/502"] {
        let _ = service.clone().oneshot(get(addr, path)).await;
    }
    let events = recorder.events_of(TARGET);
    assert!(!events.is_empty());
    for event in events.iter().filter(|event| event.level <= Level::INFO) {
        for (name, value) in &event.fields {
            assert!(
                !value.contains(SECRET),
                "{name} = {value:?} at {}",
                event.level
            );
        }
    }
    let descriptions: Vec<_> = events
        .iter()
        .filter(|event| event.level == Level::DEBUG)
        .collect();
    assert_eq!(descriptions.len(), 1, "only the 404 has a description");
    assert_eq!(descriptions[0].field("description"), Some(SECRET));
    assert_eq!(descriptions[0].field("status"), Some("404"));
}

#[tokio::test]
async fn pass_through_logs_once_per_error_response() {
    let (recorder, _guard) = Recorder::install();
    let addr = upstream().await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(client());
    for path in ["/ok", "/404", "/502"] {
        let response = service.clone().oneshot(get(addr, path)).await.unwrap();
        collect(response.into_body()).await;
    }
    let statuses: Vec<_> = error_events(&recorder)
        .iter()
        .map(|event| event.field("status").unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["404", "502"]);
}

#[cfg(feature = "reqwest")]
#[tokio::test]
async fn reqwest_integrations_log_once_per_error_response() {
    use partner_center_errors::reqwest::PartnerErrorsMiddleware;

    let (recorder, _guard) = Recorder::install();
    let addr = upstream().await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(PartnerErrorsMiddleware::default())
        .build();
    for path in ["/ok", "/404"] {
        let _ = client.get(format!("http://{addr}{path}")).send().await;
    }
    let plain = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().pass_through())
        .service(plain.clone());
    let request = plain.get(format!("http://{addr}/429")).build().unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 429);

    let events = error_events(&recorder);
    let kinds: Vec<_> = events.iter().map(|e| e.field("kind").unwrap()).collect();
    assert_eq!(kinds, ["NotFound", "TooManyRequests"]);
}

#[cfg(feature = "reqwest")]
#[tokio::test(start_paused = true)]
async fn reqwest_retries_and_give_ups_are_visible_without_body_text() {
    use partner_center_errors::reqwest::{PartnerErrorsMiddleware, RetryAfterMiddleware};
    use partner_center_errors::RetryAfterPolicy;

    let (recorder, _guard) = Recorder::install();
    let addr = serve(|_| {
        respond(
            429,
            &[("retry-after", "1"), ("ms-correlationid", "c-5")],
            format!(r#"{{"statusCode": 429, "message": "{SECRET}"}}"#),
        )
    })
    .await;
    let policy = RetryAfterPolicy::new().max_retries(1);

    // reqwest-middleware.
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryAfterMiddleware::new(policy.clone()))
        .with(PartnerErrorsMiddleware::default())
        .build();
    let _ = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();

    // reqwest's Client as a tower service.
    let plain = reqwest::Client::new();
    let service = ServiceBuilder::new()
        .retry(policy)
        .layer(PartnerErrorsLayer::new())
        .service(plain.clone());
    let request = plain.get(format!("http://{addr}/")).build().unwrap();
    let _ = service.oneshot(request).await.unwrap_err();

    let events = recorder.events_of(TARGET);
    let named = |message: &str| -> Vec<Recorded> {
        events
            .iter()
            .filter(|event| event.field("message") == Some(message))
            .cloned()
            .collect()
    };
    let retries = named("partner center retry");
    assert_eq!(retries.len(), 2, "one retry in each stack: {events:#?}");
    for retry in &retries {
        assert_eq!(retry.level, Level::INFO);
        assert_eq!(retry.field("retry"), Some("1"));
        assert_eq!(retry.field("wait_ms"), Some("1000"));
        assert_eq!(retry.field("status"), Some("429"));
        assert_eq!(retry.field("correlation_id"), Some("c-5"));
    }
    let give_ups = named("partner center retries gave up");
    assert_eq!(give_ups.len(), 2);
    for give_up in &give_ups {
        assert_eq!(give_up.level, Level::WARN);
        assert_eq!(give_up.field("reason"), Some("MaxRetries"));
        assert_eq!(give_up.field("attempts"), Some("2"));
        assert_eq!(give_up.field("waited_ms"), Some("1000"));
    }
    assert_eq!(error_events(&recorder).len(), 4, "one per error response");
    for event in events.iter().filter(|event| event.level <= Level::INFO) {
        for (name, value) in &event.fields {
            assert!(!value.contains(SECRET), "{name} = {value:?}");
        }
    }
}

/// The retry middleware after the error middleware captures the raw error responses itself:
/// the ones it retries or gives up on are logged at the error middleware's levels, as in the
/// other order, and the one it hands on is logged by the error middleware, once.
#[cfg(feature = "reqwest")]
#[tokio::test(start_paused = true)]
async fn reqwest_retry_after_the_error_middleware_logs_each_error_response_once() {
    use partner_center_errors::reqwest::{PartnerErrorsMiddleware, RetryAfterMiddleware};
    use partner_center_errors::RetryAfterPolicy;

    let (recorder, _guard) = Recorder::install();
    let addr = serve(|request| {
        if request.uri().path() == "/404" {
            return respond(404, &[], partner_center_body(600074, "No customer."));
        }
        respond(
            429,
            &[("retry-after", "1")],
            partner_center_body(1, "Slow down."),
        )
    })
    .await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(PartnerErrorsMiddleware::new(
            PartnerErrorsLayer::new().client_error_level(Level::ERROR),
        ))
        .with(RetryAfterMiddleware::new(
            RetryAfterPolicy::new().max_retries(2),
        ))
        .build();
    // Three 429s (two retried, then a give-up), then a 404 handed on unretried.
    for path in ["/429", "/404"] {
        let _ = client.get(format!("http://{addr}{path}")).send().await;
    }
    let events = error_events(&recorder);
    let kinds: Vec<_> = events.iter().map(|e| e.field("kind").unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "TooManyRequests",
            "TooManyRequests",
            "TooManyRequests",
            "NotFound"
        ]
    );
    assert!(events.iter().all(|event| event.level == Level::ERROR));
}

/// The level of every event of the crate's error-response event.
fn error_levels(recorder: &Recorder) -> Vec<Level> {
    error_events(recorder)
        .iter()
        .map(|event| event.level)
        .collect()
}

#[tokio::test]
async fn the_error_event_level_follows_the_status_class() {
    let (recorder, _guard) = Recorder::install();
    let addr = upstream().await;
    let service = ServiceBuilder::new()
        .layer(
            PartnerErrorsLayer::new()
                .client_error_level(Level::DEBUG)
                .server_error_level(Level::ERROR),
        )
        .service(client());
    let _ = service
        .clone()
        .oneshot(get(addr, "/404"))
        .await
        .unwrap_err();
    let _ = service.oneshot(get(addr, "/502")).await.unwrap_err();
    assert_eq!(error_levels(&recorder), [Level::DEBUG, Level::ERROR]);

    let (recorder, _guard) = Recorder::install();
    let silent = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().client_error_level(None))
        .service(client());
    let _ = silent.clone().oneshot(get(addr, "/404")).await.unwrap_err();
    let _ = silent.oneshot(get(addr, "/502")).await.unwrap_err();
    assert_eq!(
        error_levels(&recorder),
        [Level::WARN],
        "no event for the 404"
    );
}

/// The pairing the docs recommend: tower-http's `TraceLayer` without its own failure event, the
/// layer's event at the level chosen. One failure, one line at INFO or above.
#[tokio::test]
async fn with_tower_http_trace_one_failure_is_one_line_at_the_chosen_level() {
    let (recorder, _guard) = Recorder::install();
    let addr = upstream().await;
    let service = ServiceBuilder::new()
        .layer(tower_http::trace::TraceLayer::new_for_http().on_failure(()))
        .layer(PartnerErrorsLayer::new().client_error_level(Level::INFO))
        .service(client());
    let result = service.oneshot(get(addr, "/404")).await;
    assert!(matches!(result, Err(Error::Api(_))));
    let loud: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|event| event.level <= Level::INFO)
        .collect();
    assert_eq!(loud.len(), 1, "{loud:?}");
    assert_eq!(loud[0].level, Level::INFO);
    assert_eq!(
        loud[0].field("message"),
        Some("partner center error response")
    );
    assert_eq!(loud[0].spans, ["request"]);
}

#[tokio::test(start_paused = true)]
async fn the_retry_and_give_up_levels_are_settable() {
    let (recorder, _guard) = Recorder::install();
    let addr = upstream().await;
    let policy = partner_center_errors::RetryAfterPolicy::new()
        .max_retries(1)
        .retry_level(Level::DEBUG)
        .give_up_level(Level::ERROR);
    let service = ServiceBuilder::new()
        .retry(policy)
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let error = service.oneshot(get(addr, "/429")).await.unwrap_err();
    assert!(matches!(error, Error::GaveUp(_)), "{error:?}");
    let level_of = |message: &str| -> Vec<Level> {
        recorder
            .events_of(TARGET)
            .iter()
            .filter(|event| event.field("message") == Some(message))
            .map(|event| event.level)
            .collect()
    };
    assert_eq!(level_of("partner center retry"), [Level::DEBUG]);
    assert_eq!(level_of("partner center retries gave up"), [Level::ERROR]);
}

/// An error response turned down to `TRACE` takes its description with it: the description's
/// own event is never louder than the event it belongs to (a `DEBUG` filter shows neither).
#[tokio::test]
async fn a_response_event_turned_down_to_trace_takes_its_description_along() {
    let (recorder, _guard) = Recorder::install();
    let addr = upstream().await;
    let service = ServiceBuilder::new()
        .layer(PartnerErrorsLayer::new().client_error_level(Level::TRACE))
        .service(client());
    let _ = service.oneshot(get(addr, "/404")).await.unwrap_err();
    let levels: Vec<_> = recorder
        .events_of(TARGET)
        .iter()
        .map(|event| (event.field("message").unwrap().to_owned(), event.level))
        .collect();
    assert_eq!(
        levels,
        [
            ("partner center error response".to_owned(), Level::TRACE),
            ("partner center error description".to_owned(), Level::TRACE),
        ]
    );
}

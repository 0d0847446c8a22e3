//! The retry policy's tracing events (feature `tracing`).
#![cfg(feature = "tracing")]

use crate::support::events::Recorder;
use crate::support::{client, get, respond, serve};
use partner_center_errors::GiveUpReason;
use partner_center_errors::{Error, PartnerErrorsLayer, RetryAfterPolicy};
use tower::{ServiceBuilder, ServiceExt};
use tracing::Level;

#[tokio::test(start_paused = true)]
async fn retries_and_give_ups_are_traced_without_body_text() {
    let (recorder, _guard) = Recorder::install();

    let addr = serve(|_| {
        respond(
            429,
            &[("retry-after", "57"), ("ms-correlationid", "c-77")],
            r#"{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }"#,
        )
    })
    .await;
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new().max_retries(1))
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let result = service.oneshot(get(addr, "/v1/customers")).await;
    let Err(Error::GaveUp(gave_up)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(gave_up.reason(), GiveUpReason::MaxRetries);

    let events = recorder.events_of("partner_center_errors");
    let retries: Vec<_> = events
        .iter()
        .filter(|event| event.field("message") == Some("partner center retry"))
        .collect();
    let [retry] = retries[..] else {
        panic!("one retry event expected: {events:#?}")
    };
    assert_eq!(retry.level, Level::INFO);
    for (field, value) in [
        ("retry", "1"),
        ("wait_ms", "57000"),
        ("status", "429"),
        ("delay_source", "RetryAfterSeconds"),
        ("correlation_id", "c-77"),
    ] {
        assert_eq!(retry.field(field), Some(value), "{field} in {retry:?}");
    }
    let gave_up = events
        .iter()
        .find(|event| event.field("message") == Some("partner center retries gave up"))
        .unwrap_or_else(|| panic!("no give-up event: {events:#?}"));
    assert_eq!(gave_up.level, Level::WARN);
    for (field, value) in [
        ("reason", "MaxRetries"),
        ("attempts", "2"),
        ("waited_ms", "57000"),
        ("retry_after_ms", "57000"),
    ] {
        assert_eq!(gave_up.field(field), Some(value), "{field} in {gave_up:?}");
    }
    // The body's text is logged at DEBUG only.
    for event in recorder.events() {
        for value in event.fields.values() {
            assert!(
                event.level > Level::INFO || !value.contains("Rate limit is exceeded"),
                "no body text at INFO and above: {event:?}"
            );
        }
    }
}

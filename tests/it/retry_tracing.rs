//! The retry policy's tracing events (feature `tracing`). Alone in its binary: a thread-local
//! subscriber (`set_default`) races with callsites registered by tests on other threads.
#![cfg(feature = "tracing")]

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use crate::support::{client, get, respond, serve};
use partner_center_errors::GiveUpReason;
use partner_center_errors::{Error, PartnerErrorsLayer, RetryAfterPolicy};
use tower::{ServiceBuilder, ServiceExt};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn retries_and_give_ups_are_traced_without_body_text() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let retries: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("partner center retry"))
        .collect();
    let [retry] = retries[..] else {
        panic!("one retry event expected:\n{text}")
    };
    for field in [
        "INFO",
        "retry=1",
        "wait_ms=57000",
        "status=429",
        "delay_source=\"RetryAfterSeconds\"",
        "correlation_id=\"c-77\"",
    ] {
        assert!(retry.contains(field), "{field} in {retry}");
    }
    let gave_up = text
        .lines()
        .find(|line| line.contains("gave up"))
        .unwrap_or_else(|| panic!("no give-up event:\n{text}"));
    for field in [
        "WARN",
        "reason=MaxRetries",
        "attempts=2",
        "waited_ms=57000",
        "retry_after_ms=57000",
    ] {
        assert!(gave_up.contains(field), "{field} in {gave_up}");
    }
    assert!(
        !text.contains("Rate limit is exceeded"),
        "no body text at INFO and above:\n{text}"
    );
}

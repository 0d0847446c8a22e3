//! The retry policy over real HTTP: a hyper server on 127.0.0.1 and hyper-util's client, with
//! tokio's paused clock (the server stamps each request with the same clock, so "when did the
//! retry arrive" is exact and no test sleeps for real).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::support::{
    arrivals, client, collect, gaps, respond, scripted, serve, Arrival, ChannelBody, ServerBody,
};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use partner_center_errors::headers::DelaySource;
use partner_center_errors::retry::{BufferRequestLayer, BufferedBody, RETRY_ATTEMPT};
use partner_center_errors::GiveUpReason;
use partner_center_errors::{BoxError, Error, PartnerErrors, PartnerErrorsLayer, RetryAfterPolicy};
use tokio::time::Instant;
use tower::retry::budget::TpsBudget;
use tower::retry::Retry;
use tower::{ServiceBuilder, ServiceExt};

const GATEWAY_429: &str =
    r#"{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }"#;

fn ok() -> http::Response<ServerBody> {
    respond(
        200,
        &[("content-type", "application/json")],
        r#"{"items":[]}"#,
    )
}

fn get(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/v1/customers"))
        .header("MS-RequestId", "0f8fad5b-d9cb-469f-a165-70867728950e")
        .header("MS-CorrelationId", "7c9e6679-7425-40de-944b-e07fc1f90ae7")
        .body(Full::default())
        .unwrap()
}

/// The stack every user builds: retry outside the error layer, hyper-util's client inside.
/// Named, not `impl Service`, to prove it is `Send` where spawned.
fn stack(
    policy: RetryAfterPolicy,
) -> Retry<RetryAfterPolicy, PartnerErrors<crate::support::HttpClient>> {
    ServiceBuilder::new()
        .retry(policy)
        .layer(PartnerErrorsLayer::new())
        .service(client())
}

fn expect_gave_up<T: std::fmt::Debug>(result: Result<T, Error>) -> partner_center_errors::GaveUp {
    match result {
        Err(Error::GaveUp(gave_up)) => gave_up,
        other => panic!("expected Error::GaveUp, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn throttled_429_is_retried_once_after_57_seconds_and_not_a_millisecond_earlier() {
    let (addr, log) = scripted(|n, _| match n {
        0 => respond(
            429,
            &[("retry-after", "57"), ("content-type", "application/json")],
            GATEWAY_429,
        ),
        _ => ok(),
    })
    .await;
    let response = stack(RetryAfterPolicy::new())
        .oneshot(get(addr))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(collect(response.into_body()).await, r#"{"items":[]}"#);

    let seen = arrivals(&log);
    assert_eq!(seen.len(), 2, "retried exactly once");
    assert_eq!(gaps(&seen), [Duration::from_secs(57)]);

    // The retry is the same request, plus Retry-After: 1.
    let (first, retry) = (&seen[0], &seen[1]);
    assert_eq!(retry.headers[RETRY_ATTEMPT], "1");
    assert!(!first.headers.contains_key(RETRY_ATTEMPT));
    let mut retry_headers = retry.headers.clone();
    retry_headers.remove(RETRY_ATTEMPT);
    assert_eq!(retry_headers, first.headers, "every other header unchanged");
    assert_eq!(
        retry.headers["ms-requestid"],
        "0f8fad5b-d9cb-469f-a165-70867728950e"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date_is_waited_until() {
    // A whole second, 30 to 31 s from now: an HTTP-date has no fractions.
    let before = SystemTime::now();
    let date = whole_second(before) + Duration::from_secs(31);
    for format in 0..3 {
        let value = http_date(date, format);
        let (addr, log) = scripted(move |n, _| match n {
            0 => respond(503, &[("retry-after", &value)], "Service Unavailable"),
            _ => ok(),
        })
        .await;
        let response = stack(RetryAfterPolicy::new())
            .oneshot(get(addr))
            .await
            .unwrap();
        let after = SystemTime::now();
        assert_eq!(response.status(), StatusCode::OK);
        let seen = arrivals(&log);
        assert_eq!(seen.len(), 2);
        // The wait is the date minus the server's `Date` (hyper stamps the whole second it
        // answered in, between `before` and `after`): so the retry was sent at the date, not
        // before it, and at most `Date`'s one-second resolution after it.
        let gap = gaps(&seen)[0];
        assert_eq!(
            gap.subsec_nanos(),
            0,
            "measured from a whole-second Date: {gap:?}"
        );
        assert!(
            gap <= date.duration_since(before).unwrap() + Duration::from_secs(1),
            "{gap:?}"
        );
        assert!(gap >= date.duration_since(after).unwrap(), "{gap:?}");
    }
}

/// A server whose clock is behind ours by under a second (it reads a whole second, `T`, when
/// ours reads `T` and a fraction) answers `Date: T` and `Retry-After: T + 30 s`: it takes the
/// work again 30 s after it answered, so the retry must not arrive sooner than that.
#[tokio::test(start_paused = true)]
async fn a_retry_after_date_is_not_cut_short_by_a_local_clock_less_than_a_second_ahead() {
    let (addr, log) = scripted(|n, _| match n {
        0 => {
            let theirs = whole_second(SystemTime::now());
            let date = httpdate::fmt_http_date(theirs);
            let retry_at = httpdate::fmt_http_date(theirs + Duration::from_secs(30));
            respond(429, &[("date", &date), ("retry-after", &retry_at)], "")
        }
        _ => ok(),
    })
    .await;
    let response = stack(RetryAfterPolicy::new())
        .oneshot(get(addr))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let gaps = gaps(&arrivals(&log));
    assert_eq!(gaps.len(), 1);
    assert!(
        gaps[0] >= Duration::from_secs(30),
        "retried early: {gaps:?}"
    );
    // Not later either (one tick of tokio's millisecond timer).
    assert!(
        gaps[0] <= Duration::from_secs(30) + Duration::from_millis(1),
        "{gaps:?}"
    );
}

/// A `Retry-After` date sent twice in one value (`X,X`, as Partner Center duplicates some
/// headers, or as an intermediary folds two lines) still asks for that date: the retry waits
/// for it rather than backing off on its own schedule (at most 3 s here).
#[tokio::test(start_paused = true)]
async fn a_retry_after_date_folded_twice_into_one_value_is_still_waited_for() {
    let (addr, log) = scripted(|n, _| match n {
        0 => {
            let date = whole_second(SystemTime::now());
            let retry_at = httpdate::fmt_http_date(date + Duration::from_secs(30));
            let twice = format!("{retry_at},{retry_at}");
            let date = httpdate::fmt_http_date(date);
            respond(429, &[("date", &date), ("retry-after", &twice)], "")
        }
        _ => ok(),
    })
    .await;
    let response = stack(RetryAfterPolicy::new())
        .oneshot(get(addr))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(gaps(&arrivals(&log)), [Duration::from_secs(30)]);
}

/// `time` without its fraction of a second, as an HTTP-date carries it.
fn whole_second(time: SystemTime) -> SystemTime {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970");
    SystemTime::UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs())
}

/// `date` in RFC 9110's IMF-fixdate (0), RFC 850 (1) or asctime (2) format.
fn http_date(date: SystemTime, format: u8) -> String {
    let imf = httpdate::fmt_http_date(date);
    let (weekday, day, month, year, time) = (
        &imf[0..3],
        &imf[5..7],
        &imf[8..11],
        &imf[12..16],
        &imf[17..25],
    );
    match format {
        0 => imf.clone(),
        1 => {
            let long = [
                ("Mon", "Monday"),
                ("Tue", "Tuesday"),
                ("Wed", "Wednesday"),
                ("Thu", "Thursday"),
                ("Fri", "Friday"),
                ("Sat", "Saturday"),
                ("Sun", "Sunday"),
            ]
            .iter()
            .find(|(short, _)| *short == weekday)
            .unwrap()
            .1;
            format!("{long}, {day}-{month}-{} {time} GMT", &year[2..])
        }
        _ => {
            let day = day
                .strip_prefix('0')
                .map_or_else(|| day.to_owned(), |d| format!(" {d}"));
            format!("{weekday} {month} {day} {time} {year}")
        }
    }
}

#[tokio::test(start_paused = true)]
async fn millisecond_headers_come_first_and_are_waited_to_the_millisecond() {
    let cases: [(&[(&str, &str)], Duration); 3] = [
        (
            &[
                ("retry-after", "57"),
                ("retry-after-ms", "1500"),
                ("x-ms-retry-after-ms", "9000"),
            ],
            Duration::from_millis(1500),
        ),
        (
            &[("retry-after", "57"), ("x-ms-retry-after-ms", "2500")],
            Duration::from_millis(2500),
        ),
        (
            &[("retry-after-ms", "soon"), ("retry-after", "4")],
            Duration::from_secs(4),
        ),
    ];
    for (headers, wait) in cases {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let (addr, log) = scripted(move |n, _| match n {
            0 => {
                let pairs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                respond(429, &pairs, "")
            }
            _ => ok(),
        })
        .await;
        stack(RetryAfterPolicy::new())
            .oneshot(get(addr))
            .await
            .unwrap();
        assert_eq!(gaps(&arrivals(&log)), [wait]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_gateway_body_without_the_header_still_sets_the_delay() {
    let (addr, log) = scripted(|n, _| match n {
        0 => respond(429, &[("content-type", "application/json")], GATEWAY_429),
        _ => ok(),
    })
    .await;
    stack(RetryAfterPolicy::new())
        .oneshot(get(addr))
        .await
        .unwrap();
    assert_eq!(gaps(&arrivals(&log)), [Duration::from_secs(57)]);
}

#[tokio::test(start_paused = true)]
async fn a_503_without_a_delay_backs_off_with_jitter_inside_the_documented_bounds() {
    let (addr, log) = scripted(|n, _| match n % 4 {
        3 => ok(),
        _ => respond(503, &[], "<html><body>Service Unavailable</body></html>"),
    })
    .await;
    let service = stack(RetryAfterPolicy::new());
    // Ceilings before retries 1, 2, 3: 3 s, 6 s, 12 s (base 3 s, doubled).
    let ceilings = [3, 6, 12].map(Duration::from_secs);
    let mut all_gaps = Vec::new();
    for session in 0..10 {
        let response = service.clone().oneshot(get(addr)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let seen = arrivals(&log);
        let session = &seen[session * 4..session * 4 + 4];
        let gaps = gaps(session);
        for (gap, ceiling) in gaps.iter().zip(ceilings) {
            assert!(*gap <= ceiling, "{gaps:?}");
        }
        let attempts: Vec<_> = session
            .iter()
            .map(|a| a.headers.get(RETRY_ATTEMPT).cloned())
            .collect();
        assert_eq!(
            attempts,
            [
                None,
                Some("1".parse().unwrap()),
                Some("2".parse().unwrap()),
                Some("3".parse().unwrap())
            ]
        );
        all_gaps.extend(gaps);
    }
    // Jittered: forty draws from continuous ranges are not all the same.
    all_gaps.sort();
    all_gaps.dedup();
    assert!(all_gaps.len() > 1, "{all_gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn a_delay_above_the_longest_wait_gives_up_at_once_with_the_delay() {
    let (addr, log) = scripted(|_, _| {
        respond(
            429,
            &[("retry-after", "3600"), ("ms-correlationid", "c-1")],
            GATEWAY_429,
        )
    })
    .await;
    let started = Instant::now();
    let result = stack(RetryAfterPolicy::new()).oneshot(get(addr)).await;
    assert_eq!(started.elapsed(), Duration::ZERO, "no waiting at all");
    let gave_up = expect_gave_up(result);
    assert_eq!(gave_up.reason(), GiveUpReason::WaitTooLong);
    assert_eq!((gave_up.attempts(), gave_up.waited()), (1, Duration::ZERO));
    let error = gave_up.api_error().unwrap();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(
        error.retry_hint().source(),
        Some(DelaySource::RetryAfterSeconds)
    );
    assert_eq!(error.ids().correlation_id.as_deref(), Some("c-1"));
    assert_eq!(arrivals(&log).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_final_error_says_how_many_attempts_and_how_long_was_waited() {
    let (addr, log) = scripted(|_, _| respond(503, &[("retry-after", "2")], "")).await;
    let error = stack(RetryAfterPolicy::new())
        .oneshot(get(addr))
        .await
        .unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(
        error.api_error().unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let shown = error.to_string();
    let gave_up = expect_gave_up(Err::<(), _>(error));
    assert_eq!(gave_up.reason(), GiveUpReason::MaxRetries);
    assert_eq!(
        (gave_up.attempts(), gave_up.waited()),
        (4, Duration::from_secs(6))
    );
    assert!(
        shown.starts_with("gave up after 4 attempts and 6s of waiting (no retries left): HTTP 503"),
        "{shown}"
    );
    assert_eq!(arrivals(&log).len(), 4);
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_stops_retries_for_every_clone() {
    let (addr, log) = scripted(|_, _| respond(429, &[("retry-after", "0")], "")).await;
    // One retry in reserve, nothing earned per request.
    let budget = TpsBudget::new(Duration::from_secs(1), 1, 0.0);
    let service = stack(RetryAfterPolicy::new().budget(budget));

    let first = expect_gave_up(service.clone().oneshot(get(addr)).await);
    assert_eq!(first.reason(), GiveUpReason::BudgetSpent);
    assert_eq!(first.attempts(), 2, "the one retry the budget held");

    let second = expect_gave_up(service.oneshot(get(addr)).await);
    assert_eq!(second.reason(), GiveUpReason::BudgetSpent);
    assert_eq!(second.attempts(), 1, "the budget is shared: nothing left");
    assert_eq!(arrivals(&log).len(), 3);
}

type StreamClient = Client<HttpConnector, BoxBody<Bytes, io::Error>>;

/// A POST whose body is streamed through a channel: sent once, never replayable as it is.
fn streamed_post(addr: SocketAddr, chunks: &[&'static str]) -> Request<BoxBody<Bytes, io::Error>> {
    let (sender, body) = ChannelBody::channel(chunks.len().max(1));
    for chunk in chunks {
        sender
            .try_send(Ok(Bytes::from_static(chunk.as_bytes())))
            .unwrap();
    }
    drop(sender);
    Request::post(format!("http://{addr}/v1/customers/c/orders"))
        .header("MS-RequestId", "5b1f0ad2-8d5c-4b8e-9d3a-0c5b8f3e2a11")
        .body(body)
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_is_not_replayed_and_its_error_is_returned_as_is() {
    let (addr, log) = scripted(|n, _| match n {
        0 => respond(429, &[("retry-after", "1")], GATEWAY_429),
        _ => ok(),
    })
    .await;
    let client: StreamClient = crate::support::client();
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new())
        .layer(PartnerErrorsLayer::new())
        .service(client);
    let result = service
        .oneshot(streamed_post(addr, &["{\"qty\":", "1}"]))
        .await;
    let Err(Error::Api(error)) = result else {
        panic!("expected the 429 as it came, got {result:?}")
    };
    assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
    let seen = arrivals(&log);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, "{\"qty\":1}");
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_buffered_up_front_is_replayed_byte_for_byte() {
    let (addr, log) = scripted(|n, _| match n {
        0 => respond(503, &[("retry-after", "1")], ""),
        _ => ok(),
    })
    .await;
    let client: Client<HttpConnector, BufferedBody<BoxBody<Bytes, io::Error>>> =
        crate::support::client();
    let service = ServiceBuilder::new()
        .layer(BufferRequestLayer::new().max_body_bytes(1024))
        .retry(RetryAfterPolicy::new())
        .layer(PartnerErrorsLayer::new())
        .service(client);
    let response = service
        .clone()
        .oneshot(streamed_post(addr, &["{\"qty\":", "1}"]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = arrivals(&log);
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (&seen[0].body, &seen[1].body),
        (&seen[1].body, &Bytes::from("{\"qty\":1}"))
    );
    assert_eq!(seen[0].method, Method::POST);

    // Over the limit: streamed once, the error as it came.
    let service = ServiceBuilder::new()
        .layer(BufferRequestLayer::new().max_body_bytes(4))
        .retry(RetryAfterPolicy::new())
        .layer(PartnerErrorsLayer::new())
        .service(crate::support::client());
    let (addr, log) = scripted(|_, _| respond(503, &[("retry-after", "1")], "")).await;
    let result = service
        .oneshot(streamed_post(addr, &["{\"qty\":", "1}"]))
        .await;
    assert!(matches!(result, Err(Error::Api(_))), "{result:?}");
    let seen = arrivals(&log);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, "{\"qty\":1}");
}

fn post(addr: SocketAddr, request_id: bool) -> Request<Full<Bytes>> {
    let mut builder = Request::post(format!("http://{addr}/v1/customers/c/carts"))
        .header("content-type", "application/json");
    if request_id {
        builder = builder.header("MS-RequestId", "9a8f0c6e-1d2b-4c3a-8e7f-6a5b4c3d2e1f");
    }
    builder
        .body(Full::new(Bytes::from_static(b"{\"lineItems\":[]}")))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn post_after_504_is_retried_only_with_ms_request_id() {
    let gateway_timeout_then_ok = |n, _: &Arrival| match n {
        0 => respond(504, &[("retry-after", "2")], "<html>Gateway Timeout</html>"),
        _ => ok(),
    };

    let (addr, log) = scripted(gateway_timeout_then_ok).await;
    let gave_up = expect_gave_up(
        stack(RetryAfterPolicy::new())
            .oneshot(post(addr, false))
            .await,
    );
    assert_eq!(gave_up.reason(), GiveUpReason::NotIdempotent);
    assert_eq!(gave_up.attempts(), 1);
    assert_eq!(
        arrivals(&log).len(),
        1,
        "the server may have processed it: not sent again"
    );

    let (addr, log) = scripted(gateway_timeout_then_ok).await;
    let response = stack(RetryAfterPolicy::new())
        .oneshot(post(addr, true))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = arrivals(&log);
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].headers["ms-requestid"],
        seen[1].headers["ms-requestid"]
    );
    assert_eq!(seen[1].body, "{\"lineItems\":[]}");
    assert_eq!(gaps(&seen), [Duration::from_secs(2)]);

    // 429 and 503 say the server did not process it: retried without MS-RequestId.
    for status in [429, 503] {
        let (addr, log) = scripted(move |n, _| match n {
            0 => respond(status, &[("retry-after", "1")], ""),
            _ => ok(),
        })
        .await;
        stack(RetryAfterPolicy::new())
            .oneshot(post(addr, false))
            .await
            .unwrap();
        assert_eq!(arrivals(&log).len(), 2, "{status}");
    }
}

#[tokio::test]
async fn boxed_errors_from_a_timeout_layer_are_retried_too() {
    // Real time, but no real waiting: `Retry-After: 0`.
    let (addr, log) = scripted(|n, _| match n {
        0 => respond(429, &[("retry-after", "0")], GATEWAY_429),
        _ => ok(),
    })
    .await;
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new())
        .timeout(Duration::from_secs(30))
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let response = service.clone().oneshot(get(addr)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(arrivals(&log).len(), 2);

    let (addr, _) = scripted(|_, _| respond(429, &[("retry-after", "3600")], "")).await;
    let error: BoxError = service.oneshot(get(addr)).await.unwrap_err();
    let error = error.downcast::<Error>().expect("the crate's error, boxed");
    assert_eq!(
        expect_gave_up(Err::<(), _>(*error)).reason(),
        GiveUpReason::WaitTooLong
    );
}

/// A Partner-Center-like throttle: one request per `spacing` across all clients. A request that
/// comes too soon gets 429 and the time left (as `Retry-After` seconds or `retry-after-ms`,
/// alternately); the server remembers that window per client and counts any request of that
/// client arriving before it ends.
struct Throttle {
    spacing: Duration,
    next_free: Option<Instant>,
    windows: HashMap<String, Instant>,
    throttled: u32,
    early: u32,
    served: u32,
}

async fn throttling_server(spacing: Duration) -> (SocketAddr, Arc<Mutex<Throttle>>) {
    let throttle = Arc::new(Mutex::new(Throttle {
        spacing,
        next_free: None,
        windows: HashMap::new(),
        throttled: 0,
        early: 0,
        served: 0,
    }));
    let state = throttle.clone();
    let addr = serve(move |request| {
        let now = Instant::now();
        let client = request.headers()["x-client"].to_str().unwrap().to_owned();
        let mut throttle = state.lock().unwrap();
        if throttle.windows.get(&client).is_some_and(|end| now < *end) {
            throttle.early += 1;
        }
        match throttle.next_free {
            Some(free) if now < free => {
                let left = free - now;
                throttle.throttled += 1;
                let (header, value, window) = if throttle.throttled.is_multiple_of(2) {
                    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                    (
                        "retry-after",
                        seconds.to_string(),
                        Duration::from_secs(seconds),
                    )
                } else {
                    let millis = left.as_millis() as u64
                        + u64::from(!left.subsec_nanos().is_multiple_of(1_000_000));
                    (
                        "retry-after-ms",
                        millis.to_string(),
                        Duration::from_millis(millis),
                    )
                };
                throttle.windows.insert(client, now + window);
                respond(429, &[(header, &value)], GATEWAY_429)
            }
            _ => {
                throttle.next_free = Some(now + throttle.spacing);
                throttle.windows.remove(&client);
                throttle.served += 1;
                ok()
            }
        }
    })
    .await;
    (addr, throttle)
}

fn from_client(addr: SocketAddr, client: usize, call: usize) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}/v1/customers?call={call}"))
        .header("x-client", client.to_string())
        .header("MS-RequestId", format!("{client}-{call}"))
        .body(Full::default())
        .unwrap()
}

/// Five clients, two calls each, against one request per 5 s: the policy's waits line up with
/// the server's windows, so no request ever arrives early.
#[tokio::test(start_paused = true)]
async fn a_throttling_server_never_sees_a_request_before_its_window_ends() {
    let (addr, throttle) = throttling_server(Duration::from_secs(5)).await;
    let service = stack(RetryAfterPolicy::new().max_retries(30).no_budget());
    let mut tasks = Vec::new();
    for client in 0..5 {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            for call in 0..2 {
                let response = service
                    .clone()
                    .oneshot(from_client(addr, client, call))
                    .await?;
                assert_eq!(response.status(), StatusCode::OK);
            }
            Ok::<_, Error>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let throttle = throttle.lock().unwrap();
    assert_eq!(throttle.served, 10);
    assert!(
        throttle.throttled >= 10,
        "the clients were throttled: {}",
        throttle.throttled
    );
    assert_eq!(
        throttle.early, 0,
        "a request arrived before its Retry-After window ended"
    );
}

/// The control for the test above: a policy that ignores the server (a fixed one-second
/// retry) is caught arriving early, so the server's count does detect early requests.
#[tokio::test(start_paused = true)]
async fn the_throttling_server_catches_a_policy_that_ignores_retry_after() {
    #[derive(Clone)]
    struct EverySecond;

    impl tower::retry::Policy<Request<Full<Bytes>>, http::Response<Incoming>, Error> for EverySecond {
        type Future = tokio::time::Sleep;

        fn retry(
            &mut self,
            _request: &mut Request<Full<Bytes>>,
            result: &mut Result<http::Response<Incoming>, Error>,
        ) -> Option<Self::Future> {
            let retry = matches!(result, Err(error) if error.is_retryable());
            retry.then(|| tokio::time::sleep(Duration::from_secs(1)))
        }

        fn clone_request(
            &mut self,
            request: &Request<Full<Bytes>>,
        ) -> Option<Request<Full<Bytes>>> {
            let mut clone = Request::new(request.body().clone());
            *clone.uri_mut() = request.uri().clone();
            *clone.headers_mut() = request.headers().clone();
            Some(clone)
        }
    }

    let (addr, throttle) = throttling_server(Duration::from_secs(5)).await;
    let service = ServiceBuilder::new()
        .retry(EverySecond)
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let (first, second) = tokio::join!(
        service.clone().oneshot(from_client(addr, 0, 0)),
        service.oneshot(from_client(addr, 1, 0)),
    );
    assert!(first.is_ok() && second.is_ok());
    assert!(
        throttle.lock().unwrap().early > 0,
        "the early retries were seen"
    );
}

/// The policy inside the error layer sees raw error responses (`Ok` with a 4xx/5xx status): it
/// retries them after the delay in their headers, and the layer outside makes the last one an
/// `Error::Api`.
#[tokio::test(start_paused = true)]
async fn inside_the_layer_the_policy_retries_raw_error_responses() {
    let inside = |policy: RetryAfterPolicy| {
        ServiceBuilder::new()
            .layer(PartnerErrorsLayer::new())
            .retry(policy)
            .map_err(BoxError::from)
            .service(client())
    };
    let (addr, log) = scripted(|n, _| match n {
        0 => respond(429, &[("retry-after", "2")], GATEWAY_429),
        1 => respond(503, &[("retry-after-ms", "1500")], ""),
        _ => ok(),
    })
    .await;
    let response = inside(RetryAfterPolicy::new())
        .oneshot(get(addr))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = arrivals(&log);
    assert_eq!(
        gaps(&seen),
        [Duration::from_secs(2), Duration::from_millis(1500)]
    );
    assert_eq!(seen[2].headers[RETRY_ATTEMPT], "2");

    let (addr, log) = scripted(|_, _| respond(503, &[("retry-after", "1")], "")).await;
    let result = inside(RetryAfterPolicy::new().max_retries(2))
        .oneshot(get(addr))
        .await;
    assert_eq!(arrivals(&log).len(), 3);
    match result {
        Err(Error::Api(error)) => assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE),
        other => panic!("the last response as the layer's error, got {other:?}"),
    }

    // A status the policy does not retry goes on at once.
    let (addr, log) = scripted(|_, _| respond(404, &[], "")).await;
    let result = inside(RetryAfterPolicy::new()).oneshot(get(addr)).await;
    assert_eq!(arrivals(&log).len(), 1);
    assert!(matches!(result, Err(Error::Api(_))), "{result:?}");
}

/// A call dropped while the policy waits out the server's delay sends nothing more: the wait
/// is dropped with it (tokio's paused clock, 57 s `Retry-After`, the drop at 30 s).
#[tokio::test(start_paused = true)]
async fn a_call_dropped_during_its_wait_sends_nothing_more() {
    let (addr, log) = scripted(|_, _| respond(429, &[("retry-after", "57")], GATEWAY_429)).await;
    // Told each time an attempt's result reaches the policy, which then decides (and starts
    // its wait) in the same poll.
    let answered = Arc::new(tokio::sync::Notify::new());
    let told = answered.clone();
    let service = ServiceBuilder::new()
        .retry(RetryAfterPolicy::new())
        .map_result(move |result| {
            told.notify_one();
            result
        })
        .layer(PartnerErrorsLayer::new())
        .service(client());
    let started = Instant::now();
    let call = tokio::spawn(service.oneshot(get(addr)));
    tokio::time::timeout(Duration::from_secs(10), answered.notified())
        .await
        .expect("the first attempt came back");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!call.is_finished(), "still waiting out the 57 s");
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    tokio::time::sleep(Duration::from_secs(120)).await;
    let seen = arrivals(&log);
    assert_eq!(seen.len(), 1, "no retry after the drop");
    assert!(seen[0].at - started < Duration::from_secs(10));
}

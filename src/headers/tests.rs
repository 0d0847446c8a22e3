use super::*;
use http::header::{DATE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::HeaderMap;
use http::HeaderValue;
use proptest::prelude::*;
use std::time::UNIX_EPOCH;
use std::time::{Duration, SystemTime};

mod delay_rules;
use delay_rules::{check_delay_rules, date_list};

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
const DATE_1994: u64 = 784_111_777;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(*name, HeaderValue::from_static(value));
    }
    headers
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn correlation(pairs: &[(&'static str, &'static str)]) -> Option<String> {
    ResponseIds::from_headers(&map(pairs)).correlation_id
}

// ---- ResponseIds ----

#[test]
fn ids_all_five_headers_case_insensitive() {
    let ids = ResponseIds::from_headers(&map(&[
        ("MS-CorrelationId", "c1"),
        ("ms-requestid", "r1"),
        ("MS-CV", "sLRFZMWm+EKuL47u.0"),
        ("Ms-ServerId", "s1"),
        ("Request-Context", "appId=cid-v1:abc"),
    ]));
    assert_eq!(ids.correlation_id.as_deref(), Some("c1"));
    assert_eq!(ids.request_id.as_deref(), Some("r1"));
    assert_eq!(
        ids.correlation_vector.as_deref(),
        Some("sLRFZMWm+EKuL47u.0")
    );
    assert_eq!(ids.server_id.as_deref(), Some("s1"));
    assert_eq!(ids.request_context.as_deref(), Some("appId=cid-v1:abc"));
    assert!(!ids.is_empty());
}

#[test]
fn ids_missing_are_none() {
    let ids = ResponseIds::from_headers(&HeaderMap::new());
    assert!(ids.is_empty());
    assert_eq!(ids, ResponseIds::default());
    let ids = ResponseIds::from_headers(&map(&[("content-type", "application/json")]));
    assert!(ids.is_empty());
}

#[test]
fn ids_duplicates_are_removed() {
    assert_eq!(
        correlation(&[("ms-correlationid", "a,a")]).as_deref(),
        Some("a")
    );
    assert_eq!(
        correlation(&[("ms-correlationid", "a, a")]).as_deref(),
        Some("a")
    );
    assert_eq!(
        correlation(&[("ms-correlationid", "a, b, a")]).as_deref(),
        Some("a, b")
    );
    assert_eq!(
        correlation(&[("ms-correlationid", " b ,, a ,b,")]).as_deref(),
        Some("b, a")
    );
}

#[test]
fn ids_over_several_lines() {
    let headers = &[
        ("ms-correlationid", "a"),
        ("ms-correlationid", "b, a"),
        ("ms-correlationid", "c"),
    ];
    assert_eq!(correlation(headers).as_deref(), Some("a, b, c"));
    let same = &[("ms-requestid", "x"), ("ms-requestid", "x")];
    let ids = ResponseIds::from_headers(&map(same));
    assert_eq!(ids.request_id.as_deref(), Some("x"));
}

#[test]
fn ids_empty_values_are_none() {
    assert_eq!(correlation(&[("ms-correlationid", "")]), None);
    assert_eq!(correlation(&[("ms-correlationid", " , ,")]), None);
}

#[test]
fn ids_decode_lossily() {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_bytes(b"ab\xffcd, caf\xc3\xa9").unwrap();
    headers.insert(MS_SERVER_ID, value);
    let ids = ResponseIds::from_headers(&headers);
    assert_eq!(ids.server_id.as_deref(), Some("ab\u{fffd}cd, caf\u{e9}"));
}

#[test]
fn ids_are_capped_at_a_char_boundary() {
    let mut headers = HeaderMap::new();
    let long = "x".repeat(1000);
    headers.insert(MS_CV, HeaderValue::from_str(&long).unwrap());
    // 255 ASCII bytes then a two-byte character straddling the cap.
    let mut straddle = "y".repeat(255).into_bytes();
    straddle.extend_from_slice("é".as_bytes());
    headers.insert(MS_SERVER_ID, HeaderValue::from_bytes(&straddle).unwrap());
    // Many distinct parts: the joined id is capped too.
    let parts: Vec<String> = (0..500).map(|i| format!("id{i}")).collect();
    headers.insert(
        MS_REQUEST_ID,
        HeaderValue::from_str(&parts.join(",")).unwrap(),
    );

    let ids = ResponseIds::from_headers(&headers);
    assert_eq!(ids.correlation_vector.as_deref(), Some(&long[..256]));
    assert_eq!(ids.server_id.as_deref(), Some(&*"y".repeat(255)));
    let request_id = ids.request_id.unwrap();
    assert!(request_id.len() <= 256 && request_id.len() > 250);
    assert!(request_id.starts_with("id0, id1, id2"));
}

// ---- Challenge ----

fn one(value: &str) -> Challenge {
    let mut all = Challenge::parse_all(value);
    assert_eq!(all.len(), 1, "{value:?} gave {all:?}");
    all.remove(0)
}

#[test]
fn partner_center_unquoted_colon_realm() {
    let c = one("OAuth realm=urn:cpsvc:cpid:8b6f1a2e-1111-2222-3333-444455556666");
    assert_eq!(c.scheme, "OAuth");
    assert!(c.is_scheme("OAUTH"));
    assert!(!c.is_scheme("Bearer"));
    assert_eq!(c.token68, None);
    assert_eq!(
        c.realm(),
        Some("urn:cpsvc:cpid:8b6f1a2e-1111-2222-3333-444455556666")
    );
}

#[test]
fn entra_claims_challenge() {
    let c = one(
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4iOnt9fQ==\"",
    );
    assert!(c.is_scheme("bearer"));
    assert_eq!(c.realm(), Some(""));
    assert_eq!(
        c.param("Authorization_URI"),
        Some("https://login.microsoftonline.com/common/oauth2/authorize")
    );
    assert_eq!(c.error(), Some("insufficient_claims"));
    assert_eq!(c.claims(), Some("eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="));
    assert_eq!(c.error_description(), None);
    assert_eq!(c.params.len(), 4);
}

#[test]
fn mfa_invalid_token() {
    let c = one("Bearer error=\"invalid_token\"");
    assert_eq!(c.error(), Some("invalid_token"));
    assert_eq!(c.realm(), None);
}

#[test]
fn quoted_escapes_and_names_lower_cased() {
    let c = one(r#"Bearer Realm="a \"quoted\" \\ realm", Error_Description="x\y""#);
    assert_eq!(
        c.params,
        params(&[
            ("realm", r#"a "quoted" \ realm"#),
            ("error_description", "xy"),
        ])
    );
    assert_eq!(c.error_description(), Some("xy"));
}

#[test]
fn spaces_around_equals_and_commas() {
    let c = one("Bearer  realm = \"x\" ,error= invalid_token ,  error_description =\"d\"  ");
    assert_eq!(
        c.params,
        params(&[
            ("realm", "x"),
            ("error", "invalid_token"),
            ("error_description", "d"),
        ])
    );
}

#[test]
fn several_challenges_in_one_value() {
    let all =
        Challenge::parse_all("Bearer realm=\"x\", error=\"invalid_token\", Basic realm=\"y\"");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].scheme, "Bearer");
    assert_eq!(
        all[0].params,
        params(&[("realm", "x"), ("error", "invalid_token")])
    );
    assert_eq!(all[1].scheme, "Basic");
    assert_eq!(all[1].realm(), Some("y"));

    let all = Challenge::parse_all("Negotiate, NTLM, Basic realm=y");
    let schemes: Vec<_> = all.iter().map(|c| c.scheme.as_str()).collect();
    assert_eq!(schemes, ["Negotiate", "NTLM", "Basic"]);
    assert!(all[0].params.is_empty() && all[0].token68.is_none());
    assert_eq!(all[2].realm(), Some("y"));
}

#[test]
fn scheme_alone_and_token68() {
    let c = one("Negotiate");
    assert_eq!(c.scheme, "Negotiate");
    assert_eq!((c.token68, c.params.len()), (None, 0));

    assert_eq!(one("Negotiate YII=").token68.as_deref(), Some("YII="));
    assert_eq!(one("Negotiate abc==").token68.as_deref(), Some("abc=="));
    assert_eq!(
        one("Negotiate a+b/c~d.e_f-g  ").token68.as_deref(),
        Some("a+b/c~d.e_f-g")
    );

    let all = Challenge::parse_all("Negotiate YII=, Basic realm=\"r\"");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].token68.as_deref(), Some("YII="));
    assert!(all[0].params.is_empty());
    assert_eq!(all[1].realm(), Some("r"));
}

#[test]
fn unterminated_quote_takes_the_rest() {
    let c = one("Bearer realm=\"abc, error=x");
    assert_eq!(c.params, params(&[("realm", "abc, error=x")]));
    let c = one("Bearer realm=\"abc\\");
    assert_eq!(c.realm(), Some("abc\\"));
}

#[test]
fn unquoted_values_keep_equals_and_quotes() {
    let c = one("Bearer claims=eyJ9fQ==, realm=a\"b");
    assert_eq!(
        c.params,
        params(&[("claims", "eyJ9fQ=="), ("realm", "a\"b")])
    );
    let c = one("Bearer realm=, error=x");
    assert_eq!(c.token68.as_deref(), Some("realm="));
    assert_eq!(c.error(), Some("x"));
    let c = one("Bearer error=x, realm=");
    assert_eq!(c.params, params(&[("error", "x"), ("realm", "")]));
}

#[test]
fn missing_commas_are_tolerated() {
    let c = one("Bearer realm=\"x\" error=\"y\"");
    assert_eq!(c.params, params(&[("realm", "x"), ("error", "y")]));
}

/// An unquoted value runs to the next comma, spaces included, unless a space comes before a
/// parameter sent without a comma: the contract prints Partner Center's realm as
/// `urn:cpsvc:cpid:{some cid}`, and no challenge starts but after a comma.
#[test]
fn an_unquoted_value_keeps_its_spaces_up_to_the_next_comma() {
    let c = one("OAuth realm=urn:cpsvc:cpid:{some cid}");
    assert_eq!(c.realm(), Some("urn:cpsvc:cpid:{some cid}"));
    let c = one("OAuth realm=urn:cpsvc:cpid:{some cid} , error=invalid_token");
    assert_eq!(
        c.params,
        params(&[
            ("realm", "urn:cpsvc:cpid:{some cid}"),
            ("error", "invalid_token")
        ])
    );
    let c = one("Bearer realm=x error=y");
    assert_eq!(c.params, params(&[("realm", "x"), ("error", "y")]));
    let all = Challenge::parse_all("OAuth realm=a b, Bearer error=x");
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].realm(), Some("a b"));
    assert_eq!(all[1].error(), Some("x"));
}

#[test]
fn first_param_wins_on_duplicates() {
    let c = one("Bearer realm=a, REALM=b");
    assert_eq!(c.realm(), Some("a"));
    assert_eq!(c.params.len(), 2);
}

#[test]
fn empty_and_garbage_inputs() {
    assert!(Challenge::parse_all("").is_empty());
    assert!(Challenge::parse_all("   ").is_empty());
    assert!(Challenge::parse_all(",,, ,").is_empty());
    assert!(Challenge::parse_all("==\"\"=,\"unterminated").is_empty());
    // A value without a scheme reads as a scheme, not a panic.
    let all = Challenge::parse_all("=\"x\", Bearer ,, realm");
    let schemes: Vec<_> = all.iter().map(|c| c.scheme.as_str()).collect();
    assert_eq!(schemes, ["Bearer", "realm"]);
    let c = one("Bearer \"stray\" = , realm=r");
    assert_eq!(c.params, params(&[("realm", "r")]));
    let c = one("Bearer\u{e9} r\u{e9}alm=\u{e9}");
    assert_eq!(c.scheme, "Bearer\u{e9}");
    assert_eq!(c.params, params(&[("r\u{e9}alm", "\u{e9}")]));
}

#[test]
fn parse_all_is_linear_on_hostile_input() {
    for hostile in [
        "a ".repeat(100_000),
        "a=".repeat(100_000),
        "\"".repeat(100_000),
        "Bearer ".to_owned() + &"x=\"\\".repeat(100_000),
        ",".repeat(200_000),
    ] {
        let all = Challenge::parse_all(&hostile);
        assert!(all.len() <= hostile.len());
    }
}

#[test]
fn challenges_from_every_header_line() {
    let mut headers = map(&[
        ("www-authenticate", "Bearer error=\"invalid_token\""),
        ("WWW-Authenticate", "Basic realm=\"b\", Negotiate"),
    ]);
    headers.append(
        WWW_AUTHENTICATE,
        HeaderValue::from_bytes(b"OAuth realm=r\xff").unwrap(),
    );
    let all = Challenge::from_headers(&headers);
    let schemes: Vec<_> = all.iter().map(|c| c.scheme.as_str()).collect();
    assert_eq!(schemes, ["Bearer", "Basic", "Negotiate", "OAuth"]);
    assert_eq!(all[3].realm(), Some("r\u{fffd}"));
    assert!(Challenge::from_headers(&HeaderMap::new()).is_empty());
}

// ---- Retry-After ----

fn secs(value: &str) -> Option<Duration> {
    parse_retry_after(value, at(DATE_1994))
}

#[test]
fn retry_after_seconds() {
    assert_eq!(secs("57"), Some(Duration::from_secs(57)));
    assert_eq!(secs(" 57 "), Some(Duration::from_secs(57)));
    assert_eq!(secs("\t57"), Some(Duration::from_secs(57)));
    assert_eq!(secs("0"), Some(Duration::ZERO));
    assert_eq!(secs("007"), Some(Duration::from_secs(7)));
    assert_eq!(
        secs("18446744073709551615"),
        Some(Duration::from_secs(u64::MAX))
    );
}

#[test]
fn retry_after_rejects_bad_seconds() {
    for bad in [
        "", " ", ",", "-1", "1.5", "+5", "abc", "5s", "5 5", "57, soon", "57; 57", "0x10",
        "\u{0665}",
    ] {
        assert_eq!(secs(bad), None, "{bad:?}");
    }
}

/// A number past `u64::MAX` asks for a very long wait, not for none: read as none, it would
/// let a client retry on its own schedule.
#[test]
fn retry_after_too_large_to_count_is_the_longest_delay() {
    let longest_ms = Some(Duration::from_millis(u64::MAX));
    let longest_seconds = Some(Duration::from_secs(u64::MAX));
    let wall_of_digits = "9".repeat(10_000);
    for huge in [
        "18446744073709551616",
        "99999999999999999999999",
        " 99999999999999999999999 ",
        wall_of_digits.as_str(),
    ] {
        assert_eq!(secs(huge), longest_seconds, "{huge:?}");
        assert_eq!(parse_retry_after_ms(huge), longest_ms, "{huge:?}");
    }
    let mut headers = map(&[("retry-after-ms", "999999999999999999999999999999")]);
    headers.append("retry-after", "1".parse().unwrap());
    assert_eq!(retry_after(&headers, at(DATE_1994)), longest_ms);
    assert_eq!(
        retry_after_from_text("Try again in 99999999999999999999 seconds."),
        longest_seconds
    );
    // Many digits are not always a large number.
    let zeros = format!("{}57", "0".repeat(10_000));
    assert_eq!(secs(&zeros), Some(Duration::from_secs(57)));
    assert_eq!(
        parse_retry_after_ms(&zeros),
        Some(Duration::from_millis(57))
    );
    let text = format!("Try again in {zeros} seconds.");
    assert_eq!(retry_after_from_text(&text), Some(Duration::from_secs(57)));
}

#[test]
fn retry_after_folded_lists_give_the_largest() {
    // An intermediary folding repeated lines, or Partner Center's `X,X` duplication.
    assert_eq!(secs("57,57"), Some(Duration::from_secs(57)));
    assert_eq!(secs("57, 57"), Some(Duration::from_secs(57)));
    assert_eq!(secs("5 ,\t57, 12"), Some(Duration::from_secs(57)));
    assert_eq!(
        secs("57, 18446744073709551616"),
        Some(Duration::from_secs(u64::MAX)),
        "an overflowing part counts as the largest number"
    );
    assert_eq!(
        parse_retry_after_ms("1500,200"),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(parse_retry_after_ms("1500, x"), None);
}

/// Empty list elements, as careless merging of header lines leaves them, are skipped (RFC 9110
/// §5.6.1.2); a list of nothing but empty elements is no delay.
#[test]
fn retry_after_lists_skip_empty_elements() {
    assert_eq!(secs("10,"), Some(Duration::from_secs(10)));
    assert_eq!(secs(", 10"), Some(Duration::from_secs(10)));
    assert_eq!(secs("10,, 20 ,"), Some(Duration::from_secs(20)));
    assert_eq!(
        parse_retry_after_ms("1500,"),
        Some(Duration::from_millis(1500))
    );
    for nothing in [",", " , ,", ""] {
        assert_eq!(secs(nothing), None, "{nothing:?}");
        assert_eq!(parse_retry_after_ms(nothing), None, "{nothing:?}");
    }
    // A date keeps its own comma; an empty element inside it breaks it.
    let now = at(DATE_1994);
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:50:38 GMT,", now),
        Some(Duration::from_secs(61))
    );
    assert_eq!(
        parse_retry_after("Sun,, 06 Nov 1994 08:50:38 GMT", now),
        None
    );
}

#[test]
fn retry_after_on_several_lines_gives_the_latest_however_split() {
    let now = at(DATE_1994);
    // Lines `1` and `60` ask for the same as the folded `1, 60`: 60 seconds, not 1.
    let split = map(&[("retry-after", "1"), ("retry-after", "60")]);
    let folded = map(&[("retry-after", "1, 60")]);
    let reversed = map(&[("retry-after", "60"), ("retry-after", "1")]);
    for headers in [&split, &folded, &reversed] {
        assert_eq!(
            retry_after(headers, now),
            Some(Duration::from_secs(60)),
            "{headers:?}"
        );
    }
    // An invalid line is skipped, not taken as the answer.
    let with_garbage = map(&[("retry-after", "soon"), ("retry-after", "7")]);
    assert_eq!(
        retry_after(&with_garbage, now),
        Some(Duration::from_secs(7))
    );
    // Seconds on one line, a later HTTP-date on another: the date (61 s after `now`) wins.
    let mixed = map(&[
        ("retry-after", "5"),
        ("retry-after", "Sun, 06 Nov 1994 08:50:38 GMT"),
    ]);
    assert_eq!(retry_after(&mixed, now), Some(Duration::from_secs(61)));
    let ms = map(&[("retry-after-ms", "200"), ("retry-after-ms", "1500")]);
    assert_eq!(retry_after(&ms, now), Some(Duration::from_millis(1500)));
    // The same lines folded into one value give the same, dates included (IMF-fixdate and
    // RFC 850 dates have a comma of their own).
    let folded_mixed = map(&[("retry-after", "5, Sun, 06 Nov 1994 08:50:38 GMT")]);
    assert_eq!(
        retry_after(&folded_mixed, now),
        Some(Duration::from_secs(61))
    );
    let dates = [
        "Sun, 06 Nov 1994 08:50:38 GMT",
        "Sunday, 06-Nov-94 08:50:07 GMT",
        "Sun Nov  6 08:49:57 1994",
    ];
    let split = {
        let mut headers = HeaderMap::new();
        for date in dates {
            headers.append(RETRY_AFTER, HeaderValue::from_static(date));
        }
        headers
    };
    assert_eq!(retry_after(&split, now), Some(Duration::from_secs(61)));
    for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2]] {
        let value = order.map(|i| dates[i]).join(", ");
        let folded = map(&[("retry-after", Box::leak(value.into_boxed_str()))]);
        assert_eq!(
            retry_after(&folded, now),
            retry_after(&split, now),
            "{folded:?}"
        );
    }
    // Partner Center's `X,X` duplication of a date: the date.
    let twice = map(&[(
        "retry-after",
        "Sun, 06 Nov 1994 08:50:07 GMT,Sun, 06 Nov 1994 08:50:07 GMT",
    )]);
    assert_eq!(retry_after(&twice, now), Some(Duration::from_secs(30)));
    // A list with an element that is neither is no delay, as one invalid value is.
    let bad = map(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT, soon")]);
    assert_eq!(retry_after(&bad, now), None);
}

#[test]
fn http_date_retry_after_is_measured_against_the_response_date() {
    // The server says it is 08:49:37 and asks for 08:50:07: 30 seconds. The client's clock
    // runs 30 s fast (08:50:07), yet the delay is still the full 30 seconds.
    let fast_clock = at(DATE_1994 + 30);
    let headers = map(&[
        ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT"),
    ]);
    assert_eq!(
        retry_after(&headers, fast_clock),
        Some(Duration::from_secs(30))
    );
    // No `Date` (or an unreadable one): the local clock is all there is.
    let without = map(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]);
    assert_eq!(retry_after(&without, fast_clock), Some(Duration::ZERO));
    let bad_date = map(&[
        ("date", "yesterday"),
        ("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT"),
    ]);
    assert_eq!(
        retry_after(&bad_date, at(DATE_1994)),
        Some(Duration::from_secs(30))
    );
}

/// `Date: 08:49:37` says the server's clock read at least 08:49:37 when it answered, and
/// `Retry-After: 08:50:07` asks for 08:50:07 on that clock: 30 s is the one wait that is never
/// early. A local clock less than a second ahead of the server's (here 999 ms, 400 ms) must not
/// shorten it: the local clock cannot tell "ahead" from "the server stamped late in its second".
#[test]
fn an_http_date_is_never_read_shorter_than_the_response_date_allows() {
    let headers = map(&[
        ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT"),
    ]);
    for ahead in [1, 400, 999] {
        let now = at(DATE_1994) + Duration::from_millis(ahead);
        assert_eq!(
            retry_after(&headers, now),
            Some(Duration::from_secs(30)),
            "local clock {ahead} ms ahead"
        );
    }
    // A local clock behind the server's: the server's own clock still says 30 s.
    for behind in [1, 400, 999, 30_000] {
        let now = at(DATE_1994) - Duration::from_millis(behind);
        assert_eq!(
            retry_after(&headers, now),
            Some(Duration::from_secs(30)),
            "local clock {behind} ms behind"
        );
    }
}

/// `Date` sent twice, folded into one value (`X, X`, as Partner Center duplicates some headers
/// and as an intermediary folds two lines) or on two lines, is still the server's clock: an
/// HTTP-date measured from it is not cut short by a local clock that runs ahead. Of two
/// different dates, the earliest counts: the longest wait, never early on either.
#[test]
fn an_http_date_is_measured_against_a_date_sent_twice() {
    let fast_clock = at(DATE_1994 + 30);
    let date = "Sun, 06 Nov 1994 08:49:37 GMT";
    let retry_at = ("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT");
    let folded = format!("{date}, {date}");
    let folded: &'static str = Box::leak(folded.into_boxed_str());
    let later = "Sun, 06 Nov 1994 08:49:47 GMT";
    let cases: [&[(&'static str, &'static str)]; 4] = [
        &[("date", folded), retry_at],
        &[("date", date), ("date", date), retry_at],
        &[("date", later), ("date", date), retry_at],
        &[("date", "yesterday"), ("date", date), retry_at],
    ];
    for headers in cases {
        assert_eq!(
            retry_after(&map(headers), fast_clock),
            Some(Duration::from_secs(30)),
            "{headers:?}"
        );
    }
}

#[test]
fn retry_after_names_its_source() {
    let now = at(DATE_1994);
    let cases: [(&[(&'static str, &'static str)], DelaySource); 4] = [
        (
            &[("retry-after-ms", "10"), ("retry-after", "1")],
            DelaySource::RetryAfterMs,
        ),
        (
            &[("x-ms-retry-after-ms", "10"), ("retry-after", "1")],
            DelaySource::XMsRetryAfterMs,
        ),
        (&[("retry-after", "1")], DelaySource::RetryAfterSeconds),
        (
            &[("retry-after", "Sun, 06 Nov 1994 08:49:38 GMT")],
            DelaySource::RetryAfterDate,
        ),
    ];
    for (headers, source) in cases {
        let found = retry_after_with_source(&map(headers), now);
        assert_eq!(found.map(|(_, s)| s), Some(source), "{headers:?}");
        assert_eq!(found.map(|(d, _)| d), retry_after(&map(headers), now));
    }
    assert_eq!(retry_after_with_source(&HeaderMap::new(), now), None);
}

#[test]
fn retry_after_http_dates_all_three_formats() {
    for date in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ] {
        let before = at(DATE_1994 - 120);
        assert_eq!(
            parse_retry_after(date, before),
            Some(Duration::from_secs(120)),
            "{date}"
        );
        let padded = format!("  {date} ");
        assert_eq!(
            parse_retry_after(&padded, before),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(date, at(DATE_1994)), Some(Duration::ZERO));
        let after = at(DATE_1994 + 3600);
        assert_eq!(
            parse_retry_after(date, after),
            Some(Duration::ZERO),
            "{date}"
        );
    }
    // Sub-second `now` still gives the exact remaining time.
    let now = at(DATE_1994 - 10) + Duration::from_millis(250);
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
        Some(Duration::from_millis(9750))
    );
    assert_eq!(
        date_formats(DATE_1994),
        [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ],
        "the property tests' formatter writes RFC 9110's examples"
    );
    assert_eq!(secs("Sun, 06 Nov 1994 08:49:37"), None);
    assert_eq!(secs("Sun, 32 Nov 1994 08:49:37 GMT"), None);
}

#[test]
fn retry_after_milliseconds() {
    assert_eq!(
        parse_retry_after_ms("1500"),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(parse_retry_after_ms(" 0 "), Some(Duration::ZERO));
    assert_eq!(
        parse_retry_after_ms("18446744073709551615"),
        Some(Duration::from_millis(u64::MAX))
    );
    for bad in ["", "-1", "1.5", "+5", "abc"] {
        assert_eq!(parse_retry_after_ms(bad), None, "{bad:?}");
    }
}

#[test]
fn retry_after_header_precedence() {
    let now = at(DATE_1994);
    let ms = Duration::from_millis;
    let all = map(&[
        ("retry-after", "57"),
        ("x-ms-retry-after-ms", "2000"),
        ("retry-after-ms", "1500"),
    ]);
    assert_eq!(retry_after(&all, now), Some(ms(1500)));

    let x_ms = map(&[("Retry-After", "57"), ("X-MS-Retry-After-Ms", "2000")]);
    assert_eq!(retry_after(&x_ms, now), Some(ms(2000)));

    let invalid_ms = map(&[
        ("retry-after", "57"),
        ("x-ms-retry-after-ms", "soon"),
        ("retry-after-ms", "-1"),
    ]);
    assert_eq!(retry_after(&invalid_ms, now), Some(Duration::from_secs(57)));

    let invalid_first = map(&[("retry-after-ms", "1.5"), ("x-ms-retry-after-ms", "300")]);
    assert_eq!(retry_after(&invalid_first, now), Some(ms(300)));

    let date = map(&[("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT")]);
    assert_eq!(retry_after(&date, now), Some(Duration::from_secs(60)));

    let second_line = map(&[("retry-after", "later"), ("retry-after", "5")]);
    assert_eq!(retry_after(&second_line, now), Some(Duration::from_secs(5)));

    let all_invalid = map(&[("retry-after", "later"), ("retry-after-ms", "")]);
    assert_eq!(retry_after(&all_invalid, now), None);
    assert_eq!(retry_after(&HeaderMap::new(), now), None);

    let mut non_ascii = HeaderMap::new();
    non_ascii.insert(RETRY_AFTER_MS, HeaderValue::from_bytes(b"1\xff").unwrap());
    non_ascii.insert(RETRY_AFTER, HeaderValue::from_static("3"));
    assert_eq!(retry_after(&non_ascii, now), Some(Duration::from_secs(3)));
}

// ---- gateway text ----

#[test]
fn gateway_throttling_text() {
    let s = |n| Some(Duration::from_secs(n));
    assert_eq!(
        retry_after_from_text("Rate limit is exceeded. Try again in 57 seconds."),
        s(57)
    );
    assert_eq!(
        retry_after_from_text(
            r#"{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }"#
        ),
        s(57)
    );
    assert_eq!(retry_after_from_text("TRY AGAIN IN 1 SECOND"), s(1));
    assert_eq!(retry_after_from_text("try  again\nin 0seconds"), s(0));
    assert_eq!(
        retry_after_from_text("Please retry again in 3 seconds"),
        s(3)
    );
    assert_eq!(
        retry_after_from_text("try again in 99999999999999999999999 seconds"),
        s(u64::MAX)
    );
    assert_eq!(
        retry_after_from_text("try again in 6 minutes, or try again in 4 seconds"),
        s(4),
        "the first match"
    );
    for none in [
        "",
        "Rate limit is exceeded.",
        "Try again later",
        "Try again in a few seconds",
        "Try again in 5 minutes",
        "try again in -5 seconds",
        "tryagain in 5 seconds",
        "Try again in 5",
        "Try again in é seconds",
    ] {
        assert_eq!(retry_after_from_text(none), None, "{none:?}");
    }
}

#[test]
fn gateway_text_is_linear_on_hostile_input() {
    let hostile = format!("{}{}", "try again in ".repeat(20_000), "9".repeat(100_000));
    assert_eq!(retry_after_from_text(&hostile), None);
    let spaces = format!("try{}", " ".repeat(200_000));
    assert_eq!(retry_after_from_text(&spaces), None);
}

// ---- properties ----

/// Schemes and parameter names are tokens, names lower-cased, nothing returned that was not
/// read, and the challenges written back in canonical form read back the same.
fn check_challenges(value: &str) {
    fn is_token(s: &str) -> bool {
        !s.is_empty()
            && !s
                .bytes()
                .any(|b| b.is_ascii_whitespace() || matches!(b, b',' | b'=' | b'"'))
    }
    let all = Challenge::parse_all(value);
    assert!(all.len() <= value.len());
    let mut returned = 0;
    let mut canonical = Vec::new();
    for c in &all {
        assert!(is_token(&c.scheme), "{:?}", c.scheme);
        returned += c.scheme.len() + c.token68.as_ref().map_or(0, String::len);
        let mut parts: Vec<String> = c.token68.iter().cloned().collect();
        for (name, value) in &c.params {
            assert!(is_token(name), "{name:?}");
            assert_eq!(*name, name.to_ascii_lowercase());
            returned += name.len() + value.len();
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            parts.push(format!("{name}=\"{escaped}\""));
        }
        canonical.push(if parts.is_empty() {
            c.scheme.clone()
        } else {
            format!("{} {}", c.scheme, parts.join(", "))
        });
    }
    assert!(
        returned <= value.len(),
        "{returned} bytes out of {}",
        value.len()
    );
    let canonical = canonical.join(", ");
    assert_eq!(Challenge::parse_all(&canonical), all, "{canonical:?}");
}

/// Wide range for `fmt_http_date`: the epoch up to the end of year 9999.
const MAX_HTTP_DATE: u64 = 253_402_300_799;

/// The last second whose RFC 850 form (two-digit year) httpdate reads back as the same year:
/// `69` is 2069, `70` is 1970.
const LAST_RFC850_DATE: u64 = 3_155_760_000;

/// `t` in RFC 9110's three HTTP-date formats: IMF-fixdate, RFC 850 and asctime. Built by
/// rearranging httpdate's IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), a formatter separate
/// from the parser under test.
fn date_formats(t: u64) -> [String; 3] {
    let imf = httpdate::fmt_http_date(at(t));
    let (weekday, day, month, year, time) = (
        &imf[0..3],
        &imf[5..7],
        &imf[8..11],
        &imf[12..16],
        &imf[17..25],
    );
    let long_weekday = match weekday {
        "Mon" => "Monday",
        "Tue" => "Tuesday",
        "Wed" => "Wednesday",
        "Thu" => "Thursday",
        "Fri" => "Friday",
        "Sat" => "Saturday",
        _ => "Sunday",
    };
    let rfc850 = format!("{long_weekday}, {day}-{month}-{} {time} GMT", &year[2..]);
    let asctime_day = day
        .strip_prefix('0')
        .map_or_else(|| day.to_owned(), |d| format!(" {d}"));
    let asctime = format!("{weekday} {month} {asctime_day} {time} {year}");
    [imf, rfc850, asctime]
}

proptest! {
    #[test]
    fn parse_all_never_panics(value in any::<String>()) {
        let all = Challenge::parse_all(&value);
        prop_assert!(all.len() <= value.len());
    }

    #[test]
    fn parse_all_never_panics_on_header_like_text(
        value in "[a-zA-Z0-9 \t,=\"\\\\:/+._~é-]{0,80}"
    ) {
        check_challenges(&value);
    }

    #[test]
    fn challenges_are_well_formed_and_read_back(value in any::<String>()) {
        check_challenges(&value);
    }

    #[test]
    fn delay_parsers_follow_their_rules(value in any::<String>(), now in 0u64..MAX_HTTP_DATE) {
        check_delay_rules(&value, at(now));
    }

    #[test]
    fn delay_parsers_follow_their_rules_on_near_misses(
        value in "[ 0-9a-zA-Z,:+.\t\u{0663}-]{0,40}",
        now in 0u64..MAX_HTTP_DATE,
    ) {
        check_delay_rules(&value, at(now));
    }

    #[test]
    fn delay_text_reader_follows_its_rule_near_the_sentence(
        value in "(?i)(try|again|in|second|seconds|[0-9]{1,22}|[ \t.]){0,12}",
    ) {
        check_delay_rules(&value, at(DATE_1994));
    }

    /// Lines of delay-seconds and HTTP-dates (any format) folded into one value read as the
    /// lines do: the largest delay, never less.
    #[test]
    fn folded_lines_read_as_the_lines(
        lines in proptest::collection::vec((any::<bool>(), 0u64..LAST_RFC850_DATE, 0usize..3), 1..5),
        now in 0u64..LAST_RFC850_DATE,
        separator in prop::sample::select(vec![",", ", ", " ,\t"]),
    ) {
        let lines: Vec<String> = lines
            .into_iter()
            .map(|(seconds, n, format)| {
                if seconds { n.to_string() } else { date_formats(n)[format].clone() }
            })
            .collect();
        let mut split = HeaderMap::new();
        for line in &lines {
            split.append(RETRY_AFTER, HeaderValue::from_str(line).unwrap());
        }
        let mut folded = HeaderMap::new();
        folded.insert(RETRY_AFTER, HeaderValue::from_str(&lines.join(separator)).unwrap());
        let expected = retry_after(&split, at(now));
        prop_assert!(expected.is_some());
        prop_assert_eq!(retry_after(&folded, at(now)), expected, "{:?}", lines);
    }

    /// `Date` lines, each one date (any format) or several folded, some of them invalid: an
    /// HTTP-date `Retry-After` is measured from the earliest valid date, else from `now`.
    #[test]
    fn a_date_sent_twice_is_read_as_its_dates(
        lines in proptest::collection::vec(
            proptest::collection::vec((0u64..LAST_RFC850_DATE, 0usize..4), 1..3),
            1..4,
        ),
        retry_at in 0u64..LAST_RFC850_DATE,
        now in 0u64..LAST_RFC850_DATE,
    ) {
        let mut headers = HeaderMap::new();
        for line in &lines {
            let dates: Vec<String> = line
                .iter()
                .map(|&(t, format)| date_formats(t).get(format).cloned().unwrap_or("soon".into()))
                .collect();
            headers.append(DATE, HeaderValue::from_str(&dates.join(", ")).unwrap());
        }
        let retry_at = httpdate::fmt_http_date(at(retry_at));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&retry_at).unwrap());
        let origin = headers
            .get_all(DATE)
            .iter()
            .filter_map(|value| date_list(value.to_str().unwrap()))
            .min();
        prop_assert_eq!(
            retry_after(&headers, at(now)),
            parse_retry_after(&retry_at, origin.unwrap_or(at(now)))
        );
    }

    #[test]
    fn http_dates_read_back(t in 0u64..=MAX_HTTP_DATE, now in 0u64..=MAX_HTTP_DATE) {
        let date = httpdate::fmt_http_date(at(t));
        prop_assert_eq!(
            parse_retry_after(&date, at(now)),
            Some(Duration::from_secs(t.saturating_sub(now)))
        );
    }

    #[test]
    fn every_http_date_format_reads_back(
        t in 0u64..LAST_RFC850_DATE,
        now in 0u64..=MAX_HTTP_DATE,
    ) {
        let expected = Some(Duration::from_secs(t.saturating_sub(now)));
        for date in date_formats(t) {
            prop_assert_eq!(parse_retry_after(&date, at(now)), expected, "{}", date);
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
            prop_assert_eq!(
                retry_after_with_source(&headers, at(now)),
                expected.map(|delay| (delay, DelaySource::RetryAfterDate))
            );
        }
    }

    #[test]
    fn delay_parsers_never_panic_on_date_like_text(
        value in "[A-Za-z]{0,10},? ?[0-9 ]{0,3}[- ]?[A-Za-z]{0,4}[- ]?[0-9]{0,5} [0-9:]{0,9} ?(GMT)?",
        now in 0u64..=MAX_HTTP_DATE,
    ) {
        let _ = parse_retry_after(&value, at(now));
    }

    #[test]
    fn header_readers_never_panic(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4),
        now in 0u64..=MAX_HTTP_DATE,
    ) {
        let names = [RETRY_AFTER_MS, X_MS_RETRY_AFTER_MS, RETRY_AFTER];
        let mut headers = HeaderMap::new();
        for (index, bytes) in values.iter().enumerate() {
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                headers.append(names[index % names.len()].clone(), value);
            }
        }
        let _ = retry_after(&headers, at(now));
    }

    #[test]
    fn folded_lists_read_back_their_largest(numbers in proptest::collection::vec(any::<u64>(), 1..6)) {
        let list = numbers.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        let largest = *numbers.iter().max().unwrap();
        prop_assert_eq!(secs(&list), Some(Duration::from_secs(largest)));
        prop_assert_eq!(parse_retry_after_ms(&list), Some(Duration::from_millis(largest)));
    }

    #[test]
    fn seconds_read_back(n in any::<u32>()) {
        let n = u64::from(n);
        prop_assert_eq!(secs(&n.to_string()), Some(Duration::from_secs(n)));
        let padded = format!(" {n}\t");
        prop_assert_eq!(secs(&padded), Some(Duration::from_secs(n)));
    }

    #[test]
    fn u64_values_read_back(n in any::<u64>()) {
        prop_assert_eq!(secs(&n.to_string()), Some(Duration::from_secs(n)));
        prop_assert_eq!(parse_retry_after_ms(&n.to_string()), Some(Duration::from_millis(n)));
    }

    #[test]
    fn gateway_text_reads_back(n in any::<u64>(), prefix in "[a-z .]{0,20}") {
        let text = format!("{prefix}Try again in {n} seconds.");
        prop_assert_eq!(retry_after_from_text(&text), Some(Duration::from_secs(n)));
    }
}

/// `Debug` quotes each string once, as `Debug` of a `str` does (and sanitised): not the
/// `Debug` of an already quoted string, which doubles every quote and backslash.
#[test]
fn debug_quotes_each_string_once() {
    let c = one("Negotiate YII=");
    assert_eq!(
        format!("{c:?}"),
        r#"Challenge { scheme: "Negotiate", token68: Some("YII="), params: [] }"#
    );
    let c = one("Bearer realm=urn:x, error=\"a \\\"b\\\" \u{1b}[2J\"");
    assert_eq!(c.error(), Some("a \"b\" \u{1b}[2J"));
    assert_eq!(
        format!("{c:?}"),
        r#"Challenge { scheme: "Bearer", token68: None, params: ["realm"="urn:x", "error"="a \"b\" \\u{1b}[2J"] }"#
    );
}

#[test]
fn challenges_are_bounded_in_count_params_and_bytes() {
    // 380 KB of `a,` once gave 190,000 challenges.
    let many = "a,".repeat(190_000);
    assert_eq!(Challenge::parse_all(&many).len(), Challenge::MAX_CHALLENGES);
    // One challenge with 100k empty parameters once kept 6.4 MB.
    let params = format!("Bearer {}", "a=,".repeat(100_000));
    let [one] = &Challenge::parse_all(&params)[..] else {
        panic!("one challenge")
    };
    assert_eq!(one.params.len(), Challenge::MAX_PARAMS);
    // Several lines share one byte budget.
    let line = format!("Bearer claims=\"{}\"", "x".repeat(10_000));
    let mut headers = HeaderMap::new();
    for _ in 0..2 {
        headers.append(WWW_AUTHENTICATE, HeaderValue::from_str(&line).unwrap());
    }
    let read = Challenge::from_headers(&headers);
    let kept: usize = read
        .iter()
        .flat_map(|c| c.params.iter().map(|(n, v)| n.len() + v.len()))
        .sum();
    assert!(kept <= Challenge::MAX_BYTES, "{kept}");
    // A real Entra claims challenge is read whole.
    let entra = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0=""#;
    let [entra] = &Challenge::parse_all(entra)[..] else {
        panic!("one challenge")
    };
    assert_eq!(entra.params.len(), 5);
    assert_eq!(entra.error(), Some("insufficient_claims"));
}

#[test]
fn a_long_quoted_value_is_kept_without_spare_capacity() {
    let line = format!("Bearer claims=\"{}\"", "x".repeat(10_000));
    let [challenge] = &Challenge::parse_all(&line)[..] else {
        panic!("one challenge")
    };
    let value = &challenge.params[0].1;
    assert_eq!(value.len(), 10_000);
    assert_eq!(value.capacity(), value.len());
}

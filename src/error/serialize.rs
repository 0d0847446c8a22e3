//! `Serialize` for [`ApiError`] (feature `serde`): a JSON-log and job-queue form, sanitised and
//! bounded as `Display` is.

use ::serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::sanitize::Sanitized;
use crate::schema::Violation;
use crate::ApiError;

/// Most characters of a code or of an id in the serialised form.
const MAX_CODE_CHARS: usize = 64;
/// Most characters of an id in the serialised form.
const MAX_ID_CHARS: usize = 128;
/// Most violations in the serialised form (the parser reports a handful at most).
const MAX_VIOLATIONS: usize = 16;

/// A map with `status`, `kind`, `code`, `description`, `ids`, `violations` and
/// `retry_after_ms`: every text from the network sanitised (control, format and bidi characters
/// escaped) and cut as `Display` cuts it (a description at 300 characters, a code at 64, an id
/// at 128); absent values are `null`. No raw body, no `data`, no headers besides the ids.
///
/// ```
/// use bytes::Bytes;
/// use http::{HeaderMap, StatusCode};
/// use partner_center_errors::ApiError;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("ms-correlationid", "c-1".parse().unwrap());
/// headers.insert("retry-after", "57".parse().unwrap());
/// let body = Bytes::from_static(br#"{"code":600074,"description":"Busy.","data":[],"source":"x"}"#);
/// let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, headers, body);
///
/// let json = serde_json::to_value(&error).unwrap();
/// assert_eq!(json["status"], 429);
/// assert_eq!(json["kind"], "TooManyRequests");
/// assert_eq!(json["code"], "600074");
/// assert_eq!(json["ids"]["correlation_id"], "c-1");
/// assert_eq!(json["violations"][0]["severity"], "known_deviation");
/// assert_eq!(json["retry_after_ms"], 57_000);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for ApiError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("status", &self.status().as_u16())?;
        map.serialize_entry("kind", &format_args!("{:?}", self.kind()).to_string())?;
        map.serialize_entry("code", &self.code().map(|code| Text(code, MAX_CODE_CHARS)))?;
        let description = self.description().map(|text| Text(text, 0));
        map.serialize_entry("description", &description)?;
        map.serialize_entry("ids", &Ids(self))?;
        map.serialize_entry("violations", &Violations(self.violations()))?;
        let delay = self
            .retry_after()
            .map(|delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        map.serialize_entry("retry_after_ms", &delay)?;
        map.end()
    }
}

/// Network text, sanitised and cut at `.1` characters (`0`: `Display`'s default limit).
struct Text<'a>(&'a str, usize);

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.1 == 0 {
            serializer.collect_str(&Sanitized::new(self.0))
        } else {
            serializer.collect_str(&Sanitized::with_limit(self.0, self.1))
        }
    }
}

struct Ids<'a>(&'a ApiError);

impl Serialize for Ids<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ids = self.0.ids();
        fn id(value: &Option<String>) -> Option<Text<'_>> {
            value.as_deref().map(|id| Text(id, MAX_ID_CHARS))
        }
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("correlation_id", &id(&ids.correlation_id))?;
        map.serialize_entry("request_id", &id(&ids.request_id))?;
        map.serialize_entry("correlation_vector", &id(&ids.correlation_vector))?;
        map.serialize_entry("server_id", &id(&ids.server_id))?;
        map.serialize_entry("request_context", &id(&ids.request_context))?;
        map.end()
    }
}

struct Violations<'a>(&'a [Violation]);

impl Serialize for Violations<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let shown = &self.0[..self.0.len().min(MAX_VIOLATIONS)];
        let mut seq = serializer.serialize_seq(Some(shown.len()))?;
        for violation in shown {
            seq.serialize_element(&Shown(violation))?;
        }
        seq.end()
    }
}

/// One violation: its kind, its severity and what it says (sanitised, bounded).
struct Shown<'a>(&'a Violation);

impl Serialize for Shown<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let violation = self.0;
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("kind", &format!("{:?}", violation.kind()))?;
        map.serialize_entry("severity", violation.severity().name())?;
        map.serialize_entry("message", &Text(&violation.to_string(), 0))?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, StatusCode};
    use serde_json::{json, Value};

    use crate::ApiError;

    fn serialised(status: u16, headers: &[(&str, &[u8])], body: &[u8]) -> Value {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        let status = StatusCode::from_u16(status).unwrap();
        let error = ApiError::new(status, map, Bytes::copy_from_slice(body));
        serde_json::to_value(&error).unwrap()
    }

    #[test]
    fn a_real_shaped_404_serialises_every_field() {
        let json = serialised(
            404,
            &[
                ("ms-correlationid", b"7c9e6679"),
                ("ms-requestid", b"0f8fad5b"),
                ("ms-cv", b"sLRFZMWm+EKuL47u.0"),
                ("request-context", b"appId=cid-v1:3f2a9c1e"),
            ],
            br#"{"code":600074,"description":"No customer has this id.","data":[],"source":"PartnerFD"}"#,
        );
        assert_eq!(
            json,
            json!({
                "status": 404,
                "kind": "NotFound",
                "code": "600074",
                "description": "No customer has this id.",
                "ids": {
                    "correlation_id": "7c9e6679",
                    "request_id": "0f8fad5b",
                    "correlation_vector": "sLRFZMWm+EKuL47u.0",
                    "server_id": null,
                    "request_context": "appId=cid-v1:3f2a9c1e",
                },
                "violations": [{
                    "kind": "WrongType(Code, Number)",
                    "severity": "known_deviation",
                    "message": json["violations"][0]["message"].clone(),
                }],
                "retry_after_ms": null,
            })
        );
        let message = json["violations"][0]["message"].as_str().unwrap();
        assert!(message.contains("code"), "{message}");
    }

    #[test]
    fn the_gateway_429_carries_its_delay_from_the_body() {
        let json = serialised(
            429,
            &[],
            br#"{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}"#,
        );
        assert_eq!(json["status"], 429);
        assert_eq!(json["kind"], "TooManyRequests");
        assert_eq!(json["retry_after_ms"], 57_000);
        assert_eq!(
            json["description"],
            "Rate limit is exceeded. Try again in 57 seconds."
        );
    }

    #[test]
    fn network_text_is_sanitised_and_bounded_as_display_is() {
        let description = format!("line\u{1b}[2J\u{202e}{}", "x".repeat(5000));
        let body = json!({"code": format!("c\n{}", "9".repeat(500)), "description": description});
        let hostile: &[u8] = "id\u{202e}".as_bytes();
        let json = serialised(
            400,
            &[("ms-correlationid", hostile)],
            body.to_string().as_bytes(),
        );
        let text = json.to_string();
        for raw in ['\u{1b}', '\u{202e}', '\n'] {
            assert!(!text.contains(raw), "{raw:?} in {text}");
        }
        let description = json["description"].as_str().unwrap();
        assert!(
            description.starts_with("line\\u{1b}[2J\\u{202e}x"),
            "{description}"
        );
        // Cut at 300 printed characters (an escape counts as what it prints), then the cut mark.
        assert_eq!(description.chars().count(), 300 + 1, "{description}");
        assert!(description.ends_with('…'), "{description}");
        // 64 printed characters (`\u{a}` among them), then the cut mark.
        assert_eq!(json["code"].as_str().unwrap().chars().count(), 64 + 1);
        assert_eq!(json["ids"]["correlation_id"], "id\\u{202e}");
        assert!(!text.contains("xxxxxxxxxx".repeat(40).as_str()));
    }

    #[test]
    fn a_body_that_is_not_json_serialises_its_breach_without_its_text() {
        let json = serialised(502, &[], b"<html><body>secret internals</body></html>");
        assert_eq!(json["description"], Value::Null);
        assert_eq!(json["violations"][0]["severity"], "breach");
        assert!(!json.to_string().contains("secret internals"), "{json}");
    }
}

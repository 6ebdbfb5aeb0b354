//! Reading an answer: success bodies, error bodies, and the headers that
//! matter (request id, `Retry-After`), without ever quoting a body that could
//! hold a secret.

use std::time::Duration;

use http::{HeaderMap, StatusCode, header};
use keygate_types::ErrorBody;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::error::Endpoint;

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) request_id: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Decodes a success body, describing a failure without quoting the body.
pub(crate) fn decode<T: DeserializeOwned>(
    endpoint: &Endpoint,
    answer: &Answer,
) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
        endpoint: endpoint.clone(),
        status: answer.status,
        request_id: answer.request_id.clone(),
        reason: describe_json_error(&e),
    })
}

/// serde_json's message, unless it quotes a string from the body (which could
/// be a secret): then only the kind of problem and where.
fn describe_json_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.contains('"') {
        format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )
    } else {
        message
    }
}

/// WorkOS's error body, or a stand-in that does not quote the raw body.
pub(crate) fn error_body(body: &[u8]) -> ErrorBody {
    if body.is_empty() {
        return ErrorBody::new("", "");
    }
    serde_json::from_slice(body).unwrap_or_else(|_| {
        ErrorBody::new("", format!("unreadable error body ({} bytes)", body.len()))
    })
}

pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `Retry-After` in seconds (WorkOS sends whole seconds; fractions are accepted).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, Method};

    proptest::proptest! {
        #[test]
        fn any_retry_after_parses_or_is_ignored(value in "[ -~]{0,40}") {
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, HeaderValue::from_str(&value).unwrap());
            if let Some(d) = retry_after(&h) {
                proptest::prop_assert!(d <= Duration::from_secs(86_400));
            }
        }
    }

    #[test]
    fn retry_after_parses_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(1)));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn error_bodies_never_quote_unreadable_text() {
        let b = error_body(br#"{"code":"entity_not_found","message":"no","entity_id":"org_1"}"#);
        assert_eq!(b.code, "entity_not_found");
        assert_eq!(b.entity_id.as_deref(), Some("org_1"));
        let b = error_body(b"<html>sk_secret_echo</html>");
        assert!(!b.message.contains("sk_secret"), "{}", b.message);
    }

    #[test]
    fn decode_errors_never_quote_strings_from_the_body() {
        let endpoint = Endpoint {
            method: Method::POST,
            path: "/x",
        };
        let answer = Answer {
            status: StatusCode::OK,
            request_id: None,
            body: br#"{"value": "sk_live_SECRET"}"#.to_vec(),
        };
        let err = decode::<Vec<u8>>(&endpoint, &answer).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let answer = Answer {
            body: br#"{"a": 1}"#.to_vec(),
            ..answer
        };
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct NeedsId {
            id: String,
        }
        let err = decode::<NeedsId>(&endpoint, &answer).unwrap_err();
        assert!(err.to_string().contains("missing field `id`"), "{err}");
    }
}

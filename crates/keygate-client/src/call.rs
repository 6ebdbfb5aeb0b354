//! One call to the service: building the request, the retry loop, tracing.

use bytes::Bytes;
use http::{Method, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, field};

use crate::answer::{Answer, decode, error_body, header_str, retry_after};
use crate::error::Endpoint;
use crate::retry::Idempotence;
use crate::{ApiError, Client, Error};

/// The largest answer the client reads; lists of 100 keys are far below it.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The header a create sends so that the service can deduplicate retries.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
const REQUEST_ID: &str = "x-request-id";

/// What to send: method, path (and its template for logs), query, body.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    /// The path template, such as `/organizations/{id}/api_keys`: what logs
    /// and errors show.
    pub(crate) template: &'static str,
    /// The concrete path, its segments percent-encoded.
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    /// The JSON body, serialized once so that retries resend the same bytes
    /// (shared, not copied, by each attempt).
    pub(crate) body: Option<Bytes>,
    pub(crate) idempotence: Idempotence,
    pub(crate) idempotency_key: Option<String>,
}

impl Call {
    pub(crate) fn new(method: Method, template: &'static str, path: String) -> Self {
        let idempotence = if method == Method::POST {
            Idempotence::Unsafe
        } else {
            Idempotence::Safe
        };
        Self {
            method,
            template,
            path,
            query: Vec::new(),
            body: None,
            idempotence,
            idempotency_key: None,
        }
    }

    pub(crate) fn get(template: &'static str, path: String) -> Self {
        Self::new(Method::GET, template, path)
    }

    pub(crate) fn post(template: &'static str, path: String) -> Self {
        Self::new(Method::POST, template, path)
    }

    pub(crate) fn put(template: &'static str, path: String) -> Self {
        Self::new(Method::PUT, template, path)
    }

    pub(crate) fn delete(template: &'static str, path: String) -> Self {
        Self::new(Method::DELETE, template, path)
    }

    /// Marks a POST as safe to repeat (validation, scheduling an expiry).
    pub(crate) fn idempotent(mut self) -> Self {
        self.idempotence = Idempotence::Safe;
        self
    }

    pub(crate) fn json(mut self, body: &impl Serialize) -> Self {
        // Our own body types always serialize; an empty object is the
        // harmless fallback should one ever not.
        self.body =
            Some(serde_json::to_vec(body).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from));
        self
    }

    pub(crate) fn query(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((name, value.to_string()));
        }
        self
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            method: self.method.clone(),
            path: self.template,
        }
    }
}

/// Percent-encodes one path segment, so an id can never change the path.
pub(crate) fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // `.` and `..` are the only unreserved segments with a path meaning.
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

impl Client {
    /// Sends `call` (with retries) and decodes a JSON answer.
    pub(crate) async fn execute<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let endpoint = call.endpoint();
        let answer = self.send(call).await?;
        decode(&endpoint, &answer)
    }

    /// Sends `call` (with retries) and ignores the answer's body.
    pub(crate) async fn execute_empty(&self, call: Call) -> Result<(), Error> {
        self.send(call).await.map(drop)
    }

    /// The retry loop: one span per attempt, backoff between them.
    pub(crate) async fn send(&self, call: Call) -> Result<Answer, Error> {
        let policy = self.inner.config.retry;
        let idempotence = if call.idempotency_key.is_some() {
            Idempotence::Safe
        } else {
            call.idempotence
        };
        let mut retry = 0;
        loop {
            let span = tracing::debug_span!(
                "keygate_client.request",
                method = %call.method,
                path = call.template,
                attempt = retry + 1,
                status = field::Empty,
                request_id = field::Empty,
            );
            let err = match self.attempt(&call).instrument(span.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            if retry >= policy.max_retries || !may_retry(&err, idempotence) {
                return Err(err);
            }
            let Some(delay) = policy.delay(retry, err.retry_after()) else {
                return Err(err);
            };
            tracing::debug!(parent: &span, ?delay, error = %err, "retrying");
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    async fn attempt(&self, call: &Call) -> Result<Answer, Error> {
        let inner = &self.inner;
        let endpoint = call.endpoint();
        let url = format!("{}{}", inner.config.base_url, call.path);
        let mut request = inner
            .http
            .request(call.method.clone(), url)
            // `bearer_auth` marks the header sensitive, so it is never printed.
            .bearer_auth(inner.secret.expose_secret())
            .header(header::USER_AGENT, &inner.config.user_agent)
            .header(header::ACCEPT, "application/json")
            .timeout(inner.config.timeout);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some(key) = &call.idempotency_key {
            request = request.header(IDEMPOTENCY_KEY, key);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout {
                    endpoint: endpoint.clone(),
                    timeout: inner.config.timeout,
                }
            } else {
                Error::Transport {
                    endpoint: endpoint.clone(),
                    source: e.without_url(),
                }
            }
        };

        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        let request_id = header_str(response.headers(), REQUEST_ID);
        let retry_after = retry_after(response.headers());
        let span = tracing::Span::current();
        span.record("status", status.as_u16());
        if let Some(id) = &request_id {
            span.record("request_id", id.as_str());
        }

        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(Error::Decode {
                    endpoint,
                    status,
                    request_id,
                    reason: format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }

        if status.is_success() {
            tracing::debug!(status = status.as_u16(), "answered");
            return Ok(Answer {
                status,
                request_id,
                body,
            });
        }
        let error = ApiError {
            endpoint,
            status,
            body: error_body(&body),
            request_id,
            retry_after,
        };
        tracing::debug!(status = status.as_u16(), code = %error.body.code, "error answer");
        Err(error.into())
    }
}

/// Whether a failure of a call of this kind may be retried.
fn may_retry(err: &Error, idempotence: Idempotence) -> bool {
    match idempotence {
        Idempotence::Safe => err.is_retryable(),
        // Only when the request surely never left: the connection was not opened.
        Idempotence::Unsafe => {
            matches!(err, Error::Transport { source, .. } if source.is_connect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `%XX` escapes (what a server does to a path segment).
    fn percent_decode(s: &str) -> Vec<u8> {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn any_segment_stays_one_segment_and_round_trips(value in proptest::prelude::any::<String>()) {
            let encoded = segment(&value);
            proptest::prop_assert!(encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            proptest::prop_assert!(encoded != "." && encoded != "..");
            proptest::prop_assert_eq!(percent_decode(&encoded), value.as_bytes());
        }
    }

    #[test]
    fn segments_cannot_escape_the_path() {
        assert_eq!(segment("org_01ABC"), "org_01ABC");
        assert_eq!(segment("../x"), "..%2Fx");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("a b?c#d"), "a%20b%3Fc%23d");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn posts_are_unsafe_unless_marked() {
        assert_eq!(
            Call::post("/x", "/x".into()).idempotence,
            Idempotence::Unsafe
        );
        assert_eq!(
            Call::post("/x", "/x".into()).idempotent().idempotence,
            Idempotence::Safe
        );
        assert_eq!(
            Call::delete("/x", "/x".into()).idempotence,
            Idempotence::Safe
        );
    }
}

//! [`RateLimited`]: the refusal, and the 429 response that says so.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};

use crate::headers::{RATELIMIT, RATELIMIT_POLICY, whole_seconds};
use crate::{Partition, Quota};

/// A request refused because its partition spent its budget. It is placed in
/// the 429 response's extensions, so an outer layer can inspect it (or
/// replace the response).
///
/// The response:
///
/// ```text
/// HTTP/1.1 429 Too Many Requests
/// retry-after: 1
/// ratelimit-policy: "per-key";q=10;w=1
/// ratelimit: "per-key";r=0;t=1
/// content-type: application/json
///
/// {"error":"rate_limited","error_description":"the API key's rate limit (10 requests per 1 s) was reached; retry in 1 s"}
/// ```
///
/// The body names the partition's kind and the quota, never a key or an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    partition: Option<Partition>,
    quota: Quota,
    retry_after: Duration,
}

impl RateLimited {
    pub(crate) fn new(partition: Option<Partition>, quota: Quota, retry_after: Duration) -> Self {
        Self {
            partition,
            quota,
            retry_after,
        }
    }

    /// The partition whose budget was spent; `None` for anonymous requests.
    pub fn partition(&self) -> Option<Partition> {
        self.partition
    }

    /// The quota that was reached.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// When the next request would be accepted.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// `Retry-After` in whole seconds: rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        whole_seconds(self.retry_after).max(1)
    }

    /// The 429: `Retry-After`, the `RateLimit` headers (`policy` and
    /// `remaining` are their values), a JSON body, and `self` in its extensions.
    pub(crate) fn to_response<B: From<Bytes>>(
        &self,
        policy: HeaderValue,
        remaining: HeaderValue,
    ) -> Response<B> {
        // One format, no JSON tree: the description is escaped as a JSON string.
        let description = serde_json::Value::String(self.to_string());
        let body = format!(r#"{{"error":"rate_limited","error_description":{description}}}"#);
        let mut response = Response::new(B::from(Bytes::from(body)));
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(RETRY_AFTER, HeaderValue::from(self.retry_after_secs()));
        headers.insert(RATELIMIT_POLICY, policy);
        headers.insert(RATELIMIT, remaining);
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whose = self
            .partition
            .map_or("the anonymous requests'", |partition| partition.whose());
        write!(
            f,
            "{whose} rate limit ({}) was reached; retry in {} s",
            self.quota,
            self.retry_after_secs()
        )
    }
}

impl std::error::Error for RateLimited {}

/// The 500 of a rate limit that found neither a principal nor the
/// anonymous mark: it runs in front of `ApiKeyAuth`, not behind it.
pub(crate) fn misconfigured<B: From<Bytes>>() -> Response<B> {
    static LOGGED: std::sync::Once = std::sync::Once::new();
    LOGGED.call_once(|| {
        tracing::error!(
            "RateLimit found no ApiKeyPrincipal: put it behind ApiKeyAuth \
             (in axum, add `.layer(rate_limit)` before `.layer(auth)`)"
        );
    });
    let body = serde_json::json!({
        "error": "server_error",
        "error_description": "rate limiting is misconfigured: it must run behind API key authentication",
    });
    let mut response = Response::new(B::from(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

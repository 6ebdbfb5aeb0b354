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

    /// The gRPC status of this refusal: 8 `RESOURCE_EXHAUSTED` with its
    /// message, and when to retry as `google.rpc.RetryInfo` in
    /// `grpc-status-details-bin` and as `grpc-retry-pushback-ms`.
    #[cfg(feature = "tonic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
    pub fn grpc_status(&self) -> tonic::Status {
        keygate_auth::grpc::status_with_retry_info(
            tonic::Code::ResourceExhausted,
            self.to_string(),
            self.retry_after,
        )
    }

    /// The 429: `Retry-After`, the `RateLimit` headers (`policy` and
    /// `remaining` are their values), a JSON body, and `self` in its
    /// extensions; with the feature `tonic`, its [gRPC status](Self::grpc_status)
    /// too, for a `keygate_auth::grpc::GrpcGate` in front to answer a gRPC
    /// call with.
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
        #[cfg(feature = "tonic")]
        response.extensions_mut().insert(self.grpc_status());
        response
    }

    /// The trailers-only gRPC response: the [status](Self::grpc_status), the
    /// `RateLimit` fields as metadata, and `self` in its extensions.
    #[cfg(feature = "tonic")]
    pub(crate) fn to_grpc_response<B: Default>(
        &self,
        policy: HeaderValue,
        remaining: HeaderValue,
    ) -> Response<B> {
        let mut response = self.grpc_status().into_http::<B>();
        let headers = response.headers_mut();
        headers.insert(RATELIMIT_POLICY, policy);
        headers.insert(RATELIMIT, remaining);
        response.extensions_mut().insert(self.clone());
        response
    }
}

/// How a [`RateLimitService`](crate::RateLimitService) says no: as HTTP
/// ([`HttpRefusals`], the default) or as gRPC ([`GrpcRefusals`], feature
/// `tonic`). Sealed: its methods are not an API.
pub trait Refusals<B>: sealed::Sealed + Send + Sync + 'static {
    #[doc(hidden)]
    fn limited(refusal: &RateLimited, policy: HeaderValue, remaining: HeaderValue) -> Response<B>;
    #[doc(hidden)]
    fn misconfigured() -> Response<B>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::HttpRefusals {}
    #[cfg(feature = "tonic")]
    impl Sealed for super::GrpcRefusals {}
}

/// HTTP refusals: 429 with a JSON body (and 500 for a misconfiguration), for
/// any body buildable from bytes. What [`RateLimit`](crate::RateLimit) builds.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpRefusals;

impl<B: From<Bytes>> Refusals<B> for HttpRefusals {
    fn limited(refusal: &RateLimited, policy: HeaderValue, remaining: HeaderValue) -> Response<B> {
        refusal.to_response(policy, remaining)
    }

    fn misconfigured() -> Response<B> {
        misconfigured()
    }
}

/// gRPC refusals: trailers-only, 8 `RESOURCE_EXHAUSTED` with when to retry
/// (and 13 `INTERNAL` for a misconfiguration), for any body that is
/// `Default`, such as tonic's. What [`RateLimit::grpc`](crate::RateLimit::grpc) builds.
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcRefusals;

#[cfg(feature = "tonic")]
impl<B: Default> Refusals<B> for GrpcRefusals {
    fn limited(refusal: &RateLimited, policy: HeaderValue, remaining: HeaderValue) -> Response<B> {
        refusal.to_grpc_response(policy, remaining)
    }

    fn misconfigured() -> Response<B> {
        log_misconfigured();
        tonic::Status::internal(MISCONFIGURED).into_http()
    }
}

const MISCONFIGURED: &str =
    "rate limiting is misconfigured: it must run behind API key authentication";

fn log_misconfigured() {
    static LOGGED: std::sync::Once = std::sync::Once::new();
    LOGGED.call_once(|| {
        tracing::error!(
            "RateLimit found no ApiKeyPrincipal: put it behind ApiKeyAuth \
             (in axum, add `.layer(rate_limit)` before `.layer(auth)`)"
        );
    });
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
    log_misconfigured();
    let body = serde_json::json!({
        "error": "server_error",
        "error_description": MISCONFIGURED,
    });
    let mut response = Response::new(B::from(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

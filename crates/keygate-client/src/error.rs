//! The client's one error type, and the details of an API error.

use std::fmt;
use std::time::Duration;

use http::{Method, StatusCode};
use keygate_types::{ErrorBody, FieldError};

/// The call that failed: its HTTP method and path template (such as
/// `/organizations/{id}/api_keys`), never the concrete path or its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The path template.
    pub path: &'static str,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Everything that can go wrong talking to the key service.
///
/// The variants keep apart what a caller must treat differently: the service
/// answered with an error ([`Error::Api`]), it did not answer in time
/// ([`Error::Timeout`]), it could not be reached ([`Error::Transport`]), it
/// answered something unreadable ([`Error::Decode`]), or the client was set up
/// wrongly ([`Error::Config`]). None of them ever holds the environment secret
/// or a key's value, in `Debug` or in `Display`.
///
/// Retries have already happened when a call returns an error;
/// [`is_retryable`](Error::is_retryable) says whether trying again later may help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error status (4xx or 5xx).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// No complete answer within the per-attempt timeout.
    #[error("{endpoint}: no answer from the key service within {timeout:?}")]
    Timeout {
        /// The call.
        endpoint: Endpoint,
        /// The per-attempt timeout that passed.
        timeout: Duration,
    },
    /// The service could not be reached, or the connection broke.
    #[error("{endpoint}: could not talk to the key service: {source}")]
    Transport {
        /// The call.
        endpoint: Endpoint,
        /// What went wrong, without the URL.
        #[source]
        source: reqwest::Error,
    },
    /// The service answered with a success status but a body that is not the
    /// expected JSON. Never taken to mean "invalid key".
    #[error("{endpoint}: the key service answered {status} with an unreadable body: {reason}")]
    Decode {
        /// The call.
        endpoint: Endpoint,
        /// The answer's status.
        status: StatusCode,
        /// The answer's `X-Request-ID`.
        request_id: Option<String>,
        /// Why the body could not be read. Only the kind of problem and its
        /// position: never the body's text, which may hold a key's value.
        reason: String,
    },
    /// The client's configuration is wrong: a missing secret, a bad base URL.
    #[error("invalid keygate client configuration: {0}")]
    Config(String),
    /// A [`KeyPolicy`](keygate_types::KeyPolicy) refused the key before any
    /// call was made (see
    /// [`Client::create_organization_api_key_within`](crate::Client::create_organization_api_key_within)).
    #[error(transparent)]
    Policy(keygate_types::PolicyViolation),
}

impl Error {
    /// Whether trying the same call again later may succeed: timeouts,
    /// connection and transport errors, 429 and 5xx answers.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => e.is_retryable(),
            Error::Timeout { .. } => true,
            // A request that could not even be built will not build next time.
            Error::Transport { source, .. } => !source.is_builder(),
            Error::Decode { .. } | Error::Config(_) | Error::Policy(_) => false,
        }
    }

    /// The answer's HTTP status, when the service answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long the service asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api(e) => e.retry_after,
            _ => None,
        }
    }

    /// The answer's `X-Request-ID`, to quote to support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id.as_deref(),
            Error::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The service's error details, for [`Error::Api`].
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The service's machine-readable error `code`, such as `entity_not_found`.
    pub fn code(&self) -> Option<&str> {
        self.api_error().map(|e| e.body.code.as_str())
    }

    /// Whether the service answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether the service rejected the environment secret (401).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(StatusCode::UNAUTHORIZED)
    }

    /// Whether this is a per-attempt timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// The call that failed, when the error comes from a call.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            Error::Api(e) => Some(&e.endpoint),
            Error::Timeout { endpoint, .. }
            | Error::Transport { endpoint, .. }
            | Error::Decode { endpoint, .. } => Some(endpoint),
            Error::Config(_) | Error::Policy(_) => None,
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

/// An error answer from the key service: the status, WorkOS's
/// `{code, message, errors[], entity_id}` body, the request id and
/// `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The call.
    pub endpoint: Endpoint,
    /// The HTTP status.
    pub status: StatusCode,
    /// The error body. When the body was not WorkOS's JSON shape, `code` is
    /// empty and `message` says so (the raw body is never kept: it could echo
    /// a secret).
    pub body: ErrorBody,
    /// The answer's `X-Request-ID`.
    pub request_id: Option<String>,
    /// The answer's `Retry-After`, in seconds.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// Whether trying again later may succeed: 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        self.status == StatusCode::TOO_MANY_REQUESTS || self.status.is_server_error()
    }

    /// WorkOS's machine-readable code, such as `entity_not_found`.
    pub fn code(&self) -> &str {
        &self.body.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.body.message
    }

    /// Per-field problems of a validation error (400/422).
    pub fn field_errors(&self) -> &[FieldError] {
        &self.body.errors
    }

    /// The id that was not found, on 404.
    pub fn entity_id(&self) -> Option<&str> {
        self.body.entity_id.as_deref()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the key service answered {}",
            self.endpoint, self.status
        )?;
        if !self.body.code.is_empty() || !self.body.message.is_empty() {
            write!(f, " ({})", self.body)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> Error {
        ApiError {
            endpoint: Endpoint {
                method: Method::POST,
                path: "/organizations/{id}/api_keys",
            },
            status: StatusCode::from_u16(status).unwrap(),
            body: ErrorBody::new("invalid_request_parameters", "bad")
                .with_field_error("name", "name_required"),
            request_id: Some("req_1".into()),
            retry_after: Some(Duration::from_secs(1)),
        }
        .into()
    }

    #[test]
    fn retryable_statuses() {
        assert!(api(429).is_retryable());
        assert!(api(500).is_retryable());
        assert!(api(503).is_retryable());
        assert!(!api(404).is_retryable());
        assert!(!api(422).is_retryable());
        assert!(!Error::Config("x".into()).is_retryable());
    }

    #[test]
    fn accessors_and_display() {
        let e = api(422);
        assert_eq!(e.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
        assert_eq!(e.request_id(), Some("req_1"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(e.code(), Some("invalid_request_parameters"));
        assert_eq!(e.api_error().unwrap().field_errors()[0].field, "name");
        let shown = e.to_string();
        assert!(
            shown.contains("POST /organizations/{id}/api_keys"),
            "{shown}"
        );
        assert!(shown.contains("422"), "{shown}");
        assert!(shown.contains("name (name_required)"), "{shown}");
        assert!(shown.contains("req_1"), "{shown}");
    }

    #[test]
    fn error_stays_small() {
        // Results of every call carry this type: keep it cheap to move.
        assert!(std::mem::size_of::<Error>() <= 128);
    }
}

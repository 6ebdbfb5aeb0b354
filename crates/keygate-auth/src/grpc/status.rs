//! A refusal as a gRPC status: the code, the message, and when to retry.

use std::time::Duration;

use http::{HeaderMap, Response};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{AuthRejection, OnRejection};

/// The metadata of gRPC's server pushback (gRFC A6): the milliseconds a
/// client with a retry policy waits before it retries.
pub const RETRY_PUSHBACK_MS: &str = "grpc-retry-pushback-ms";

impl AuthRejection {
    /// The gRPC status code: 16 `UNAUTHENTICATED` where HTTP says 401 or
    /// 400, 7 `PERMISSION_DENIED` for 403, 14 `UNAVAILABLE` for 503, 13
    /// `INTERNAL` for a misconfiguration.
    #[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
    pub fn grpc_code(&self) -> Code {
        match self {
            Self::MissingCredential | Self::Credential(_) | Self::InvalidToken(_) => {
                Code::Unauthenticated
            }
            Self::InsufficientScope(_) | Self::UndeclaredMethod => Code::PermissionDenied,
            Self::Unavailable { .. } => Code::Unavailable,
            Self::Misconfigured(_) => Code::Internal,
        }
    }

    /// The gRPC status: [`grpc_code`](Self::grpc_code) with this refusal's
    /// message; for [`Unavailable`](Self::Unavailable), when to retry, as
    /// `google.rpc.RetryInfo` in `grpc-status-details-bin` and as
    /// [`grpc-retry-pushback-ms`](RETRY_PUSHBACK_MS).
    #[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
    pub fn grpc_status(&self) -> Status {
        match self {
            Self::Unavailable { retry_after } => {
                status_with_retry_info(Code::Unavailable, self.to_string(), *retry_after)
            }
            _ => Status::new(self.grpc_code(), self.to_string()),
        }
    }
}

/// A status saying when to retry, in the two forms gRPC clients read:
/// `google.rpc.RetryInfo` in `grpc-status-details-bin` (the richer error
/// model; `tonic_types::StatusExt::get_details_retry_info` reads it) and
/// the pushback metadata [`grpc-retry-pushback-ms`](RETRY_PUSHBACK_MS)
/// (gRFC A6, for clients with a retry policy).
///
/// ```
/// use std::time::Duration;
/// use tonic::Code;
/// use tonic_types::StatusExt;
///
/// let status = keygate_auth::grpc::status_with_retry_info(Code::Unavailable, "later", Duration::from_secs(5));
/// assert_eq!(status.code(), Code::Unavailable);
/// assert_eq!(status.get_details_retry_info().unwrap().retry_delay, Some(Duration::from_secs(5)));
/// assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "5000");
/// ```
pub fn status_with_retry_info(
    code: Code,
    message: impl Into<String>,
    retry_after: Duration,
) -> Status {
    let mut status = Status::with_error_details(
        code,
        message,
        ErrorDetails::with_retry_info(Some(retry_after)),
    );
    let millis = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
    status
        .metadata_mut()
        .insert(RETRY_PUSHBACK_MS, MetadataValue::from(millis));
    status
}

/// Whether a request or response speaks gRPC: its `content-type` is
/// `application/grpc` or one of its forms (`+proto`, `-web`…).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// Renders refusals as trailers-only gRPC responses: HTTP 200, `grpc-status`
/// and `grpc-message` in the headers, an empty body (see
/// [`AuthRejection::grpc_status`] for the codes). For an
/// [`ApiKeyAuth`](crate::ApiKeyAuth) in front of tonic services alone, whose
/// body (`tonic::body::Body`) cannot hold the default JSON refusal:
///
/// ```
/// use keygate_auth::{ApiKeyAuth, InMemoryValidator, grpc::GrpcRejection};
///
/// let auth = ApiKeyAuth::builder(InMemoryValidator::new())
///     .on_rejection(GrpcRejection)
///     .build();
/// # let _ = auth;
/// ```
///
/// On a server that answers REST and gRPC alike, keep the default and put
/// the layer in a [`GrpcGate`](super::GrpcGate): gRPC requests get this
/// rendering, the others RFC 6750.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcRejection;

impl<B: Default> OnRejection<B> for GrpcRejection {
    fn on_rejection(&self, rejection: &AuthRejection) -> Response<B> {
        rejection.grpc_status().into_http()
    }
}

/// The HTTP headers of a refusal that have no meaning in its gRPC form:
/// the body is gone, the challenge is HTTP's, and when to retry is in the
/// status details.
const HTTP_REFUSAL_HEADERS: [http::HeaderName; 4] = [
    http::header::CONTENT_TYPE,
    http::header::CONTENT_LENGTH,
    http::header::WWW_AUTHENTICATE,
    http::header::RETRY_AFTER,
];

/// A keygate refusal rendered as HTTP for a gRPC request, rendered again
/// as gRPC: from the [`AuthRejection`] in its extensions, or from the
/// [`Status`] another keygate layer (the rate limit) put there. Its other
/// headers (request ids, `RateLimit`) stay as metadata, its extensions
/// stay. Any other response passes through untouched.
pub(crate) fn refusal_as_grpc<B: Default>(response: Response<B>) -> Response<B> {
    if is_grpc(response.headers()) {
        return response;
    }
    let extensions = response.extensions();
    let status = match (
        extensions.get::<AuthRejection>(),
        extensions.get::<Status>(),
    ) {
        (Some(rejection), _) => rejection.grpc_status(),
        (None, Some(status)) => status.clone(),
        (None, None) => return response,
    };
    let (parts, _http_body) = response.into_parts();
    let mut rendered = status.into_http::<B>();
    let own: Vec<http::HeaderName> = rendered.headers().keys().cloned().collect();
    let mut name = None;
    for (header, value) in parts.headers {
        // `None`: another value of the header before.
        name = header.or(name);
        if let Some(name) = &name
            && !HTTP_REFUSAL_HEADERS.contains(name)
            && !own.contains(name)
        {
            rendered.headers_mut().append(name.clone(), value);
        }
    }
    // The extensions keep what the layers put there; the status stays
    // the one just rendered.
    let status = rendered.extensions_mut().remove::<Status>();
    rendered.extensions_mut().extend(parts.extensions);
    if let Some(status) = status {
        rendered.extensions_mut().insert(status);
    }
    rendered
}

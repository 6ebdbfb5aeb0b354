//! Why a request was refused, and the RFC 6750 response that says so.
//!
//! | case | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no credential, or a scheme other than `Bearer` | 401 | `Bearer realm="…"` |
//! | malformed credential, several `Authorization` headers, key in several places | 400 | `Bearer realm="…", error="invalid_request", error_description="…"` |
//! | unknown, revoked or expired key; refused by the [pre-check](crate::Precheck) | 401 | `Bearer realm="…", error="invalid_token", error_description="…"` |
//! | permission missing | 403 | `Bearer error="insufficient_scope", error_description="…", scope="…"` |
//! | gRPC method with no permissions declared, where undeclared methods are denied | 403 | `Bearer realm="…"` |
//! | key service unavailable | 503 with `Retry-After` | none; never 401 |
//! | guard or extractor used without the layer | 500 | none; logged once as a misconfiguration |
//!
//! Every response has a small JSON body, `{"error": "…", "error_description": "…"}`,
//! and carries the [`AuthRejection`] in its extensions, so an outer layer can
//! inspect it. Replace the response with any [`OnRejection`], such as a closure.
//!
//! One layer, one voice: the guards and extractors behind an
//! [`ApiKeyAuth`](crate::ApiKeyAuth) leave their refusals unrendered (a
//! default response marked as such), and the layer renders them on the way
//! out with its own [`OnRejection`] and realm, so a 403 names the same realm
//! as a 401.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::CredentialError;

/// Why a request was refused. It is placed in the refusal's response
/// extensions, and handed to [`OnRejection`] to build the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No credential at all (401, no error code).
    #[error("no API key was sent; send `Authorization: Bearer <key>`")]
    MissingCredential,
    /// The credential could not be read (400 `invalid_request`; or 401 without
    /// an error code for a scheme other than `Bearer`).
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The key is not valid (401 `invalid_token`).
    #[error(transparent)]
    InvalidToken(#[from] InvalidToken),
    /// The key lacks a permission (403 `insufficient_scope`).
    #[error(transparent)]
    InsufficientScope(#[from] InsufficientScope),
    /// The request called a gRPC method that declares no permissions, on a
    /// `grpc::GrpcGate` (feature `tonic`) that denies undeclared methods
    /// (403; gRPC 7 `PERMISSION_DENIED`).
    #[error("this method declares no permissions, and undeclared methods are denied")]
    UndeclaredMethod,
    /// The key service could not be asked (503 with `Retry-After`). Never a 401.
    #[error("the key service is unavailable; retry in {} s", retry_after_secs(*.retry_after))]
    Unavailable {
        /// When to retry.
        retry_after: Duration,
    },
    /// A guard or extractor ran without [`ApiKeyAuth`](crate::ApiKeyAuth) in
    /// front of it (500). This is a bug in the service's setup, not the caller's fault.
    #[error("API key authentication is misconfigured: {0}")]
    Misconfigured(&'static str),
}

/// Why a key is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// The key service does not know the key, or it was revoked or has expired.
    #[error("the API key is unknown, revoked or expired")]
    Rejected,
    /// The key's `expires_at` has passed.
    #[error("the API key has expired")]
    Expired,
    /// The local pre-check refused the key before asking the key service.
    #[error("the API key is not in the expected format")]
    Precheck,
    /// An access token (M2M or AuthKit session JWT) failed local verification.
    #[error(transparent)]
    Token(#[from] TokenRefusal),
}

/// Why an access token (an M2M or AuthKit session JWT) is refused: each is a
/// 401 `invalid_token` whose `error_description` is this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRefusal {
    /// Not three base64url parts of JSON, or a claim of the wrong type.
    #[error("the access token is not a well-formed JWT")]
    Malformed,
    /// An algorithm other than RS256 (such as `none` or `HS256`).
    #[error("the access token's algorithm is not accepted (only RS256 is)")]
    Algorithm,
    /// No `kid` in the header.
    #[error("the access token's header names no signing key (`kid`)")]
    MissingKeyId,
    /// A `kid` the issuer's key set does not hold.
    #[error("the access token is signed with a key its issuer does not publish (unknown `kid`)")]
    UnknownKeyId,
    /// The signature does not verify (a changed header or payload, or another key).
    #[error("the access token's signature does not verify")]
    Signature,
    /// `exp` has passed (beyond the leeway).
    #[error("the access token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("the access token is not valid yet")]
    NotYetValid,
    /// `iss` is not a trusted issuer for this kind of token.
    #[error("the access token's issuer is not trusted here")]
    Issuer,
    /// `aud` does not name this service's client id.
    #[error("the access token is meant for another audience")]
    Audience,
    /// A claim keygate needs is missing or malformed (its name).
    #[error("the access token's `{0}` claim is missing or malformed")]
    Claim(&'static str),
    /// The session (`sid`) was revoked.
    #[error("the session of this access token was revoked")]
    SessionRevoked,
    /// A session token valid for longer than the configured maximum lifetime
    /// (the bound that keeps a revoked session denied until its tokens expire).
    #[error("the access token is valid for longer than this service accepts")]
    Lifetime,
}

/// The permissions a guard required and the credential did not grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the credential {}: {}",
    if *.any { "holds none of these permissions (any one would do)" } else { "lacks a required permission" },
    .required.join(" ")
)]
pub struct InsufficientScope {
    required: Vec<&'static str>,
    any: bool,
}

impl InsufficientScope {
    pub(crate) fn new(required: &[&'static str], any: bool) -> Self {
        Self {
            required: required.to_vec(),
            any,
        }
    }

    /// The permissions the guard names.
    pub fn required(&self) -> &[&'static str] {
        &self.required
    }

    /// Whether any one of them would have done (`RequireAnyPermission`).
    pub fn any(&self) -> bool {
        self.any
    }
}

fn retry_after_secs(d: Duration) -> u64 {
    // Whole seconds, rounded up, at least one: `Retry-After: 0` invites a storm.
    d.as_secs()
        .saturating_add(u64::from(d.subsec_nanos() > 0))
        .max(1)
}

impl AuthRejection {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingCredential
            | Self::Credential(CredentialError::UnsupportedScheme)
            | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::Credential(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope(_) | Self::UndeclaredMethod => StatusCode::FORBIDDEN,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 error code in `WWW-Authenticate`, if the response has one.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingCredential | Self::Credential(CredentialError::UnsupportedScheme) => None,
            Self::Credential(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
            Self::UndeclaredMethod | Self::Unavailable { .. } | Self::Misconfigured(_) => None,
        }
    }

    /// The `error` field of the JSON body.
    pub fn body_error(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "temporarily_unavailable",
            Self::Misconfigured(_) => "server_error",
            Self::UndeclaredMethod => "access_denied",
            _ => self.error_code().unwrap_or("unauthorized"),
        }
    }

    /// The `WWW-Authenticate` value, for the statuses that carry one (401, 400, 403).
    pub fn www_authenticate(&self, realm: Option<&str>) -> Option<HeaderValue> {
        if !matches!(self.status().as_u16(), 400 | 401 | 403) {
            return None;
        }
        let mut params: Vec<String> = Vec::with_capacity(4);
        if let Some(realm) = realm {
            params.push(format!("realm={}", quoted(realm)));
        }
        if let Some(code) = self.error_code() {
            params.push(format!("error=\"{code}\""));
            params.push(format!("error_description={}", quoted(&self.to_string())));
        }
        if let Self::InsufficientScope(scope) = self {
            params.push(format!("scope={}", quoted(&scope.required.join(" "))));
        }
        let mut value = String::from("Bearer");
        for (i, param) in params.iter().enumerate() {
            let _ = write!(value, "{}{param}", if i == 0 { " " } else { ", " });
        }
        HeaderValue::try_from(value).ok()
    }

    /// The default response: status, headers and JSON body, with the
    /// rejection in its extensions.
    pub fn to_response<B: From<Bytes>>(&self, realm: Option<&str>) -> Response<B> {
        let body = serde_json::json!({
            "error": self.body_error(),
            "error_description": self.to_string(),
        });
        self.response_with(realm, B::from(Bytes::from(body.to_string())))
    }

    /// The default response's status and headers around `body`.
    fn response_with<B>(&self, realm: Option<&str>, body: B) -> Response<B> {
        let mut response = Response::new(body);
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = self.www_authenticate(realm) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if let Self::Unavailable { retry_after } = self {
            headers.insert(
                RETRY_AFTER,
                HeaderValue::from(retry_after_secs(*retry_after)),
            );
        }
        response.extensions_mut().insert(self.clone());
        response
    }
}

/// An RFC 9110 quoted-string; control characters are dropped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().filter(|c| !c.is_control()) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The default response without a realm, marked for the layer in front to
/// render with its own [`OnRejection`] and realm (see the module docs).
/// Without a layer in front (a misconfiguration), it stands as it is.
impl axum_core::response::IntoResponse for AuthRejection {
    fn into_response(self) -> axum_core::response::Response {
        self.unrendered()
    }
}

/// Marks a refusal response that a guard or extractor built with the
/// defaults, for the layer to render.
#[derive(Debug, Clone, Copy)]
struct Unrendered;

impl AuthRejection {
    /// The default response without a realm, marked [`Unrendered`].
    pub(crate) fn unrendered<B: From<Bytes>>(self) -> Response<B> {
        let mut response = self.to_response(None);
        response.extensions_mut().insert(Unrendered);
        response
    }

    /// The default response's status and headers without a realm, around
    /// an empty body, marked [`Unrendered`]: for the services whose body
    /// cannot be built from bytes (such as tonic's), which the layer in
    /// front renders anyway.
    pub(crate) fn unrendered_empty<B: Default>(self) -> Response<B> {
        let mut response = self.response_with(None, B::default());
        response.extensions_mut().insert(Unrendered);
        response
    }
}

/// A layer's [`OnRejection`], shared by its services and response futures.
#[derive(Debug)]
pub(crate) struct Refusals<R>(R);

impl<R> Refusals<R> {
    pub(crate) fn new(on_rejection: R) -> Self {
        Self(on_rejection)
    }

    /// Builds the response for `rejection`, with the rejection in its extensions.
    pub(crate) fn render<B>(&self, rejection: AuthRejection) -> Response<B>
    where
        R: OnRejection<B>,
    {
        let mut response = self.0.on_rejection(&rejection);
        response.extensions_mut().insert(rejection);
        response
    }

    /// Renders a refusal that a guard or extractor behind the layer left
    /// unrendered, keeping the headers and extensions that layers between
    /// them added (a request id, CORS); any other response passes through
    /// untouched.
    pub(crate) fn render_behind<B>(&self, mut response: Response<B>) -> Response<B>
    where
        R: OnRejection<B>,
    {
        if response.extensions_mut().remove::<Unrendered>().is_none() {
            return response;
        }
        let Some(rejection) = response.extensions_mut().remove::<AuthRejection>() else {
            return response;
        };
        let (parts, _default_body) = response.into_parts();
        let mut rendered = self.render(rejection);
        let own: Vec<http::HeaderName> = rendered.headers().keys().cloned().collect();
        let mut name = None;
        for (header, value) in parts.headers {
            // `None`: another value of the header before.
            name = header.or(name);
            if let Some(name) = &name
                && !own.contains(name)
                && !is_refusal_header(name)
            {
                rendered.headers_mut().append(name.clone(), value);
            }
        }
        rendered.extensions_mut().extend(parts.extensions);
        rendered
    }
}

/// The headers a refusal sets itself: what the default rendering put there
/// is replaced, not kept beside the layer's own.
fn is_refusal_header(name: &http::HeaderName) -> bool {
    [
        CONTENT_TYPE,
        RETRY_AFTER,
        WWW_AUTHENTICATE,
        http::header::CONTENT_LENGTH,
    ]
    .contains(name)
}

/// Builds the response for a refused request. Implemented by
/// [`DefaultRejection`] and by any `Fn(&AuthRejection) -> Response<B>` closure.
///
/// Whatever it returns, the layer adds the [`AuthRejection`] to the
/// response's extensions.
///
/// ```
/// use axum::body::Body;
/// use http::{Response, StatusCode};
/// use keygate_auth::{ApiKeyAuth, AuthRejection, InMemoryValidator};
///
/// // Answer every refusal with a bare status and no body.
/// let auth = ApiKeyAuth::builder(InMemoryValidator::new())
///     .on_rejection(|rejection: &AuthRejection| {
///         let mut response = Response::new(Body::empty());
///         *response.status_mut() = rejection.status();
///         response
///     })
///     .build();
/// # let _ = auth;
/// ```
pub trait OnRejection<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection`.
    fn on_rejection(&self, rejection: &AuthRejection) -> Response<B>;
}

impl<B, F> OnRejection<B> for F
where
    F: Fn(&AuthRejection) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn on_rejection(&self, rejection: &AuthRejection) -> Response<B> {
        self(rejection)
    }
}

/// The RFC 6750 responses of the table above, naming a realm (`"api"` by default).
#[derive(Debug, Clone)]
pub struct DefaultRejection {
    realm: Option<Arc<str>>,
}

impl Default for DefaultRejection {
    fn default() -> Self {
        Self::with_realm("api")
    }
}

impl DefaultRejection {
    /// Responses naming `realm` in `WWW-Authenticate`.
    pub fn with_realm(realm: impl Into<Arc<str>>) -> Self {
        Self {
            realm: Some(realm.into()),
        }
    }
}

impl<B: From<Bytes>> OnRejection<B> for DefaultRejection {
    fn on_rejection(&self, rejection: &AuthRejection) -> Response<B> {
        rejection.to_response(self.realm.as_deref())
    }
}

#[cfg(test)]
mod tests;

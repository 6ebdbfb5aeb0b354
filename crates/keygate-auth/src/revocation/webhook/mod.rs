//! The push side: an axum router that receives WorkOS's signed webhook
//! deliveries and invalidates revoked keys (feature `webhooks`).

mod replay;
mod signature;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use keygate_types::{Event, SecretString};

pub use signature::webhook_signature;

use super::effect::{self, Effect};
use super::sessions::Sessions;
use crate::VerdictCache;
use replay::{Seeing, SeenDeliveries};
use signature::SignatureHeader;

/// The header WorkOS signs deliveries in.
pub const SIGNATURE_HEADER: &str = "workos-signature";
/// How far a delivery's timestamp may be from now: 3 minutes, as in
/// WorkOS's SDKs.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(180);

/// Why a webhook delivery was refused. Nothing is invalidated for any of
/// them but [`NotPassedOn`](Self::NotPassedOn).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No `WorkOS-Signature` header (400).
    #[error("the WorkOS-Signature header is missing")]
    MissingSignature,
    /// The header is not `t=<ms>, v1=<64 hex digits>` (400).
    #[error("the WorkOS-Signature header is not `t=<unix ms>, v1=<hex HMAC-SHA256>`")]
    MalformedSignature,
    /// The timestamp is outside the tolerance window (401): too old to be
    /// trusted, or from the future.
    #[error("the delivery's timestamp is outside the tolerance window")]
    StaleTimestamp,
    /// More `v1=` entries than are accepted (400): refused before any
    /// signature is checked.
    #[error(
        "the WorkOS-Signature header carries {count} `v1=` signatures; at most {max} are accepted"
    )]
    TooManySignatures {
        /// How many it carries.
        count: usize,
        /// How many are accepted.
        max: usize,
    },
    /// No signature matches the body and the secret (401).
    #[error("the signature does not match the body")]
    SignatureMismatch,
    /// This exact signed delivery was already received (409).
    #[error("this delivery was already received (replay)")]
    Replayed,
    /// Signed correctly, but the body is not an event (400).
    #[error("the body is not a WorkOS event")]
    MalformedEvent,
    /// In fleet mode: the event was acted on here, but the other replicas
    /// could not be told (503). The delivery is not remembered as handled,
    /// so the key service's retry acts on it again.
    #[error("the invalidation could not be passed on to the other replicas; retry the delivery")]
    NotPassedOn,
}

impl WebhookError {
    /// The status the receiver answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingSignature
            | Self::MalformedSignature
            | Self::TooManySignatures { .. }
            | Self::MalformedEvent => StatusCode::BAD_REQUEST,
            Self::StaleTimestamp | Self::SignatureMismatch => StatusCode::UNAUTHORIZED,
            Self::Replayed => StatusCode::CONFLICT,
            Self::NotPassedOn => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable code for the body: `missing_signature`, `malformed_signature`,
    /// `too_many_signatures`, `stale_timestamp`, `signature_mismatch`,
    /// `replayed`, `malformed_event`, `not_passed_on`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingSignature => "missing_signature",
            Self::MalformedSignature => "malformed_signature",
            Self::TooManySignatures { .. } => "too_many_signatures",
            Self::StaleTimestamp => "stale_timestamp",
            Self::SignatureMismatch => "signature_mismatch",
            Self::Replayed => "replayed",
            Self::MalformedEvent => "malformed_event",
            Self::NotPassedOn => "not_passed_on",
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        json(
            self.status(),
            serde_json::json!({"error": self.code(), "error_description": self.to_string()}),
        )
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// What an accepted delivery did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Delivery {
    /// A revocation event: the key's cached verdict was invalidated, or,
    /// for a deactivated or deleted membership, the verdicts of its user's
    /// keys in that organization.
    Invalidated(Event),
    /// An event that does not concern the cache (such as `api_key.created`).
    Ignored(Event),
    /// An event already handled, delivered again by WorkOS: acknowledged only.
    Duplicate(Event),
}

/// Receives WorkOS webhook deliveries and invalidates cached verdicts on
/// `api_key.revoked` and `api_key.updated` (the key), and on
/// `organization_membership.updated` to a status other than active and
/// `organization_membership.deleted` (the user's keys in that
/// organization): with it, a revoked key stops working as soon as the
/// delivery arrives (feature `webhooks`).
///
/// Each delivery is checked before anything else happens: the
/// `WorkOS-Signature` header (`t=<unix ms>, v1=<hex>`, at most 5 `v1`
/// entries) must carry an HMAC-SHA256 of `"{t}.{raw body}"` under the
/// endpoint's secret (computed once, compared with each entry in constant
/// time), `t` must be within the tolerance (3 minutes by
/// default) of now, and the same signed request is accepted once: a replay
/// gets 409. WorkOS's own retry of an event already handled (signed anew)
/// gets 200 and does nothing. Refusals invalidate nothing.
///
/// | delivery | status |
/// |---|---|
/// | valid, `api_key.revoked` / `api_key.updated` | 200, key invalidated |
/// | valid, membership deactivated or deleted | 200, the member's keys there invalidated |
/// | valid, any other event | 200, nothing done |
/// | valid, event already handled | 200, nothing done |
/// | no header, malformed header, more than 5 `v1` entries, body not an event | 400 |
/// | wrong signature, timestamp outside the tolerance | 401 |
/// | the same signed request again | 409 |
///
/// ```
/// use axum::Router;
/// use keygate_auth::{ApiKeyAuth, InMemoryValidator, WebhookReceiver};
///
/// let auth = ApiKeyAuth::new(InMemoryValidator::new());
/// let webhooks = WebhookReceiver::new("whsec_from_the_dashboard", auth.cache().clone());
/// let app: Router = Router::new()
///     // .route("/posts", ...).route_layer(auth.clone())
///     .merge(webhooks.router("/webhooks/workos"));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct WebhookReceiver {
    inner: Arc<Inner>,
}

struct Inner {
    secret: SecretString,
    tolerance: Duration,
    cache: VerdictCache,
    sessions: Sessions,
    seen: SeenDeliveries,
}

impl fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("secret", &self.inner.secret)
            .field("tolerance", &self.inner.tolerance)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

impl WebhookReceiver {
    /// A receiver for the endpoint whose signing secret is `secret`,
    /// invalidating `cache` (from [`ApiKeyAuth::cache`](crate::ApiKeyAuth::cache)).
    pub fn new(secret: impl Into<SecretString>, cache: VerdictCache) -> Self {
        Self {
            inner: Arc::new(Inner {
                secret: secret.into(),
                tolerance: DEFAULT_TOLERANCE,
                cache,
                sessions: Sessions::default(),
                seen: SeenDeliveries::default(),
            }),
        }
    }

    /// How far a delivery's timestamp may be from now (default 3 minutes).
    pub fn tolerance(self, tolerance: Duration) -> Self {
        let inner = &*self.inner;
        Self {
            inner: Arc::new(Inner {
                secret: inner.secret.clone(),
                tolerance,
                cache: inner.cache.clone(),
                sessions: inner.sessions.clone(),
                seen: SeenDeliveries::default(),
            }),
        }
    }

    /// Also denies the sessions of `session.revoked` deliveries, through
    /// `verifier`'s [denylist](crate::jwt::SessionDenylist), until their
    /// tokens expire.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn sessions(self, verifier: &crate::jwt::JwtVerifier) -> Self {
        let inner = &*self.inner;
        Self {
            inner: Arc::new(Inner {
                secret: inner.secret.clone(),
                tolerance: inner.tolerance,
                cache: inner.cache.clone(),
                sessions: Sessions::new(verifier),
                seen: SeenDeliveries::default(),
            }),
        }
    }

    /// Verifies a delivery and acts on it: what the router does, for use
    /// from any framework.
    pub async fn receive(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookError> {
        let result = self.receive_at(headers, body, now_ms()).await;
        match &result {
            Ok(delivery) => tracing::debug!(?delivery, "webhook delivery accepted"),
            Err(error) => tracing::warn!(error = %error, "webhook delivery refused"),
        }
        result
    }

    async fn receive_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_ms: i64,
    ) -> Result<Delivery, WebhookError> {
        let inner = &*self.inner;
        let mut values = headers.get_all(SIGNATURE_HEADER).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(WebhookError::MissingSignature);
        };
        let value = value
            .to_str()
            .map_err(|_| WebhookError::MalformedSignature)?;
        let header = SignatureHeader::parse(value)?;
        let tolerance = i64::try_from(inner.tolerance.as_millis()).unwrap_or(i64::MAX);
        if header.timestamp_ms.abs_diff(now_ms) > tolerance.unsigned_abs() {
            return Err(WebhookError::StaleTimestamp);
        }
        if !header.verify(inner.secret.expose_secret().as_bytes(), body) {
            return Err(WebhookError::SignatureMismatch);
        }
        // Authentic from here on.
        let event: Event =
            serde_json::from_slice(body).map_err(|_| WebhookError::MalformedEvent)?;
        // Remember it as long as its timestamp could still pass the check.
        let forget_at = header
            .timestamp_ms
            .saturating_add(tolerance)
            .saturating_add(1);
        let signature = header.signatures[0];
        match inner.seen.see(signature, &event.id, now_ms, forget_at) {
            Seeing::Replayed => return Err(WebhookError::Replayed),
            Seeing::Duplicate => return Ok(Delivery::Duplicate(event)),
            Seeing::New => {}
        }
        match effect::apply(&inner.cache, &inner.sessions, &event).await {
            Err(error) => {
                inner.seen.forget_event(&event.id);
                tracing::warn!(event_id = %event.id, %error, "webhook delivery acted on here only; answering 503 so it is retried");
                Err(WebhookError::NotPassedOn)
            }
            Ok(Effect::Nothing) => Ok(Delivery::Ignored(event)),
            Ok(Effect::Key | Effect::Membership(_) | Effect::Everything | Effect::Session) => {
                crate::metrics::invalidation(crate::metrics::Source::Webhook);
                Ok(Delivery::Invalidated(event))
            }
        }
    }

    /// A router answering `POST path` with this receiver, to merge into
    /// your app (outside the [`ApiKeyAuth`](crate::ApiKeyAuth) layer: WorkOS
    /// authenticates with the signature, not an API key).
    pub fn router<S: Clone + Send + Sync + 'static>(&self, path: &str) -> Router<S> {
        let receiver = self.clone();
        Router::new().route(
            path,
            post(move |headers: HeaderMap, body: Bytes| {
                let receiver = receiver.clone();
                async move {
                    match receiver.receive(&headers, &body).await {
                        Ok(delivery) => {
                            let outcome = match delivery {
                                Delivery::Invalidated(_) => "invalidated",
                                Delivery::Ignored(_) => "ignored",
                                Delivery::Duplicate(_) => "duplicate",
                            };
                            json(StatusCode::OK, serde_json::json!({"status": outcome}))
                        }
                        Err(error) => error.into_response(),
                    }
                }
            }),
        )
    }
}

#[cfg(test)]
mod tests;

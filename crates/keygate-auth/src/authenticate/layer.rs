//! [`ApiKeyAuth`], the layer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use keygate_types::{ApiKeyId, OrganizationId, UserId};
use tower::Layer;

use super::builder::ApiKeyAuthBuilder;
use super::service::ApiKeyAuthService;
use super::shared::Shared;
use crate::KeyValidator;
use crate::cache::{CacheStats, VerdictCache};
use crate::rejection::DefaultRejection;
use crate::tier::NotPassedOn;
use crate::upstream::BreakerState;

/// The default `Retry-After` of a 503 when the validator gives no hint.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A tower [`Layer`] that authenticates every request by its API key.
///
/// It reads the key (see [the credential rules](crate#the-credential)), looks
/// its verdict up in a [`VerdictCache`] or asks the [`KeyValidator`], and
/// either puts an [`ApiKeyPrincipal`](crate::ApiKeyPrincipal) in the request's
/// extensions and calls the inner service, or answers with an RFC 6750
/// refusal built by `R` (see [`OnRejection`](crate::OnRejection)). The
/// refusals of the guards and extractors behind it are built by `R` too,
/// naming the same realm.
///
/// Cloning it is cheap, and clones share one cache: keep a clone to read
/// [`stats`](Self::stats) or to [`invalidate_id`](Self::invalidate_id).
///
/// ```
/// use axum::{Router, routing::get};
/// use keygate_auth::{ApiKeyAuth, ApiKeyPrincipal, InMemoryValidator};
///
/// async fn whoami(principal: ApiKeyPrincipal) -> String {
///     principal.organization_id().to_string()
/// }
///
/// let auth = ApiKeyAuth::new(InMemoryValidator::new());
/// let app: Router = Router::new().route("/whoami", get(whoami)).layer(auth.clone());
/// assert_eq!(auth.stats().misses, 0);
/// # let _ = app;
/// ```
pub struct ApiKeyAuth<V, R = DefaultRejection> {
    pub(crate) shared: Arc<Shared<V, R>>,
}

impl<V, R> Clone for ApiKeyAuth<V, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<V, R> fmt::Debug for ApiKeyAuth<V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &*self.shared;
        f.debug_struct("ApiKeyAuth")
            .field("credentials", &shared.credentials)
            .field("precheck", &shared.precheck)
            .field("optional", &shared.optional)
            .field("cache", &shared.verdicts.cache)
            .finish_non_exhaustive()
    }
}

impl<V: KeyValidator> ApiKeyAuth<V> {
    /// The layer with good defaults: `Authorization: Bearer` only, keys up to
    /// 256 bytes, valid verdicts kept 30 s (never past the key's
    /// `expires_at`), invalid ones 5 s, up to 10,000 valid and 1,000 invalid
    /// verdicts, every request required to carry a key.
    pub fn new(validator: V) -> Self {
        Self::builder(validator).build()
    }

    /// A builder for everything else.
    pub fn builder(validator: V) -> ApiKeyAuthBuilder<V> {
        ApiKeyAuthBuilder::new(validator)
    }
}

impl<V, R> ApiKeyAuth<V, R> {
    /// The verdict cache this layer's services share.
    pub fn cache(&self) -> &VerdictCache {
        &self.shared.verdicts.cache
    }

    /// The cache's counters: hits, misses, coalesced loads, errors, invalidations.
    pub fn stats(&self) -> CacheStats {
        self.shared.verdicts.cache.stats()
    }

    /// Forgets the cached verdict for the key `key`; see [`VerdictCache::invalidate_key`].
    pub async fn invalidate_key(&self, key: &str) -> Result<bool, NotPassedOn> {
        crate::metrics::invalidation(crate::metrics::Source::Api);
        self.shared.verdicts.cache.invalidate_key(key).await
    }

    /// Forgets the cached verdict for the key with id `id`; see [`VerdictCache::invalidate_id`].
    pub async fn invalidate_id(&self, id: &ApiKeyId) -> Result<bool, NotPassedOn> {
        crate::metrics::invalidation(crate::metrics::Source::Api);
        self.shared.verdicts.cache.invalidate_id(id).await
    }

    /// Forgets the cached verdicts of `user`'s keys in `organization`; see
    /// [`VerdictCache::invalidate_membership`].
    pub async fn invalidate_membership(
        &self,
        user: &UserId,
        organization: &OrganizationId,
    ) -> Result<usize, NotPassedOn> {
        crate::metrics::invalidation(crate::metrics::Source::Api);
        self.shared
            .verdicts
            .cache
            .invalidate_membership(user, organization)
            .await
    }

    /// The validator.
    pub fn validator(&self) -> &V {
        &self.shared.verdicts.validator
    }

    /// Where the circuit breaker in front of the key service is.
    pub fn breaker_state(&self) -> BreakerState {
        self.shared.verdicts.upstream.breaker_state()
    }

    /// The revocation listener started by
    /// [`revocation_listener`](ApiKeyAuthBuilder::revocation_listener), if any.
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    pub fn revocation_listener(&self) -> Option<&crate::revocation::ListenerHandle> {
        self.shared.listener.as_ref()
    }
}

impl<S, V, R> Layer<S> for ApiKeyAuth<V, R> {
    type Service = ApiKeyAuthService<S, V, R>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiKeyAuthService::new(inner, Arc::clone(&self.shared))
    }
}

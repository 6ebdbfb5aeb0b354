//! Where a request's verdict comes from once its key is read: the one owner
//! of the miss path.
//!
//! [`Verdicts`] holds the cache, the guard in front of the key service and
//! the validator. The layer's service asks it two things:
//!
//! - [`lookup`](Verdicts::lookup), without waiting: a fresh verdict from the
//!   cache (judged), a refusal that needs no call, or a miss;
//! - [`load`](Verdicts::load), on a miss, in this order:
//!   1. join the call in flight for this key, or start one (the cache's gate:
//!      one call per key at a time, never one that began before an
//!      invalidation);
//!   2. the leader's call: the shared tier in fleet mode (which answers, or
//!      makes the call itself), otherwise the key service through the
//!      upstream guard (timeout, cap, breaker, retries);
//!   3. the answer stored under the gate, unless an invalidation came
//!      meanwhile (the cache's `changes`);
//!   4. if the key service failed: a kept verdict within the stale-if-error
//!      window, or a 503;
//!   5. the verdict judged against the clock (a key past `expires_at` is
//!      refused however it was found).
//!
//! Metrics for cache outcomes and authenticated callers, and the requests
//! per key of a [usage meter](crate::usage), are recorded here, once, for
//! hits and misses alike.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use keygate_types::{KeyPolicy, SecretString};

use crate::ApiKeyPrincipal;
use crate::cache::{CacheOutcome, CachedVerdict, Call, Digest, VerdictCache};
use crate::metrics::LayerMetrics;
use crate::rejection::{AuthRejection, InvalidToken};
use crate::tier::{KeyDigest, KeyServiceCall, TierVerdict};
use crate::upstream::Upstream;
use crate::usage::UsageMeter;
use crate::validator::{KeyValidator, ValidatorError};

/// The cache, the upstream guard and the validator of one layer.
pub(crate) struct Verdicts<V> {
    pub(crate) validator: V,
    pub(crate) cache: VerdictCache,
    pub(crate) upstream: Upstream,
    metrics: LayerMetrics,
    /// `Retry-After` of a 503 when the failure gives no hint.
    retry_after: Duration,
    /// Counts requests per key, when the user asked for it.
    usage: Option<UsageMeter>,
    /// Refuses keys older than its `max_key_age`, if any.
    policy: KeyPolicy,
}

/// What [`Verdicts::lookup`] found without waiting.
pub(crate) enum Lookup {
    /// A fresh verdict in the cache, judged.
    Hit(Result<ApiKeyPrincipal, AuthRejection>),
    /// Refused without a call: the breaker is open, and neither a stale
    /// verdict nor a shared tier could answer instead.
    Refused(AuthRejection),
    /// Nothing fresh: [`Verdicts::load`] must ask.
    Miss,
}

/// What [`Verdicts::load`] found.
pub(crate) struct Loaded {
    /// The principal to proceed as, or why not.
    pub(crate) verdict: Result<ApiKeyPrincipal, AuthRejection>,
    /// How it was found; `None` when nothing answered (a 503).
    pub(crate) outcome: Option<CacheOutcome>,
}

impl<V> fmt::Debug for Verdicts<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verdicts")
            .field("cache", &self.cache)
            .field("breaker", &self.upstream.breaker_state())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "jwt")]
impl<V> Verdicts<V> {
    /// An access token's verdict as the layer gives it, counted as
    /// authenticated when it lets the request through. A session token is
    /// refused with 503 while this process cannot hear the fleet's log: its
    /// revocation reaches this process only that way, and verifying the token
    /// here asks no one else.
    pub(crate) fn vouch_token(
        &self,
        verdict: Result<ApiKeyPrincipal, AuthRejection>,
    ) -> Result<ApiKeyPrincipal, AuthRejection> {
        match verdict {
            Ok(principal) if principal.session_id().is_some() && !self.cache.hears_fleet() => {
                tracing::debug!(
                    "fleet mode: a session token refused while the invalidation log is not heard"
                );
                Err(AuthRejection::Unavailable {
                    retry_after: self.retry_after,
                })
            }
            Ok(principal) => {
                self.metrics.authenticated(&principal);
                Ok(principal)
            }
            refused => refused,
        }
    }
}

impl<V: KeyValidator> Verdicts<V> {
    pub(crate) fn new(
        validator: V,
        cache: VerdictCache,
        upstream: Upstream,
        metrics: LayerMetrics,
        retry_after: Duration,
        usage: Option<UsageMeter>,
        policy: KeyPolicy,
    ) -> Self {
        Self {
            validator,
            cache,
            upstream,
            metrics,
            retry_after,
            usage,
            policy,
        }
    }

    /// The verdict for `digest` if it is known now: the hot path, no lock of
    /// ours and no allocation.
    pub(crate) fn lookup(&self, digest: &Digest) -> Lookup {
        if let Some(verdict) = self.cache.lookup(digest) {
            crate::metrics::cache(CacheOutcome::Hit);
            return Lookup::Hit(self.judge(verdict));
        }
        // A load could only end in a 503 unless a stale verdict or the
        // shared tier can answer: say it now.
        if !self.cache.serves_stale()
            && self.cache.tier().is_none()
            && let Some(retry_after) = self.upstream.refusing()
        {
            return Lookup::Refused(AuthRejection::Unavailable { retry_after });
        }
        Lookup::Miss
    }

    /// The verdict for `digest` (the key's), from whoever can give it; see
    /// the module docs for the order.
    pub(crate) async fn load(self: Arc<Self>, digest: Digest, key: SecretString) -> Loaded {
        // 1–3: the cache joins or starts the call, and stores its answer.
        let leader = Arc::clone(&self);
        let found = self
            .cache
            .load(digest, move || leader.call(digest, key))
            .await;
        let (verdict, outcome) = match found {
            Ok(found) => found,
            // 4: stale-if-error, or a 503.
            Err(error) => match self.stale(&digest, &error) {
                Some(principal) => (CachedVerdict::Valid(principal), CacheOutcome::Stale),
                None => {
                    let retry_after = error.retry_after().unwrap_or(self.retry_after);
                    tracing::warn!(error = %error, "key service unavailable; answering 503");
                    return Loaded {
                        verdict: Err(AuthRejection::Unavailable { retry_after }),
                        outcome: None,
                    };
                }
            },
        };
        crate::metrics::cache(outcome);
        // 5.
        Loaded {
            verdict: self.judge(verdict),
            outcome: Some(outcome),
        }
    }

    /// The leader's call for a key: through the shared tier in fleet mode,
    /// otherwise straight to the key service.
    fn call(self: Arc<Self>, digest: Digest, key: SecretString) -> Call {
        let tier = self.cache.tier().cloned();
        let validate: KeyServiceCall = Box::pin(async move {
            self.upstream
                .validate(&self.validator, key.expose_secret())
                .await
        });
        match tier {
            Some(tier) => tier.verdict(KeyDigest(digest), validate),
            None => Box::pin(async move { validate.await.map(TierVerdict::fresh) }),
        }
    }

    /// The kept verdict of `digest` to serve while the key service fails:
    /// only for a failure of the key service itself, never for this
    /// process's own saturation (the cache's invariant 5).
    fn stale(&self, digest: &Digest, error: &ValidatorError) -> Option<ApiKeyPrincipal> {
        if !error.is_key_service_failure() {
            return None;
        }
        let principal = self.cache.kept(digest)?;
        tracing::warn!(
            key_id = %principal.id(),
            error = %error,
            "key service failing; serving a stale verdict within the grace window"
        );
        Some(principal)
    }

    /// The principal a request may proceed as (a key past its `expires_at`
    /// or older than the key policy allows may not), counted as
    /// authenticated and as a use of its key.
    fn judge(&self, verdict: CachedVerdict) -> Result<ApiKeyPrincipal, AuthRejection> {
        let mut judged = verdict.judge(self.cache.clock());
        if let Ok(principal) = &judged
            && let Some(created_at) = principal.created_at()
            && self
                .policy
                .check_age(created_at, self.cache.clock().now())
                .is_err()
        {
            judged = Err(InvalidToken::TooOld.into());
        }
        if let Ok(principal) = &judged {
            self.metrics.authenticated(principal);
            // Access tokens have no key to count.
            if let (Some(usage), Some(id)) = (&self.usage, principal.key_id()) {
                usage.count(id, principal.usage_slot());
            }
        }
        judged
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use keygate_types::{OrganizationId, Owner, SecretString};

    use super::{Loaded, Lookup, Verdicts};
    use crate::cache::{CacheConfig, CacheOutcome, VerdictCache, digest};
    use crate::metrics::{LayerMetrics, MetricsConfig};
    use crate::upstream::{Upstream, UpstreamError, UpstreamPolicy};
    use crate::validator::{InMemoryValidator, ValidatorError};
    use crate::{AuthRejection, SystemClock};

    /// The miss path of a layer whose verdicts are fresh for no time and
    /// kept a minute for stale-if-error.
    fn with_grace(validator: Arc<InMemoryValidator>) -> Arc<Verdicts<Arc<InMemoryValidator>>> {
        let config = CacheConfig {
            positive_ttl: Duration::ZERO,
            grace: Some(Duration::from_secs(60)),
            ..CacheConfig::default()
        };
        Arc::new(Verdicts::new(
            validator,
            VerdictCache::new(&config, Arc::new(SystemClock), None),
            Upstream::new(UpstreamPolicy::default()),
            LayerMetrics::new(&MetricsConfig::default()),
            Duration::from_secs(7),
            None,
            keygate_types::KeyPolicy::new(),
        ))
    }

    fn issue(validator: &InMemoryValidator) -> SecretString {
        let owner = Owner::Organization {
            id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
        };
        validator.issue("ci", owner, ["posts:read"]).0
    }

    async fn load(verdicts: &Arc<Verdicts<Arc<InMemoryValidator>>>, key: &SecretString) -> Loaded {
        let d = digest(key.expose_secret());
        Arc::clone(verdicts).load(d, key.clone()).await
    }

    #[tokio::test]
    async fn stale_is_served_only_when_the_key_service_fails() {
        let validator = Arc::new(InMemoryValidator::new());
        let verdicts = with_grace(Arc::clone(&validator));
        let key = issue(&validator);
        let loaded = load(&verdicts, &key).await;
        assert!(loaded.verdict.is_ok());
        assert_eq!(loaded.outcome, Some(CacheOutcome::Miss));
        // Past its freshness at once: a miss, answered by the key service.
        let d = digest(key.expose_secret());
        assert!(matches!(verdicts.lookup(&d), Lookup::Miss));
        assert_eq!(
            load(&verdicts, &key).await.outcome,
            Some(CacheOutcome::Miss)
        );

        // The key service fails: the kept verdict answers.
        validator.set_unavailable(true);
        let loaded = load(&verdicts, &key).await;
        assert!(loaded.verdict.is_ok());
        assert_eq!(loaded.outcome, Some(CacheOutcome::Stale));

        // Once the key service says "invalid", nothing valid is kept.
        validator.set_unavailable(false);
        validator.remove(&key);
        assert!(load(&verdicts, &key).await.verdict.is_err());
        verdicts.cache.inner.forget(&crate::tier::Invalidation::All);
        validator.set_unavailable(true);
        let loaded = load(&verdicts, &key).await;
        assert!(matches!(
            loaded.verdict,
            Err(AuthRejection::Unavailable { retry_after }) if retry_after == Duration::from_secs(7)
        ));
        assert_eq!(loaded.outcome, None);
    }

    #[tokio::test]
    async fn saturation_never_serves_stale() {
        let validator = Arc::new(InMemoryValidator::new());
        let verdicts = with_grace(Arc::clone(&validator));
        let key = issue(&validator);
        assert!(load(&verdicts, &key).await.verdict.is_ok());
        let d = digest(key.expose_secret());
        let saturated = ValidatorError::saturated(UpstreamError::Saturated);
        assert!(verdicts.stale(&d, &saturated).is_none());
        // A validator's own error, whatever it wraps, is the key service's.
        let failed = ValidatorError::new(UpstreamError::Saturated);
        assert!(verdicts.stale(&d, &failed).is_some());
    }
}

//! [`ApiKeyAuthBuilder`]: everything about the layer but its defaults.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::layer::{ApiKeyAuth, DEFAULT_RETRY_AFTER};
use super::shared::Shared;
use crate::cache::{CacheConfig, VerdictCache};
use crate::credential::{CredentialConfig, Precheck};
use crate::rejection::{DefaultRejection, Refusals};
use crate::tier::SharedTier;
use crate::upstream::{CircuitBreaker, Upstream, UpstreamPolicy};
use crate::usage::UsageMeter;
use crate::verdicts::Verdicts;
use crate::{Clock, KeyValidator, SystemClock};

/// Configures an [`ApiKeyAuth`]; from [`ApiKeyAuth::builder`].
///
/// ```
/// use std::time::Duration;
/// use keygate_auth::{ApiKeyAuth, InMemoryValidator};
///
/// let auth = ApiKeyAuth::builder(InMemoryValidator::new())
///     .realm("posts-api")
///     .positive_ttl(Duration::from_secs(60))
///     .negative_ttl(Duration::from_secs(2))
///     .max_capacity(50_000)
///     .required_prefix("sk_")
///     .header(http::HeaderName::from_static("x-api-key"))
///     .query_parameter("api_key")
///     .optional()
///     .build();
/// # let _ = auth;
/// ```
pub struct ApiKeyAuthBuilder<V, R = DefaultRejection> {
    validator: V,
    on_rejection: R,
    credentials: CredentialConfig,
    precheck: Option<Precheck>,
    optional: bool,
    retry_after: Duration,
    cache: CacheConfig,
    clock: Arc<dyn Clock>,
    upstream: UpstreamPolicy,
    shared_tier: Option<Arc<dyn SharedTier>>,
    usage: Option<UsageMeter>,
    metrics: crate::metrics::MetricsConfig,
    #[cfg(feature = "client")]
    listener: Option<crate::revocation::ListenerConfig>,
    #[cfg(feature = "jwt")]
    tokens: Option<crate::jwt::JwtVerifier>,
}

impl<V, R> fmt::Debug for ApiKeyAuthBuilder<V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthBuilder")
            .field("credentials", &self.credentials)
            .field("precheck", &self.precheck)
            .field("optional", &self.optional)
            .field("retry_after", &self.retry_after)
            .field("cache", &self.cache)
            .field("clock", &self.clock)
            .field("upstream", &self.upstream)
            .field("shared_tier", &self.shared_tier)
            .finish_non_exhaustive()
    }
}

impl<V: KeyValidator> ApiKeyAuthBuilder<V, DefaultRejection> {
    pub(crate) fn new(validator: V) -> Self {
        Self {
            validator,
            on_rejection: DefaultRejection::default(),
            credentials: CredentialConfig::default(),
            precheck: None,
            optional: false,
            retry_after: DEFAULT_RETRY_AFTER,
            cache: CacheConfig::default(),
            clock: Arc::new(SystemClock),
            upstream: UpstreamPolicy::default(),
            shared_tier: None,
            usage: None,
            metrics: crate::metrics::MetricsConfig::default(),
            #[cfg(feature = "client")]
            listener: None,
            #[cfg(feature = "jwt")]
            tokens: None,
        }
    }

    /// The `realm` named in `WWW-Authenticate` (default `"api"`).
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.on_rejection = DefaultRejection::with_realm(realm);
        self
    }

    /// Builds refusals with `on_rejection` instead of the RFC 6750 defaults:
    /// any [`OnRejection`](crate::OnRejection), such as a closure.
    pub fn on_rejection<R2>(self, on_rejection: R2) -> ApiKeyAuthBuilder<V, R2> {
        ApiKeyAuthBuilder {
            validator: self.validator,
            on_rejection,
            credentials: self.credentials,
            precheck: self.precheck,
            optional: self.optional,
            retry_after: self.retry_after,
            cache: self.cache,
            clock: self.clock,
            upstream: self.upstream,
            shared_tier: self.shared_tier,
            usage: self.usage,
            metrics: self.metrics,
            #[cfg(feature = "client")]
            listener: self.listener,
            #[cfg(feature = "jwt")]
            tokens: self.tokens,
        }
    }
}

impl<V: KeyValidator, R> ApiKeyAuthBuilder<V, R> {
    /// How long a valid verdict is kept (default 30 s). It is always cut short
    /// at the key's own `expires_at`.
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.cache.positive_ttl = ttl;
        self
    }

    /// How long a definite "invalid" verdict is kept (default 5 s), so a
    /// flood of requests with one bad key makes one call per interval.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.cache.negative_ttl = ttl;
        self
    }

    /// The most valid verdicts kept (default 10,000); moka evicts the least
    /// useful beyond that.
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.cache.max_capacity = entries;
        self
    }

    /// The most "invalid" verdicts kept (default 1,000), apart from the valid
    /// ones, so that a flood of distinct unknown keys cannot evict a valid
    /// key's verdict.
    pub fn max_invalid_capacity(mut self, entries: u64) -> Self {
        self.cache.max_invalid_capacity = entries;
        self
    }

    /// The longest key accepted, in bytes (default 256), checked before
    /// anything else looks at the credential.
    pub fn max_key_length(mut self, bytes: usize) -> Self {
        self.credentials.max_len = bytes;
        self
    }

    /// Also reads the key from the header `name` (such as `X-Api-Key`).
    pub fn header(mut self, name: HeaderName) -> Self {
        self.credentials.header = Some(name);
        self
    }

    /// Also reads the key from the query parameter `name`, for clients such
    /// as browsers' WebSockets that cannot set headers. Query strings end up
    /// in access logs: prefer headers where you can.
    pub fn query_parameter(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.credentials.query = Some(name.into());
        self
    }

    /// Refuses keys that fail `precheck` as `invalid_token`, without asking
    /// the key service or caching anything.
    pub fn precheck(mut self, precheck: Precheck) -> Self {
        self.precheck = Some(precheck);
        self
    }

    /// Refuses keys that do not start with `prefix` (such as `"sk_"`) locally.
    pub fn required_prefix(self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.precheck(Precheck::prefix(prefix))
    }

    /// Optional mode: a request with **no** credential at all reaches the
    /// inner service, marked so that `Option<ApiKeyPrincipal>` is `None`. A
    /// credential that is present but malformed or invalid is still refused.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The `Retry-After` of a 503 when the validator's error carries no hint
    /// (default 5 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The wall clock `expires_at` is checked against (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Stale-if-error: while the key service fails (an error, a timeout,
    /// the circuit breaker open after such failures), keep serving a key's
    /// last **valid** verdict for up to `grace` past the positive TTL. Off
    /// by default.
    ///
    /// Never when the key service did not fail but this process had no slot
    /// left to ask it, never after a definite "invalid" answer or an
    /// invalidation (a revocation event) for that key, never past the key's
    /// `expires_at`.
    /// Each such request is logged as a warning with the key id and recorded
    /// with the cache outcome `stale`.
    pub fn stale_if_error(mut self, grace: Duration) -> Self {
        self.cache.grace = Some(grace);
        self
    }

    /// The longest a cache miss waits for the key service, retries included
    /// (default 5 s); then 503. Waiting for a slot (see
    /// [`max_concurrent_validations`](Self::max_concurrent_validations)) is
    /// bounded by the same duration, separately: a call that got its slot
    /// late still has its whole budget, so the breaker never counts this
    /// process's queue as the key service's slowness.
    pub fn upstream_timeout(mut self, timeout: Duration) -> Self {
        self.upstream.timeout = timeout;
        self
    }

    /// Retries of a failed validation by the layer (default 0), with full
    /// jitter from `initial_backoff` doubling, or the key service's
    /// `Retry-After` plus jitter; never past the
    /// [`upstream_timeout`](Self::upstream_timeout).
    ///
    /// `keygate_client::Client` already retries by itself (2 retries by
    /// default, see its `RetryPolicy`): either keep the layer at 0, or build
    /// the client with `max_retries(0)` and retry here, where the timeout and
    /// the circuit breaker see every attempt. Retrying in both multiplies
    /// the attempts.
    pub fn upstream_retries(mut self, retries: u32, initial_backoff: Duration) -> Self {
        self.upstream.retries = retries;
        self.upstream.initial_backoff = initial_backoff;
        self
    }

    /// The most validations in flight at once for this layer (default 64).
    /// A miss beyond it waits for a slot, within the
    /// [`upstream_timeout`](Self::upstream_timeout), while fewer misses than
    /// that already wait; beyond that it is answered 503 at once (load
    /// shedding: a flood of unknown keys sheds its own excess rather than
    /// queueing ahead of the keys behind it).
    pub fn max_concurrent_validations(mut self, max: usize) -> Self {
        self.upstream.max_concurrent = max.max(1);
        self
    }

    /// The circuit breaker in front of the key service (default: opens after
    /// 5 consecutive failures, for 5 s). [`CircuitBreaker::disabled`] turns it off.
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.upstream.breaker = breaker;
        self
    }

    /// Follows the key service's Events API through `client` every
    /// `interval` and invalidates revoked and updated keys, so a revoked key
    /// stops working within about one interval (plus one request) instead of
    /// the positive TTL. The listener starts "from now", keeps its cursor
    /// across errors, backs off while the Events API fails, and stops when
    /// the last clone of this layer and its services is dropped. Cost: one
    /// request per interval per process; see [`RevocationListener`](crate::RevocationListener).
    ///
    /// ```
    /// use std::time::Duration;
    /// use keygate_auth::ApiKeyAuth;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emu = keygate_emulator::Emulator::start().await?;
    /// let client = keygate_client::Client::builder()
    ///     .secret(emu.secret().clone())
    ///     .base_url(emu.base_url())
    ///     .build()?;
    /// let auth = ApiKeyAuth::builder(client.clone())
    ///     .revocation_listener(client, Duration::from_secs(5))
    ///     .build();
    /// assert!(auth.revocation_listener().is_some_and(|l| l.is_running()));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    pub fn revocation_listener(
        mut self,
        client: keygate_client::Client,
        interval: Duration,
    ) -> Self {
        self.listener = Some(crate::revocation::ListenerConfig::new(client, interval));
        self
    }

    /// Fleet mode: a verdict tier shared by the service's replicas, such as
    /// `keygate_redis::RedisTier`. A miss in this process asks the tier
    /// before the key service, one replica calls the key service for a new
    /// key while the others wait for its answer, and every invalidation
    /// (by the listener, a webhook, or your code through
    /// [`VerdictCache`]) reaches every replica. A hit here never reaches the
    /// tier. With a [revocation listener](Self::revocation_listener), only
    /// the replica that holds the tier's [`EventsLease`](crate::tier::EventsLease)
    /// polls the Events API.
    pub fn shared_tier(mut self, tier: impl SharedTier) -> Self {
        self.shared_tier = Some(Arc::new(tier));
        self
    }

    /// Counts the requests of each API key in `meter`, for its holder to see
    /// (read it with [`UsageMeter::usage`]; in a fleet, flush it into
    /// `keygate_redis::RedisUsage`). See [`crate::usage`].
    pub fn usage(mut self, meter: UsageMeter) -> Self {
        self.usage = Some(meter);
        self
    }

    /// Counts requests per organization (`keygate_auth_organization_requests_total`)
    /// under at most `labels` distinct organization ids (default
    /// [`DEFAULT_ORGANIZATION_LABELS`](crate::DEFAULT_ORGANIZATION_LABELS), 100);
    /// the organizations seen after those are counted as `other`, so the
    /// recorder's memory stays bounded whoever calls. `0` turns the count off.
    /// See [the metrics](crate#metrics).
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn organization_metrics(mut self, labels: usize) -> Self {
        self.metrics.organizations = labels;
        self
    }

    /// Also accepts M2M access tokens and AuthKit session access tokens
    /// (the kinds `verifier` is built for) on the same routes: a credential
    /// shaped like a JWT goes to `verifier`, an `sk_…` key to the key
    /// service as before, and both give a [`Principal`](crate::Principal)
    /// to the same guards. Its revocation listener, if any, also denies
    /// revoked sessions. Without it, nothing changes.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn access_tokens(mut self, verifier: crate::jwt::JwtVerifier) -> Self {
        self.credentials.token_max_len = crate::jwt::MAX_TOKEN_LENGTH;
        self.tokens = Some(verifier);
        self
    }

    /// Builds the layer, and starts its [revocation listener](Self::revocation_listener)
    /// if it has one.
    pub fn build(self) -> ApiKeyAuth<V, R> {
        let cache = VerdictCache::new(&self.cache, self.clock, self.shared_tier.clone());
        #[cfg(feature = "jwt")]
        if let Some(tokens) = &self.tokens {
            cache.follow_sessions(tokens.session_denylist().clone());
        }
        if let Some(tier) = &self.shared_tier {
            tier.attach(cache.follower());
        }
        #[cfg(feature = "client")]
        let listener = self.listener.map(|config| {
            #[cfg(feature = "jwt")]
            let config = match &self.tokens {
                Some(tokens) => config.with_sessions(tokens),
                None => config,
            };
            let lease = self
                .shared_tier
                .as_ref()
                .and_then(|tier| tier.events_lease());
            crate::revocation::ListenerHandle::start(config.with_lease(lease), cache.clone())
        });
        ApiKeyAuth {
            shared: Arc::new(Shared {
                verdicts: Arc::new(Verdicts::new(
                    self.validator,
                    cache,
                    Upstream::new(self.upstream),
                    crate::metrics::LayerMetrics::new(&self.metrics),
                    self.retry_after,
                    self.usage,
                )),
                refusals: Arc::new(Refusals::new(self.on_rejection)),
                credentials: self.credentials,
                precheck: self.precheck,
                optional: self.optional,
                #[cfg(feature = "jwt")]
                tokens: self.tokens,
                #[cfg(feature = "client")]
                listener,
            }),
        }
    }
}

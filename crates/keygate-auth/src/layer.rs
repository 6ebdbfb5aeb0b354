//! [`ApiKeyAuth`], the layer, and its builder.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use keygate_types::ApiKeyId;
use tower::Layer;

use crate::cache::{CacheConfig, CacheStats, VerdictCache};
use crate::credential::CredentialConfig;
use crate::upstream::{BreakerState, CircuitBreaker, Upstream, UpstreamPolicy};
use crate::{ApiKeyAuthService, Clock, DefaultRejection, KeyValidator, Precheck, SystemClock};

/// The default `Retry-After` of a 503 when the validator gives no hint.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A tower [`Layer`] that authenticates every request by its API key.
///
/// It reads the key (see [the credential rules](crate#the-credential)), looks
/// its verdict up in a [`VerdictCache`] or asks the [`KeyValidator`], and
/// either puts an [`ApiKeyPrincipal`](crate::ApiKeyPrincipal) in the request's
/// extensions and calls the inner service, or answers with an RFC 6750
/// refusal built by `R` (see [`OnRejection`](crate::OnRejection)).
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
    pub(crate) cache: VerdictCache,
}

/// What the layer's services share.
pub(crate) struct Shared<V, R> {
    pub(crate) validator: V,
    pub(crate) on_rejection: R,
    pub(crate) credentials: CredentialConfig,
    pub(crate) precheck: Option<Precheck>,
    pub(crate) optional: bool,
    pub(crate) retry_after: Duration,
    pub(crate) upstream: Upstream,
    /// Stops the revocation listener when the last layer or service goes.
    #[cfg(feature = "client")]
    pub(crate) listener: Option<crate::revocation::ListenerHandle>,
}

impl<V, R> Clone for ApiKeyAuth<V, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            cache: self.cache.clone(),
        }
    }
}

impl<V, R> fmt::Debug for ApiKeyAuth<V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuth")
            .field("credentials", &self.shared.credentials)
            .field("precheck", &self.shared.precheck)
            .field("optional", &self.shared.optional)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl<V: KeyValidator> ApiKeyAuth<V> {
    /// The layer with good defaults: `Authorization: Bearer` only, keys up to
    /// 256 bytes, valid verdicts kept 30 s (never past the key's
    /// `expires_at`), invalid ones 5 s, up to 10,000 verdicts, every request
    /// required to carry a key.
    pub fn new(validator: V) -> Self {
        Self::builder(validator).build()
    }

    /// A builder for everything else.
    pub fn builder(validator: V) -> ApiKeyAuthBuilder<V> {
        ApiKeyAuthBuilder {
            validator,
            on_rejection: DefaultRejection::default(),
            credentials: CredentialConfig::default(),
            precheck: None,
            optional: false,
            retry_after: DEFAULT_RETRY_AFTER,
            cache: CacheConfig::default(),
            clock: Arc::new(SystemClock),
            upstream: UpstreamPolicy::default(),
            #[cfg(feature = "client")]
            listener: None,
        }
    }
}

impl<V, R> ApiKeyAuth<V, R> {
    /// The verdict cache this layer's services share.
    pub fn cache(&self) -> &VerdictCache {
        &self.cache
    }

    /// The cache's counters: hits, misses, coalesced loads, errors, invalidations.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Forgets the cached verdict for the key `key`; see [`VerdictCache::invalidate_key`].
    pub async fn invalidate_key(&self, key: &str) -> bool {
        self.cache.invalidate_key(key).await
    }

    /// Forgets the cached verdict for the key with id `id`; see [`VerdictCache::invalidate_id`].
    pub async fn invalidate_id(&self, id: &ApiKeyId) -> bool {
        self.cache.invalidate_id(id).await
    }

    /// The validator.
    pub fn validator(&self) -> &V {
        &self.shared.validator
    }

    /// Where the circuit breaker in front of the key service is.
    pub fn breaker_state(&self) -> BreakerState {
        self.shared.upstream.breaker_state()
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
        ApiKeyAuthService::new(inner, Arc::clone(&self.shared), self.cache.clone())
    }
}

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
    #[cfg(feature = "client")]
    listener: Option<crate::revocation::ListenerConfig>,
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
            .finish_non_exhaustive()
    }
}

impl<V: KeyValidator> ApiKeyAuthBuilder<V, DefaultRejection> {
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
            #[cfg(feature = "client")]
            listener: self.listener,
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

    /// The most verdicts kept (default 10,000); moka evicts the least useful.
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.cache.max_capacity = entries;
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
    /// the circuit breaker open), keep serving a key's last **valid** verdict
    /// for up to `grace` past the positive TTL. Off by default.
    ///
    /// Never after a definite "invalid" answer or an invalidation (a
    /// revocation event) for that key, never past the key's `expires_at`.
    /// Each such request is logged as a warning with the key id and recorded
    /// with the cache outcome `stale`.
    pub fn stale_if_error(mut self, grace: Duration) -> Self {
        self.cache.grace = Some(grace);
        self
    }

    /// The longest a cache miss waits for the key service, retries and
    /// waiting for a slot included (default 5 s); then 503.
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
    /// [`upstream_timeout`](Self::upstream_timeout).
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

    /// Builds the layer.
    ///
    /// A [revocation listener](Self::revocation_listener) starts here when a
    /// Tokio runtime is running, otherwise with the first request.
    pub fn build(self) -> ApiKeyAuth<V, R> {
        let cache = VerdictCache::new(&self.cache, self.clock);
        #[cfg(feature = "client")]
        let listener = self
            .listener
            .map(|config| crate::revocation::ListenerHandle::new(config, cache.clone()));
        ApiKeyAuth {
            shared: Arc::new(Shared {
                validator: self.validator,
                on_rejection: self.on_rejection,
                credentials: self.credentials,
                precheck: self.precheck,
                optional: self.optional,
                retry_after: self.retry_after,
                upstream: Upstream::new(self.upstream),
                #[cfg(feature = "client")]
                listener,
            }),
            cache,
        }
    }
}

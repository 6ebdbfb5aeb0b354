//! [`RateLimit`], the layer, and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use keygate_auth::ApiKeyPrincipal;
use tower::Layer;

use crate::headers::sf_string;
use crate::limiter::fallback::Fallback;
use crate::limiter::local::LocalLimiter;
use crate::limiter::{Limits, QuotaSource};
use crate::service::RateLimitService;
use crate::{BudgetStats, Partition, Quota, SharedBudget};

/// How often idle partitions are pruned from the in-process limiter, by default.
pub const DEFAULT_PRUNE_INTERVAL: Duration = Duration::from_secs(30);

/// A tower [`Layer`] that holds each authenticated caller to a quota: it
/// runs behind [`ApiKeyAuth`](keygate_auth::ApiKeyAuth), reads the
/// [`ApiKeyPrincipal`] it left in the request's extensions, and spends one
/// request of the principal's [`Partition`]'s budget (its key, owner or
/// organization).
///
/// - Within the budget, the request goes on, and the response carries
///   `RateLimit-Policy` and `RateLimit` (unless
///   [`headers_on_success(false)`](RateLimitBuilder::headers_on_success)).
/// - Past it, the answer is 429 with `Retry-After`, the same headers
///   (`r=0`) and a JSON body; see [`RateLimited`](crate::RateLimited).
/// - Anonymous requests (an `ApiKeyAuth` in optional mode let them through
///   without a key) are not limited, unless
///   [`anonymous`](RateLimitBuilder::anonymous) gives them one shared quota.
/// - A request with neither a principal nor the anonymous mark means the
///   layer runs in front of authentication: it answers 500 and logs the
///   misconfiguration once, rather than let everything through unlimited.
///
/// In axum the last `.layer` runs first, so add this one before `ApiKeyAuth`:
///
/// ```
/// use axum::{Router, routing::get};
/// use keygate_auth::{ApiKeyAuth, InMemoryValidator};
/// use keygate_ratelimit::{Quota, RateLimit};
///
/// let app: Router = Router::new()
///     .route("/posts", get(|| async { "posts" }))
///     .layer(RateLimit::per_key(Quota::per_second(10)))
///     .layer(ApiKeyAuth::new(InMemoryValidator::new()));
/// # let _ = app;
/// ```
///
/// Cloning it is cheap, and clones share their budgets.
pub struct RateLimit {
    pub(crate) limits: Arc<Limits>,
}

impl RateLimit {
    /// Each API key held to `quota`, in process.
    pub fn per_key(quota: Quota) -> Self {
        Self::builder(quota).build()
    }

    /// A builder, with `quota` for every principal until
    /// [`quota_for`](RateLimitBuilder::quota_for) says otherwise.
    pub fn builder(quota: Quota) -> RateLimitBuilder {
        RateLimitBuilder {
            partition: Partition::Key,
            policy_name: None,
            quota: QuotaSource::Fixed(quota),
            anonymous: None,
            headers_on_success: true,
            prune_interval: DEFAULT_PRUNE_INTERVAL,
            shared: None,
        }
    }

    /// How many partitions the in-process limiter holds now (all quotas).
    /// With a shared budget, the partitions its fallback holds while it
    /// decides count too.
    pub fn tracked_partitions(&self) -> usize {
        self.limits.local.len() + self.limits.fallback.len()
    }

    /// Drops the idle partitions from the in-process limiter now, rather
    /// than at the next due check.
    pub fn prune(&self) {
        self.limits.local.prune();
        self.limits.fallback.prune();
    }

    /// What the [shared budget](RateLimitBuilder::shared_budget) and its
    /// fallback have decided; `None` without a shared budget.
    pub fn budget_stats(&self) -> Option<BudgetStats> {
        let limits = &*self.limits;
        limits.shared.as_ref()?;
        let (shared, fallback) = limits.fallback.counts();
        Some(BudgetStats {
            shared,
            fallback,
            falling_back: limits.fallback.active(),
        })
    }
}

impl Clone for RateLimit {
    fn clone(&self) -> Self {
        Self {
            limits: Arc::clone(&self.limits),
        }
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limits = &*self.limits;
        let mut debug = f.debug_struct("RateLimit");
        debug
            .field("partition", &limits.partition)
            .field("policy", &limits.quoted_name)
            .field("anonymous", &limits.anonymous)
            .field("headers_on_success", &limits.headers_on_success);
        if let QuotaSource::Fixed(quota) = &limits.quota {
            debug.field("quota", quota);
        }
        debug.field("shared_budget", &limits.shared);
        debug.finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RateLimit {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, Arc::clone(&self.limits))
    }
}

#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
impl RateLimit {
    /// This rate limit (its budgets shared) in front of tonic services alone:
    /// it refuses with trailers-only 8 `RESOURCE_EXHAUSTED` responses
    /// ([`RateLimited::grpc_status`](crate::RateLimited::grpc_status)), whose
    /// body need only be `Default`, as tonic's is.
    ///
    /// On a server that answers REST and gRPC alike (an axum router), keep
    /// the rate limit itself behind a `keygate_auth::grpc::GrpcGate`: its
    /// 429 carries the same status, and the gate answers gRPC calls with it.
    ///
    /// ```
    /// use keygate_ratelimit::{Quota, RateLimit};
    ///
    /// let limit = RateLimit::per_key(Quota::per_second(10));
    /// // Server::builder().layer(gate).layer(limit.grpc()).add_service(…)
    /// let grpc = limit.grpc();
    /// # let _ = grpc;
    /// ```
    pub fn grpc(&self) -> GrpcRateLimit {
        GrpcRateLimit(self.clone())
    }
}

/// A [`RateLimit`] that refuses in gRPC; from [`RateLimit::grpc`].
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
#[derive(Clone, Debug)]
pub struct GrpcRateLimit(RateLimit);

#[cfg(feature = "tonic")]
impl GrpcRateLimit {
    /// The rate limit, its budgets and stats.
    pub fn rate_limit(&self) -> &RateLimit {
        &self.0
    }
}

#[cfg(feature = "tonic")]
impl<S> Layer<S> for GrpcRateLimit {
    type Service = RateLimitService<S, crate::GrpcRefusals>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, Arc::clone(&self.0.limits))
    }
}

/// Builds a [`RateLimit`]; from [`RateLimit::builder`].
///
/// ```
/// use keygate_ratelimit::{Partition, Quota, RateLimit};
///
/// // Per organization: 100 a second, 1,000 for those whose key says
/// // "plan:pro", no limit for internal keys.
/// let rate_limit = RateLimit::builder(Quota::per_second(100))
///     .partition(Partition::Organization)
///     .quota_for(|principal| {
///         if principal.has_permission("internal") {
///             None
///         } else if principal.has_permission("plan:pro") {
///             Some(Quota::per_second(1_000))
///         } else {
///             Some(Quota::per_second(100))
///         }
///     })
///     .build();
/// # let _ = rate_limit;
/// ```
#[must_use]
pub struct RateLimitBuilder {
    partition: Partition,
    policy_name: Option<String>,
    quota: QuotaSource,
    anonymous: Option<Quota>,
    headers_on_success: bool,
    prune_interval: Duration,
    shared: Option<Arc<dyn SharedBudget>>,
}

impl RateLimitBuilder {
    /// Whose budget a request spends (default: [`Partition::Key`]).
    pub fn partition(mut self, partition: Partition) -> Self {
        self.partition = partition;
        self
    }

    /// Each principal's quota, from the principal (its permissions, its
    /// key, its organization): `None` means no limit. It replaces the
    /// builder's quota, and runs on every request, so keep it cheap (a
    /// lookup, not a call). Quotas are compared by value: each distinct one
    /// gets its own in-process limiter, kept for the layer's life.
    pub fn quota_for<F>(mut self, quota_of: F) -> Self
    where
        F: Fn(&ApiKeyPrincipal) -> Option<Quota> + Send + Sync + 'static,
    {
        self.quota = QuotaSource::Per(Arc::new(quota_of));
        self
    }

    /// One quota shared by all anonymous requests (those an `ApiKeyAuth` in
    /// optional mode let through without a key). By default they are not limited.
    pub fn anonymous(mut self, quota: Quota) -> Self {
        self.anonymous = Some(quota);
        self
    }

    /// The policy's name in the `RateLimit` headers (default: `per-key`,
    /// `per-owner` or `per-organization`, after the partition). Characters
    /// other than printable ASCII are dropped.
    pub fn policy_name(mut self, name: impl Into<String>) -> Self {
        self.policy_name = Some(name.into());
        self
    }

    /// Whether accepted responses carry `RateLimit-Policy` and `RateLimit`
    /// (default: yes; 429s always do). They cost two small header values a
    /// response, measured in `benches/limiter_cost`.
    pub fn headers_on_success(mut self, yes: bool) -> Self {
        self.headers_on_success = yes;
        self
    }

    /// How often, at most, idle partitions are pruned from the in-process
    /// limiter (default: 30 s); see [the crate docs](crate#memory).
    pub fn prune_interval(mut self, interval: Duration) -> Self {
        self.prune_interval = interval;
        self
    }

    /// One budget per partition shared by every replica (keygate-redis's
    /// `RedisBudget` keeps it in Redis). Every limited request asks it;
    /// while it cannot decide, the layer decides alone from a fallback that
    /// starts every partition empty: see [`SharedBudget`] for what that
    /// allows at worst.
    pub fn shared_budget(mut self, budget: impl SharedBudget) -> Self {
        self.shared = Some(Arc::new(budget));
        self
    }

    /// The layer.
    pub fn build(self) -> RateLimit {
        let name = self
            .policy_name
            .as_deref()
            .unwrap_or(self.partition.policy_name());
        let quoted_name = sf_string(name);
        let default = match &self.quota {
            QuotaSource::Fixed(quota) => Some(*quota),
            QuotaSource::Per(_) => None,
        };
        RateLimit {
            limits: Arc::new(Limits {
                partition: self.partition,
                local: LocalLimiter::new(quoted_name.clone(), default, self.prune_interval),
                quoted_name,
                quota: self.quota,
                anonymous: self.anonymous,
                headers_on_success: self.headers_on_success,
                shared: self.shared,
                fallback: Fallback::new(self.prune_interval),
            }),
        }
    }
}

impl fmt::Debug for RateLimitBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("partition", &self.partition)
            .field("policy_name", &self.policy_name)
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

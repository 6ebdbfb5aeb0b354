//! [`SharedBudget`]: one budget per partition for every replica, kept
//! somewhere they all reach (keygate-redis's `RedisBudget` keeps it in
//! Redis), and what the layer does while it cannot decide.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::Quota;

/// A future a shared budget returns.
pub type BudgetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shared budget's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Accepted: `remaining` more requests fit now, and the budget is whole
    /// again after `reset`.
    Accepted {
        /// Requests that fit now, after this one.
        remaining: u32,
        /// The time until the budget is whole again.
        reset: Duration,
    },
    /// Refused: the next request fits after `retry_after`.
    Limited {
        /// The time until the next request fits.
        retry_after: Duration,
    },
}

/// Why a shared budget could not decide a request: the layer decides it
/// from its local fallback instead (see [`SharedBudget`]).
#[derive(Debug)]
pub struct BudgetUnavailable {
    source: Box<dyn Error + Send + Sync>,
}

impl BudgetUnavailable {
    /// The budget could not decide, because of `source` (logged at `warn`,
    /// at most every 10 s: it must not hold a secret).
    pub fn new(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

impl fmt::Display for BudgetUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the shared budget could not decide: {}", self.source)
    }
}

impl Error for BudgetUnavailable {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// One budget per partition shared by every replica of a service, given
/// to [`RateLimitBuilder::shared_budget`](crate::RateLimitBuilder::shared_budget).
/// keygate-redis's `RedisBudget` implements it on Redis.
///
/// The layer asks it about every limited request, and keeps no state of
/// its own while it answers. When it answers [`BudgetUnavailable`], the
/// layer decides alone, from its **local fallback**, and stays with it
/// until the budget decides a request again. The fallback cannot know what
/// the shared budget had counted, so it assumes the worst:
///
/// - A *spell* without the shared budget begins at the first request it
///   could not decide and ends at the next one it decides. Within a spell,
///   every partition starts **empty**, as if its whole burst had been spent
///   the moment the spell began, and refills at the quota's steady rate,
///   one request per replenish interval `T = window / count`, up to the
///   burst. Each spell starts empty again.
/// - So the k-th request of a partition accepted alone in a spell comes at
///   least `k·T` into the spell: in a spell of length `D`, one replica
///   accepts at most `⌊D / T⌋` requests of a partition, on top of whatever
///   the shared budget counted. A fleet of N replicas cut off for `D`
///   accepts at most `N·⌊D / T⌋` more than the shared budget allowed: N
///   times the steady rate, never a burst. (Quota 5 a minute, one replica,
///   the budget failing a second after it counted the whole burst: the next
///   request is accepted 12 s into the spell, so at most 9 in the first
///   minute, as the budget itself would have allowed.)
/// - The price: a caller with budget left in the shared store is refused
///   for the first `T` of a spell, and gets its burst back only after
///   `burst·T` of it.
/// - The spell is logged at `warn` when it begins (at most every 10 s), and
///   its end at `info`; [`RateLimit::budget_stats`](crate::RateLimit::budget_stats)
///   counts both kinds of decision.
///
/// An implementation must answer within a bounded time (a timeout of its
/// own): the request waits for it. It must never make up a refusal for a
/// failure of its own, but answer [`BudgetUnavailable`].
///
/// What the store holds is not signed: whoever can write it can make a
/// partition refuse requests it should accept, or accept more than its
/// quota. That is the whole of it: a rate limit runs after authentication,
/// so the store can never make a request authenticated.
///
/// A test budget that never answers, to see the fallback:
///
/// ```
/// use keygate_ratelimit::{
///     BudgetFuture, BudgetUnavailable, Decision, Quota, RateLimit, SharedBudget,
/// };
///
/// #[derive(Debug)]
/// struct Unreachable;
///
/// impl SharedBudget for Unreachable {
///     fn spend(
///         &self,
///         _partition: &str,
///         _quota: Quota,
///     ) -> BudgetFuture<'static, Result<Decision, BudgetUnavailable>> {
///         Box::pin(async { Err(BudgetUnavailable::new("the store is down")) })
///     }
/// }
///
/// let rate_limit = RateLimit::builder(Quota::per_second(10))
///     .shared_budget(Unreachable)
///     .build();
/// # let _ = rate_limit;
/// ```
pub trait SharedBudget: fmt::Debug + Send + Sync + 'static {
    /// Spends one request of `partition`'s budget under `quota`, if there
    /// is one left. `partition` is the id of a key, owner or organization
    /// (`api_key_…`, `user_…`, `org_…`) or `anonymous`, never a key's
    /// value. The budget keeps its own clock: replicas' clocks differ.
    fn spend(
        &self,
        partition: &str,
        quota: Quota,
    ) -> BudgetFuture<'static, Result<Decision, BudgetUnavailable>>;
}

/// What a layer's shared budget and its fallback have decided so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BudgetStats {
    /// Requests decided by the shared budget.
    pub shared: u64,
    /// Requests decided by the local fallback, because the shared budget
    /// could not.
    pub fallback: u64,
    /// Whether the fallback decides now: the last request was its.
    pub falling_back: bool,
}

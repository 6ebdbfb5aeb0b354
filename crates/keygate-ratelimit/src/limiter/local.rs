//! The in-process limiter: one `governor` keyed GCRA limiter per distinct
//! quota, its idle partitions pruned as traffic goes on.
//!
//! Memory: a partition costs one entry (its id and 8 bytes of state) while
//! its budget is not whole again. Every [`PRUNE_CHECK_EVERY`]th check on a
//! limiter looks at the clock, and once the prune interval has passed since
//! the last pass, that request runs `retain_recent` (drops the partitions
//! whose budget is whole: they are indistinguishable from new ones) and
//! `shrink_to_fit`. Memory so follows the partitions active within one
//! interval, and a service with no traffic holds what it had, no more.
//! Quotas are few (the configured one and whatever the override returns),
//! and their limiters are kept for the layer's life.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use http::HeaderValue;

use crate::Decision;
use crate::Quota;
use crate::headers;

/// How many checks on one limiter between two looks at the prune clock.
pub(crate) const PRUNE_CHECK_EVERY: u64 = 256;

/// Up to this burst, a limiter keeps the `RateLimit` value of each
/// remaining count ready (a local decision's reset follows from its
/// remaining count), so an accepted request formats nothing.
const READY_VALUES: u32 = 256;

/// The id naming a partition's budget (`api_key_…`, `user_…`, `org_…`,
/// or `anonymous`): the limiter's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PartitionId(pub(crate) String);

type Keyed = governor::RateLimiter<
    PartitionId,
    DefaultKeyedStateStore<PartitionId>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// One quota's limiter, and its `RateLimit-Policy` value.
pub(crate) struct Bucket {
    quota: Quota,
    limiter: Keyed,
    pub(crate) policy: HeaderValue,
    /// `RateLimit` values by remaining count, for bursts up to [`READY_VALUES`].
    remaining: Vec<HeaderValue>,
    quoted_name: String,
    checks: AtomicU64,
    pruning: AtomicBool,
    last_prune: RwLock<Instant>,
}

impl Bucket {
    fn new(quota: Quota, quoted_name: &str) -> Self {
        let ready = if quota.burst() <= READY_VALUES {
            quota.burst()
        } else {
            0
        };
        let remaining = (0..ready)
            .map(|n| headers::remaining(quoted_name, n, refill_time(&quota, n)))
            .collect();
        Self {
            quota,
            limiter: governor::RateLimiter::keyed(quota.to_governor())
                .with_middleware::<StateInformationMiddleware>(),
            policy: headers::policy(quoted_name, &quota),
            remaining,
            quoted_name: quoted_name.to_owned(),
            checks: AtomicU64::new(0),
            pruning: AtomicBool::new(false),
            last_prune: RwLock::new(Instant::now()),
        }
    }

    /// Spends one request of `id`'s budget, if there is one left.
    pub(crate) fn check(&self, id: &PartitionId, prune_interval: Duration) -> Decision {
        let decision = match self.limiter.check_key(id) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision::Accepted {
                    remaining,
                    reset: refill_time(&self.quota, remaining),
                }
            }
            Err(not_until) => Decision::Limited {
                retry_after: not_until.wait_time_from(self.limiter.clock().now()),
            },
        };
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PRUNE_CHECK_EVERY)
        {
            self.prune_if_due(prune_interval);
        }
        decision
    }

    /// The `RateLimit` value of an accepted request: ready-made for a
    /// local decision (`reset` follows from `remaining`), formatted otherwise.
    pub(crate) fn remaining_value(&self, remaining: u32, reset: Duration) -> HeaderValue {
        match self.remaining.get(remaining as usize) {
            Some(value) if reset == refill_time(&self.quota, remaining) => value.clone(),
            _ => headers::remaining(&self.quoted_name, remaining, reset),
        }
    }

    fn prune_if_due(&self, interval: Duration) {
        let due = self
            .last_prune
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
            >= interval;
        // One pass at a time; the others go on with their requests.
        if due && !self.pruning.swap(true, Ordering::Acquire) {
            self.prune();
            self.pruning.store(false, Ordering::Release);
        }
    }

    fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        *self
            .last_prune
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// The partitions this limiter holds now.
    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// How long until a budget with `remaining` requests left is whole again.
fn refill_time(quota: &Quota, remaining: u32) -> Duration {
    quota.replenish_interval() * quota.burst().saturating_sub(remaining)
}

/// Every quota's limiter.
pub(crate) struct LocalLimiter {
    quoted_name: String,
    default: Option<Arc<Bucket>>,
    others: RwLock<HashMap<Quota, Arc<Bucket>>>,
    pub(crate) prune_interval: Duration,
}

impl LocalLimiter {
    pub(crate) fn new(
        quoted_name: String,
        default: Option<Quota>,
        prune_interval: Duration,
    ) -> Self {
        let default = default.map(|quota| Arc::new(Bucket::new(quota, &quoted_name)));
        Self {
            quoted_name,
            default,
            others: RwLock::new(HashMap::new()),
            prune_interval,
        }
    }

    /// The limiter of `quota`, made on first use.
    pub(crate) fn bucket(&self, quota: &Quota) -> Arc<Bucket> {
        if let Some(default) = &self.default
            && default.quota == *quota
        {
            return Arc::clone(default);
        }
        if let Some(bucket) = self
            .others
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(quota)
        {
            return Arc::clone(bucket);
        }
        let mut others = self.others.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            others
                .entry(*quota)
                .or_insert_with(|| Arc::new(Bucket::new(*quota, &self.quoted_name))),
        )
    }

    /// Prunes every limiter now, whatever the interval.
    pub(crate) fn prune(&self) {
        for bucket in self.buckets() {
            bucket.prune();
        }
    }

    /// The partitions held, over all quotas.
    pub(crate) fn len(&self) -> usize {
        self.buckets().iter().map(|bucket| bucket.len()).sum()
    }

    fn buckets(&self) -> Vec<Arc<Bucket>> {
        let others = self.others.read().unwrap_or_else(PoisonError::into_inner);
        self.default
            .iter()
            .chain(others.values())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(id: &str) -> PartitionId {
        PartitionId(id.to_owned())
    }

    fn limiter(quota: Quota) -> LocalLimiter {
        LocalLimiter::new(
            headers::sf_string("per-key"),
            Some(quota),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn a_partition_spends_its_burst_then_is_refused_until_the_budget_refills() {
        let local = limiter(Quota::per_second(10));
        let bucket = local.bucket(&Quota::per_second(10));
        for expected in (0..10).rev() {
            match bucket.check(&id("api_key_a"), local.prune_interval) {
                Decision::Accepted { remaining, .. } => assert_eq!(remaining, expected),
                Decision::Limited { .. } => panic!("refused within the burst"),
            }
        }
        match bucket.check(&id("api_key_a"), local.prune_interval) {
            Decision::Limited { retry_after } => {
                assert!(retry_after <= Duration::from_millis(100), "{retry_after:?}")
            }
            Decision::Accepted { .. } => panic!("the 11th request was accepted"),
        }
        // Another partition has its own budget.
        assert!(matches!(
            bucket.check(&id("api_key_b"), local.prune_interval),
            Decision::Accepted { remaining: 9, .. }
        ));
    }

    #[test]
    fn an_accepted_request_says_when_the_budget_is_whole_again() {
        let local = limiter(Quota::per_second(10));
        let bucket = local.bucket(&Quota::per_second(10));
        bucket.check(&id("api_key_a"), local.prune_interval);
        match bucket.check(&id("api_key_a"), local.prune_interval) {
            Decision::Accepted { remaining, reset } => {
                assert_eq!(remaining, 8);
                assert_eq!(reset, Duration::from_millis(200));
            }
            Decision::Limited { .. } => panic!("refused"),
        }
    }

    #[test]
    fn each_quota_has_its_own_limiter_and_the_default_is_reused() {
        let local = limiter(Quota::per_second(10));
        let default = local.bucket(&Quota::per_second(10));
        assert!(Arc::ptr_eq(&default, &local.bucket(&Quota::per_second(10))));
        let pro = local.bucket(&Quota::per_second(100));
        assert!(Arc::ptr_eq(&pro, &local.bucket(&Quota::per_second(100))));
        assert!(!Arc::ptr_eq(&default, &pro));
        assert_eq!(pro.policy, "\"per-key\";q=100;w=1");
    }

    #[test]
    fn the_ready_made_values_say_what_a_formatted_one_would() {
        let quota = Quota::per_minute(120).with_burst(4);
        let local = limiter(quota);
        let bucket = local.bucket(&quota);
        for remaining in 0..4 {
            let reset = refill_time(&quota, remaining);
            assert_eq!(
                bucket.remaining_value(remaining, reset),
                headers::remaining("\"per-key\"", remaining, reset)
            );
        }
        // A reset from elsewhere (Redis) is formatted.
        assert_eq!(
            bucket.remaining_value(3, Duration::from_millis(2_500)),
            "\"per-key\";r=3;t=3"
        );
    }

    #[test]
    fn idle_partitions_are_pruned_once_the_interval_has_passed() {
        // A 1 ms refill: every partition is whole again almost at once.
        let quota = Quota::new(1_000, 1);
        let local = LocalLimiter::new(headers::sf_string("k"), Some(quota), Duration::ZERO);
        let bucket = local.bucket(&quota);
        for n in 0..PRUNE_CHECK_EVERY {
            bucket.check(&id(&format!("api_key_{n}")), Duration::from_secs(3_600));
        }
        assert_eq!(local.len(), PRUNE_CHECK_EVERY as usize);
        std::thread::sleep(Duration::from_millis(20));
        // The next check that looks at the clock prunes: all are idle but it.
        bucket.check(&id("api_key_last"), Duration::ZERO);
        assert!(local.len() <= 1, "{} partitions kept", local.len());
    }

    #[test]
    fn a_partition_still_spending_is_kept() {
        let quota = Quota::per_hour(10);
        let local = LocalLimiter::new(headers::sf_string("k"), Some(quota), Duration::ZERO);
        local
            .bucket(&quota)
            .check(&id("api_key_busy"), Duration::ZERO);
        local.prune();
        assert_eq!(local.len(), 1);
    }
}

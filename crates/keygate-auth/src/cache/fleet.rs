//! Fleet mode as the cache sees it: the shared tier, and invariant 9's
//! "heard or young".

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::tier::SharedTier;

/// A shared tier, and how recently it heard the fleet's log.
pub(crate) struct Fleet {
    pub(crate) tier: Arc<dyn SharedTier>,
    bound: Duration,
    /// What `heard` counts from.
    origin: Instant,
    /// Nanoseconds from `origin` to the latest instant before which every
    /// logged invalidation has been applied; 0 before the first.
    heard: AtomicU64,
}

impl Fleet {
    pub(crate) fn new(tier: Arc<dyn SharedTier>) -> Self {
        Self {
            bound: tier.revocation_bound(),
            tier,
            origin: Instant::now(),
            heard: AtomicU64::new(0),
        }
    }

    /// Invariant 9: whether a verdict fetched at `fetched` may be served at
    /// `now`.
    pub(crate) fn vouches(&self, fetched: Instant, now: Instant) -> bool {
        let heard = match self.heard.load(Ordering::Acquire) {
            0 => fetched,
            nanos => fetched.max(self.origin + Duration::from_nanos(nanos)),
        };
        now.saturating_duration_since(heard) <= self.bound
    }

    /// Whether every invalidation logged up to `bound` before `now` has
    /// been applied here: what a check made only in this process (an
    /// access token's session against the denylist) relies on.
    #[cfg(feature = "jwt")]
    pub(crate) fn hears(&self, now: Instant) -> bool {
        match self.heard.load(Ordering::Acquire) {
            0 => false,
            nanos => {
                let heard = self.origin + Duration::from_nanos(nanos);
                now.saturating_duration_since(heard) <= self.bound
            }
        }
    }

    pub(crate) fn heard(&self, sent: Instant) {
        let nanos = sent.saturating_duration_since(self.origin).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
        self.heard.fetch_max(nanos, Ordering::AcqRel);
    }
}

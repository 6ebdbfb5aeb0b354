//! Per-entry lifetimes: the positive TTL capped at the key's `expires_at`,
//! and the negative TTL. Each entry's deadline is worked out once, when its
//! verdict arrives ([`Lifetimes::fresh_until`]); moka and the hit table
//! both expire the entry at that same instant.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

use super::{CacheEntry, CachedVerdict};
use crate::Clock;

pub(crate) struct Lifetimes {
    pub(crate) positive_ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Lifetimes {
    fn ttl(&self, verdict: &CachedVerdict) -> Duration {
        match verdict {
            CachedVerdict::Invalid => self.negative_ttl,
            CachedVerdict::Valid { principal } => match principal.expires_at() {
                None => self.positive_ttl,
                Some(at) => {
                    let left = at.since(self.clock.now());
                    // A negative remainder means "already expired": keep nothing.
                    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                    left.min(self.positive_ttl)
                }
            },
        }
    }

    /// When a verdict given at `checked_at` stops being fresh.
    pub(crate) fn fresh_until(&self, verdict: &CachedVerdict, checked_at: Instant) -> Instant {
        let ttl = self.ttl(verdict);
        // A TTL too large for the clock: as good as never.
        checked_at
            .checked_add(ttl)
            .unwrap_or_else(|| checked_at + Duration::from_secs(100 * 365 * 24 * 3600))
    }
}

/// moka's view of [`CacheEntry::fresh_until`].
pub(crate) struct VerdictExpiry;

impl Expiry<[u8; 32], Arc<CacheEntry>> for VerdictExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<CacheEntry>,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(value.fresh_until.saturating_duration_since(created_at))
    }

    fn expire_after_update(
        &self,
        _key: &[u8; 32],
        value: &Arc<CacheEntry>,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.fresh_until.saturating_duration_since(updated_at))
    }
}

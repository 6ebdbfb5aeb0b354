//! Per-entry lifetimes: the positive TTL capped at the key's `expires_at`,
//! and the negative TTL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

use super::{CacheEntry, CachedVerdict};
use crate::Clock;

pub(crate) struct VerdictExpiry {
    pub(crate) positive_ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl VerdictExpiry {
    fn ttl(&self, entry: &CacheEntry) -> Duration {
        match &entry.verdict {
            CachedVerdict::Invalid => self.negative_ttl,
            CachedVerdict::Valid { principal, .. } => match principal.expires_at() {
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
}

impl Expiry<[u8; 32], CacheEntry> for VerdictExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &CacheEntry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(self.ttl(value))
    }

    fn expire_after_update(
        &self,
        _key: &[u8; 32],
        value: &CacheEntry,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.ttl(value))
    }
}

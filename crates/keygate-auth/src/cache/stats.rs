//! The cache's counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the cache's counters, from [`ApiKeyAuth::stats`](crate::ApiKeyAuth::stats)
/// or [`VerdictCache::stats`](crate::VerdictCache::stats).
///
/// Every request that reaches the cache counts once, as a hit, a miss or a
/// coalesced load. Misses are the calls made to the key service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Answered from the cache, without waiting.
    pub hits: u64,
    /// Called the key service (this request's load ran).
    pub misses: u64,
    /// Waited for another request's call to the key service for the same key
    /// (or, rarely, found the verdict only after waiting for the cache's own
    /// housekeeping).
    pub coalesced: u64,
    /// Calls to the key service that failed (answered with 503, not cached).
    pub errors: u64,
    /// Explicit invalidations (`invalidate_key`, `invalidate_id`, `invalidate_all`).
    pub invalidations: u64,
    /// Requests answered from a stale verdict while the key service failed
    /// (stale-if-error; also counted in `errors` or `coalesced`).
    pub stale: u64,
    /// Entries in the cache at the time of the snapshot (approximate, as in moka).
    pub entries: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) stale: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `table_hits`: the hits the hit table counted (per shard, to spare a
    /// shared counter on every hit).
    pub(crate) fn snapshot(&self, table_hits: u64, entries: u64) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed) + table_hits,
            misses: self.misses.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            entries,
        }
    }
}

//! The cache's counters.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Digest;

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
    /// Called the key service (this request's call ran).
    pub misses: u64,
    /// Waited for another request's call to the key service for the same key.
    pub coalesced: u64,
    /// Calls to the key service that failed (answered with 503, not cached).
    pub errors: u64,
    /// Explicit invalidations (by key, by id, by membership, all).
    pub invalidations: u64,
    /// Requests answered from a stale verdict while the key service failed
    /// (stale-if-error; also counted in `errors` or `coalesced`).
    pub stale: u64,
    /// Verdicts in the cache at the time of the snapshot, valid and invalid
    /// (approximate, as in moka, until its housekeeping has run).
    pub entries: u64,
}

/// Hits are counted on one of these lanes, picked by the key's digest, so
/// that cores serving different keys do not contend on one counter.
const HIT_LANES: usize = 16;

/// One counter on a cache line of its own.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Lane(AtomicU64);

#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: [Lane; HIT_LANES],
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

    pub(crate) fn hit(&self, digest: &Digest) {
        Self::bump(&self.hits[usize::from(digest[31]) % HIT_LANES].0);
    }

    pub(crate) fn snapshot(&self, entries: u64) -> CacheStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CacheStats {
            hits: self.hits.iter().map(|lane| load(&lane.0)).sum(),
            misses: load(&self.misses),
            coalesced: load(&self.coalesced),
            errors: load(&self.errors),
            invalidations: load(&self.invalidations),
            stale: load(&self.stale),
            entries,
        }
    }
}

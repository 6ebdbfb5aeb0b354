//! The hit table: the valid verdicts moka holds, in a sharded read-mostly
//! table that a cache hit reads under one shared lock.
//!
//! moka stays the authority: it loads, coalesces, bounds the capacity, expires
//! and evicts. This table only mirrors its valid entries, so that a hit costs
//! what the least hand-written check costs (a lock, a hash lookup, an `Arc`
//! clone) instead of moka's read bookkeeping (clock, read log, frequency
//! sketch). Each entry carries its own deadline, so an entry moka has expired
//! but not yet evicted is never served; moka's eviction listener and every
//! invalidation remove entries here too, and `VerdictCache::publish` keeps an
//! entry here only while moka still holds it (see there).
//!
//! The slots hold only the shared entry (8 bytes): the digest the lookup
//! compares is inside it, and removal matches entries by identity, so a late
//! eviction of an old entry never removes the newer one that replaced it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use hashbrown::HashTable;

use super::digest::DigestHashing;
use super::{CacheEntry, CachedVerdict};
use crate::ApiKeyPrincipal;

/// Shards: enough that the cores of a large server rarely meet on one lock.
const SHARDS: usize = 64;

/// One hit in this many (per shard) is also shown to moka, so that its
/// frequency sketch still sees which keys are hot when it picks what to evict.
const SAMPLE_EVERY: u64 = 64;

pub(crate) struct HitTable {
    shards: Box<[Shard]>,
    /// The same keyed hash moka uses for this cache.
    hashing: DigestHashing,
}

/// A shard's lock and its hit counter on one cache line: a hit already
/// writes the line (the reader count), so counting costs no extra transfer.
#[repr(align(64))]
#[derive(Default)]
struct Shard {
    entries: RwLock<HashTable<Arc<CacheEntry>>>,
    hits: AtomicU64,
}

/// What a lookup in the hit table found.
pub(crate) struct Hit {
    pub(crate) principal: ApiKeyPrincipal,
    /// This hit is one to show to moka (see [`SAMPLE_EVERY`]).
    pub(crate) sampled: bool,
}

impl HitTable {
    pub(crate) fn new(hashing: DigestHashing) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hashing,
        }
    }

    fn hash(&self, digest: &[u8; 32]) -> u64 {
        self.hashing.hash(digest)
    }

    /// The shard of a digest: chosen by other bits than the in-shard hash.
    fn shard(&self, digest: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(digest[8]) % SHARDS]
    }

    /// The principal of a fresh valid verdict for `digest`, if one is here.
    pub(crate) fn get(&self, digest: &[u8; 32], now: Instant) -> Option<Hit> {
        let shard = self.shard(digest);
        let principal = {
            let entries = shard.entries.read().unwrap_or_else(PoisonError::into_inner);
            let entry = entries.find(self.hash(digest), |entry| entry.digest == *digest)?;
            if entry.fresh_until <= now {
                return None;
            }
            match &entry.verdict {
                CachedVerdict::Valid { principal } => principal.clone(),
                CachedVerdict::Invalid => return None,
            }
        };
        let count = shard.hits.fetch_add(1, Ordering::Relaxed);
        Some(Hit {
            principal,
            sampled: count.is_multiple_of(SAMPLE_EVERY),
        })
    }

    /// Mirrors a valid, trustworthy entry; replaces any older one for its key.
    pub(crate) fn insert(&self, entry: &Arc<CacheEntry>) {
        if entry.suspect || !matches!(entry.verdict, CachedVerdict::Valid { .. }) {
            return;
        }
        let digest = &entry.digest;
        let mut entries = self.write(digest);
        match entries.find_mut(self.hash(digest), |held| held.digest == *digest) {
            Some(held) => *held = Arc::clone(entry),
            None => {
                entries.insert_unique(self.hash(digest), Arc::clone(entry), |held| {
                    self.hash(&held.digest)
                });
            }
        }
    }

    /// Removes whatever entry is held for `digest`.
    pub(crate) fn remove(&self, digest: &[u8; 32]) {
        let mut entries = self.write(digest);
        if let Ok(found) = entries.find_entry(self.hash(digest), |held| held.digest == *digest) {
            found.remove();
        }
    }

    /// Removes `entry` itself, not a newer entry for the same key.
    pub(crate) fn remove_same(&self, entry: &Arc<CacheEntry>) {
        let mut entries = self.write(&entry.digest);
        if let Ok(found) =
            entries.find_entry(self.hash(&entry.digest), |held| Arc::ptr_eq(held, entry))
        {
            found.remove();
        }
    }

    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            shard
                .entries
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    /// Hits served from this table.
    pub(crate) fn hits(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| shard.hits.load(Ordering::Relaxed))
            .sum()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .entries
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len()
            })
            .sum()
    }

    fn write(
        &self,
        digest: &[u8; 32],
    ) -> std::sync::RwLockWriteGuard<'_, HashTable<Arc<CacheEntry>>> {
        self.shard(digest)
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

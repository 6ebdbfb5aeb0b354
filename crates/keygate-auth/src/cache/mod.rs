//! The verdict cache: moka, keyed by the SHA-256 digest of the key.
#![doc = include_str!("../../docs/cache.md")]

mod digest;
mod expiry;
mod hits;
mod index;
mod inflight;
mod stale;
mod stats;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use keygate_types::ApiKeyId;
use moka::future::Cache;
use moka::notification::RemovalCause;

pub use stats::CacheStats;

use crate::upstream::Upstream;
use crate::validator::{KeyValidator, ValidatorError};
use crate::{ApiKeyPrincipal, Clock};
use digest::DigestHashing;
pub(crate) use digest::digest;
use expiry::{Lifetimes, VerdictExpiry};
use hits::HitTable;
use index::IdIndex;
use inflight::InFlight;
use stale::StaleVerdicts;
use stats::Counters;

/// The default lifetime of a valid verdict.
pub const DEFAULT_POSITIVE_TTL: Duration = Duration::from_secs(30);
/// The default lifetime of a definite "invalid" verdict.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// The default bound on the number of cached verdicts.
pub const DEFAULT_MAX_CAPACITY: u64 = 10_000;

/// How a request's verdict was found, as recorded on its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// Found in the cache.
    Hit,
    /// This request called the key service.
    Miss,
    /// This request waited for another request's call for the same key.
    Coalesced,
    /// The key service failed, and a previously valid verdict was served
    /// within the stale-if-error grace window.
    Stale,
}

impl CacheOutcome {
    /// `"hit"`, `"miss"`, `"coalesced"` or `"stale"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Stale => "stale",
        }
    }
}

/// A cached verdict. Only definite ones are cached; errors never are.
#[derive(Debug, Clone)]
pub(crate) enum CachedVerdict {
    /// The key was valid.
    Valid { principal: ApiKeyPrincipal },
    /// The key service said "not a valid key".
    Invalid,
}

/// One cache entry, shared (one `Arc`) by moka, the hit table and the id
/// index: the verdict, for which key, and when the key service gave it.
#[derive(Debug)]
pub(crate) struct CacheEntry {
    /// The digest of the key the verdict is for.
    pub(crate) digest: [u8; 32],
    pub(crate) verdict: CachedVerdict,
    /// When the key service answered (the stale-if-error window counts from then).
    pub(crate) checked_at: Instant,
    /// When the verdict stops being fresh: the TTL, capped at `expires_at`.
    pub(crate) fresh_until: Instant,
    /// The invalidation epoch when the call that gave this verdict began.
    pub(crate) loaded_epoch: u64,
    /// An invalidation happened while that call was in flight: the verdict
    /// may predate a revocation. Never served as a hit; the request that
    /// made the call removes it.
    pub(crate) suspect: bool,
}

/// What the cache knows about a key without waiting.
pub(crate) enum Lookup {
    Hit(CachedVerdict),
    /// Not cached, or moka could not answer without waiting for its own
    /// housekeeping; either way the slow path takes over.
    Miss,
}

/// Sizes and lifetimes of the cache.
#[derive(Debug, Clone)]
pub(crate) struct CacheConfig {
    pub(crate) positive_ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) max_capacity: u64,
    /// Stale-if-error: how long past the positive TTL a valid verdict may
    /// still be served while the key service fails. `None`: never.
    pub(crate) grace: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            positive_ttl: DEFAULT_POSITIVE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_capacity: DEFAULT_MAX_CAPACITY,
            grace: None,
        }
    }
}

/// A handle on the layer's verdict cache: cheap to clone, shared by the layer,
/// its services and whoever invalidates (a revocation listener, an admin
/// endpoint). Get it from [`ApiKeyAuth::cache`](crate::ApiKeyAuth::cache).
#[derive(Clone)]
pub struct VerdictCache {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Cache<[u8; 32], Arc<CacheEntry>, DigestHashing>,
    /// moka's fresh valid entries, for hits (see `hits.rs`).
    hits: Arc<HitTable>,
    lifetimes: Lifetimes,
    /// With stale-if-error on: the last valid verdict of each key, kept for
    /// the positive TTL plus the grace window, served only when a call to
    /// the key service fails.
    stale: Option<StaleVerdicts>,
    /// The calls in flight, by digest, with the epoch each began at.
    inflight: InFlight,
    index: Arc<IdIndex>,
    counters: Counters,
    /// Bumped by every invalidation, so a load that was in flight during one
    /// does not leave its (possibly revoked) verdict behind.
    epoch: AtomicU64,
}

impl fmt::Debug for VerdictCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerdictCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl VerdictCache {
    pub(crate) fn new(config: &CacheConfig, clock: Arc<dyn Clock>) -> Self {
        let index = Arc::new(IdIndex::default());
        let hashing = DigestHashing::random();
        let hits = Arc::new(HitTable::new(hashing));
        let (listener_index, listener_hits) = (Arc::clone(&index), Arc::clone(&hits));
        let cache = Cache::builder()
            .name("keygate-verdicts")
            .max_capacity(config.max_capacity)
            .expire_after(VerdictExpiry)
            // Every way out of moka (expiry, eviction, replacement, removal)
            // takes the entry out of the hit table and the index too, unless
            // they already hold a newer one.
            .eviction_listener(
                move |_digest: Arc<[u8; 32]>, entry: Arc<CacheEntry>, cause: RemovalCause| {
                    listener_hits.remove_same(&entry);
                    // Replaced: moka still holds a verdict for this digest,
                    // and the index only needs to lead `invalidate_id` to the
                    // digest; removing the slot by identity could leave the
                    // live replacement unindexed.
                    if cause != RemovalCause::Replaced {
                        listener_index.remove_same(&entry);
                    }
                },
            )
            .build_with_hasher(hashing);
        let stale = config
            .grace
            .map(|grace| StaleVerdicts::new(config, config.positive_ttl.saturating_add(grace)));
        Self {
            inner: Arc::new(Inner {
                cache,
                hits,
                lifetimes: Lifetimes {
                    positive_ttl: config.positive_ttl,
                    negative_ttl: config.negative_ttl,
                    clock,
                },
                stale,
                inflight: InFlight::default(),
                index,
                counters: Counters::default(),
                epoch: AtomicU64::new(0),
            }),
        }
    }

    /// Whether stale-if-error is on (so a failing call may still be answered).
    pub(crate) fn serves_stale(&self) -> bool {
        self.inner.stale.is_some()
    }

    /// The clock `expires_at` is checked against.
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.inner.lifetimes.clock
    }

    /// Looks `digest` up without waiting: the hot path.
    ///
    /// A fresh valid verdict is read from the hit table. Anything else asks
    /// moka: its `get` is async only because a read may run the cache's
    /// pending housekeeping, and resolves on the first poll otherwise.
    /// Polling it once here spares the request a boxed future; if it does not
    /// resolve at once (moka's operations are cancel-safe), the request takes
    /// the slow path, which awaits properly.
    pub(crate) fn lookup_now(&self, digest: &[u8; 32]) -> Lookup {
        let inner = &*self.inner;
        if let Some(hit) = inner.hits.get(digest, Instant::now()) {
            if hit.sampled {
                // Let moka's admission policy see that this key is in use.
                let _ = inner.cache.get(digest).now_or_never();
            }
            return Lookup::Hit(CachedVerdict::Valid {
                principal: hit.principal,
            });
        }
        let epoch = inner.epoch.load(Ordering::SeqCst);
        match inner.cache.get(digest).now_or_never() {
            // A valid verdict whose call began before the latest
            // invalidation may have been stored after it (its loader's
            // `keep` is about to drop it): let `load` decide.
            Some(Some(entry))
                if !entry.suspect
                    && (matches!(entry.verdict, CachedVerdict::Invalid)
                        || entry.loaded_epoch >= epoch) =>
            {
                Counters::bump(&inner.counters.hits);
                // In moka but not in the hit table: a verdict another request
                // was waiting for, or one the table dropped. Mirror it.
                self.publish(&entry, epoch);
                Lookup::Hit(entry.verdict.clone())
            }
            Some(_) | None => Lookup::Miss,
        }
    }

    /// Mirrors `entry`, read or stored at invalidation epoch `epoch`, in the
    /// hit table, unless an invalidation has come since.
    ///
    /// Mirroring first and checking after closes the race with an
    /// invalidation: either it sees the entry in the table and removes it,
    /// or this check sees its epoch and removes it here.
    fn publish(&self, entry: &Arc<CacheEntry>, epoch: u64) {
        let inner = &*self.inner;
        inner.hits.insert(entry);
        // moka may have dropped this entry (eviction, expiry, replacement,
        // removal) and run its listener before the insert above: then no
        // listener will ever remove it. Keep it only if moka still holds this
        // very entry, checked after the insert (any later removal runs the
        // listener after it). Not knowing (housekeeping busy) counts as no.
        let held = matches!(
            inner.cache.get(&entry.digest).now_or_never(),
            Some(Some(current)) if Arc::ptr_eq(&current, entry)
        );
        if !held || inner.epoch.load(Ordering::SeqCst) != epoch {
            inner.hits.remove_same(entry);
        }
    }

    /// Gets the verdict for `key`, asking `validator` at most once at a time
    /// per key: concurrent callers wait for the one call in flight.
    ///
    /// When the call fails and stale-if-error is on, a previously valid
    /// verdict within its grace window is returned as [`CacheOutcome::Stale`].
    pub(crate) async fn load<V: KeyValidator>(
        &self,
        digest: [u8; 32],
        key: &str,
        validator: &V,
        upstream: &Upstream,
    ) -> Result<(Arc<CacheEntry>, CacheOutcome), Arc<ValidatorError>> {
        let inner = &*self.inner;
        // Invalidations this request must not be overtaken by: those that
        // happened before it got here.
        let arrived = inner.epoch.load(Ordering::SeqCst);
        loop {
            if inner.inflight.began_before(&digest, arrived) {
                // A call for this key is in flight, begun before an
                // invalidation this request came after: do not wait for its
                // (possibly pre-revocation) answer; ask on our own.
                return self
                    .load_alone(digest, key, validator, upstream, arrived)
                    .await;
            }
            match self
                .load_once(digest, key, validator, upstream, arrived)
                .await
            {
                // It joined a call that began before an invalidation this
                // request came after: that answer may predate a revocation.
                // Drop it and ask again.
                Ok((entry, CacheOutcome::Coalesced)) if entry.loaded_epoch < arrived => {
                    inner.cache.invalidate(&digest).await;
                }
                result => return result,
            }
        }
    }

    /// A call of this request's own, outside moka's coalescing.
    async fn load_alone<V: KeyValidator>(
        &self,
        digest: [u8; 32],
        key: &str,
        validator: &V,
        upstream: &Upstream,
        epoch: u64,
    ) -> Result<(Arc<CacheEntry>, CacheOutcome), Arc<ValidatorError>> {
        let inner = &*self.inner;
        match upstream.validate(validator, key).await {
            Ok(verdict) => {
                Counters::bump(&inner.counters.misses);
                let entry = self.entry(digest, verdict, epoch);
                inner.cache.insert(digest, Arc::clone(&entry)).await;
                self.keep(&entry, epoch).await;
                Ok((entry, CacheOutcome::Miss))
            }
            Err(error) => {
                Counters::bump(&inner.counters.errors);
                if let Some(entry) = self.stale_for(&digest).await {
                    Counters::bump(&inner.counters.stale);
                    return Ok((entry, CacheOutcome::Stale));
                }
                Err(Arc::new(error))
            }
        }
    }

    /// The cache entry for a validator's answer, from a call begun at `epoch`.
    fn entry(
        &self,
        digest: [u8; 32],
        verdict: Option<keygate_types::ApiKey>,
        epoch: u64,
    ) -> Arc<CacheEntry> {
        let inner = &*self.inner;
        let verdict = match verdict {
            Some(api_key) => CachedVerdict::Valid {
                principal: ApiKeyPrincipal::new(api_key),
            },
            None => CachedVerdict::Invalid,
        };
        let checked_at = Instant::now();
        let entry = Arc::new(CacheEntry {
            digest,
            fresh_until: inner.lifetimes.fresh_until(&verdict, checked_at),
            verdict,
            checked_at,
            loaded_epoch: epoch,
            suspect: inner.epoch.load(Ordering::SeqCst) != epoch,
        });
        inner.index.insert(&entry);
        entry
    }

    /// After this request's own call stored `entry` in moka: mirror it for
    /// hits and keep it for stale-if-error, or, if an invalidation came
    /// during the call (it may have been meant for this very key), answer
    /// this request but keep nothing.
    async fn keep(&self, entry: &Arc<CacheEntry>, epoch: u64) {
        let inner = &*self.inner;
        if let Some(stale) = &inner.stale {
            stale.remember(entry).await;
        }
        self.publish(entry, epoch);
        if inner.epoch.load(Ordering::SeqCst) != epoch {
            inner.hits.remove_same(entry);
            inner.cache.invalidate(&entry.digest).await;
            if let Some(stale) = &inner.stale {
                stale.forget(&entry.digest).await;
            }
        }
    }

    async fn load_once<V: KeyValidator>(
        &self,
        digest: [u8; 32],
        key: &str,
        validator: &V,
        upstream: &Upstream,
        arrived: u64,
    ) -> Result<(Arc<CacheEntry>, CacheOutcome), Arc<ValidatorError>> {
        let inner = &*self.inner;
        let epoch = inner.epoch.load(Ordering::SeqCst);
        let ran = AtomicBool::new(false);
        let result = inner
            .cache
            .entry(digest)
            .or_try_insert_with(async {
                ran.store(true, Ordering::Relaxed);
                let _in_flight = inner.inflight.begin(digest, epoch);
                let verdict = upstream.validate(validator, key).await?;
                Ok(self.entry(digest, verdict, epoch))
            })
            .await;
        match result {
            Ok(entry) => {
                let fresh = entry.is_fresh();
                let entry = entry.into_value();
                if fresh {
                    Counters::bump(&inner.counters.misses);
                    self.keep(&entry, epoch).await;
                    return Ok((entry, CacheOutcome::Miss));
                }
                // Retried by `load` if older than this request: counted then.
                if entry.loaded_epoch >= arrived {
                    Counters::bump(&inner.counters.coalesced);
                }
                Ok((entry, CacheOutcome::Coalesced))
            }
            Err(error) => {
                if ran.load(Ordering::Relaxed) {
                    Counters::bump(&inner.counters.errors);
                } else {
                    Counters::bump(&inner.counters.coalesced);
                }
                if let Some(entry) = self.stale_for(&digest).await {
                    Counters::bump(&inner.counters.stale);
                    return Ok((entry, CacheOutcome::Stale));
                }
                Err(error)
            }
        }
    }

    /// The stale verdict for `digest`, if stale-if-error is on, the verdict
    /// is within its window and its key has not expired.
    async fn stale_for(&self, digest: &[u8; 32]) -> Option<Arc<CacheEntry>> {
        let entry = self.inner.stale.as_ref()?.get(digest).await?;
        let CachedVerdict::Valid { principal } = &entry.verdict else {
            return None;
        };
        if principal
            .expires_at()
            .is_some_and(|at| at <= self.clock().now())
        {
            return None;
        }
        tracing::warn!(
            key_id = %principal.id(),
            age_ms = entry.checked_at.elapsed().as_millis() as u64,
            "key service failing; serving a stale verdict within the grace window"
        );
        Some(entry)
    }

    /// Forgets the verdict for the key `key`, so its next use asks the key
    /// service again. Returns whether a verdict was cached.
    pub async fn invalidate_key(&self, key: &str) -> bool {
        let inner = &*self.inner;
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        Counters::bump(&inner.counters.invalidations);
        let digest = digest(key);
        inner.hits.remove(&digest);
        if let Some(stale) = &inner.stale {
            stale.forget(&digest).await;
        }
        inner.cache.remove(&digest).await.is_some()
    }

    /// Forgets the verdict for the key with id `id` (found through the id →
    /// entry index), for revocation by id. Returns whether one was cached.
    pub async fn invalidate_id(&self, id: &ApiKeyId) -> bool {
        let inner = &*self.inner;
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        Counters::bump(&inner.counters.invalidations);
        if let Some(stale) = &inner.stale {
            stale.forget_id(id);
        }
        match inner.index.take(id) {
            Some(entry) => {
                inner.hits.remove(&entry.digest);
                inner.cache.remove(&entry.digest).await.is_some()
            }
            None => false,
        }
    }

    /// Forgets every verdict.
    pub fn invalidate_all(&self) {
        let inner = &*self.inner;
        // Before the epoch moves: an entry indexed after it (by a load that
        // began after it) is live and must stay findable by `invalidate_id`.
        inner.index.clear();
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        Counters::bump(&inner.counters.invalidations);
        inner.hits.clear();
        inner.cache.invalidate_all();
        if let Some(stale) = &inner.stale {
            stale.forget_all();
        }
        // Again, now that moka answers None for everything older: a lookup
        // that read an entry before `invalidate_all` may have mirrored it
        // after the first clear (moka's listener runs only at housekeeping).
        inner.hits.clear();
    }

    /// The counters, and the number of entries.
    pub fn stats(&self) -> CacheStats {
        let inner = &*self.inner;
        inner
            .counters
            .snapshot(inner.hits.hits(), inner.cache.entry_count())
    }

    /// Runs moka's pending housekeeping (evictions and their listener) now.
    /// Tests use it to make entry counts and the id index exact.
    pub async fn run_pending_tasks(&self) {
        self.inner.cache.run_pending_tasks().await;
    }

    #[cfg(test)]
    pub(crate) fn indexed_ids(&self) -> usize {
        self.inner.index.len()
    }

    #[cfg(test)]
    pub(crate) fn mirrored(&self) -> usize {
        self.inner.hits.len()
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod race_tests;

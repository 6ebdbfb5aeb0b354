//! Requests per API key, counted by the layer for the key's holder to see.
//!
//! A [`UsageMeter`] given to
//! [`ApiKeyAuthBuilder::usage`](crate::ApiKeyAuthBuilder::usage) counts every
//! request the layer lets through with a key (hits and misses alike; not
//! refusals, not other credentials). The count on a request is one atomic
//! add on a counter the key's cached principal already points to; the map
//! from key id to counter is touched once per cached principal, not per
//! request, and the clock not at all: a request counts in the hour (and the
//! `last_used_at`) of the drain that takes it, at most one sink interval
//! later.
//!
//! Counts are kept in-process in hourly buckets for two days and daily
//! buckets for 31, for at most [`max_keys`](UsageMeter::with_max_keys) keys
//! (further keys are not counted, and [`UsageMeter::untracked`] says how many
//! requests that left out). Read them with [`UsageMeter::usage`]. In a fleet,
//! a sink drains the meter every interval and adds each key's count where
//! every replica's land (`keygate_redis::RedisUsage`: one write per key per
//! interval, never one per request).
//!
//! ```
//! use keygate_auth::usage::UsageMeter;
//! use keygate_auth::{ApiKeyAuth, InMemoryValidator};
//!
//! let meter = UsageMeter::new();
//! let auth = ApiKeyAuth::builder(InMemoryValidator::new())
//!     .usage(meter.clone())
//!     .build();
//! # let _ = auth;
//! ```

mod history;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use keygate_types::{ApiKeyId, Timestamp};

use crate::{ApiKeyPrincipal, Clock, SystemClock};
use history::History;
pub use history::{DAYS, KeyUsage};

/// The default bound on the number of keys a meter counts.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Requests per key; cheap to clone, clones share the counts.
#[derive(Clone)]
pub struct UsageMeter {
    inner: Arc<Meter>,
}

struct Meter {
    max_keys: usize,
    clock: Arc<dyn Clock>,
    /// The counter of each key: requests since the last drain.
    tallies: RwLock<HashMap<ApiKeyId, Arc<Tally>>>,
    /// What earlier drains added up, per key.
    history: Mutex<HashMap<ApiKeyId, History>>,
    /// Requests of keys beyond `max_keys`.
    untracked: AtomicU64,
}

/// One key's requests since the last drain.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    count: AtomicU64,
}

impl Tally {
    pub(crate) fn count(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for UsageMeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageMeter")
            .field("max_keys", &self.inner.max_keys)
            .field("untracked", &self.untracked())
            .finish_non_exhaustive()
    }
}

impl Default for UsageMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl UsageMeter {
    /// A meter for up to [`DEFAULT_MAX_KEYS`] keys.
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    /// A meter for up to `max_keys` keys (about 300 bytes each).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self::with_clock(max_keys, Arc::new(SystemClock))
    }

    /// A meter on `clock`, for tests that move time.
    pub fn with_clock(max_keys: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Meter {
                max_keys,
                clock,
                tallies: RwLock::default(),
                history: Mutex::default(),
                untracked: AtomicU64::new(0),
            }),
        }
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The counter of key `id`, made on its first request; `None` once the
    /// meter counts `max_keys` keys.
    pub(crate) fn tally(&self, id: &ApiKeyId) -> Option<Arc<Tally>> {
        let meter = &*self.inner;
        if let Some(tally) = read(&meter.tallies).get(id) {
            return Some(Arc::clone(tally));
        }
        let mut tallies = meter
            .tallies
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(tally) = tallies.get(id) {
            return Some(Arc::clone(tally));
        }
        if tallies.len() >= meter.max_keys {
            return None;
        }
        let tally = Arc::new(Tally::default());
        tallies.insert(id.clone(), Arc::clone(&tally));
        Some(tally)
    }

    /// Counts one request of a key the meter has no room for.
    pub(crate) fn untracked_request(&self) {
        self.inner.untracked.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests left uncounted because the meter was full.
    pub fn untracked(&self) -> u64 {
        self.inner.untracked.load(Ordering::Relaxed)
    }

    /// Takes the requests counted since the last drain, per key, with the
    /// latest request's time: what a fleet sink adds to the shared counts.
    /// They stay in this meter's own history too.
    pub fn drain(&self) -> Vec<Drained> {
        let meter = &*self.inner;
        let now = self.now();
        let mut drained = Vec::new();
        let mut history = meter.history.lock().unwrap_or_else(PoisonError::into_inner);
        // Keys without a request since the previous drain leave the map, so
        // it holds the keys in use; their cached principals count again
        // through a fresh counter once they come back.
        let mut tallies = meter
            .tallies
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        tallies.retain(|id, tally| {
            let count = tally.count.swap(0, Ordering::Relaxed);
            if count == 0 {
                return Arc::strong_count(tally) > 1;
            }
            history.entry(id.clone()).or_default().add(now, count);
            drained.push(Drained {
                key_id: id.clone(),
                requests: count,
                last_used_at: now,
            });
            true
        });
        history.retain(|_, keep| keep.recent(now));
        drained
    }

    /// Key `id`'s requests: the last 24 hours, the last 30 days and each of
    /// the last [`DAYS`] days, as this process counted them.
    pub fn usage(&self, id: &ApiKeyId) -> KeyUsage {
        self.drain();
        let history = self
            .inner
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        history
            .get(id)
            .map(|history| history.usage(self.now()))
            .unwrap_or_else(KeyUsage::none)
    }
}

/// Where a cached principal keeps its key's counter: found once, on the
/// first counted request, so that later ones cost one atomic add. Principals
/// compare equal whatever their slots hold.
#[derive(Debug, Default)]
pub(crate) struct UsageSlot(OnceLock<Option<Arc<Tally>>>);

impl PartialEq for UsageSlot {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for UsageSlot {}

impl UsageMeter {
    /// Counts one request of the key behind `principal` (none for other
    /// credentials).
    pub(crate) fn count(&self, principal: &ApiKeyPrincipal) {
        let Some(id) = principal.key_id() else {
            return;
        };
        let slot = principal.usage_slot().0.get_or_init(|| self.tally(id));
        match slot {
            Some(tally) => tally.count(),
            None => self.untracked_request(),
        }
    }
}

/// One key's requests since the previous [`UsageMeter::drain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drained {
    /// The key.
    pub key_id: ApiKeyId,
    /// How many requests it made.
    pub requests: u64,
    /// When the latest was made, to the drain: the time of the drain that
    /// found it.
    pub last_used_at: Timestamp,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;

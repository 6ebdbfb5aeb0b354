//! Stale-if-error: the last valid verdict of each key, kept for the positive
//! TTL plus a grace window, and served only when the key service fails.
//!
//! A separate moka cache, so the fresh cache's lifetimes and its id index stay
//! exactly as they are. A definite "invalid" answer and every invalidation
//! remove the key's stale verdict too.

use std::sync::Arc;
use std::time::Duration;

use keygate_types::ApiKeyId;
use moka::future::Cache;

use super::{CacheConfig, CacheEntry, CachedVerdict};

pub(crate) struct StaleVerdicts {
    cache: Cache<[u8; 32], Arc<CacheEntry>>,
}

impl StaleVerdicts {
    pub(crate) fn new(config: &CacheConfig, lifetime: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .name("keygate-stale-verdicts")
                .max_capacity(config.max_capacity)
                .time_to_live(lifetime)
                // `forget_id` finds entries by the key id inside them: the
                // fresh cache's id index forgets keys once their entry expires.
                .support_invalidation_closures()
                .build(),
        }
    }

    /// Keeps a valid verdict; a definite "invalid" removes the old one.
    pub(crate) async fn remember(&self, entry: &Arc<CacheEntry>) {
        match entry.verdict {
            CachedVerdict::Valid { .. } => self.cache.insert(entry.digest, Arc::clone(entry)).await,
            CachedVerdict::Invalid => self.cache.invalidate(&entry.digest).await,
        }
    }

    pub(crate) async fn get(&self, digest: &[u8; 32]) -> Option<Arc<CacheEntry>> {
        self.cache.get(digest).await
    }

    pub(crate) async fn forget(&self, digest: &[u8; 32]) {
        self.cache.invalidate(digest).await;
    }

    pub(crate) fn forget_id(&self, id: &ApiKeyId) {
        let id = id.clone();
        let registered = self.cache.invalidate_entries_if(move |_, entry| {
            matches!(&entry.verdict, CachedVerdict::Valid { principal, .. } if principal.id() == &id)
        });
        if registered.is_err() {
            // Cannot happen (closures are enabled above); be safe anyway.
            self.cache.invalidate_all();
        }
    }

    pub(crate) fn forget_all(&self) {
        self.cache.invalidate_all();
    }
}

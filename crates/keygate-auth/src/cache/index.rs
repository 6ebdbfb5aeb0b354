//! The id → entry index behind `invalidate_id`.
//!
//! It holds the shared cache entries themselves, found by the hash of the
//! key id inside them: a slot is one pointer, and the id and digest are not
//! copied. The eviction listener removes an entry only if the index still
//! holds that very entry (by identity), so a late eviction of an old entry
//! never erases the index of a newer one.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hashbrown::HashTable;
use keygate_types::ApiKeyId;

use super::{CacheEntry, CachedVerdict};

#[derive(Default)]
pub(crate) struct IdIndex {
    entries: Mutex<HashTable<Arc<CacheEntry>>>,
    /// SipHash with random keys: ids come from the key service, but nothing
    /// is lost by not trusting their distribution.
    hasher: std::collections::hash_map::RandomState,
}

/// The key id of a valid entry.
fn id_of(entry: &CacheEntry) -> Option<&ApiKeyId> {
    match &entry.verdict {
        CachedVerdict::Valid { principal } => Some(principal.id()),
        CachedVerdict::Invalid => None,
    }
}

impl IdIndex {
    fn entries(&self) -> MutexGuard<'_, HashTable<Arc<CacheEntry>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hash(&self, id: &ApiKeyId) -> u64 {
        self.hasher.hash_one(id.as_str())
    }

    /// Points the entry's key id at it (valid entries only).
    pub(crate) fn insert(&self, entry: &Arc<CacheEntry>) {
        // A suspect entry is never served and its loader removes it from
        // moka: it must not take the slot of a live entry for the same id.
        if entry.suspect {
            return;
        }
        let Some(id) = id_of(entry) else { return };
        let hash = self.hash(id);
        let mut entries = self.entries();
        match entries.find_mut(hash, |held| id_of(held) == Some(id)) {
            Some(held) => *held = Arc::clone(entry),
            None => {
                entries.insert_unique(hash, Arc::clone(entry), |held| {
                    id_of(held).map_or(0, |id| self.hash(id))
                });
            }
        }
    }

    /// Forgets `entry`'s id if the index still holds that very entry.
    pub(crate) fn remove_same(&self, entry: &Arc<CacheEntry>) {
        let Some(id) = id_of(entry) else { return };
        let hash = self.hash(id);
        if let Ok(found) = self
            .entries()
            .find_entry(hash, |held| Arc::ptr_eq(held, entry))
        {
            found.remove();
        }
    }

    /// Takes the entry `id` points at.
    pub(crate) fn take(&self, id: &ApiKeyId) -> Option<Arc<CacheEntry>> {
        let hash = self.hash(id);
        let mut entries = self.entries();
        let found = entries
            .find_entry(hash, |held| id_of(held) == Some(id))
            .ok()?;
        Some(found.remove().0)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }

    pub(crate) fn clear(&self) {
        self.entries().clear();
    }
}

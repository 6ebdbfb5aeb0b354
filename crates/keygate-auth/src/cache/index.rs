//! The id → digest index behind `invalidate_id`.
//!
//! Each valid entry gets a generation number; the index remembers the
//! generation it points at, and the eviction listener removes an index entry
//! only when the evicted cache entry is that same generation. So a late
//! eviction of an old entry never erases the index of a newer one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use keygate_types::ApiKeyId;

#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    map: Mutex<HashMap<ApiKeyId, ([u8; 32], u64)>>,
    next_generation: AtomicU64,
}

impl IdIndex {
    fn map(&self) -> MutexGuard<'_, HashMap<ApiKeyId, ([u8; 32], u64)>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Points `id` at `digest`; returns the entry's generation.
    pub(crate) fn insert(&self, id: &ApiKeyId, digest: [u8; 32]) -> u64 {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        self.map().insert(id.clone(), (digest, generation));
        generation
    }

    /// Forgets `id` if it still points at `generation`.
    pub(crate) fn remove_if(&self, id: &ApiKeyId, generation: u64) {
        let mut map = self.map();
        if map.get(id).is_some_and(|&(_, g)| g == generation) {
            map.remove(id);
        }
    }

    /// Takes the digest `id` points at.
    pub(crate) fn take(&self, id: &ApiKeyId) -> Option<[u8; 32]> {
        self.map().remove(id).map(|(digest, _)| digest)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }

    pub(crate) fn clear(&self) {
        self.map().clear();
    }
}

//! The ids of the valid verdicts moka holds, so that an invalidation by key
//! id or by membership finds its digests without a pass over moka.
//!
//! It lives under the gate, beside moka's writes: every valid verdict stored
//! into moka is put here in the same critical section, and nothing else adds
//! to moka. So **every valid verdict in moka has its id here** (the one rule
//! this index must keep; `invalidate_id_finds_verdicts_stored_after_evictions`
//! tests it). It may also hold ids whose verdicts moka has since evicted or
//! expired: invalidating those removes nothing. It drops them from time to
//! time ([`IdIndex::prune`]), keeping every id whose verdict moka still holds.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::Digest;
use crate::ApiKeyPrincipal;

/// Fewer entries than this are never pruned.
const PRUNE_FLOOR: usize = 1_024;

pub(crate) struct IdIndex {
    /// The digest of each indexed key, with its principal (shared with moka's
    /// entry: one pointer), found by the hash of the key id inside it.
    entries: HashTable<(Digest, ApiKeyPrincipal)>,
    /// SipHash with random keys: ids come from the key service, but nothing
    /// is lost by not trusting their distribution.
    hasher: std::collections::hash_map::RandomState,
    /// The size at which the next pruning pass runs: twice the size after
    /// the last one, so a pass costs O(1) per insertion over time.
    prune_at: usize,
}

impl Default for IdIndex {
    fn default() -> Self {
        Self {
            entries: HashTable::new(),
            hasher: std::collections::hash_map::RandomState::new(),
            prune_at: PRUNE_FLOOR,
        }
    }
}

impl IdIndex {
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Indexes `principal`'s key as stored under `digest`.
    pub(crate) fn insert(&mut self, digest: Digest, principal: &ApiKeyPrincipal) {
        let hash = self.hash(principal.id());
        match self
            .entries
            .find_mut(hash, |(_, held)| held.id() == principal.id())
        {
            Some(held) => *held = (digest, principal.clone()),
            None => {
                let hasher = &self.hasher;
                self.entries
                    .insert_unique(hash, (digest, principal.clone()), |(_, held)| {
                        hasher.hash_one(held.id())
                    });
            }
        }
    }

    /// Takes the digest of key `id` out of the index.
    pub(crate) fn take(&mut self, id: &str) -> Option<Digest> {
        let hash = self.hash(id);
        let found = self
            .entries
            .find_entry(hash, |(_, held)| held.id() == id)
            .ok()?;
        Some(found.remove().0.0)
    }

    /// Takes the digests of every key whose principal `doomed` picks.
    pub(crate) fn take_where(
        &mut self,
        mut doomed: impl FnMut(&ApiKeyPrincipal) -> bool,
    ) -> Vec<Digest> {
        let mut taken = Vec::new();
        self.entries.retain(|(digest, principal)| {
            let take = doomed(principal);
            if take {
                taken.push(*digest);
            }
            !take
        });
        taken
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Once the index has grown enough since the last pass, drops the ids
    /// whose verdicts `held` says moka no longer has.
    pub(crate) fn prune(&mut self, held: impl Fn(&Digest) -> bool) {
        if self.entries.len() < self.prune_at {
            return;
        }
        self.entries.retain(|(digest, _)| held(digest));
        self.prune_at = (2 * self.entries.len()).max(PRUNE_FLOOR);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

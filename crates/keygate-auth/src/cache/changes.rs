//! Every change to what the cache holds, side by side and under one gate:
//! storing a call's answer, and forgetting on an invalidation.
//!
//! A store checks that the epoch is the one its call began in; every
//! invalidation moves the epoch. Both happen while holding the gate, so
//! "store this answer" and "forget this key" are ordered whatever the
//! interleaving (invariants 3 and 8 of the module docs).

use std::sync::{Arc, MutexGuard};
use std::time::Instant;

use keygate_types::{ApiKeyId, OrganizationId, UserId};

use super::flight::{Answer, Fetched, Gate};
use super::stats::Counters;
use super::{CachedVerdict, Digest, Inner};
use crate::ApiKeyPrincipal;
use crate::tier::Invalidation;

impl Inner {
    /// Stores the answer of a call that began in `epoch`, at `began`, unless
    /// an invalidation came since (invariant 3); `gate` is held by the
    /// caller, which has taken the call out of the flights.
    pub(super) fn store(
        &self,
        gate: &mut Gate,
        digest: &Digest,
        epoch: u64,
        began: Instant,
        fetched: Fetched,
    ) -> Answer {
        let (key, fresh_for) = match fetched {
            Ok(verdict) => (verdict.key, verdict.fresh_for),
            Err(error) => return Err(Arc::new(error)),
        };
        let Some(api_key) = key else {
            // A definite "invalid" ends any verdict kept for stale-if-error,
            // whenever it arrives (invariant 5).
            self.verdicts.invalidate(digest);
            if gate.epoch == epoch {
                self.refusals.insert(*digest, ());
            }
            return Ok(CachedVerdict::Invalid);
        };
        let principal = ApiKeyPrincipal::new(api_key);
        if gate.epoch == epoch {
            let entry = self.lifetimes.entry(principal.clone(), fresh_for, began);
            self.refusals.invalidate(digest);
            self.verdicts.insert(*digest, entry);
            gate.index.insert(*digest, &principal);
            gate.index
                .prune(|digest| self.verdicts.contains_key(digest));
        }
        Ok(CachedVerdict::Valid(principal))
    }

    /// Applies `invalidation` to this process only; returns how many valid
    /// verdicts it forgot (for everything: 0).
    pub(crate) fn forget(&self, invalidation: &Invalidation) -> usize {
        match invalidation {
            Invalidation::Key(digest) => usize::from(self.forget_digest(&digest.0)),
            Invalidation::Id(id) => usize::from(self.forget_id(id)),
            Invalidation::Membership { user, organization } => {
                self.forget_membership(user, organization)
            }
            Invalidation::All => {
                self.forget_all();
                0
            }
            Invalidation::Session { sid, until } => {
                #[cfg(feature = "jwt")]
                if let Some(denylist) = self.sessions.get() {
                    denylist.deny(sid.as_str(), *until);
                }
                let _ = (sid, until);
                0
            }
        }
    }

    fn forget_digest(&self, digest: &Digest) -> bool {
        let mut gate = self.invalidation();
        self.refusals.invalidate(digest);
        match self.verdicts.remove(digest) {
            Some(entry) => {
                gate.index.take(entry.principal.id());
                true
            }
            None => false,
        }
    }

    fn forget_id(&self, id: &ApiKeyId) -> bool {
        let mut gate = self.invalidation();
        gate.index
            .take(id.as_str())
            .is_some_and(|digest| self.verdicts.remove(&digest).is_some())
    }

    fn forget_membership(&self, user: &UserId, organization: &OrganizationId) -> usize {
        let mut gate = self.invalidation();
        let digests = gate.index.take_where(|principal| {
            principal.user_id() == Some(user) && principal.organization_id() == organization
        });
        digests
            .iter()
            .filter(|digest| self.verdicts.remove(*digest).is_some())
            .count()
    }

    pub(super) fn forget_all(&self) {
        let mut gate = self.invalidation();
        gate.index.clear();
        // moka's own `invalidate_all` spares entries stored in the same clock
        // tick; removing each key does not.
        for (digest, _) in self.verdicts.iter() {
            self.verdicts.invalidate(&*digest);
        }
        for (digest, ()) in self.refusals.iter() {
            self.refusals.invalidate(&*digest);
        }
    }

    /// Starts an invalidation: takes the gate and moves the epoch, so that
    /// no call in flight stores its answer (invariant 3) and no later
    /// request joins one (invariant 4). The caller removes what it forgets
    /// before dropping the guard.
    pub(super) fn invalidation(&self) -> MutexGuard<'_, Gate> {
        let mut gate = self.gate();
        gate.epoch += 1;
        Counters::bump(&self.counters.invalidations);
        gate
    }
}

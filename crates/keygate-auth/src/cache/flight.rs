//! Single flight: at most one call to the key service per key at a time,
//! and the gate under which answers are stored and invalidations applied
//! (the stores and invalidations themselves are in `changes.rs`).
//!
//! The gate is one mutex over the invalidation epoch and the calls in
//! flight. Hits never take it; misses take it twice (to join or start a
//! call, and to settle it), invalidations once. Whatever the interleaving,
//! "store this answer" and "forget this key" are ordered by this lock, which
//! is what makes invariants 3 and 4 of the module docs hold.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard};
use std::time::Instant;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::{Shared, WeakShared};

use super::index::IdIndex;
use super::{CachedVerdict, Digest, Inner};
use crate::tier::TierVerdict;
use crate::validator::ValidatorError;

/// What a call answers: the key service's verdict, or a shared tier's.
pub(crate) type Fetched = Result<TierVerdict, ValidatorError>;

/// A call to the key service (or a shared tier), as the layer hands it to
/// the cache.
pub(crate) type Call = Pin<Box<dyn Future<Output = Fetched> + Send>>;

/// What everyone waiting on one call gets.
pub(crate) type Answer = Result<CachedVerdict, Arc<ValidatorError>>;

type SharedAnswer = Shared<Pin<Box<dyn Future<Output = Answer> + Send>>>;

/// The state under the gate.
#[derive(Default)]
pub(crate) struct Gate {
    /// Moved by every invalidation.
    pub(crate) epoch: u64,
    next_id: u64,
    /// The call in flight for each key, if any.
    flights: HashMap<Digest, Flight>,
    /// The ids of the valid verdicts in moka (see `index.rs`).
    pub(crate) index: IdIndex,
}

struct Flight {
    id: u64,
    /// The epoch when the call began.
    epoch: u64,
    /// Weak, so that a call everyone stopped waiting for is dropped (and
    /// leaves the map, see [`Landing`]) instead of lingering.
    answer: WeakShared<Pin<Box<dyn Future<Output = Answer> + Send>>>,
}

/// How a request came by its answer.
#[derive(Clone, Copy)]
pub(crate) enum Role {
    /// It started the call.
    Leader,
    /// It joined a call already in flight.
    Follower,
}

impl Gate {
    /// The call to wait on for `digest`: the one in flight, if it began
    /// after the latest invalidation (invariant 4), or a new one made by
    /// `call`, which takes the key's place in the map.
    pub(crate) fn join_or_start(
        &mut self,
        inner: &Arc<Inner>,
        digest: Digest,
        call: impl FnOnce() -> Call,
    ) -> (SharedAnswer, Role) {
        if let Some(flight) = self.flights.get(&digest)
            && flight.epoch == self.epoch
            && let Some(answer) = flight.answer.upgrade()
        {
            return (answer, Role::Follower);
        }
        let id = self.next_id;
        self.next_id += 1;
        let epoch = self.epoch;
        let began = Instant::now();
        // The call first: if making it panicked, no landing would re-take
        // the gate this thread holds.
        let call = call();
        let landing = Landing {
            inner: Arc::clone(inner),
            digest,
            id,
            settled: false,
        };
        let answer: Pin<Box<dyn Future<Output = Answer> + Send>> = Box::pin(async move {
            let mut landing = landing;
            // A panicking call must still answer everyone waiting on it
            // (a `Shared` that panics never wakes its other waiters).
            let verdict = match AssertUnwindSafe(call).catch_unwind().await {
                Ok(verdict) => verdict,
                Err(_panic) => Err(ValidatorError::new("the key-service call panicked")),
            };
            landing.settle(epoch, began, verdict)
        });
        let answer = answer.shared();
        let weak = answer
            .downgrade()
            .expect("a shared future that has not completed can be downgraded");
        self.flights.insert(
            digest,
            Flight {
                id,
                epoch,
                answer: weak,
            },
        );
        (answer, Role::Leader)
    }

    /// Takes call `id` for `digest` out of the map, unless a newer call has
    /// taken its place.
    fn land(&mut self, digest: &Digest, id: u64) {
        if self
            .flights
            .get(digest)
            .is_some_and(|flight| flight.id == id)
        {
            self.flights.remove(digest);
        }
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.flights.len()
    }
}

/// Settles one call: takes it out of the map and stores its answer, under
/// the gate. Dropped unsettled (everyone stopped waiting), it still takes
/// the call out of the map.
struct Landing {
    inner: Arc<Inner>,
    digest: Digest,
    id: u64,
    settled: bool,
}

impl Landing {
    fn settle(&mut self, epoch: u64, began: Instant, fetched: Fetched) -> Answer {
        self.settled = true;
        let mut gate = self.inner.gate();
        gate.land(&self.digest, self.id);
        // The gate stays held until the answer is stored (or not): an
        // invalidation waits for it, or the store sees the epoch it moved.
        self.inner
            .store(&mut gate, &self.digest, epoch, began, fetched)
    }
}

impl Drop for Landing {
    fn drop(&mut self) {
        if !self.settled {
            let mut gate: MutexGuard<'_, Gate> = self.inner.gate();
            gate.land(&self.digest, self.id);
        }
    }
}

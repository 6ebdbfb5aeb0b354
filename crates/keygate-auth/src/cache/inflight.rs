//! The calls to the key service in flight, by key digest, with the
//! invalidation epoch each began at: a request that arrives after an
//! invalidation must not wait for (and be served) an answer asked before it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub(crate) struct InFlight {
    calls: Mutex<HashMap<[u8; 32], u64>>,
}

/// Marks a call as in flight until dropped (also when the call is cancelled).
pub(crate) struct Call<'a> {
    inflight: &'a InFlight,
    digest: [u8; 32],
    epoch: u64,
}

impl InFlight {
    fn calls(&self) -> MutexGuard<'_, HashMap<[u8; 32], u64>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn begin(&self, digest: [u8; 32], epoch: u64) -> Call<'_> {
        self.calls().insert(digest, epoch);
        Call {
            inflight: self,
            digest,
            epoch,
        }
    }

    /// Whether a call for `digest` is in flight that began before `epoch`.
    pub(crate) fn began_before(&self, digest: &[u8; 32], epoch: u64) -> bool {
        self.calls().get(digest).is_some_and(|&began| began < epoch)
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        let mut calls = self.inflight.calls();
        if calls.get(&self.digest) == Some(&self.epoch) {
            calls.remove(&self.digest);
        }
    }
}

//! One emulated WorkOS environment: its secrets, data, clock and test controls.

use crate::auth::EnvironmentSecrets;
use crate::clock::Clock;
use crate::counters::Counters;
use crate::faults::FaultSet;
use crate::store::Store;

/// Everything a request handler may need, shared by all of them.
#[derive(Debug)]
pub(crate) struct Environment {
    pub(crate) store: Store,
    pub(crate) clock: Clock,
    pub(crate) faults: FaultSet,
    pub(crate) counters: Counters,
    pub(crate) secrets: EnvironmentSecrets,
    /// The largest request body accepted, in bytes.
    pub(crate) body_limit: usize,
}

impl Environment {
    /// Empties the store, counters and faults, and puts the clock back.
    pub(crate) fn reset(&self) {
        self.store.reset();
        self.counters.reset();
        self.faults.clear();
        self.clock.reset();
    }
}

//! One emulated WorkOS environment: its secrets, data, clock and test controls.

use std::sync::Arc;

use keygate_types::Timestamp;

use crate::Error;
use crate::auth::EnvironmentSecrets;
use crate::clock::Clock;
use crate::counters::Counters;
use crate::faults::FaultSet;
use crate::rate_limit::Limiter;
use crate::store::Store;
use crate::tokens::Tokens;
use crate::webhooks::Webhooks;

/// Everything a request handler may need, shared by all of them.
#[derive(Debug)]
pub(crate) struct Environment {
    /// Shared with the webhook deliverer, which reads the endpoints.
    pub(crate) store: Arc<Store>,
    pub(crate) clock: Clock,
    pub(crate) faults: FaultSet,
    pub(crate) counters: Counters,
    pub(crate) secrets: EnvironmentSecrets,
    /// The largest request body accepted, in bytes.
    pub(crate) body_limit: usize,
    /// The rate limit per secret, when one is set.
    pub(crate) limiter: Option<Limiter>,
    /// Shared with the webhook deliverer, which records its attempts.
    pub(crate) webhooks: Arc<Webhooks>,
    /// Issues M2M and session tokens from the store's token records.
    pub(crate) tokens: Tokens,
}

impl Environment {
    /// Empties the store, counters, faults and the record of webhook
    /// deliveries, and puts the clock back. Webhook endpoints stay, like
    /// secrets and allow-lists: they are the environment's configuration.
    pub(crate) fn reset(&self) -> Result<(), Error> {
        self.store.write(|state| {
            state.reset();
            self.clock.reset();
            Ok(())
        })?;
        self.webhooks.forget_deliveries();
        if let Some(limiter) = &self.limiter {
            limiter.reset();
        }
        self.counters.reset();
        self.faults.clear();
        Ok(())
    }

    /// Sets the clock, and keeps its new offset.
    pub(crate) fn set_time(&self, at: Timestamp) -> Result<(), Error> {
        self.move_clock(|clock| clock.set(at))
    }

    /// Moves the clock, and keeps its new offset.
    pub(crate) fn advance_time(&self, by: time::Duration) -> Result<(), Error> {
        self.move_clock(|clock| clock.advance(by))
    }

    fn move_clock(&self, step: impl FnOnce(&Clock)) -> Result<(), Error> {
        // Under the store's lock, so that offsets are kept in the order set.
        self.store.write(|state| {
            step(&self.clock);
            state.clock_offset_ms = self.clock.offset_ms();
            state.changes.settings = true;
            Ok(())
        })
    }
}

//! One emulated WorkOS environment: its secrets, data, clock and test controls.

use crate::auth::EnvironmentSecrets;
use crate::clock::Clock;
use crate::counters::Counters;
use crate::faults::FaultSet;
use crate::rate_limit::Limiter;
use crate::store::Store;
use crate::webhooks::{WebhookRetry, Webhooks};

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
    /// The rate limit per secret, when one is set.
    pub(crate) limiter: Option<Limiter>,
    pub(crate) webhooks: Webhooks,
    pub(crate) webhook_retry: WebhookRetry,
}

impl Environment {
    /// Empties the store, counters, faults and the record of webhook
    /// deliveries, and puts the clock back. Webhook endpoints stay, like
    /// secrets and allow-lists: they are the environment's configuration.
    pub(crate) fn reset(&self) {
        self.store.reset();
        self.webhooks.forget_deliveries();
        if let Some(limiter) = &self.limiter {
            limiter.reset();
        }
        self.counters.reset();
        self.faults.clear();
        self.clock.reset();
    }
}

//! What a replica's tier has done: counters, read as [`FleetStats`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A snapshot of one replica's fleet-mode counters, from
/// [`RedisTier::stats`](crate::RedisTier::stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetStats {
    /// Misses answered from a verdict another replica stored.
    pub shared_hits: u64,
    /// Of those, the ones that waited for another replica's call.
    pub waits: u64,
    /// Calls to the key service this replica made for the fleet (it held
    /// the claim, or waited for it in vain).
    pub key_service_calls: u64,
    /// Of those, the ones made after waiting the whole claim wait.
    pub claim_timeouts: u64,
    /// Misses that went straight to the key service because Redis was
    /// failing.
    pub fallbacks: u64,
    /// Verdicts stored in Redis.
    pub writes: u64,
    /// Verdicts not stored because an invalidation happened during their call.
    pub writes_refused: u64,
    /// Invalidations made here and logged for the fleet.
    pub invalidations_sent: u64,
    /// Invalidations made here that could not be logged at once (each one
    /// retried until logged).
    pub send_failures: u64,
    /// Log entries applied here (this replica's own included).
    pub invalidations_received: u64,
    /// Times this replica could not prove it saw every log entry since its
    /// position (each one flushed its cache).
    pub discontinuities: u64,
    /// Shared verdicts ignored because this fleet did not seal them.
    pub forged: u64,
    /// Times the wake-up subscription was lost (the log is still read on
    /// schedule).
    pub subscription_losses: u64,
    /// Whether this replica's last read of the invalidation log succeeded
    /// and left it caught up.
    pub listening: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) shared_hits: AtomicU64,
    pub(crate) waits: AtomicU64,
    pub(crate) key_service_calls: AtomicU64,
    pub(crate) claim_timeouts: AtomicU64,
    pub(crate) fallbacks: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) writes_refused: AtomicU64,
    pub(crate) invalidations_sent: AtomicU64,
    pub(crate) send_failures: AtomicU64,
    pub(crate) invalidations_received: AtomicU64,
    pub(crate) discontinuities: AtomicU64,
    pub(crate) forged: AtomicU64,
    pub(crate) subscription_losses: AtomicU64,
    pub(crate) listening: AtomicBool,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> FleetStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FleetStats {
            shared_hits: read(&self.shared_hits),
            waits: read(&self.waits),
            key_service_calls: read(&self.key_service_calls),
            claim_timeouts: read(&self.claim_timeouts),
            fallbacks: read(&self.fallbacks),
            writes: read(&self.writes),
            writes_refused: read(&self.writes_refused),
            invalidations_sent: read(&self.invalidations_sent),
            send_failures: read(&self.send_failures),
            invalidations_received: read(&self.invalidations_received),
            discontinuities: read(&self.discontinuities),
            forged: read(&self.forged),
            subscription_losses: read(&self.subscription_losses),
            listening: self.listening.load(Ordering::SeqCst),
        }
    }
}

//! Deliveries already seen, remembered for the tolerance window: a replayed
//! request is refused, and WorkOS's own retry of an event already handled is
//! acknowledged without acting twice.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use keygate_types::EventId;

/// How many entries of each kind are kept at most; beyond it, the oldest
/// half (by expiry) is dropped. Deliveries are few; this only bounds memory
/// under a flood of valid-looking ones.
const CAPACITY: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct SeenDeliveries {
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Signature → when it may be forgotten (unix ms).
    signatures: HashMap<[u8; 32], i64>,
    /// Event id → when it may be forgotten (unix ms).
    events: HashMap<EventId, i64>,
}

/// What a verified delivery is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seeing {
    /// Never seen: act on it.
    New,
    /// The same event, signed anew (WorkOS retrying): acknowledge, do nothing.
    Duplicate,
    /// The very same signed request again: refuse.
    Replayed,
}

fn prune<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, i64>, now_ms: i64) {
    map.retain(|_, forget_at| *forget_at > now_ms);
    if map.len() >= CAPACITY {
        let mut expiries: Vec<i64> = map.values().copied().collect();
        expiries.sort_unstable();
        let median = expiries[expiries.len() / 2];
        map.retain(|_, forget_at| *forget_at > median);
    }
}

impl SeenDeliveries {
    /// Forgets that `event` was handled, so that the key service's retry of
    /// it (signed anew) is acted on again. The signature itself stays
    /// remembered: the very same request is still a replay.
    pub(crate) fn forget_event(&self, event: &EventId) {
        let mut seen = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        seen.events.remove(event);
    }

    /// Records a verified delivery, to be remembered until `forget_at_ms`.
    pub(crate) fn see(
        &self,
        signature: [u8; 32],
        event: &EventId,
        now_ms: i64,
        forget_at_ms: i64,
    ) -> Seeing {
        let mut seen = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.signatures.len() >= CAPACITY / 2 {
            prune(&mut seen.signatures, now_ms);
        }
        if seen.events.len() >= CAPACITY / 2 {
            prune(&mut seen.events, now_ms);
        }
        if seen
            .signatures
            .get(&signature)
            .is_some_and(|at| *at > now_ms)
        {
            return Seeing::Replayed;
        }
        seen.signatures.insert(signature, forget_at_ms);
        match seen.events.insert(event.clone(), forget_at_ms) {
            Some(at) if at > now_ms => Seeing::Duplicate,
            _ => Seeing::New,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_new_duplicate_and_replayed_apart() {
        let seen = SeenDeliveries::default();
        let e1 = EventId::new_unchecked("event_01HZY3K2J5QW8N7X6V4T3R2P1M");
        assert_eq!(seen.see([1; 32], &e1, 0, 100), Seeing::New);
        assert_eq!(seen.see([1; 32], &e1, 10, 110), Seeing::Replayed);
        assert_eq!(seen.see([2; 32], &e1, 20, 120), Seeing::Duplicate);
        // Past the window both are forgotten (the timestamp check refuses
        // such old requests before they get here).
        assert_eq!(seen.see([1; 32], &e1, 500, 600), Seeing::New);
    }
}

//! What a replica decides alone while its shared budget cannot decide.
//!
//! The shared budget (Redis) may have counted any part of a partition's
//! budget before it failed, and this replica cannot know how much. So the
//! fallback assumes the worst: it decides in *spells*, one from the first
//! request the shared budget could not decide to the next one it decides,
//! and within a spell every partition starts empty, as if its whole burst
//! had been spent the moment the spell began. It then refills at the
//! quota's steady rate, one request per replenish interval `T`
//! (`window / count`), up to the burst: the k-th request a partition is
//! accepted within a spell comes at least `k·T` after the spell began, so a
//! spell of length `D` accepts at most `⌊D / T⌋` requests per partition on
//! this replica, however many the shared budget had counted.
//!
//! The state is a theoretical arrival time (TAT) per partition, in
//! nanoseconds since the spell began, the same GCRA as the shared budget's
//! script; a partition without one is empty at the spell's start (TAT =
//! `burst·T`). A TAT in the past means the budget is whole, which for an
//! unchanged quota is what an absent partition means too, so such entries
//! are dropped, every [`PRUNE_CHECK_EVERY`]th check once the prune interval
//! has passed. An ended spell is dropped whole: the next one starts every
//! partition empty again.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::local::{PRUNE_CHECK_EVERY, PartitionId};
use crate::Decision;
use crate::Quota;

/// The longest silence between two warnings about a failing shared budget.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The fallback of one layer, and the counters of its shared budget's decisions.
pub(crate) struct Fallback {
    spell: Mutex<Option<Arc<Spell>>>,
    /// Whether `spell` holds one: read on every shared decision, so that
    /// one without a spell takes no lock.
    active: AtomicBool,
    prune_interval: Duration,
    warned_at: Mutex<Option<Instant>>,
    shared: AtomicU64,
    alone: AtomicU64,
}

/// One stretch of decisions without the shared budget.
struct Spell {
    started: Instant,
    state: Mutex<SpellState>,
}

struct SpellState {
    /// Each partition's TAT, in nanoseconds since the spell began.
    tats: HashMap<PartitionId, u128>,
    checks: u64,
    last_prune: Instant,
}

impl Fallback {
    pub(crate) fn new(prune_interval: Duration) -> Self {
        Self {
            spell: Mutex::new(None),
            active: AtomicBool::new(false),
            prune_interval,
            warned_at: Mutex::new(None),
            shared: AtomicU64::new(0),
            alone: AtomicU64::new(0),
        }
    }

    /// The shared budget decided a request: a spell, if one is on, ends.
    pub(crate) fn shared_decided(&self) {
        self.shared.fetch_add(1, Ordering::Relaxed);
        if self.active.load(Ordering::Acquire) {
            let mut spell = self.spell.lock().unwrap_or_else(PoisonError::into_inner);
            if spell.take().is_some() {
                self.active.store(false, Ordering::Release);
                tracing::info!(
                    "the shared rate-limit budget answers again: this replica no longer limits alone"
                );
            }
        }
    }

    /// Decides a request the shared budget could not decide (`why`), in
    /// the spell under way or in a new one.
    pub(crate) fn decide(
        &self,
        id: &PartitionId,
        quota: &Quota,
        why: &dyn fmt::Display,
    ) -> Decision {
        self.alone.fetch_add(1, Ordering::Relaxed);
        let spell = self.spell(why);
        spell.check(id, quota, Instant::now(), self.prune_interval)
    }

    /// The spell under way, or a new one that starts now.
    fn spell(&self, why: &dyn fmt::Display) -> Arc<Spell> {
        let mut spell = self.spell.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(spell) = &*spell {
            return Arc::clone(spell);
        }
        let now = Instant::now();
        let started = Arc::new(Spell {
            started: now,
            state: Mutex::new(SpellState {
                tats: HashMap::new(),
                checks: 0,
                last_prune: now,
            }),
        });
        *spell = Some(Arc::clone(&started));
        self.active.store(true, Ordering::Release);
        drop(spell);
        self.warn(why, now);
        started
    }

    fn warn(&self, why: &dyn fmt::Display, now: Instant) {
        let mut warned_at = self
            .warned_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if warned_at.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            *warned_at = Some(now);
            tracing::warn!(
                error = %why,
                "the shared rate-limit budget failed: this replica limits alone, every partition \
                 starting empty, until the budget answers again (this warning repeats at most \
                 every 10 s)"
            );
        }
    }

    /// Requests decided by the shared budget, and by the fallback.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.shared.load(Ordering::Relaxed),
            self.alone.load(Ordering::Relaxed),
        )
    }

    /// Whether a spell is on: the last decision was the fallback's.
    pub(crate) fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// The partitions the spell under way holds.
    pub(crate) fn len(&self) -> usize {
        let spell = self
            .spell
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        spell.map_or(0, |spell| spell.state().tats.len())
    }

    /// Drops the whole partitions of the spell under way now.
    pub(crate) fn prune(&self) {
        let spell = self
            .spell
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(spell) = spell {
            let now = spell.offset(Instant::now());
            spell.state().prune(now);
        }
    }
}

impl Spell {
    fn state(&self) -> std::sync::MutexGuard<'_, SpellState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Nanoseconds from the spell's start to `now`.
    fn offset(&self, now: Instant) -> u128 {
        now.saturating_duration_since(self.started).as_nanos()
    }

    /// Spends one request of `id`'s budget at `now`, if there is one left:
    /// the GCRA of the shared budget's script, over a budget that was
    /// empty when the spell began.
    fn check(
        &self,
        id: &PartitionId,
        quota: &Quota,
        now: Instant,
        prune_interval: Duration,
    ) -> Decision {
        let interval = quota.replenish_interval().as_nanos().max(1);
        let capacity = interval * u128::from(quota.burst());
        let now_ns = self.offset(now);
        let mut state = self.state();
        let tat = state.tats.get(id).copied().unwrap_or(capacity).max(now_ns);
        let next = tat + interval;
        let decision = if next - now_ns > capacity {
            Decision::Limited {
                retry_after: nanos(next - capacity - now_ns),
            }
        } else {
            match state.tats.get_mut(id) {
                Some(stored) => *stored = next,
                None => {
                    state.tats.insert(id.clone(), next);
                }
            }
            Decision::Accepted {
                remaining: u32::try_from((capacity - (next - now_ns)) / interval)
                    .unwrap_or(u32::MAX),
                reset: nanos(next - now_ns),
            }
        };
        state.checks += 1;
        if state.checks.is_multiple_of(PRUNE_CHECK_EVERY)
            && now.duration_since(state.last_prune) >= prune_interval
        {
            state.prune(now_ns);
            state.last_prune = now;
        }
        decision
    }
}

impl SpellState {
    /// Drops the partitions whose budget is whole at `now` (nanoseconds
    /// since the spell began): for an unchanged quota they are
    /// indistinguishable from absent ones, and a changed quota makes an
    /// absent one no fuller than the stored one.
    fn prune(&mut self, now: u128) {
        self.tats.retain(|_, tat| *tat > now);
        self.tats.shrink_to_fit();
    }
}

fn nanos(nanos: u128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(id: &str) -> PartitionId {
        PartitionId(id.to_owned())
    }

    fn spell(started: Instant) -> Spell {
        Spell {
            started,
            state: Mutex::new(SpellState {
                tats: HashMap::new(),
                checks: 0,
                last_prune: started,
            }),
        }
    }

    /// Accepted requests of one partition checked every millisecond for `span`.
    fn accepted_within(quota: Quota, span: Duration) -> Vec<Duration> {
        let start = Instant::now();
        let spell = spell(start);
        let mut accepted = Vec::new();
        let mut at = Duration::ZERO;
        while at < span {
            let decision = spell.check(
                &id("api_key_a"),
                &quota,
                start + at,
                Duration::from_secs(60),
            );
            if let Decision::Accepted { .. } = decision {
                accepted.push(at);
            }
            at += Duration::from_millis(1);
        }
        accepted
    }

    #[test]
    fn a_partition_starts_empty_and_its_kth_request_comes_k_intervals_into_the_spell() {
        // 5 a second, burst 5: T = 200 ms.
        let quota = Quota::per_second(5);
        let accepted = accepted_within(quota, Duration::from_millis(2_000));
        let expected: Vec<Duration> = (1..10).map(|k| Duration::from_millis(200 * k)).collect();
        assert_eq!(accepted, expected);
    }

    #[test]
    fn after_a_quiet_spell_a_partition_has_its_burst_again() {
        let quota = Quota::per_second(5);
        let start = Instant::now();
        let spell = spell(start);
        let at = |ms| start + Duration::from_millis(ms);
        // Whole again one burst's worth of intervals into the spell.
        for n in 0..5 {
            assert!(matches!(
                spell.check(&id("api_key_a"), &quota, at(1_000), Duration::from_secs(60)),
                Decision::Accepted { remaining, .. } if remaining == 4 - n
            ));
        }
        match spell.check(&id("api_key_a"), &quota, at(1_000), Duration::from_secs(60)) {
            Decision::Limited { retry_after } => {
                assert_eq!(retry_after, Duration::from_millis(200))
            }
            Decision::Accepted { .. } => panic!("accepted past the burst"),
        }
    }

    #[test]
    fn a_refusal_says_when_the_next_request_fits() {
        let quota = Quota::per_minute(5);
        let start = Instant::now();
        let spell = spell(start);
        match spell.check(
            &id("api_key_a"),
            &quota,
            start + Duration::from_secs(2),
            Duration::from_secs(60),
        ) {
            Decision::Limited { retry_after } => assert_eq!(retry_after, Duration::from_secs(10)),
            Decision::Accepted { .. } => panic!("an empty partition accepted"),
        }
    }

    #[test]
    fn whole_partitions_are_pruned_and_spending_ones_kept() {
        let quota = Quota::per_second(10);
        let start = Instant::now();
        let spell = spell(start);
        let later = start + Duration::from_secs(1);
        spell.check(&id("api_key_idle"), &quota, later, Duration::from_secs(60));
        for _ in 0..5 {
            spell.check(&id("api_key_busy"), &quota, later, Duration::from_secs(60));
        }
        spell
            .state()
            .prune(spell.offset(later + Duration::from_millis(150)));
        let kept: Vec<_> = spell.state().tats.keys().cloned().collect();
        assert_eq!(kept, vec![id("api_key_busy")]);
    }

    #[test]
    fn a_spell_ends_when_the_shared_budget_decides_and_the_next_starts_empty() {
        let fallback = Fallback::new(Duration::from_secs(60));
        let quota = Quota::per_second(10).with_burst(1);
        let why = "redis did not answer";
        // Empty at the spell's start: refused at once.
        assert!(matches!(
            fallback.decide(&id("api_key_a"), &quota, &why),
            Decision::Limited { .. }
        ));
        assert!(fallback.active());
        std::thread::sleep(Duration::from_millis(120));
        assert!(matches!(
            fallback.decide(&id("api_key_a"), &quota, &why),
            Decision::Accepted { .. }
        ));
        fallback.shared_decided();
        assert!(!fallback.active());
        assert_eq!(fallback.len(), 0);
        // A new spell: empty again, whatever the last one had refilled.
        assert!(matches!(
            fallback.decide(&id("api_key_a"), &quota, &why),
            Decision::Limited { .. }
        ));
        assert_eq!(fallback.counts(), (1, 3));
    }
}

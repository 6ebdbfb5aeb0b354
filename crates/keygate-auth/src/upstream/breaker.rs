//! The circuit breaker: after a run of failed calls to the key service, stop
//! calling it for a while, and let one probe through to see if it is back.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// When to stop calling a failing key service, and for how long.
///
/// After `failure_threshold` consecutive failed calls the breaker **opens**:
/// cache misses are answered 503 at once (with `Retry-After` set to the time
/// left), without calling the key service. After `open_for` it is
/// **half-open**: the next miss is let through as a probe while the others
/// keep failing fast; a probe that gets any answer (valid or invalid) closes
/// the breaker, a failed probe opens it again for `open_for`.
///
/// ```
/// use std::time::Duration;
/// use keygate_auth::CircuitBreaker;
///
/// let breaker = CircuitBreaker::new(5, Duration::from_secs(10));
/// assert_eq!(breaker.failure_threshold(), 5);
/// assert!(CircuitBreaker::disabled().failure_threshold() == u32::MAX);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    open_for: Duration,
}

/// The default breaker: opens after 5 consecutive failures, for 5 s.
impl Default for CircuitBreaker {
    fn default() -> Self {
        Self::new(5, Duration::from_secs(5))
    }
}

impl CircuitBreaker {
    /// Opens after `failure_threshold` consecutive failures (at least 1), for `open_for`.
    pub fn new(failure_threshold: u32, open_for: Duration) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            open_for,
        }
    }

    /// A breaker that never opens.
    pub fn disabled() -> Self {
        Self::new(u32::MAX, Duration::ZERO)
    }

    /// Consecutive failures that open the breaker.
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// How long the breaker stays open before letting a probe through.
    pub fn open_for(&self) -> Duration {
        self.open_for
    }
}

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast.
    Open,
    /// One probe is allowed (or in flight); others fail fast.
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A breaker's live state, shared by every call of one layer.
#[derive(Debug)]
pub(crate) struct Breaker {
    policy: CircuitBreaker,
    state: Mutex<State>,
}

/// Permission to make one call; report how it went with [`Call::finish`].
/// Dropped without finishing (the request was cancelled), it frees a
/// half-open probe slot without counting as a failure.
#[must_use]
#[derive(Debug)]
pub(crate) struct Call<'a> {
    breaker: &'a Breaker,
    probe: bool,
    finished: bool,
}

/// The breaker is open: try again after this long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused {
    pub(crate) retry_after: Duration,
}

/// The `Retry-After` given while a probe is in flight.
const PROBE_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Breaker {
    pub(crate) fn new(policy: CircuitBreaker) -> Self {
        crate::metrics::breaker_built();
        Self {
            policy,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn current(&self) -> BreakerState {
        match *self.state() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if Instant::now() < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// While the breaker is open (or a probe is in flight): how long until
    /// it may let a call through. Takes no probe slot: the fast path's check.
    pub(crate) fn refusing(&self) -> Option<Duration> {
        match *self.state() {
            State::Open { until } => until.checked_duration_since(Instant::now()),
            State::HalfOpen { probing: true } => Some(PROBE_RETRY_AFTER),
            State::Closed { .. } | State::HalfOpen { probing: false } => None,
        }
    }

    /// Asks to make a call.
    pub(crate) fn admit(&self) -> Result<Call<'_>, Refused> {
        let mut state = self.state();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(Refused {
                        retry_after: until - now,
                    });
                }
                *state = State::HalfOpen { probing: true };
                crate::metrics::breaker_moved(BreakerState::HalfOpen);
                true
            }
            State::HalfOpen { probing: true } => {
                return Err(Refused {
                    retry_after: PROBE_RETRY_AFTER,
                });
            }
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                true
            }
        };
        Ok(Call {
            breaker: self,
            probe,
            finished: false,
        })
    }

    fn record(&self, success: bool, probe: bool) {
        let mut state = self.state();
        if success {
            if !matches!(*state, State::Closed { .. }) {
                tracing::info!("key service answered again; circuit breaker closed");
                crate::metrics::breaker_moved(BreakerState::Closed);
            }
            *state = State::Closed { failures: 0 };
            return;
        }
        let open = match *state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.policy.failure_threshold {
                    true
                } else {
                    *state = State::Closed { failures };
                    false
                }
            }
            // A failed probe, or a call admitted before the breaker opened.
            State::HalfOpen { .. } => probe,
            State::Open { .. } => false,
        };
        if open {
            tracing::warn!(
                open_for_ms = self.policy.open_for.as_millis() as u64,
                "key service failing; circuit breaker opened"
            );
            *state = State::Open {
                until: Instant::now()
                    .checked_add(self.policy.open_for)
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)),
            };
            crate::metrics::breaker_moved(BreakerState::Open);
        }
    }
}

impl Call<'_> {
    /// Records the call's result: `true` for any answer from the key service
    /// (valid or invalid), `false` for a failure.
    pub(crate) fn finish(mut self, success: bool) {
        self.finished = true;
        self.breaker.record(success, self.probe);
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if !self.finished && self.probe {
            let mut state = self.breaker.state();
            if matches!(*state, State::HalfOpen { probing: true }) {
                *state = State::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, open_for: Duration) -> Breaker {
        Breaker::new(CircuitBreaker::new(threshold, open_for))
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let b = breaker(3, Duration::from_secs(60));
        for _ in 0..2 {
            b.admit().unwrap().finish(false);
        }
        b.admit().unwrap().finish(true); // a success resets the run
        for _ in 0..2 {
            b.admit().unwrap().finish(false);
        }
        assert_eq!(b.current(), BreakerState::Closed);
        b.admit().unwrap().finish(false);
        assert_eq!(b.current(), BreakerState::Open);
        let refused = b.admit().unwrap_err();
        assert!(refused.retry_after > Duration::from_secs(59));
    }

    #[test]
    fn half_open_lets_one_probe_through_and_closes_on_success() {
        let b = breaker(1, Duration::ZERO);
        b.admit().unwrap().finish(false);
        assert_eq!(b.current(), BreakerState::HalfOpen);
        let probe = b.admit().unwrap();
        assert_eq!(
            b.admit().unwrap_err().retry_after,
            PROBE_RETRY_AFTER,
            "only one probe at a time"
        );
        probe.finish(true);
        assert_eq!(b.current(), BreakerState::Closed);
        b.admit().unwrap().finish(true);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let b = breaker(1, Duration::from_millis(30));
        b.admit().unwrap().finish(false);
        std::thread::sleep(Duration::from_millis(40));
        b.admit().unwrap().finish(false);
        assert_eq!(b.current(), BreakerState::Open);
    }

    #[test]
    fn a_cancelled_probe_frees_the_slot() {
        let b = breaker(1, Duration::ZERO);
        b.admit().unwrap().finish(false);
        drop(b.admit().unwrap());
        b.admit().unwrap().finish(true);
        assert_eq!(b.current(), BreakerState::Closed);
    }

    #[test]
    fn disabled_never_opens() {
        let b = Breaker::new(CircuitBreaker::disabled());
        for _ in 0..1000 {
            b.admit().unwrap().finish(false);
        }
        assert_eq!(b.current(), BreakerState::Closed);
    }
}

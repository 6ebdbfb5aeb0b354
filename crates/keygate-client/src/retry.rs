//! When and how long to wait before trying a call again.

use std::time::Duration;

use rand::Rng;

/// How the client retries failed calls: exponential backoff with full jitter.
///
/// A call is tried at most `1 + max_retries` times. Before retry `n` (from 0)
/// the client sleeps a random time between zero and
/// `min(max_backoff, initial_backoff × 2ⁿ)` ("full jitter", so a fleet of
/// clients does not retry in lockstep). A 429 answer with `Retry-After` is
/// waited out instead (plus up to `initial_backoff` of jitter), when it asks
/// for at most `max_retry_after`;
/// when it asks for more, the call fails at once with the 429 error, whose
/// [`retry_after`](crate::Error::retry_after) tells the caller how long to wait.
///
/// What is retried: connection errors, timeouts, 429 and 5xx answers, for
/// calls that are safe to repeat (reads, deletes, validation, membership
/// (de)activation, scheduling or clearing an expiry) and for creates sent with
/// an [`IdempotencyKey`](crate::IdempotencyKey). Other writes are retried only
/// when the connection could not even be opened, so the request was never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; `0` disables retries.
    pub max_retries: u32,
    /// The cap of the first backoff.
    pub initial_backoff: Duration,
    /// The largest backoff cap.
    pub max_backoff: Duration,
    /// The longest `Retry-After` the client waits out by itself.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The largest backoff before retry `retry` (counted from 0).
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// A random backoff before retry `retry`, in `0..=backoff_cap(retry)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self.backoff_cap(retry);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// How long to wait before retry `retry` after an answer that asked for
    /// `retry_after`: that time (plus a little jitter) when it is within the
    /// cap, `None` (do not retry) when it is over it, the jittered backoff
    /// when none was asked.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            // A little jitter on top, so clients told the same time do not
            // all come back in the same instant.
            Some(wait) => Some(wait.saturating_add(self.backoff(0))),
            None => Some(self.backoff(retry)),
        }
    }
}

/// Whether a call may be repeated without changing its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotence {
    /// Reads, deletes, validation: retried on every retryable failure.
    Safe,
    /// A write that could happen twice: retried only if it was never sent.
    Unsafe,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_grow_exponentially_up_to_the_max() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_cap(0), Duration::from_millis(100));
        assert_eq!(p.backoff_cap(1), Duration::from_millis(200));
        assert_eq!(p.backoff_cap(3), Duration::from_millis(800));
        assert_eq!(p.backoff_cap(10), Duration::from_secs(2));
        assert_eq!(p.backoff_cap(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn full_jitter_stays_within_the_cap_and_varies() {
        let p = RetryPolicy::default();
        let samples: Vec<_> = (0..200).map(|_| p.backoff(2)).collect();
        assert!(samples.iter().all(|d| *d <= Duration::from_millis(400)));
        let first = samples[0];
        assert!(samples.iter().any(|d| *d != first), "no jitter");
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = RetryPolicy::default();
        let wait = p.delay(0, Some(Duration::from_secs(1))).unwrap();
        assert!(wait >= Duration::from_secs(1), "{wait:?}");
        assert!(wait <= Duration::from_millis(1100), "{wait:?}");
        assert_eq!(p.delay(0, Some(Duration::from_secs(11))), None);
        assert!(p.delay(0, None).unwrap() <= Duration::from_millis(100));
    }
}

//! [`Quota`]: how many requests a partition may make, and how fast its budget refills.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

/// A rate limit: `count` requests per window of whole seconds, enforced as
/// GCRA (a token bucket without a timer): the budget refills one request
/// every `window / count`, and holds at most `burst` requests (by default
/// `count`, so a quiet partition may spend a whole window's worth at once).
///
/// It is what the `RateLimit-Policy` header advertises: `q` is `count`,
/// `w` is the window in seconds.
///
/// ```
/// use std::time::Duration;
/// use keygate_ratelimit::Quota;
///
/// let quota = Quota::per_second(10);
/// assert_eq!(quota.count(), 10);
/// assert_eq!(quota.window(), Duration::from_secs(1));
/// assert_eq!(quota.burst(), 10);
/// assert_eq!(quota.replenish_interval(), Duration::from_millis(100));
///
/// // 600 an hour, at most 20 at once.
/// let hourly = Quota::per_hour(600).with_burst(20);
/// assert_eq!(hourly.replenish_interval(), Duration::from_secs(6));
/// assert_eq!(hourly.to_string(), "600 requests per 3600 s (burst 20)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    count: NonZeroU32,
    window_secs: NonZeroU32,
    burst: NonZeroU32,
}

const fn non_zero(n: u32, what: &str) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("{}", what),
    }
}

impl Quota {
    /// `count` requests per `window_secs` seconds, burst `count`.
    ///
    /// # Panics
    /// When `count` or `window_secs` is 0: a quota that lets nothing
    /// through is a configuration mistake (refuse the route instead).
    pub const fn new(count: u32, window_secs: u32) -> Self {
        let count = non_zero(count, "a Quota needs a count of at least 1");
        Self {
            count,
            window_secs: non_zero(window_secs, "a Quota needs a window of at least 1 s"),
            burst: count,
        }
    }

    /// `count` requests a second.
    ///
    /// # Panics
    /// When `count` is 0.
    pub const fn per_second(count: u32) -> Self {
        Self::new(count, 1)
    }

    /// `count` requests a minute.
    ///
    /// # Panics
    /// When `count` is 0.
    pub const fn per_minute(count: u32) -> Self {
        Self::new(count, 60)
    }

    /// `count` requests an hour.
    ///
    /// # Panics
    /// When `count` is 0.
    pub const fn per_hour(count: u32) -> Self {
        Self::new(count, 3_600)
    }

    /// The same rate with at most `burst` requests at once.
    ///
    /// # Panics
    /// When `burst` is 0.
    pub const fn with_burst(self, burst: u32) -> Self {
        Self {
            burst: non_zero(burst, "a Quota needs a burst of at least 1"),
            ..self
        }
    }

    /// Requests per window (`q` in `RateLimit-Policy`).
    pub const fn count(&self) -> u32 {
        self.count.get()
    }

    /// The window (`w` in `RateLimit-Policy`).
    pub const fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs.get() as u64)
    }

    /// The window in seconds.
    pub const fn window_secs(&self) -> u32 {
        self.window_secs.get()
    }

    /// The most requests accepted at once after a quiet spell.
    pub const fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// How often one request's worth of budget comes back: `window / count`.
    pub fn replenish_interval(&self) -> Duration {
        self.window() / self.count.get()
    }

    /// The same quota for `governor`.
    pub(crate) fn to_governor(self) -> governor::Quota {
        // `with_period` refuses only a zero period; a count this large
        // (over a billion a second) is clamped to a period of one nanosecond.
        let period = self.replenish_interval().max(Duration::from_nanos(1));
        governor::Quota::with_period(period)
            .expect("a non-zero period")
            .allow_burst(self.burst)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} requests per {} s", self.count, self.window_secs)?;
        if self.burst != self.count {
            write!(f, " (burst {})", self.burst)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_governor_quota_refills_at_the_same_rate_and_holds_the_burst() {
        let quota = Quota::per_minute(120).with_burst(5).to_governor();
        assert_eq!(quota.replenish_interval(), Duration::from_millis(500));
        assert_eq!(quota.burst_size().get(), 5);
    }

    #[test]
    #[should_panic(expected = "count of at least 1")]
    fn a_quota_of_nothing_is_refused() {
        let _ = Quota::per_second(0);
    }
}

//! An opt-in rate limit per environment secret, like WorkOS's (6,000
//! requests per 60 s): over it, a 429 with `Retry-After`.
//!
//! Fixed windows on the system clock (not the settable one, which tests move
//! by days). Off by default, so load tests measure the emulator, not a limit.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many requests each environment secret may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretRateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window's length.
    pub per: Duration,
}

impl SecretRateLimit {
    /// WorkOS's documented limit: 6,000 requests per 60 seconds.
    pub const WORKOS: SecretRateLimit = SecretRateLimit {
        requests: 6_000,
        per: Duration::from_secs(60),
    };
}

/// The windows in force, one per secret.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: SecretRateLimit,
    windows: Mutex<Vec<(Instant, u32)>>,
}

impl Limiter {
    pub(crate) fn new(limit: SecretRateLimit, secrets: usize) -> Self {
        Self {
            limit,
            windows: Mutex::new(vec![(Instant::now(), 0); secrets]),
        }
    }

    /// Counts a request made with secret number `secret`; `Err(seconds)` to
    /// wait when it is over the limit.
    pub(crate) fn admit(&self, secret: usize) -> Result<(), u64> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((start, count)) = windows.get_mut(secret) else {
            return Ok(());
        };
        let now = Instant::now();
        if now.duration_since(*start) >= self.limit.per {
            *start = now;
            *count = 0;
        }
        if *count >= self.limit.requests {
            let left = self.limit.per.saturating_sub(now.duration_since(*start));
            // Whole seconds, rounded up: never tell a caller to come back too early.
            let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            return Err(seconds.max(1));
        }
        *count += 1;
        Ok(())
    }

    pub(crate) fn reset(&self) {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        for w in windows.iter_mut() {
            *w = (Instant::now(), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_per_secret_then_says_how_long_to_wait() {
        let limiter = Limiter::new(
            SecretRateLimit {
                requests: 2,
                per: Duration::from_secs(30),
            },
            2,
        );
        assert_eq!(limiter.admit(0), Ok(()));
        assert_eq!(limiter.admit(0), Ok(()));
        let wait = limiter.admit(0).unwrap_err();
        assert!((1..=30).contains(&wait), "{wait}");
        assert_eq!(limiter.admit(1), Ok(()), "each secret has its own budget");
        limiter.reset();
        assert_eq!(limiter.admit(0), Ok(()));
    }
}

#![doc = include_str!("../../docs/resilience.md")]

mod breaker;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use breaker::{BreakerState, CircuitBreaker};

use crate::validator::{KeyValidator, ValidatorError, Verdict};
use breaker::Breaker;

/// The default bound on one validation, retries included.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);
/// The default cap on validations in flight at once, per layer.
pub const DEFAULT_MAX_CONCURRENT_VALIDATIONS: usize = 64;

/// Why the layer itself gave up on the key service (carried inside a
/// [`ValidatorError`], so it becomes a 503 like any other failure).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The validation, retries included, took longer than the layer's timeout.
    #[error("the key service did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The circuit breaker is open: the key service was not called.
    #[error("the key service is failing; not calling it for now (circuit breaker open)")]
    CircuitOpen,
    /// Too many validations were already in flight, and none finished in time.
    #[error("too many validations in flight")]
    Saturated,
}

/// How the layer calls the key service on a miss.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamPolicy {
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_concurrent: usize,
    pub(crate) breaker: CircuitBreaker,
}

impl Default for UpstreamPolicy {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_UPSTREAM_TIMEOUT,
            retries: 0,
            initial_backoff: Duration::from_millis(50),
            max_concurrent: DEFAULT_MAX_CONCURRENT_VALIDATIONS,
            breaker: CircuitBreaker::default(),
        }
    }
}

/// The live upstream guard of one layer.
#[derive(Debug)]
pub(crate) struct Upstream {
    policy: UpstreamPolicy,
    slots: Arc<Semaphore>,
    breaker: Breaker,
}

fn failed(error: UpstreamError) -> ValidatorError {
    ValidatorError::new(error)
}

impl Upstream {
    pub(crate) fn new(policy: UpstreamPolicy) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(policy.max_concurrent.max(1))),
            breaker: Breaker::new(policy.breaker),
            policy,
        }
    }

    /// No timeout to speak of, no retries, no breaker: for the cache's own tests.
    #[cfg(test)]
    pub(crate) fn unguarded() -> Self {
        Self::new(UpstreamPolicy {
            timeout: Duration::from_secs(3600),
            breaker: CircuitBreaker::disabled(),
            ..UpstreamPolicy::default()
        })
    }

    pub(crate) fn breaker_state(&self) -> BreakerState {
        self.breaker.current()
    }

    /// `Some(retry_after)` while the breaker refuses calls: a miss can be
    /// answered 503 at once, without a load.
    pub(crate) fn refusing(&self) -> Option<Duration> {
        self.breaker.refusing()
    }

    /// Validates `key` through `validator`, within the timeout, retrying
    /// failures with jittered backoff, under the cap and the breaker.
    pub(crate) async fn validate<V: KeyValidator>(&self, validator: &V, key: &str) -> Verdict {
        let deadline = Instant::now() + self.policy.timeout;
        let mut retry = 0;
        loop {
            let call = self.breaker.admit().map_err(|refused| {
                failed(UpstreamError::CircuitOpen).with_retry_after(refused.retry_after)
            })?;
            let Ok(Ok(slot)) = tokio::time::timeout_at(deadline, self.slots.acquire()).await else {
                // Not the key service's fault: the breaker does not count it.
                return Err(failed(UpstreamError::Saturated));
            };
            let answer = tokio::time::timeout_at(deadline, validator.validate(key)).await;
            drop(slot);
            let error = match answer {
                Ok(Ok(verdict)) => {
                    call.finish(true);
                    return Ok(verdict);
                }
                Ok(Err(error)) => error,
                Err(_elapsed) => {
                    call.finish(false);
                    return Err(failed(UpstreamError::Timeout(self.policy.timeout)));
                }
            };
            call.finish(false);
            if retry >= self.policy.retries {
                return Err(error);
            }
            let wait = self.backoff(retry, error.retry_after());
            if Instant::now() + wait >= deadline {
                // The wait would outlast the request's budget: answer now,
                // passing the service's Retry-After on.
                return Err(error);
            }
            tracing::debug!(retry, wait_ms = wait.as_millis() as u64, error = %error, "retrying validation");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// Full jitter below `initial_backoff × 2^retry`, or the service's
    /// `Retry-After` plus a little jitter.
    fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let base = self.policy.initial_backoff;
        let jitter = |cap: Duration| {
            let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rand::rng().random_range(0..=nanos))
        };
        match retry_after {
            Some(wait) => wait.saturating_add(jitter(base)),
            None => jitter(base.saturating_mul(2u32.saturating_pow(retry.min(16)))),
        }
    }
}

#[cfg(test)]
mod tests;

//! What stands between a cache miss and the key service: the timeout, the
//! cap on calls in flight and the circuit breaker (see the crate docs'
//! "When the key service fails" section).

mod breaker;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub use breaker::{BreakerState, CircuitBreaker};

use crate::metrics::{CallResult, TimedCall};
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
    /// Too many validations were already in flight or waiting: this
    /// process's own limit, not a failure of the key service.
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
    /// Misses waiting for a slot now.
    queued: AtomicUsize,
    breaker: Breaker,
}

/// Now plus `wait`, or as far as the clock goes: `Duration::MAX` means "no
/// limit", not a panic.
fn later(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

fn failed(error: UpstreamError) -> ValidatorError {
    ValidatorError::new(error)
}

/// Decrements a counter when dropped (also when the wait is cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Upstream {
    pub(crate) fn new(policy: UpstreamPolicy) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(policy.max_concurrent.max(1))),
            queued: AtomicUsize::new(0),
            breaker: Breaker::new(policy.breaker),
            policy,
        }
    }

    pub(crate) fn breaker_state(&self) -> BreakerState {
        self.breaker.current()
    }

    /// `Some(retry_after)` while the breaker refuses calls: a miss can be
    /// answered 503 at once, without a load.
    pub(crate) fn refusing(&self) -> Option<Duration> {
        self.breaker.refusing()
    }

    /// A slot for one validation. A miss waits for one at most the
    /// timeout, and only while fewer misses than there are slots already
    /// wait: beyond that this process is saturated, and it says so at once
    /// rather than queue requests it could not serve in time (a flood of
    /// unknown keys then sheds its own excess instead of starving the keys
    /// behind it). Saturation is this process's limit, not a failure of the
    /// key service: the breaker does not count it, and it is never answered
    /// from a stale verdict.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, ValidatorError> {
        if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(slot);
        }
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.policy.max_concurrent {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(ValidatorError::saturated(UpstreamError::Saturated));
        }
        let _queued = Queued(&self.queued);
        match tokio::time::timeout(self.policy.timeout, Arc::clone(&self.slots).acquire_owned())
            .await
        {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(_)) | Err(_) => Err(ValidatorError::saturated(UpstreamError::Saturated)),
        }
    }

    /// Validates `key` through `validator`: under the breaker and the cap,
    /// then within the timeout (its own budget, which waiting for a slot
    /// does not use up), retrying failures with jittered backoff.
    pub(crate) async fn validate<V: KeyValidator>(&self, validator: &V, key: &str) -> Verdict {
        if let Some(retry_after) = self.breaker.refusing() {
            return Err(failed(UpstreamError::CircuitOpen).with_retry_after(retry_after));
        }
        let _slot = self.slot().await?;
        let deadline = later(self.policy.timeout);
        let mut retry = 0;
        loop {
            let call = self.breaker.admit().map_err(|refused| {
                failed(UpstreamError::CircuitOpen).with_retry_after(refused.retry_after)
            })?;
            let timed = TimedCall::start();
            let error = match tokio::time::timeout_at(deadline, validator.validate(key)).await {
                Ok(Ok(verdict)) => {
                    timed.finish(match verdict {
                        Some(_) => CallResult::Valid,
                        None => CallResult::Invalid,
                    });
                    call.finish(true);
                    return Ok(verdict);
                }
                Ok(Err(error)) => {
                    timed.finish(CallResult::Error);
                    error
                }
                Err(_elapsed) => {
                    timed.finish(CallResult::Error);
                    call.finish(false);
                    return Err(failed(UpstreamError::Timeout(self.policy.timeout)));
                }
            };
            call.finish(false);
            if retry >= self.policy.retries {
                return Err(error);
            }
            let wait = self.backoff(retry, error.retry_after());
            if later(wait) >= deadline {
                // The wait would outlast the call's budget: answer now,
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

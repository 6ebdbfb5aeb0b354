//! Whether Redis answers: after a failure (an error, or no answer within
//! the command timeout), the tier leaves Redis alone for a while and the
//! layer works as a single process would.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Why a Redis step failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("redis did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis answered something this version cannot read")]
    Unreadable,
}

/// Redis's recent record.
#[derive(Debug)]
pub(crate) struct Health {
    down_until: Mutex<Option<Instant>>,
    retry_after: Duration,
}

impl Health {
    pub(crate) fn new(retry_after: Duration) -> Self {
        Self {
            down_until: Mutex::new(None),
            retry_after,
        }
    }

    /// Whether to use Redis now.
    pub(crate) fn available(&self) -> bool {
        let down = self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        down.is_none_or(|until| Instant::now() >= until)
    }

    /// Records a failure: Redis is left alone for the retry interval.
    pub(crate) fn failed(&self, failure: &Failure) {
        let mut down = self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let was_up = down.is_none_or(|until| Instant::now() >= until);
        *down = Some(Instant::now() + self.retry_after);
        if was_up {
            tracing::warn!(
                error = %failure,
                retry_in_ms = self.retry_after.as_millis() as u64,
                "fleet mode: redis is failing; this replica works on its own until it answers again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failure_leaves_redis_alone_for_the_retry_interval() {
        let health = Health::new(Duration::from_secs(1));
        assert!(health.available());
        health.failed(&Failure::Unreadable);
        assert!(!health.available());
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(!health.available());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(health.available());
    }
}

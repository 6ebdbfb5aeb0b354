//! The wall clock the layer compares keys' `expires_at` against.

use std::fmt::Debug;

use keygate_types::Timestamp;

/// A source of the current time, so tests can move time for `expires_at`
/// checks. The cache's own TTLs run on the monotonic clock and are not moved.
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock, the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

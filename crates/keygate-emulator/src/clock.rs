//! The emulator's settable clock.
//!
//! Expiry, `last_used_at`, event retention and new ids all read this clock, so
//! a test can move time instead of sleeping. It keeps ticking with the system
//! clock from wherever it was set: an offset, not a frozen instant, so a server
//! left running after `set_time` still behaves like a real one.

use std::sync::atomic::{AtomicI64, Ordering};

use keygate_types::Timestamp;
use time::{Duration, OffsetDateTime};

/// The clock: system time plus an adjustable offset, in milliseconds.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// The emulator's current time.
    pub(crate) fn now(&self) -> Timestamp {
        let offset = Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        Timestamp::from(OffsetDateTime::now_utc().saturating_add(offset))
    }

    /// Makes the clock read `at` now, and tick on from there.
    pub(crate) fn set(&self, at: Timestamp) {
        let real = Timestamp::from(OffsetDateTime::now_utc());
        self.offset_ms
            .store(millis(at.since(real)), Ordering::Relaxed);
    }

    /// Moves the clock forward (or back, for a negative duration).
    pub(crate) fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(millis(by), Ordering::Relaxed);
    }

    /// The offset from system time, in milliseconds (kept with the state).
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Sets the offset from system time (read back from the state).
    pub(crate) fn set_offset_ms(&self, offset: i64) {
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    /// Puts the clock back on system time.
    pub(crate) fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.whole_milliseconds()).unwrap_or(if d.is_negative() {
        i64::MIN
    } else {
        i64::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_then_advance() {
        let clock = Clock::default();
        let at: Timestamp = "2030-01-01T00:00:00.000Z".parse().unwrap();
        clock.set(at);
        let read = clock.now();
        assert!(read.since(at) >= Duration::ZERO && read.since(at) < Duration::seconds(5));
        clock.advance(Duration::days(2));
        assert!(clock.now().since(at) >= Duration::days(2));
        clock.reset();
        assert!(clock.now() < at);
    }
}

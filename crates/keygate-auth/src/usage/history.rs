//! One key's counted requests over time: hourly buckets for two days, daily
//! ones for a month. Counts land in the bucket of the drain that took them
//! (a drain runs at least on every read and every sink interval), so a
//! request is off by at most one interval.

use keygate_types::Timestamp;

/// How many days [`KeyUsage::daily`] covers.
pub const DAYS: usize = 30;

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// A key's requests, as a meter (or a fleet's shared counts) saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    /// Requests in the last 24 hours.
    pub last_24_hours: u64,
    /// Requests in the last 30 days (today included).
    pub last_30_days: u64,
    /// Requests per day (UTC) for the last [`DAYS`] days, oldest first, today
    /// last.
    pub daily: [u64; DAYS],
    /// The latest counted request, if any.
    pub last_used_at: Option<Timestamp>,
}

impl KeyUsage {
    /// No requests at all.
    pub fn none() -> Self {
        Self {
            last_24_hours: 0,
            last_30_days: 0,
            daily: [0; DAYS],
            last_used_at: None,
        }
    }

    /// The figures from per-hour and per-day counts (`(unix hour, count)`,
    /// `(unix day, count)`), as a shared store keeps them.
    pub fn from_buckets(
        now: Timestamp,
        hours: impl IntoIterator<Item = (i64, u64)>,
        days: impl IntoIterator<Item = (i64, u64)>,
        last_used_at: Option<Timestamp>,
    ) -> Self {
        let mut history = History::default();
        for (hour, count) in hours {
            history.hours.add(hour, count);
        }
        for (day, count) in days {
            history.days.add(day, count);
        }
        history.last_used_at = last_used_at;
        history.usage(now)
    }
}

/// Counts per period in a ring of `N` periods ending at the latest one.
#[derive(Debug, Clone)]
struct Ring<const N: usize> {
    latest: i64,
    counts: [u64; N],
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self {
            latest: i64::MIN,
            counts: [0; N],
        }
    }
}

impl<const N: usize> Ring<N> {
    const LEN: i64 = N as i64;

    fn slot(period: i64) -> usize {
        // `rem_euclid` of a positive length is in 0..N.
        usize::try_from(period.rem_euclid(Self::LEN)).unwrap_or(0)
    }

    fn add(&mut self, period: i64, count: u64) {
        if self.latest == i64::MIN {
            self.latest = period;
        } else if period > self.latest {
            let gap = (period - self.latest).min(Self::LEN);
            for step in 1..=gap {
                self.counts[Self::slot(self.latest + step)] = 0;
            }
            self.latest = period;
        } else if self.latest - period >= Self::LEN {
            return;
        }
        let slot = &mut self.counts[Self::slot(period)];
        *slot = slot.saturating_add(count);
    }

    /// The count of `period`, zero if the ring no longer (or never) held it.
    fn get(&self, period: i64) -> u64 {
        let held =
            self.latest != i64::MIN && period <= self.latest && self.latest - period < Self::LEN;
        if held {
            self.counts[Self::slot(period)]
        } else {
            0
        }
    }
}

/// What a meter keeps per key.
#[derive(Debug, Clone, Default)]
pub(super) struct History {
    hours: Ring<48>,
    days: Ring<31>,
    last_used_at: Option<Timestamp>,
}

impl History {
    pub(super) fn add(&mut self, at: Timestamp, count: u64) {
        let unix = at.unix_timestamp();
        self.hours.add(unix.div_euclid(HOUR), count);
        self.days.add(unix.div_euclid(DAY), count);
        if self.last_used_at.is_none_or(|known| known < at) {
            self.last_used_at = Some(at);
        }
    }

    /// Whether anything counted is still within the month shown.
    pub(super) fn recent(&self, now: Timestamp) -> bool {
        let today = now.unix_timestamp().div_euclid(DAY);
        (0..Ring::<31>::LEN).any(|back| self.days.get(today - back) > 0)
    }

    pub(super) fn usage(&self, now: Timestamp) -> KeyUsage {
        let unix = now.unix_timestamp();
        let hour = unix.div_euclid(HOUR);
        let today = unix.div_euclid(DAY);
        let last_24_hours = (0..24).map(|back| self.hours.get(hour - back)).sum();
        let mut daily = [0; DAYS];
        for (slot, back) in daily.iter_mut().zip((0..DAYS as i64).rev()) {
            *slot = self.days.get(today - back);
        }
        KeyUsage {
            last_24_hours,
            last_30_days: daily.iter().sum(),
            daily,
            last_used_at: self.last_used_at,
        }
    }
}

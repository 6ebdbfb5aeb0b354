use std::sync::{Arc, Mutex};

use keygate_types::{ApiKeyId, Timestamp};

use super::{DAYS, UsageMeter};
use crate::cache::tests::ManualClock;

fn id(n: u32) -> ApiKeyId {
    ApiKeyId::new_unchecked(format!("api_key_{n:026}"))
}

fn at(unix: i64) -> Timestamp {
    Timestamp::from_unix_timestamp(unix).unwrap()
}

/// A meter on a clock the test moves, starting at midnight UTC.
fn meter(max_keys: usize) -> (UsageMeter, ManualClock) {
    let clock = ManualClock(Arc::new(Mutex::new(at(1_780_000_000 / 86_400 * 86_400))));
    (
        UsageMeter::with_clock(max_keys, Arc::new(clock.clone())),
        clock,
    )
}

fn advance(clock: &ManualClock, seconds: i64) {
    let mut now = clock.0.lock().unwrap();
    *now = at(now.unix_timestamp() + seconds);
}

fn count(meter: &UsageMeter, key: &ApiKeyId, n: u64) {
    let tally = meter.tally(key).expect("room for the key");
    for _ in 0..n {
        tally.count();
    }
}

#[test]
fn requests_are_counted_per_key_by_hour_and_day() {
    let (meter, clock) = meter(10);
    count(&meter, &id(1), 3);
    count(&meter, &id(2), 1);
    let usage = meter.usage(&id(1));
    assert_eq!((usage.last_24_hours, usage.last_30_days), (3, 3));
    assert_eq!(usage.daily[DAYS - 1], 3);
    assert_eq!(usage.last_used_at, Some(clock.0.lock().unwrap().to_owned()));
    assert_eq!(meter.usage(&id(2)).last_24_hours, 1);

    // A day and a half later: out of the last 24 hours, still in the month.
    advance(&clock, 36 * 3_600);
    count(&meter, &id(1), 2);
    let usage = meter.usage(&id(1));
    assert_eq!((usage.last_24_hours, usage.last_30_days), (2, 5));
    assert_eq!(usage.daily[DAYS - 2..], [3, 2][..]);

    // A month later the first day has left the chart.
    advance(&clock, 29 * 86_400);
    let usage = meter.usage(&id(1));
    assert_eq!((usage.last_24_hours, usage.last_30_days), (0, 2));
    // And a key unused for longer than the chart is forgotten.
    advance(&clock, 31 * 86_400);
    assert_eq!(meter.usage(&id(1)).last_30_days, 0);
    assert!(meter.inner.history.lock().unwrap().is_empty());
}

#[test]
fn a_drain_hands_each_request_over_once() {
    let (meter, _clock) = meter(10);
    count(&meter, &id(1), 4);
    let drained = meter.drain();
    assert_eq!(drained.len(), 1);
    assert_eq!((drained[0].key_id.clone(), drained[0].requests), (id(1), 4));
    assert!(meter.drain().is_empty(), "counted once");
    // Drained requests stay in this process's own figures.
    assert_eq!(meter.usage(&id(1)).last_24_hours, 4);
}

#[test]
fn keys_beyond_the_bound_are_left_out_and_said_so() {
    let (meter, _clock) = meter(2);
    assert!(meter.tally(&id(1)).is_some());
    assert!(meter.tally(&id(2)).is_some());
    assert!(meter.tally(&id(3)).is_none());
    meter.untracked_request();
    assert_eq!(meter.untracked(), 1);
    // A key already counted keeps its counter.
    assert!(meter.tally(&id(1)).is_some());
}

#[test]
fn idle_counters_nobody_holds_leave_the_map() {
    let (meter, _clock) = meter(1);
    drop(meter.tally(&id(1)));
    meter.drain();
    // Room again for another key.
    assert!(meter.tally(&id(2)).is_some());
}

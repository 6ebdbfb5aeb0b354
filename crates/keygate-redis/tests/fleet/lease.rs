//! One Events poller for the fleet, and a takeover when it dies.

use std::time::{Duration, Instant};

use keygate_test_support::redis_server::RedisServer;
use reqwest::StatusCode;

use crate::support::*;

const INTERVAL: Duration = Duration::from_millis(200);
const LEASE: Duration = Duration::from_secs(1);

fn polls(replica: &Replica) -> u64 {
    replica
        .auth
        .revocation_listener()
        .expect("a listener")
        .stats()
        .polls
}

/// How long to watch the pollers: `KEYGATE_FLEET_SECONDS` (30 for the
/// figures), 5 by default.
fn watch_for() -> Duration {
    let seconds = std::env::var("KEYGATE_FLEET_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_replica_polls_the_events_api_and_another_takes_over_when_it_dies() {
    let (emu, redis) = (emulator().await, RedisServer::start());
    let keys = Keys::new(&emu);
    let options = Options::fleet()
        .tier(|tier| tier.events_lease(LEASE))
        .listener(INTERVAL);
    let mut fleet = replicas(&emu, &redis, 3, &options).await;
    until_listening(&fleet).await;
    until(Duration::from_secs(10), || {
        fleet.iter().any(|r| polls(r) > 0)
    })
    .await;

    let watched = watch_for();
    let events_before = emu.request_count("GET", "/events");
    let polls_before: Vec<u64> = fleet.iter().map(polls).collect();
    tokio::time::sleep(watched).await;
    let events = emu.request_count("GET", "/events") - events_before;
    let polled: Vec<u64> = fleet
        .iter()
        .zip(&polls_before)
        .map(|(r, before)| polls(r) - before)
        .collect();
    println!(
        "FIGURE fleet lease: over {} s, polls by replica {polled:?}, GET /events at the emulator {events}",
        watched.as_secs()
    );
    assert_eq!(polled.iter().filter(|p| **p > 0).count(), 1, "{polled:?}");
    assert_eq!(polled.iter().sum::<u64>(), events);

    // The holder dies; another replica takes the lease over.
    let holder = polled.iter().position(|p| *p > 0).unwrap();
    let dead = fleet.remove(holder);
    let before: Vec<u64> = fleet.iter().map(polls).collect();
    let killed = Instant::now();
    dead.kill().await;
    until(Duration::from_secs(10), || {
        fleet.iter().zip(&before).any(|(r, b)| polls(r) > *b)
    })
    .await;
    let takeover = killed.elapsed();
    println!(
        "FIGURE fleet lease: first poll by a new holder {} ms after the old one died (bound: lease {} ms + two intervals of {} ms)",
        takeover.as_millis(),
        LEASE.as_millis(),
        INTERVAL.as_millis()
    );
    assert!(
        takeover <= LEASE + 2 * INTERVAL + Duration::from_millis(300),
        "{takeover:?}"
    );

    // The new holder resumed from the fleet's cursor: a revocation now
    // reaches both remaining replicas through it.
    let (key, value) = keys.mint(&emu);
    let http = http();
    for replica in &fleet {
        assert_eq!(replica.get(&http, &value).await, StatusCode::OK);
    }
    let deleted = Instant::now();
    emu.delete_api_key(key.id.as_str()).unwrap();
    for replica in &fleet {
        while replica.get(&http, &value).await == StatusCode::OK {
            assert!(deleted.elapsed() < Duration::from_secs(5), "not revoked");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    println!(
        "FIGURE fleet lease: after the takeover, a deleted key refused by both remaining replicas {} ms after the delete (poll interval {} ms)",
        deleted.elapsed().as_millis(),
        INTERVAL.as_millis()
    );
    assert!(deleted.elapsed() <= INTERVAL * 2 + Duration::from_secs(2));
}

//! Faults under load, while the fleet serves valid, revoked and unknown keys
//! with churn: scripts flushed, Redis stopped and restarted empty, replica 0
//! partitioned from Redis, Redis frozen (`SIGSTOP`) and thawed, every wake-up
//! subscription cut, scripts flushed again. Every invalidation is made on
//! replica 0 (the one a webhook reaches) and acknowledged only once logged.
//! Every decision is checked against what the key service knew.
//!
//! The fault model: Redis may lose any message (pub/sub), any write it had
//! not persisted (restart empty), its scripts, and its reachability from one
//! replica or all; it may stall. A replica may be slow. Nothing is
//! reordered within the log (a Stream), and the key service is up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keygate_test_support::redis_server::RedisServer;
use rand::Rng;
use reqwest::StatusCode;

use crate::support::*;

const CONCURRENCY: usize = 64;
const COMMAND_TIMEOUT: Duration = Duration::from_millis(100);
const REVOCATION_BOUND: Duration = Duration::from_secs(1);
/// The revocation bound, and an allowance for a loaded test machine's
/// timers and the request's own round trip (the figure printed is the
/// latest acceptance seen, whatever the allowance).
const BOUND: Duration = Duration::from_millis(1000 + 700);

/// The run's length: `KEYGATE_FLEET_FAULT_SECONDS` (40 for the figures),
/// 8 by default.
fn run_for() -> Duration {
    let seconds = std::env::var("KEYGATE_FLEET_FAULT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    Duration::from_secs(seconds)
}

/// What the key service knows about each key, as the test sees it.
#[derive(Debug, Clone, Copy)]
enum Known {
    Valid,
    /// Deleted at the key service at the first instant, invalidation
    /// delivered at the second.
    Revoked(Instant, Option<Instant>),
}

#[derive(Default)]
struct Book {
    keys: HashMap<String, Known>,
    ids: HashMap<String, keygate_types::ApiKeyId>,
    valid: Vec<String>,
    revoked: Vec<String>,
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicU64,
    wrong_401: AtomicU64,
    revoked_200_late: AtomicU64,
    unknown_200: AtomicU64,
    /// The latest a revoked key was accepted after its invalidation, in ms.
    latest_accepted_ms: AtomicU64,
    /// The same, by replica (replica 0 receives every invalidation).
    latest_by_replica: [AtomicU64; 3],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wrong_decision_while_redis_stops_restarts_pauses_and_drops_subscriptions() {
    let emu = Arc::new(emulator().await);
    let mut redis = RedisServer::start();
    let keys = Keys::new(&emu);
    let options = Options::fleet().tier(|tier| {
        tier.command_timeout(COMMAND_TIMEOUT)
            .revocation_bound(REVOCATION_BOUND)
            .claim_wait(Duration::from_millis(500))
    });
    // Replica 0 reaches Redis through a proxy that the run cuts (a
    // partition of that replica alone); it also receives every
    // invalidation, as the one replica a webhook reaches.
    let proxy = Proxy::start(redis.port()).await;
    let mut fleet = replicas_on(&emu, &proxy.url(), 1, &options).await;
    fleet.extend(replicas(&emu, &redis, 2, &options).await);
    let fleet = Arc::new(fleet);
    until_listening(&fleet).await;
    let book = Arc::new(Mutex::new(Book::default()));
    for _ in 0..300 {
        let (key, value) = keys.mint(&emu);
        let mut book = book.lock().unwrap();
        book.keys.insert(value.clone(), Known::Valid);
        book.ids.insert(value.clone(), key.id);
        book.valid.push(value);
    }
    let tally = Arc::new(Tally::default());
    let length = run_for();
    let started = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Load: CONCURRENCY workers, each request on a random replica with a
    // valid (70 %), revoked (15 %) or never-issued (15 %) key.
    // One client for all workers: building one costs milliseconds of CPU.
    let http = http();
    let mut workers = Vec::new();
    for worker in 0..CONCURRENCY {
        let (fleet, book, tally, done, http) = (
            Arc::clone(&fleet),
            Arc::clone(&book),
            Arc::clone(&tally),
            Arc::clone(&done),
            http.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                n += 1;
                let (replica, pick) = {
                    let mut rng = rand::rng();
                    (rng.random_range(0..3), rng.random_range(0..100))
                };
                let key = {
                    let book = book.lock().unwrap();
                    let mut rng = rand::rng();
                    if pick < 70 || book.revoked.is_empty() {
                        book.valid[rng.random_range(0..book.valid.len())].clone()
                    } else if pick < 85 {
                        book.revoked[rng.random_range(0..book.revoked.len())].clone()
                    } else {
                        format!("sk_test_never_issued_{worker}_{n}")
                    }
                };
                let sent = Instant::now();
                let status = fleet[replica].get(&http, &key).await;
                let known_at_send = book.lock().unwrap().keys.get(&key).copied();
                tally.requests.fetch_add(1, Ordering::Relaxed);
                match status {
                    StatusCode::OK => tally.accepted.fetch_add(1, Ordering::Relaxed),
                    StatusCode::UNAUTHORIZED => tally.refused.fetch_add(1, Ordering::Relaxed),
                    _ => tally.unavailable.fetch_add(1, Ordering::Relaxed),
                };
                if let (Some(Known::Revoked(_, Some(delivered))), StatusCode::OK) =
                    (known_at_send, status)
                {
                    let late = sent.saturating_duration_since(delivered).as_millis() as u64;
                    tally.latest_accepted_ms.fetch_max(late, Ordering::Relaxed);
                    tally.latest_by_replica[replica].fetch_max(late, Ordering::Relaxed);
                }
                match (known_at_send, status) {
                    (None, StatusCode::OK) => {
                        tally.unknown_200.fetch_add(1, Ordering::Relaxed);
                    }
                    // Still valid when the answer came back: must not be refused.
                    (Some(Known::Valid), StatusCode::UNAUTHORIZED) => {
                        tally.wrong_401.fetch_add(1, Ordering::Relaxed);
                        eprintln!("WRONG: a valid key refused by replica {replica}");
                    }
                    (Some(Known::Revoked(_, Some(delivered))), StatusCode::OK)
                        if sent > delivered + BOUND =>
                    {
                        tally.revoked_200_late.fetch_add(1, Ordering::Relaxed);
                        eprintln!(
                            "WRONG: a revoked key accepted by replica {replica} {} ms after its invalidation",
                            (sent - delivered).as_millis()
                        );
                    }
                    _ => {}
                }
            }
        }));
    }

    // Churn: every 25 ms a key is revoked (deleted, then the invalidation
    // made on replica 0, as the webhook it receives would) and a new one
    // issued.
    let churn = {
        let (fleet, book, done, emu) = (
            Arc::clone(&fleet),
            Arc::clone(&book),
            Arc::clone(&done),
            Arc::clone(&emu),
        );
        tokio::spawn(async move {
            let mut revocations = 0u64;
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(25)).await;
                let (new_key, new_value) = keys.mint(&emu);
                let (victim, id) = {
                    let mut book = book.lock().unwrap();
                    book.keys.insert(new_value.clone(), Known::Valid);
                    book.ids.insert(new_value.clone(), new_key.id);
                    book.valid.push(new_value);
                    let at = rand::rng().random_range(0..book.valid.len());
                    let victim = book.valid.swap_remove(at);
                    book.keys
                        .insert(victim.clone(), Known::Revoked(Instant::now(), None));
                    let id = book.ids[&victim].clone();
                    (victim, id)
                };
                emu.delete_api_key(id.as_str()).unwrap();
                // Acknowledged once logged; until then it is retried, as
                // WorkOS retries a webhook answered 503.
                while fleet[0].auth.cache().invalidate_id(&id).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let mut book = book.lock().unwrap();
                if let Some(Known::Revoked(deleted, _)) = book.keys.get(&victim).copied() {
                    book.keys.insert(
                        victim.clone(),
                        Known::Revoked(deleted, Some(Instant::now())),
                    );
                }
                book.revoked.push(victim);
                revocations += 1;
            }
            revocations
        })
    };

    // Faults, at fixed points of the run.
    let at = |fraction: f64| started + length.mul_f64(fraction);
    tokio::time::sleep_until(at(0.08).into()).await;
    script_flush(&redis).await;
    eprintln!(
        "fault: scripts flushed after {} requests",
        tally.requests.load(Ordering::Relaxed)
    );
    tokio::time::sleep_until(at(0.15).into()).await;
    redis.stop();
    eprintln!(
        "fault: redis stopped after {} requests",
        tally.requests.load(Ordering::Relaxed)
    );
    tokio::time::sleep_until(at(0.30).into()).await;
    redis.restart();
    eprintln!(
        "fault: redis restarted after {} requests",
        tally.requests.load(Ordering::Relaxed)
    );
    tokio::time::sleep_until(at(0.35).into()).await;
    proxy.cut();
    eprintln!(
        "fault: replica 0 partitioned from redis after {} requests",
        tally.requests.load(Ordering::Relaxed)
    );
    tokio::time::sleep_until(at(0.42).into()).await;
    proxy.restore();
    eprintln!(
        "fault: partition healed after {} requests",
        tally.requests.load(Ordering::Relaxed)
    );
    tokio::time::sleep_until(at(0.45).into()).await;
    redis.pause();
    eprintln!(
        "fault: redis paused after {} requests",
        tally.requests.load(Ordering::Relaxed)
    );
    tokio::time::sleep_until(at(0.60).into()).await;
    redis.resume();
    eprintln!(
        "fault: redis resumed after {} requests",
        tally.requests.load(Ordering::Relaxed)
    );
    tokio::time::sleep_until(at(0.75).into()).await;
    until_listening(&fleet).await;
    kill_subscriptions(&redis).await;
    eprintln!(
        "fault: subscriptions cut after {} requests",
        tally.requests.load(Ordering::Relaxed)
    );
    tokio::time::sleep_until(at(0.88).into()).await;
    script_flush(&redis).await;
    eprintln!(
        "fault: scripts flushed after {} requests",
        tally.requests.load(Ordering::Relaxed)
    );
    tokio::time::sleep_until(at(1.0).into()).await;
    done.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let revocations = churn.await.unwrap();

    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let losses: u64 = fleet.iter().map(|r| r.stats().subscription_losses).sum();
    let fallbacks: u64 = fleet.iter().map(|r| r.stats().fallbacks).sum();
    let discontinuities: u64 = fleet.iter().map(|r| r.stats().discontinuities).sum();
    println!(
        "FIGURE fleet faults: {} requests in {} s at concurrency {CONCURRENCY} over 3 replicas, {revocations} revocations; \
         200: {}, 401: {}, other: {}; wrong: {} valid refused, {} revoked accepted past {} ms, {} never-issued accepted; \
         a revoked key accepted at most {} ms after its invalidation (by replica: {:?}); {losses} subscription losses, \
         {fallbacks} misses served without redis, {discontinuities} discontinuities",
        read(&tally.requests),
        length.as_secs(),
        read(&tally.accepted),
        read(&tally.refused),
        read(&tally.unavailable),
        read(&tally.wrong_401),
        read(&tally.revoked_200_late),
        BOUND.as_millis(),
        read(&tally.unknown_200),
        read(&tally.latest_accepted_ms),
        tally.latest_by_replica.iter().map(read).collect::<Vec<_>>(),
    );
    assert_eq!(read(&tally.wrong_401), 0);
    assert_eq!(read(&tally.revoked_200_late), 0);
    assert_eq!(read(&tally.unknown_200), 0);
    assert_eq!(
        read(&tally.unavailable),
        0,
        "the key service was up throughout"
    );
    assert!(losses >= 3, "each replica lost its wake-ups: {losses}");

    // Fleet mode is back: a new key costs one validation for the fleet.
    until_listening(&fleet).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, value) = Keys::new(&emu).mint(&emu);
    let before = validations(&emu);
    for replica in fleet.iter() {
        assert_eq!(replica.get(&http, &value).await, StatusCode::OK);
    }
    assert_eq!(
        validations(&emu) - before,
        1,
        "fleet mode resumed after redis returned"
    );
}

/// `SCRIPT FLUSH`: every script must be loaded again (`NOSCRIPT`).
async fn script_flush(redis: &RedisServer) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// `CLIENT KILL TYPE pubsub`: every replica's subscription connection is cut.
async fn kill_subscriptions(redis: &RedisServer) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Wake-ups only: a replica still reconnecting its subscription has none
    // to cut.
    assert!(killed >= 1, "{killed} subscriptions cut");
}

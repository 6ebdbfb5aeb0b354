//! The rate limiter's budget in Redis, end to end: replicas (each an app
//! with its own `ApiKeyAuth`, `RateLimit` and `RedisBudget`, so its own
//! Redis connection) in front of one real `redis-server`, validating
//! against the emulator.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keygate_auth::ApiKeyAuth;
use keygate_client::Client;
use keygate_ratelimit::{Quota, RateLimit};
use keygate_redis::{DEFAULT_BUDGET_TIMEOUT, RedisBudget};
use keygate_test_support::redis_server::RedisServer;
use keygate_test_support::trace_capture;
use support::{App, client, emulator, header, key, organization, routes};

const REPLICAS: usize = 3;
/// Concurrent callers per replica.
const CALLERS: usize = 3;

struct Replica {
    app: App,
    rate_limit: RateLimit,
    budget: RedisBudget,
}

/// A plain connection, for the test's own look at Redis.
async fn connection(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("redis connects")
}

/// The load tests run one at a time: two at once on two cores would
/// measure the machine, not the limiter.
static LOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The Redis timeout of the load tests: generous, so that a loaded machine
/// does not send a replica to its local limiter (the frozen-Redis test
/// keeps the default).
const LOADED_TIMEOUT: Duration = Duration::from_millis(250);

async fn replicas(redis: &RedisServer, client: &Client, quota: Quota) -> Vec<Replica> {
    replicas_with(redis, client, quota, LOADED_TIMEOUT).await
}

async fn replicas_with(
    redis: &RedisServer,
    client: &Client,
    quota: Quota,
    timeout: Duration,
) -> Vec<Replica> {
    fleet(redis, client, quota, timeout, REPLICAS).await
}

async fn fleet(
    redis: &RedisServer,
    client: &Client,
    quota: Quota,
    timeout: Duration,
    count: usize,
) -> Vec<Replica> {
    let mut replicas = Vec::with_capacity(count);
    for _ in 0..count {
        let budget = RedisBudget::builder(redis.url())
            .prefix("test")
            .timeout(timeout)
            .build()
            .expect("the budget builds");
        let rate_limit = RateLimit::builder(quota)
            .shared_budget(budget.clone())
            .build();
        let app = App::serve(routes(rate_limit.clone(), ApiKeyAuth::new(client.clone()))).await;
        replicas.push(Replica {
            app,
            rate_limit,
            budget,
        });
    }
    replicas
}

/// What a load run saw: accepted requests per whole second since `start`,
/// and any status other than 200 and 429.
#[derive(Debug, Default)]
struct Tally {
    accepted: Vec<u64>,
    others: Vec<u16>,
}

/// Every replica's callers send `key` as fast as they can for `seconds`
/// whole seconds (bounded: each caller stops at the deadline).
async fn hammer(replicas: &[Replica], key: &str, seconds: usize) -> Tally {
    let start = Instant::now();
    let windows: Arc<Vec<AtomicU64>> = Arc::new((0..seconds).map(|_| AtomicU64::new(0)).collect());
    let others = Arc::new(std::sync::Mutex::new(Vec::new()));
    let deadline = Duration::from_secs(seconds as u64);
    let mut callers = Vec::new();
    for replica in replicas {
        for _ in 0..CALLERS {
            let (http, url) = (
                replica.app.http.clone(),
                format!("http://{}/posts", replica.app.addr),
            );
            let (key, windows, others) = (key.to_owned(), windows.clone(), others.clone());
            callers.push(tokio::spawn(async move {
                while start.elapsed() < deadline {
                    let sent = start.elapsed();
                    let status = http
                        .get(&url)
                        .bearer_auth(&key)
                        .send()
                        .await
                        .expect("the app answers")
                        .status()
                        .as_u16();
                    // Counted in the window it was sent in.
                    let window = (sent.as_millis() / 1_000) as usize;
                    match status {
                        200 if window < windows.len() => {
                            windows[window].fetch_add(1, Ordering::Relaxed);
                        }
                        200 | 429 => {}
                        other => others.lock().unwrap().push(other),
                    }
                }
            }));
        }
    }
    for caller in callers {
        caller.await.unwrap();
    }
    let accepted = windows.iter().map(|w| w.load(Ordering::Relaxed)).collect();
    let others = others.lock().unwrap().clone();
    Tally { accepted, others }
}

/// How many times the log says `text` so far.
fn logged(text: &str) -> usize {
    String::from_utf8_lossy(&trace_capture::captured())
        .matches(text)
        .count()
}

const REDIS_FAILED: &str = "the shared rate-limit budget failed";
const REDIS_BACK: &str = "the shared rate-limit budget answers again";

/// Sends one request per replica with `key`: validates and caches it everywhere.
async fn warm(replicas: &[Replica], key: &str) {
    for replica in replicas {
        assert_eq!(replica.app.get(Some(key)).await.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_hold_one_key_to_one_quota() {
    let _alone = LOAD.lock().await;
    trace_capture::install();
    let redis = RedisServer::start();
    let emu = emulator().await;
    let client = client(&emu);
    let org = organization(&client).await;
    let key = key(&client, &org, &[]).await;
    let quota = Quota::per_second(30);
    let replicas = replicas(&redis, &client, quota).await;
    warm(&replicas, &key).await;

    // Window 0 holds the burst; the steady windows after it each hold
    // about one second's quota, whichever replica answered.
    let tally = hammer(&replicas, &key, 4).await;
    eprintln!(
        "accepted per second across {REPLICAS} replicas: {:?}",
        tally.accepted
    );
    assert!(
        tally.others.is_empty(),
        "statuses other than 200/429: {:?}",
        tally.others
    );
    let steady: u64 = tally.accepted[1..].iter().sum();
    let expected = u64::from(quota.count()) * 3;
    let off = steady.abs_diff(expected) as f64 / expected as f64;
    eprintln!(
        "steady windows: {steady} accepted for a quota of {expected} ({:.1} % off)",
        off * 100.0
    );
    assert!(off <= 0.10, "{steady} accepted, quota {expected}");
    for replica in &replicas {
        let (stats, redis) = (
            replica.rate_limit.budget_stats().unwrap(),
            replica.budget.stats(),
        );
        assert!(stats.shared > 0 && stats.fallback == 0, "{stats:?}");
        assert!(
            redis.answered == stats.shared && redis.failures == 0,
            "{redis:?}"
        );
    }

    // Every replica's refusal says so with the shared policy.
    let refused = replicas[2].app.get(Some(&key)).await;
    if refused.status() == 429 {
        assert_eq!(
            header(&refused, "ratelimit-policy"),
            r#""per-key";q=30;w=1"#
        );
        assert_eq!(header(&refused, "ratelimit"), r#""per-key";r=0;t=1"#);
    }
    trace_capture::assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_hands_over_to_the_fallback_within_its_bound_and_restarted_takes_back() {
    let _alone = LOAD.lock().await;
    trace_capture::install();
    let mut redis = RedisServer::start();
    let emu = emulator().await;
    let client = client(&emu);
    let org = organization(&client).await;
    let key = key(&client, &org, &[]).await;
    let quota = Quota::per_second(20);
    let replicas = replicas(&redis, &client, quota).await;
    warm(&replicas, &key).await;
    let shared = hammer(&replicas, &key, 2).await;
    eprintln!("shared, accepted per second: {:?}", shared.accepted);

    // Redis goes away mid-run: no 5xx, and each replica limits alone from
    // an empty budget: in D without Redis, at most ⌊D / T⌋ per replica.
    let (warned, back_logged) = (logged(REDIS_FAILED), logged(REDIS_BACK));
    let stopped = Instant::now();
    redis.stop();
    let alone = hammer(&replicas, &key, 3).await;
    let spell = stopped.elapsed();
    assert!(
        alone.others.is_empty(),
        "statuses other than 200/429: {:?}",
        alone.others
    );
    let per_replica = (spell.as_nanos() / quota.replenish_interval().as_nanos()) as u64;
    let bound = REPLICAS as u64 * per_replica;
    let accepted: u64 = alone.accepted.iter().sum();
    eprintln!(
        "Redis stopped for {spell:?}: {accepted} accepted by {REPLICAS} replicas alone \
         (per second {:?}; bound {REPLICAS} x {per_replica} = {bound})",
        alone.accepted
    );
    assert!(
        accepted <= bound,
        "{accepted} accepted while Redis was down (bound {bound})"
    );
    // Still serving: the steady refill goes on, on every replica.
    assert!(
        accepted >= bound / 2,
        "{accepted} accepted while Redis was down"
    );
    for replica in &replicas {
        let (stats, redis) = (
            replica.rate_limit.budget_stats().unwrap(),
            replica.budget.stats(),
        );
        assert!(stats.fallback > 0 && stats.falling_back, "{stats:?}");
        assert!(redis.failures > 0 && !redis.redis_up, "{redis:?}");
    }
    // Each replica warned once, however many of its calls failed.
    let failures: u64 = replicas
        .iter()
        .map(|replica| replica.budget.stats().failures)
        .sum();
    assert_eq!(
        logged(REDIS_FAILED) - warned,
        REPLICAS,
        "{failures} failures"
    );

    // Redis is back: within a few rechecks every replica asks it again,
    // and the fleet shares one budget again.
    redis.restart();
    let back = Instant::now();
    let done = AtomicBool::new(false);
    while !done.load(Ordering::Relaxed) {
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "replicas did not return to Redis"
        );
        for replica in &replicas {
            replica.app.get(Some(&key)).await;
        }
        let up = replicas
            .iter()
            .all(|replica| !replica.rate_limit.budget_stats().unwrap().falling_back);
        done.store(up, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("all replicas back on Redis after {:?}", back.elapsed());
    assert_eq!(logged(REDIS_BACK) - back_logged, REPLICAS);
    let again = hammer(&replicas, &key, 4).await;
    eprintln!("Redis restarted, accepted per second: {:?}", again.accepted);
    for replica in &replicas {
        eprintln!(
            "{:?} {:?}",
            replica.rate_limit.budget_stats().unwrap(),
            replica.budget.stats()
        );
    }
    assert!(again.others.is_empty(), "{:?}", again.others);
    let steady: u64 = again.accepted[1..].iter().sum();
    let expected = u64::from(quota.count()) * 3;
    let off = steady.abs_diff(expected) as f64 / expected as f64;
    eprintln!(
        "steady windows after the restart: {steady} for a quota of {expected} ({:.1} % off)",
        off * 100.0
    );
    assert!(off <= 0.10, "{steady} accepted, quota {expected}");
    trace_capture::assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_costs_one_timeout_per_recheck_and_no_error() {
    let _alone = LOAD.lock().await;
    trace_capture::install();
    let redis = RedisServer::start();
    let emu = emulator().await;
    let client = client(&emu);
    let org = organization(&client).await;
    let key = key(&client, &org, &[]).await;
    let replicas = replicas_with(
        &redis,
        &client,
        Quota::per_minute(1_000),
        DEFAULT_BUDGET_TIMEOUT,
    )
    .await;
    let app = &replicas[0].app;
    assert_eq!(app.get(Some(&key)).await.status(), 200);

    // SIGSTOP: connections stay open, nothing answers.
    redis.pause();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut accepted = 0;
    // Another round only if the first saw one slow request: a stall of the
    // machine passes, a timeout that does not bound the wait stalls both.
    for round in 0..2 {
        slowest = Duration::ZERO;
        for _ in 0..50 {
            let sent = Instant::now();
            // The replica limits alone, from an empty budget: 200 or 429.
            match app.get(Some(&key)).await.status().as_u16() {
                200 => accepted += 1,
                429 => {}
                other => panic!("status {other} with Redis frozen"),
            }
            slowest = slowest.max(sent.elapsed());
        }
        if slowest < Duration::from_secs(1) {
            break;
        }
        eprintln!("round {round}: slowest request {slowest:?}; measuring again");
    }
    let stats = replicas[0].budget.stats();
    eprintln!(
        "50 requests with Redis frozen in {:?}, slowest {slowest:?}, {accepted} accepted: {stats:?}",
        started.elapsed()
    );
    // One request waited for the timeout (two if the run crossed a recheck).
    let rechecks = started.elapsed().as_secs() + 1;
    assert!(
        stats.failures >= 1 && stats.failures <= rechecks,
        "{stats:?}"
    );
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    redis.resume();
    trace_capture::assert_no_secret_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_frozen_mid_window_adds_no_burst_to_what_it_counted() {
    let _alone = LOAD.lock().await;
    trace_capture::install();
    let redis = RedisServer::start();
    let emu = emulator().await;
    let client = client(&emu);
    let org = organization(&client).await;
    let key = key(&client, &org, &[]).await;
    // The case of issue 24: 5 a minute, one replica.
    let quota = Quota::per_minute(5);
    let replicas = fleet(&redis, &client, quota, LOADED_TIMEOUT, 1).await;
    let (app, rate_limit) = (&replicas[0].app, &replicas[0].rate_limit);

    // Redis counts the whole burst, then refuses.
    let window = Instant::now();
    let mut counted = 0;
    while app.get(Some(&key)).await.status() == 200 {
        counted += 1;
        assert!(counted <= quota.burst(), "Redis accepted past the burst");
    }
    assert_eq!(counted, quota.burst());
    let before = rate_limit.budget_stats().unwrap();
    assert!(before.fallback == 0, "{before:?}");
    assert_eq!(replicas[0].budget.stats().failures, 0);

    // Redis freezes mid-window; the replica decides alone for 3 s.
    redis.pause();
    let frozen = Instant::now();
    let mut alone = 0;
    let mut sent = 0;
    while frozen.elapsed() < Duration::from_secs(3) {
        sent += 1;
        match app.get(Some(&key)).await.status().as_u16() {
            200 => alone += 1,
            429 => {}
            other => panic!("status {other} with Redis frozen"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = window.elapsed();
    redis.resume();
    let stats = (
        rate_limit.budget_stats().unwrap(),
        replicas[0].budget.stats(),
    );
    let total = counted + alone;
    // What one GCRA allows since the first request: the burst, then one
    // request per replenish interval (12 s).
    let allowed = quota.burst()
        + u32::try_from(elapsed.as_nanos() / quota.replenish_interval().as_nanos()).unwrap();
    eprintln!(
        "quota {quota}, 1 replica, Redis frozen after its burst: {counted} accepted by Redis, \
         then {alone} of {sent} by the replica alone; {total} accepted in {elapsed:?} \
         (one GCRA allows {allowed}); {stats:?}"
    );
    assert!(stats.0.fallback > 0, "{stats:?}");
    assert!(
        total <= allowed,
        "{total} accepted in {elapsed:?}, the quota allows {allowed}"
    );
    trace_capture::assert_no_secret_logged();
}

#[tokio::test]
async fn the_redis_keys_are_named_by_id_under_the_prefix_and_expire() {
    trace_capture::install();
    let redis = RedisServer::start();
    let emu = emulator().await;
    let client = client(&emu);
    let org = organization(&client).await;
    let value = key(&client, &org, &[]).await;
    let replicas = replicas(&redis, &client, Quota::per_second(10)).await;
    let response = replicas[0].app.get(Some(&value)).await;
    let id = response.text().await.unwrap();
    assert!(id.starts_with("api_key_"), "{id}");

    let mut connection = connection(&redis).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(keys, vec![format!("test:ratelimit:{{{id}}}")]);
    assert!(keys.iter().all(|k| !k.contains(&value)));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut connection)
        .await
        .unwrap();
    // Whole again after one replenish interval (100 ms): the key expires then.
    assert!((1..=100).contains(&ttl), "{ttl}");
    trace_capture::assert_no_secret_logged();
}

/// The budget a tier hands out spends the same Redis as the tier, through
/// the tier's own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_from_the_tier_limits_on_the_tiers_connection() {
    let (emu, redis) = (emulator().await, RedisServer::start());
    let client = client(&emu);
    let org = organization(&client).await;
    let key = key(&client, &org, &[]).await;
    let tier = keygate_redis::RedisTier::builder(redis.url())
        .prefix("from-tier")
        .secret("the fleet secret of the budget tests, 32+ bytes")
        .build()
        .unwrap();
    let budget = tier.budget();
    let auth = ApiKeyAuth::builder(client.clone())
        .shared_tier(tier)
        .build();
    let rate_limit = RateLimit::builder(Quota::per_minute(2))
        .shared_budget(budget.clone())
        .build();
    let app = App::serve(routes(rate_limit, auth)).await;
    let statuses = [
        app.get(Some(&key)).await.status().as_u16(),
        app.get(Some(&key)).await.status().as_u16(),
        app.get(Some(&key)).await.status().as_u16(),
    ];
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(budget.stats().answered, 3, "Redis decided every request");
    let mut conn = connection(&redis).await;
    let names: Vec<String> = redis::cmd("KEYS")
        .arg("from-tier:ratelimit:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
}

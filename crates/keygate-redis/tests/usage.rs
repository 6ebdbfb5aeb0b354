//! Requests per key across a fleet, against a real `redis-server`: two
//! replicas count in their own meters, flush into Redis, and either reads
//! the sum; a flush is one round trip per key, whatever the requests; a
//! flush that fails is written by the next one.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use keygate_auth::usage::UsageMeter;
use keygate_auth::{ApiKeyAuth, InMemoryValidator};
use keygate_redis::{RedisTier, RedisUsage};
use keygate_test_support::redis_server::RedisServer;
use keygate_types::{ApiKeyId, OrganizationId, Owner, SecretString};
use redis::AsyncCommands;
use tower::ServiceExt;

const FLEET_SECRET: &str = "the fleet secret of the usage tests, 32+ bytes";

/// One replica: a layer counting into its own meter, and the fleet's counts.
struct Replica {
    app: Router,
    meter: UsageMeter,
    usage: RedisUsage,
}

impl Replica {
    fn start(redis: &RedisServer, validator: &InMemoryValidator) -> Self {
        let tier = RedisTier::builder(redis.url())
            .prefix("usage-test")
            .secret(FLEET_SECRET)
            .command_timeout(Duration::from_millis(500))
            .build()
            .expect("tier builds");
        let usage = tier.usage();
        let meter = UsageMeter::new();
        let auth = ApiKeyAuth::builder(validator.clone())
            .shared_tier(tier)
            .usage(meter.clone())
            .build();
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .route_layer(auth);
        Self { app, meter, usage }
    }

    async fn get(&self, key: &SecretString, times: usize) {
        for _ in 0..times {
            let request = Request::get("/")
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", key.expose_secret()),
                )
                .body(Body::empty())
                .unwrap();
            let status = self.app.clone().oneshot(request).await.unwrap().status();
            assert_eq!(status, StatusCode::OK);
        }
    }
}

fn issue(validator: &InMemoryValidator, n: usize) -> Vec<(SecretString, ApiKeyId)> {
    let owner = Owner::Organization {
        id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
    };
    (0..n)
        .map(|i| {
            let (value, key) = validator.issue(&format!("key {i}"), owner.clone(), ["posts:read"]);
            (value, key.id)
        })
        .collect()
}

/// How many times Redis ran `command` so far.
async fn calls(redis: &RedisServer, command: &str) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{}:calls=", command.to_lowercase());
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

#[tokio::test]
async fn the_fleet_reads_the_sum_of_every_replicas_requests() {
    let redis = RedisServer::start();
    let validator = InMemoryValidator::new();
    let keys = issue(&validator, 3);
    let (one, two) = (
        Replica::start(&redis, &validator),
        Replica::start(&redis, &validator),
    );
    one.get(&keys[0].0, 7).await;
    two.get(&keys[0].0, 5).await;
    two.get(&keys[1].0, 2).await;
    assert_eq!(one.usage.flush(&one.meter).await.unwrap(), 1);
    assert_eq!(two.usage.flush(&two.meter).await.unwrap(), 2);

    for replica in [&one, &two] {
        let usage = replica.usage.usage(&keys[0].1).await.unwrap();
        assert_eq!((usage.last_24_hours, usage.last_30_days), (12, 12));
        assert_eq!(usage.daily.last(), Some(&12));
        assert!(usage.last_used_at.is_some());
        assert_eq!(
            replica.usage.usage(&keys[1].1).await.unwrap().last_24_hours,
            2
        );
        assert_eq!(
            replica.usage.usage(&keys[2].1).await.unwrap().last_30_days,
            0
        );
    }
    // Each replica still has its own share.
    assert_eq!(one.meter.usage(&keys[0].1).last_24_hours, 7);
}

#[tokio::test]
async fn a_flush_writes_once_per_key_not_per_request() {
    let redis = RedisServer::start();
    let validator = InMemoryValidator::new();
    let keys = issue(&validator, 50);
    let replica = Replica::start(&redis, &validator);
    for (value, _) in &keys {
        replica.get(value, 20).await;
    }
    let before = calls(&redis, "HINCRBY").await;
    assert_eq!(replica.usage.flush(&replica.meter).await.unwrap(), 50);
    // Two counters (the hour's and the day's) per key, for 1,000 requests.
    assert_eq!(calls(&redis, "HINCRBY").await - before, 100);
    // Nothing new, nothing written.
    assert_eq!(replica.usage.flush(&replica.meter).await.unwrap(), 0);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = conn
        .ttl(format!("usage-test:usage:{}", keys[0].1))
        .await
        .unwrap();
    assert!(
        ttl > 30 * 86_400,
        "kept a month and a day, not forever: {ttl}"
    );
}

#[tokio::test]
async fn counts_a_failed_flush_could_not_write_go_with_the_next() {
    let mut redis = RedisServer::start();
    let validator = InMemoryValidator::new();
    let keys = issue(&validator, 1);
    let replica = Replica::start(&redis, &validator);
    replica.get(&keys[0].0, 4).await;
    redis.stop();
    assert!(replica.usage.flush(&replica.meter).await.is_err());
    redis.restart();
    replica.get(&keys[0].0, 1).await;
    // The connection comes back on its own; the owed counts with it.
    let mut flushed = replica.usage.flush(&replica.meter).await;
    for _ in 0..50 {
        if flushed.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        flushed = replica.usage.flush(&replica.meter).await;
    }
    flushed.expect("a flush once Redis is back");
    let usage = replica.usage.usage(&keys[0].1).await.unwrap();
    assert_eq!(usage.last_24_hours, 5);
}

//! The revocation rules of the crate docs that the regression and fault
//! suites do not already show on their own: a follower that fell behind a
//! trimmed log, and a Redis restarted with its data (rule 5); a verdict
//! Redis holds that the fleet did not seal (rule 7).

use std::process::Command;
use std::time::Duration;

use keygate_auth::tier::KeyDigest;
use keygate_test_support::redis_server::RedisServer;
use reqwest::StatusCode;

use crate::support::*;

/// Rule 5: a replica whose position was trimmed away cannot prove it saw
/// every invalidation: it flushes (and refuses the key it missed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_5_a_replica_behind_a_trimmed_log_flushes() {
    let (emu, redis) = (emulator().await, RedisServer::start());
    let keys = Keys::new(&emu);
    let proxy = Proxy::start(redis.port()).await;
    let options = Options::fleet().tier(|tier| tier.log_length(3));
    let a = Replica::start(&emu, &proxy.url(), &options).await;
    let b = Replica::start(&emu, &redis.url(), &options).await;
    until_listening(std::slice::from_ref(&a)).await;
    until_listening(std::slice::from_ref(&b)).await;
    let http = http();
    let (missed, missed_value) = keys.mint(&emu);
    let (_, kept_value) = keys.mint(&emu);
    assert_eq!(a.get(&http, &missed_value).await, StatusCode::OK);
    assert_eq!(a.get(&http, &kept_value).await, StatusCode::OK);
    let before = a.stats().discontinuities;

    proxy.cut();
    emu.delete_api_key(missed.id.as_str()).unwrap();
    b.auth.cache().invalidate_id(&missed.id).await.unwrap();
    // More invalidations than the log keeps: `missed`'s entry is trimmed.
    for _ in 0..5 {
        let (other, _) = keys.mint(&emu);
        b.auth.cache().invalidate_id(&other.id).await.unwrap();
    }
    proxy.restore();
    until(Duration::from_secs(10), || {
        a.stats().discontinuities > before
    })
    .await;
    assert_eq!(a.get(&http, &missed_value).await, StatusCode::UNAUTHORIZED);
    // The flush forgot every local verdict: the kept key is read from
    // Redis again (the shared tier lost nothing, so it is still there).
    let shared_before = a.stats().shared_hits;
    assert_eq!(a.get(&http, &kept_value).await, StatusCode::OK);
    assert_eq!(a.stats().shared_hits - shared_before, 1);
}

/// Rule 7: a verdict written into Redis by anyone but the fleet (here with
/// `redis-cli`, in the form keygate once stored unsigned) is not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_7_a_verdict_written_with_redis_cli_is_not_served() {
    let (emu, redis) = (emulator().await, RedisServer::start());
    let keys = Keys::new(&emu);
    let fleet = replicas(&emu, &redis, 1, &Options::fleet()).await;
    until_listening(&fleet).await;
    let (genuine, _) = keys.mint(&emu);
    let forged = "sk_test_never_issued_but_written_into_redis_0123456789";
    let digest = KeyDigest::of(forged);
    let bytes = digest.as_bytes();
    // The shard keygate would read (16 shards, the digest's first 2 bytes).
    let shard = u16::from_be_bytes([bytes[0], bytes[1]]) % 16;
    let name = format!("{{fleet-test:{shard:02}}}:v:0:{}", digest.to_hex());
    let json = serde_json::to_string(&genuine).unwrap();
    for value in [format!("1{json}"), format!("v1{json}")] {
        let status = Command::new("redis-cli")
            .args([
                "-p",
                &redis.port().to_string(),
                "SET",
                &name,
                &value,
                "PX",
                "60000",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success());
        assert_eq!(
            fleet[0].get(&http(), forged).await,
            StatusCode::UNAUTHORIZED,
            "a forged verdict made a never-issued key valid"
        );
        fleet[0].auth.cache().invalidate_key(forged).await.unwrap();
    }
    assert_eq!(fleet[0].stats().forged, 2);
}

/// Rule 5: Redis restarted with its data (persistence on, scripts gone) is a
/// new incarnation: every replica flushes, nothing revoked comes back, and a
/// valid key is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_5_redis_restarted_with_its_data_is_a_new_incarnation() {
    let emu = emulator().await;
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let keys = Keys::new(&emu);
    let fleet = replicas(&emu, &redis, 2, &Options::fleet()).await;
    until_listening(&fleet).await;
    let http = http();
    let (revoked, revoked_value) = keys.mint(&emu);
    let (_, valid_value) = keys.mint(&emu);
    for replica in &fleet {
        assert_eq!(replica.get(&http, &revoked_value).await, StatusCode::OK);
        assert_eq!(replica.get(&http, &valid_value).await, StatusCode::OK);
    }
    emu.delete_api_key(revoked.id.as_str()).unwrap();
    fleet[0]
        .auth
        .cache()
        .invalidate_id(&revoked.id)
        .await
        .unwrap();
    let before: Vec<u64> = fleet.iter().map(|r| r.stats().discontinuities).collect();

    redis.restart();
    for (replica, before) in fleet.iter().zip(before) {
        until(Duration::from_secs(10), || {
            replica.stats().discontinuities > before
        })
        .await;
    }
    for replica in &fleet {
        assert_eq!(
            replica.get(&http, &revoked_value).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(replica.get(&http, &valid_value).await, StatusCode::OK);
    }
}

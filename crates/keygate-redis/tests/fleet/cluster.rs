//! Fleet mode on a Redis Cluster: the scripts run within the prefix's slot,
//! and invalidations published on one node reach replicas subscribed to
//! others.

use std::time::{Duration, Instant};

use keygate_test_support::redis_server::RedisCluster;
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_the_fleet_shares_verdicts_and_revocations() {
    let (emu, cluster) = (emulator().await, RedisCluster::start(3));
    let keys = Keys::new(&emu);
    let urls = cluster.urls();
    // Each replica knows a different seed node first.
    let mut fleet = Vec::new();
    for n in 0..3 {
        let mut nodes = urls.clone();
        nodes.rotate_left(n);
        let options = Options {
            cluster: Some(nodes),
            ..Options::fleet()
        };
        fleet.extend(replicas_on(&emu, &urls[n], 1, &options).await);
    }
    until_listening(&fleet).await;
    emu.add_webhook_endpoint(&format!("{}{WEBHOOK_PATH}", fleet[0].base), WEBHOOK_SECRET)
        .unwrap();
    let http = http();

    let before = validations(&emu);
    let mut issued = Vec::new();
    for _ in 0..100 {
        let (key, value) = keys.mint(&emu);
        for replica in &fleet {
            assert_eq!(replica.get(&http, &value).await, StatusCode::OK);
        }
        issued.push((key, value));
    }
    let calls = validations(&emu) - before;
    println!(
        "FIGURE fleet on a 3-node Redis Cluster: 3 replicas, 100 keys, {calls} validation calls"
    );
    assert!(calls <= 105, "{calls}");

    let mut refused_after = Vec::new();
    for (key, value) in issued.iter().take(10) {
        let revoked = Instant::now();
        emu.delete_api_key(key.id.as_str()).unwrap();
        for replica in &fleet[1..] {
            while replica.get(&http, value).await == StatusCode::OK {
                assert!(revoked.elapsed() < Duration::from_secs(5), "never revoked");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        refused_after.push(revoked.elapsed());
    }
    let (p50, max) = p50_max(refused_after);
    println!(
        "FIGURE fleet on a Redis Cluster: webhook to replica 1 only; replicas 2 and 3 refuse after p50 {p50} ms, max {max} ms (10 trials)"
    );
    assert!(max <= 200, "max {max} ms");
}

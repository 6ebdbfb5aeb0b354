//! One key-service budget for the fleet: each key is validated about once
//! however many replicas use it, and racing first uses make one call.

use futures_util::StreamExt;
use futures_util::stream;
use keygate_test_support::redis_server::RedisServer;
use reqwest::StatusCode;

use crate::support::*;

/// Uses every key on every replica (key by key, replica after replica;
/// 32 keys at a time); returns the validations it cost.
async fn use_everywhere(
    emu: &keygate_emulator::Emulator,
    replicas: &[Replica],
    keys: &[String],
) -> u64 {
    let before = validations(emu);
    let http = http();
    stream::iter(keys)
        .for_each_concurrent(32, |key| {
            let http = &http;
            async move {
                for replica in replicas {
                    assert_eq!(replica.get(http, key).await, StatusCode::OK);
                }
            }
        })
        .await;
    validations(emu) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_keys_used_on_three_replicas_cost_about_a_thousand_validations() {
    let (emu, redis) = (emulator().await, RedisServer::start());
    let keys = Keys::new(&emu);
    let values: Vec<String> = (0..2000).map(|_| keys.mint(&emu).1).collect();
    let (fleet_keys, alone_keys) = values.split_at(1000);

    let fleet = replicas(&emu, &redis, 3, &Options::fleet()).await;
    until_listening(&fleet).await;
    let in_fleet = use_everywhere(&emu, &fleet, fleet_keys).await;

    let alone = replicas(&emu, &redis, 3, &Options::alone()).await;
    let per_process = use_everywhere(&emu, &alone, alone_keys).await;

    println!(
        "fleet: 3 replicas, 1000 keys, {in_fleet} validation calls (per-process: {per_process})"
    );
    let shared: u64 = fleet.iter().map(|r| r.stats().shared_hits).sum();
    println!("FIGURE fleet: {shared} misses answered from redis");
    assert!(
        in_fleet <= 1050,
        "{in_fleet} validation calls for 1,000 keys"
    );
    assert_eq!(per_process, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_uses_of_a_new_key_across_the_fleet_make_at_most_two_calls() {
    let (emu, redis) = (emulator().await, RedisServer::start());
    let keys = Keys::new(&emu);
    let fleet = replicas(&emu, &redis, 3, &Options::fleet()).await;
    until_listening(&fleet).await;
    let http = http();
    let mut worst = 0;
    for round in 0..5 {
        let (_, value) = keys.mint(&emu);
        let before = validations(&emu);
        let statuses: Vec<StatusCode> = stream::iter(0..100)
            .map(|n| {
                let (http, value, replica) = (&http, &value, &fleet[n % 3]);
                async move { replica.get(http, value).await }
            })
            .buffer_unordered(100)
            .collect()
            .await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "round {round}"
        );
        let calls = validations(&emu) - before;
        worst = worst.max(calls);
    }
    println!(
        "FIGURE fleet: 100 racing first uses over 3 replicas, 5 rounds: at most {worst} validation calls"
    );
    assert!(worst <= 2, "{worst} validation calls");
}

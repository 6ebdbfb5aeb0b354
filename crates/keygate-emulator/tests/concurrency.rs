//! 1,000 concurrent creates and deletes against one organization: the list
//! afterwards holds exactly the survivors, paging with `limit=7` yields each
//! once, and the events count matches.

mod wire;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use keygate_emulator::Emulator;
use reqwest::StatusCode;
use serde_json::json;
use wire::Caller;

const KEYS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_creates_and_deletes() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let api = Arc::new(Caller::new(&emu));
    let started = Instant::now();

    // Every task creates a key; every third deletes its key at once, while
    // the other tasks are still creating.
    let tasks: Vec<_> = (0..KEYS)
        .map(|i| {
            let api = api.clone();
            let path = format!("/organizations/{}/api_keys", org.id);
            tokio::spawn(async move {
                let created = api.post(&path, json!({"name": format!("key-{i}")})).await;
                assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
                let id = created.body["id"].as_str().unwrap().to_owned();
                if i % 3 == 0 {
                    let deleted = api.delete(&format!("/api_keys/{id}")).await;
                    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
                    (id, false)
                } else {
                    (id, true)
                }
            })
        })
        .collect();
    let mut survivors = HashSet::new();
    let mut deleted = 0;
    for task in tasks {
        let (id, kept) = task.await.unwrap();
        if kept {
            survivors.insert(id);
        } else {
            deleted += 1;
        }
    }
    let load = started.elapsed();

    // Page through with limit=7: each survivor exactly once, in id order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let cursor = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let page = api
            .get(&format!(
                "/organizations/{}/api_keys?limit=7{cursor}",
                org.id
            ))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        pages += 1;
        let data = page.body["data"].as_array().unwrap();
        assert!(data.len() <= 7);
        seen.extend(data.iter().map(|k| k["id"].as_str().unwrap().to_owned()));
        match page.body["list_metadata"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), survivors.len(), "no duplicates, none missing");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), survivors);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, strictly"
    );
    assert_eq!(pages, survivors.len().div_ceil(7));

    // Events: one created per key, one revoked per deletion.
    let mut created_events = 0;
    let mut revoked_events = 0;
    let mut after: Option<String> = None;
    loop {
        let cursor = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let page = api.get(&format!("/events?limit=100{cursor}")).await.body;
        for e in page["data"].as_array().unwrap() {
            match e["event"].as_str().unwrap() {
                "api_key.created" => created_events += 1,
                "api_key.revoked" => revoked_events += 1,
                other => panic!("unexpected {other}"),
            }
        }
        match page["list_metadata"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(created_events, KEYS);
    assert_eq!(revoked_events, deleted);
    println!(
        "{KEYS} creates + {deleted} deletes in {load:?}; {} survivors over {pages} pages of 7; \
         events: {created_events} created, {revoked_events} revoked",
        survivors.len()
    );
}

//! Pagination, as a property: whatever the number of keys, the limit
//! (1 to 100) and the order, paging forward with `after` sees every key
//! exactly once in the documented order, `list_metadata.after` is set
//! exactly when another page follows, paging back with `before` retraces
//! the same pages, the typed client's auto-paging stream yields the same
//! sequence, and a cursor whose object was deleted mid-walk still works.
//! `/events` pages forward the same way.

mod support;

use std::collections::HashSet;
use std::sync::OnceLock;

use futures_util::TryStreamExt;
use keygate::emulator::Emulator;
use keygate::types::{ListParams, Order};
use proptest::prelude::*;
use serde_json::Value;
use support::trace_capture;

/// One runtime and one emulator for every case; each case resets it.
fn world() -> &'static (tokio::runtime::Runtime, Emulator) {
    static WORLD: OnceLock<(tokio::runtime::Runtime, Emulator)> = OnceLock::new();
    WORLD.get_or_init(|| {
        trace_capture::install();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let emu = rt.block_on(Emulator::start()).expect("the emulator starts");
        trace_capture::secret(emu.secret().expose_secret());
        (rt, emu)
    })
}

/// One page as the wire gives it.
struct Page {
    ids: Vec<String>,
    before: Option<String>,
    after: Option<String>,
}

async fn page(http: &reqwest::Client, emu: &Emulator, path: &str, query: &str) -> Page {
    let url = format!("{}{path}?{query}", emu.base_url());
    let response = http
        .get(&url)
        .bearer_auth(emu.secret().expose_secret())
        .send()
        .await
        .expect("the emulator answers");
    assert_eq!(response.status(), 200, "{url}");
    let body: Value = response.json().await.expect("JSON");
    Page {
        ids: body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|item| item["id"].as_str().expect("id").to_owned())
            .collect(),
        before: body["list_metadata"]["before"].as_str().map(str::to_owned),
        after: body["list_metadata"]["after"].as_str().map(str::to_owned),
    }
}

fn order_param(order: Option<Order>) -> String {
    order.map_or_else(String::new, |o| format!("&order={}", o.as_str()))
}

/// The documented listing of `ids` (in creation order): oldest first for
/// `asc`, newest first for `desc`, `normal` and no order at all.
fn listing(created: &[String], order: Option<Order>) -> Vec<String> {
    let mut ids = created.to_vec();
    if !order.is_some_and(Order::is_ascending) {
        ids.reverse();
    }
    ids
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(40),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_key_once_whatever_the_limit_and_order(
        keys in 0usize..=60,
        user_keys in 0usize..=3,
        limit in prop_oneof![1u8..=5, 1u8..=100],
        order in prop_oneof![
            Just(None),
            Just(Some(Order::Asc)),
            Just(Some(Order::Desc)),
            Just(Some(Order::Normal)),
        ],
        delete_cursor in any::<bool>(),
    ) {
        let (rt, emu) = world();
        rt.block_on(async {
            emu.reset();
            let org = emu.create_organization("Acme").expect("organization");
            let user = emu.create_user("ada@example.com").expect("user");
            emu.create_membership(&user.id, &org.id).expect("membership");
            let mut created = Vec::new();
            for i in 0..keys {
                // User keys interleaved: they must never show in the organization's list.
                if i < user_keys {
                    emu.create_user_key(&user.id, &org.id, "user", &[]).expect("user key");
                }
                let key = emu
                    .create_organization_key(&org.id, &format!("key {i}"), &[])
                    .expect("key");
                created.push(key.api_key.id.to_string());
            }
            let want = listing(&created, order);
            let http = reqwest::Client::new();
            let path = format!("/organizations/{}/api_keys", org.id);
            let base = format!("limit={limit}{}", order_param(order));

            // Forward with `after`.
            let mut seen: Vec<String> = Vec::new();
            let mut pages: Vec<Vec<String>> = Vec::new();
            let mut deleted: Option<String> = None;
            let mut query = base.clone();
            loop {
                let p = page(&http, emu, &path, &query).await;
                prop_assert!(p.ids.len() <= usize::from(limit));
                prop_assert!(!p.ids.is_empty() || want.is_empty(), "an empty page mid-walk");
                seen.extend(p.ids.iter().cloned());
                pages.push(p.ids.clone());
                let remaining = want
                    .iter()
                    .filter(|id| !seen.contains(id) && Some(*id) != deleted.as_ref())
                    .count();
                prop_assert_eq!(p.after.is_some(), remaining > 0, "after set iff a page follows");
                let Some(cursor) = p.after else { break };
                prop_assert_eq!(Some(&cursor), p.ids.last(), "after is the page's last id");
                if delete_cursor && deleted.is_none() {
                    // The cursor's object goes away: the cursor must still work.
                    emu.delete_api_key(&cursor).expect("delete");
                    deleted = Some(cursor.clone());
                }
                query = format!("{base}&after={cursor}");
            }
            let unique: HashSet<&String> = seen.iter().collect();
            prop_assert_eq!(unique.len(), seen.len(), "a key was seen twice");
            prop_assert_eq!(&seen, &want, "not every key exactly once, in order");

            // Back with `before`, from the last page: the same pages, reversed.
            if deleted.is_none() && pages.len() > 1 {
                let mut cursor = pages.last().and_then(|p| p.first()).cloned();
                let mut back: Vec<Vec<String>> = Vec::new();
                while let Some(c) = cursor {
                    let p = page(&http, emu, &path, &format!("{base}&before={c}")).await;
                    cursor = p.before.clone();
                    prop_assert_eq!(p.before.is_some(), back.len() + 2 < pages.len() , "before set iff a page precedes");
                    back.push(p.ids);
                }
                back.reverse();
                let forward_but_last: Vec<String> = pages[..pages.len() - 1].concat();
                prop_assert_eq!(back.concat(), forward_but_last, "before retraces the listing");
            }

            // The typed client's auto-paging stream: the same sequence.
            if deleted.is_none() {
                let client = support::app::client(emu.base_url(), emu.secret());
                let params = ListParams { limit: Some(limit), order, ..ListParams::default() };
                let streamed: Vec<String> = client
                    .stream_organization_api_keys(&org.id, params)
                    .map_ok(|k| k.id.to_string())
                    .try_collect()
                    .await
                    .expect("the stream pages to the end");
                prop_assert_eq!(&streamed, &want);
            }

            // Events, forward only: every event once, oldest first.
            let all_events: Vec<String> = emu.events().iter().map(|e| e.id.to_string()).collect();
            let mut events = Vec::new();
            let mut query = format!("limit={limit}");
            loop {
                let p = page(&http, emu, "/events", &query).await;
                events.extend(p.ids);
                let Some(cursor) = p.after else { break };
                query = format!("limit={limit}&after={cursor}");
            }
            prop_assert_eq!(events, all_events);
            trace_capture::assert_no_secret_logged();
            Ok(())
        })?;
    }
}

/// `PROPTEST_CASES` runs more (or fewer) cases than the default 40.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

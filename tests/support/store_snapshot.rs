//! The emulator's whole observable state, read through its public HTTP API
//! (every list, every page) and its library API (every event): two
//! snapshots are equal exactly when nothing a client can see has changed.

use keygate::emulator::Emulator;
use serde_json::{Value, json};

/// Everything a client can read, as JSON.
pub async fn snapshot(emu: &Emulator) -> Value {
    let http = reqwest::Client::new();
    let secret = emu.secret().expose_secret().to_owned();
    let get_all = |path: String| {
        let http = http.clone();
        let secret = secret.clone();
        let base = emu.base_url().to_owned();
        async move {
            let mut items = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let sep = if path.contains('?') { '&' } else { '?' };
                let mut url = format!("{base}{path}{sep}limit=100&order=asc");
                if let Some(after) = &after {
                    url.push_str(&format!("&after={after}"));
                }
                let page: Value = http
                    .get(&url)
                    .bearer_auth(&secret)
                    .send()
                    .await
                    .expect("the emulator answers")
                    .json()
                    .await
                    .expect("a JSON list");
                let data = page["data"].as_array().cloned().unwrap_or_else(|| {
                    panic!("{url} did not answer a list: {page}");
                });
                items.extend(data);
                match page["list_metadata"]["after"].as_str() {
                    Some(next) => after = Some(next.to_owned()),
                    None => return items,
                }
            }
        }
    };
    let organizations = get_all("/organizations".into()).await;
    let users = get_all("/user_management/users".into()).await;
    let mut org_keys = Vec::new();
    for org in &organizations {
        let id = org["id"].as_str().expect("an id");
        org_keys.push(json!({id: get_all(format!("/organizations/{id}/api_keys")).await}));
    }
    let memberships = get_all("/user_management/organization_memberships".into()).await;
    let mut user_keys = Vec::new();
    for user in &users {
        let id = user["id"].as_str().expect("an id");
        user_keys.push(json!({id: get_all(format!("/user_management/users/{id}/api_keys")).await}));
    }
    let events = serde_json::to_value(emu.events()).expect("events serialize");
    json!({
        "organizations": organizations,
        "users": users,
        "memberships": memberships,
        "organization_keys": org_keys,
        "user_keys": user_keys,
        "events": events,
    })
}

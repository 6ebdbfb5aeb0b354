//! Seeds: a JSON file creates organizations, users, memberships, allow-lists
//! and keys with fixed values; a bad seed fails with a message naming the entry.

mod wire;

use keygate_emulator::{Emulator, Error, Seed};
use serde_json::json;
use wire::Caller;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");

#[tokio::test]
async fn the_example_seed_gives_working_fixed_keys() {
    let emu = Emulator::builder()
        .seed_file(EXAMPLE)
        .start()
        .await
        .unwrap();
    let api = Caller::new(&emu);
    let v = api
        .post(
            "/api_keys/validations",
            json!({"value": "sk_example_acme_ci_00000000000000000000000000000000"}),
        )
        .await;
    assert_eq!(v.body["api_key"]["name"], "acme-ci");
    assert_eq!(
        v.body["api_key"]["permissions"],
        json!(["posts:read", "posts:write"])
    );
    assert_eq!(v.body["api_key"]["obfuscated_value"], "sk_\u{2026}0000");
    let v = api
        .post(
            "/api_keys/validations",
            json!({"value": "sk_example_ada_laptop_0000000000000000000000000000000"}),
        )
        .await;
    assert_eq!(v.body["api_key"]["owner"]["type"], "user");
    let orgs = api.get("/organizations").await;
    assert_eq!(orgs.body["data"].as_array().unwrap().len(), 2);
    let memberships = api
        .get("/user_management/organization_memberships?statuses=inactive")
        .await;
    assert_eq!(memberships.body["data"].as_array().unwrap().len(), 1);
    // The seed's allow-list is in force.
    let acme = orgs.body["data"][1]["id"].as_str().unwrap();
    let denied = api
        .post(
            &format!("/organizations/{acme}/api_keys"),
            json!({"name": "x", "permissions": ["admin"]}),
        )
        .await;
    assert_eq!(denied.status, 422);
}

#[tokio::test]
async fn builder_allow_lists_win_over_the_seed() {
    let seed = Seed::from_json(
        r#"{"organization_permissions": ["a"], "organizations": [{"name": "Acme"}]}"#,
    )
    .unwrap();
    let emu = Emulator::builder()
        .seed(seed)
        .organization_permissions(["b"])
        .start()
        .await
        .unwrap();
    let api = Caller::new(&emu);
    let org = api.get("/organizations").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/organizations/{org}/api_keys");
    assert_eq!(
        api.post(&path, json!({"name": "x", "permissions": ["b"]}))
            .await
            .status,
        201
    );
    assert_eq!(
        api.post(&path, json!({"name": "x", "permissions": ["a"]}))
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn bad_seeds_say_which_entry_is_wrong() {
    for (json, expected) in [
        (
            r#"{"memberships": [{"user": "nobody@example.com", "organization": "Acme"}]}"#,
            "memberships[0]",
        ),
        (r#"{"organizations": [{"name": ""}]}"#, "organizations[0]"),
        (
            r#"{"organizations": [{"name": "A"}], "api_keys": [{"name": "k", "organization": "A", "value": "sk_1"}, {"name": "k2", "organization": "A", "value": "sk_1"}]}"#,
            "api_keys[1]",
        ),
        (r#"{"organisations": []}"#, "unknown field"),
    ] {
        let err = match Seed::from_json(json) {
            Err(e) => e,
            Ok(seed) => Emulator::builder().seed(seed).start().await.unwrap_err(),
        };
        assert!(matches!(err, Error::Seed(_)), "{err}");
        assert!(
            err.to_string().contains(expected),
            "{err} should name {expected}"
        );
    }
    let missing = Emulator::builder()
        .seed_file("/nonexistent.json")
        .start()
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("/nonexistent.json"));
}

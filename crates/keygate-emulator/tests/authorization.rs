//! The permission catalogue (`/authorization/permissions`), widget tokens
//! (`POST /widgets/token`) and keys issued to agents (`agent_registration_id`
//! on validation), over the wire.

mod wire;

use keygate_emulator::Emulator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wire::Caller;

fn slugs(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_catalogue_lists_names_and_descriptions_newest_first_in_pages() {
    let emu = Emulator::builder()
        .permission("posts:read", "Read posts", Some("See every post."))
        .permission("posts:write", "Write posts", None)
        .start()
        .await
        .unwrap();
    let api = Caller::new(&emu);
    let created = api
        .post(
            "/authorization/permissions",
            json!({"slug": "billing:*", "name": "Billing", "description": "Everything about invoices."}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["object"], "permission");
    assert!(created.body["id"].as_str().unwrap().starts_with("perm_"));
    assert_eq!(created.body["system"], false);
    assert_eq!(created.body["resource_type_slug"], "environment");

    let all = api.get("/authorization/permissions").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.body["object"], "list");
    assert_eq!(slugs(&all.body), ["billing:*", "posts:write", "posts:read"]);
    assert_eq!(all.body["data"][2]["name"], "Read posts");
    assert_eq!(all.body["data"][2]["description"], "See every post.");
    assert_eq!(all.body["data"][1]["description"], Value::Null);

    let first = api
        .get("/authorization/permissions?limit=2&order=asc")
        .await;
    assert_eq!(slugs(&first.body), ["posts:read", "posts:write"]);
    let after = first.body["list_metadata"]["after"].as_str().unwrap();
    let next = api
        .get(&format!(
            "/authorization/permissions?limit=2&order=asc&after={after}"
        ))
        .await;
    assert_eq!(slugs(&next.body), ["billing:*"]);
    assert_eq!(next.body["list_metadata"]["after"], Value::Null);

    let again = api
        .post(
            "/authorization/permissions",
            json!({"slug": "posts:read", "name": "Again"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["code"], "permission_slug_conflict");
    for bad in [
        json!({"slug": "Posts Read", "name": "x"}),
        json!({"slug": "ok", "name": ""}),
        json!({"slug": "ok", "name": "x", "description": "d".repeat(151)}),
        json!({"name": "no slug"}),
    ] {
        let answer = api.post("/authorization/permissions", bad.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(answer.body["message"].is_string());
    }
    let garbled = api.post_raw("/authorization/permissions", "{nope").await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST);
    assert_eq!(garbled.body["code"], "bad_request");
    assert_eq!(
        api.get("/authorization/permissions?limit=0").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn a_widget_token_is_issued_for_a_member_with_known_scopes() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let other = emu.create_organization("Globex").unwrap();
    let ada = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&ada.id, &org.id).unwrap();

    let issued = api
        .post(
            "/widgets/token",
            json!({"user_id": ada.id, "organization_id": org.id, "scopes": ["widgets:api-keys:manage"]}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let token = issued.body["token"].as_str().unwrap();
    assert!(token.starts_with("wt_") && token.len() > 40);
    let user_only = api.post("/widgets/token", json!({"user_id": ada.id})).await;
    assert_eq!(user_only.status, StatusCode::CREATED);
    assert_ne!(user_only.body["token"], issued.body["token"]);

    let refusals = [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"user_id": ada.id, "scopes": ["widgets:api-keys:manage"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"user_id": ada.id, "organization_id": org.id, "scopes": ["widgets:everything"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"user_id": ada.id, "organization_id": other.id}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"user_id": "user_01HZX4V2C5QW8M0R6T9B3N7K1P"}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (body, status) in refusals {
        let answer = api.post("/widgets/token", body.clone()).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(answer.body["message"].is_string());
    }
}

#[tokio::test]
async fn a_key_issued_to_an_agent_says_so_on_validation_and_others_do_not() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let agent = emu
        .create_agent_key(
            &org.id,
            "agent",
            &[],
            "agent_reg_01EHZNVPK3SFK441A1RGBFSHRT",
        )
        .unwrap();
    let customer = emu
        .create_organization_key(&org.id, "customer", &[])
        .unwrap();

    let answer = api
        .post(
            "/api_keys/validations",
            json!({"value": agent.value.expose_secret()}),
        )
        .await;
    assert_eq!(answer.body["api_key"]["id"], agent.id.as_str());
    assert_eq!(
        answer.body["agent_registration_id"],
        "agent_reg_01EHZNVPK3SFK441A1RGBFSHRT"
    );
    let answer = api
        .post(
            "/api_keys/validations",
            json!({"value": customer.value.expose_secret()}),
        )
        .await;
    assert_eq!(answer.body["api_key"]["id"], customer.id.as_str());
    assert!(answer.body.get("agent_registration_id").is_none());
    // The list shows the key as any other: the field is the validation's.
    let list = api
        .get(&format!("/organizations/{}/api_keys", org.id))
        .await;
    assert!(!list.body.to_string().contains("agent_reg_"));
}

#[tokio::test]
async fn a_seed_defines_the_catalogue() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/seed.example.json");
    let emu = Emulator::builder()
        .seed_file(example)
        .start()
        .await
        .unwrap();
    let list = Caller::new(&emu)
        .get("/authorization/permissions?order=asc")
        .await;
    assert_eq!(slugs(&list.body), ["posts:read", "posts:write"]);
    assert_eq!(list.body["data"][1]["name"], "Write posts");
    assert_eq!(list.body["data"][1]["description"], "Publish new posts.");
}

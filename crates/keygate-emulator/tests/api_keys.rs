//! The seven API-key endpoints over real sockets: each success, and each
//! failure row of WIRE.md.

mod wire;

use keygate_emulator::Emulator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wire::Caller;

const KEY_FIELDS: [&str; 10] = [
    "object",
    "id",
    "owner",
    "name",
    "obfuscated_value",
    "last_used_at",
    "expires_at",
    "permissions",
    "created_at",
    "updated_at",
];

fn assert_key_shape(key: &Value) {
    let obj = key.as_object().expect("a key object");
    for field in KEY_FIELDS {
        assert!(obj.contains_key(field), "missing {field} in {key}");
    }
    assert_eq!(key["object"], "api_key");
    assert!(!obj.contains_key("value"), "value leaked: {key}");
    assert!(
        key["obfuscated_value"]
            .as_str()
            .unwrap()
            .starts_with("sk_\u{2026}")
    );
}

async fn setup() -> (Emulator, Caller, String) {
    let emu = Emulator::builder()
        .organization_permissions(["posts:read", "posts:write"])
        .user_permissions(["posts:read"])
        .start()
        .await
        .unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let caller = Caller::new(&emu);
    (emu, caller, org.id.into_string())
}

#[tokio::test]
async fn create_organization_key_shows_the_value_once() {
    let (_emu, api, org) = setup().await;
    let created = api
        .post(
            &format!("/organizations/{org}/api_keys"),
            json!({"name": "ci", "permissions": ["posts:read"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let value = created.body["value"].as_str().unwrap().to_owned();
    assert!(value.starts_with("sk_") && value.len() >= 43);
    assert_eq!(
        created.body["owner"],
        json!({"type": "organization", "id": org})
    );
    assert_eq!(created.body["expires_at"], Value::Null);
    assert_eq!(created.body["last_used_at"], Value::Null);
    assert!(
        created.body["obfuscated_value"]
            .as_str()
            .unwrap()
            .ends_with(&value[value.len() - 4..])
    );
    let id = created.body["id"].as_str().unwrap();
    assert!(id.starts_with("api_key_") && id.len() == 8 + 26);

    let list = api.get(&format!("/organizations/{org}/api_keys")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["object"], "list");
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_key_shape(&list.body["data"][0]);
    assert_eq!(
        list.body["list_metadata"],
        json!({"before": null, "after": null})
    );
    assert!(!list.body.to_string().contains(&value));
}

#[tokio::test]
async fn create_organization_key_failures() {
    let (_emu, api, org) = setup().await;
    let path = format!("/organizations/{org}/api_keys");

    let unknown = api
        .post(
            "/organizations/org_01HZY3K2J5QW8N7X6V4T3R2P1M/api_keys",
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["code"], "entity_not_found");
    assert_eq!(unknown.body["entity_id"], "org_01HZY3K2J5QW8N7X6V4T3R2P1M");

    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "  "}), "name"),
        (
            json!({"name": "x", "permissions": ["admin:all"]}),
            "permissions[0]",
        ),
        (
            json!({"name": "x", "permissions": ["posts:read", "Bad/Slug"]}),
            "permissions[1]",
        ),
        (
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00.000Z"}),
            "expires_at",
        ),
        (json!({"name": "x", "expires_at": "soon"}), "expires_at"),
        (json!({"name": 7}), "name"),
        (
            json!({"name": "x", "permissions": "posts:read"}),
            "permissions",
        ),
    ] {
        let a = api.post(&path, body.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {a:?}"
        );
        assert_eq!(a.body["code"], "invalid_request_parameters", "{body}");
        assert_eq!(a.body["errors"][0]["field"], field, "{body} -> {a:?}");
        assert!(a.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn list_organization_keys_holds_only_organization_owned_keys() {
    let (emu, api, org) = setup().await;
    let org_id = keygate_types::OrganizationId::new_unchecked(&org);
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org_id).unwrap();
    let org_key = emu.create_organization_key(&org_id, "org", &[]).unwrap();
    emu.create_user_key(&user.id, &org_id, "mine", &[]).unwrap();
    let list = api.get(&format!("/organizations/{org}/api_keys")).await;
    let data = list.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], org_key.id.as_str());

    let unknown = api.get("/organizations/org_nope/api_keys").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for bad in ["limit=0", "limit=101", "limit=ten", "order=sideways"] {
        let a = api
            .get(&format!("/organizations/{org}/api_keys?{bad}"))
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(a.body["code"], "invalid_request_parameters");
    }
}

#[tokio::test]
async fn user_keys_need_an_active_membership() {
    let (emu, api, org) = setup().await;
    let org_id = keygate_types::OrganizationId::new_unchecked(&org);
    let user = emu.create_user("ada@example.com").unwrap();
    let path = format!("/user_management/users/{}/api_keys", user.id);

    let none = api
        .post(&path, json!({"name": "k", "organization_id": org}))
        .await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY, "{none:?}");
    assert!(none.body["code"].is_string() && none.body["message"].is_string());

    let m = emu.create_membership(&user.id, &org_id).unwrap();
    let created = api
        .post(
            &path,
            json!({"name": "k", "organization_id": org, "permissions": ["posts:read"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(
        created.body["owner"],
        json!({"type": "user", "id": user.id.as_str(), "organization_id": org})
    );

    // A permission not enabled for user keys.
    let denied = api
        .post(
            &path,
            json!({"name": "k", "organization_id": org, "permissions": ["posts:write"]}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        denied.body["message"]
            .as_str()
            .unwrap()
            .contains("posts:write")
    );

    // Missing fields are a 400 with errors[].
    for (body, field) in [
        (json!({"organization_id": org}), "name"),
        (json!({"name": "k"}), "organization_id"),
        (json!({"name": "", "organization_id": org}), "name"),
    ] {
        let a = api.post(&path, body.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body} -> {a:?}");
        assert_eq!(a.body["errors"][0]["field"], field);
    }

    // Unknown user, unknown organization.
    let a = api
        .post(
            "/user_management/users/user_nope/api_keys",
            json!({"name": "k", "organization_id": org}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body["entity_id"], "user_nope");
    let a = api
        .post(&path, json!({"name": "k", "organization_id": "org_nope"}))
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body["entity_id"], "org_nope");

    // A deactivated membership cannot get new keys either.
    emu.deactivate_membership(m.id.as_str()).unwrap();
    let a = api
        .post(&path, json!({"name": "k", "organization_id": org}))
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn list_user_keys_filters_by_organization() {
    let (emu, api, org) = setup().await;
    let org_a = keygate_types::OrganizationId::new_unchecked(&org);
    let org_b = emu.create_organization("Beta").unwrap().id;
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org_a).unwrap();
    emu.create_membership(&user.id, &org_b).unwrap();
    emu.create_user_key(&user.id, &org_a, "a", &[]).unwrap();
    emu.create_user_key(&user.id, &org_b, "b", &[]).unwrap();
    let path = format!("/user_management/users/{}/api_keys", user.id);
    let all = api.get(&path).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.body["data"].as_array().unwrap().len(), 2);
    // Newest first by default.
    assert_eq!(all.body["data"][0]["name"], "b");
    let only_b = api.get(&format!("{path}?organization_id={org_b}")).await;
    let data = only_b.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_key_shape(&data[0]);
    assert_eq!(data[0]["name"], "b");

    assert_eq!(
        api.get("/user_management/users/user_nope/api_keys")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get(&format!("{path}?limit=500")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn delete_revokes_and_404s_after() {
    let (emu, api, org) = setup().await;
    let key = emu
        .create_organization_key(
            &keygate_types::OrganizationId::new_unchecked(&org),
            "k",
            &[],
        )
        .unwrap();
    let deleted = api.delete(&format!("/api_keys/{}", key.id)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, Value::Null);
    let again = api.delete(&format!("/api_keys/{}", key.id)).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.body["entity_id"], key.id.as_str());
    let v = api
        .post(
            "/api_keys/validations",
            json!({"value": key.value.expose_secret()}),
        )
        .await;
    assert_eq!(v.body, json!({"api_key": null}));
}

#[tokio::test]
async fn expire_now_scheduled_cleared_and_conflict() {
    let (emu, api, org) = setup().await;
    let org_id = keygate_types::OrganizationId::new_unchecked(&org);
    let validate = |value: String| {
        let api = &api;
        async move {
            api.post("/api_keys/validations", json!({"value": value}))
                .await
                .body
        }
    };

    // Scheduled, then cleared: still valid.
    let k = emu.create_organization_key(&org_id, "k", &[]).unwrap();
    let path = format!("/api_keys/{}/expire", k.id);
    let later = "2099-01-01T00:00:00.000Z";
    let a = api.post(&path, json!({"expires_at": later})).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.body["expires_at"], later);
    assert_key_shape(&a.body);
    let a = api.post(&path, json!({"expires_at": null})).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["expires_at"], Value::Null);
    assert!(validate(k.value.expose_secret().to_owned()).await["api_key"].is_object());

    // No body: expires now; a second expire conflicts.
    let a = api.send(reqwest::Method::POST, &path, None).await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert!(a.body["expires_at"].is_string());
    assert_eq!(
        validate(k.value.expose_secret().to_owned()).await,
        json!({"api_key": null})
    );
    let a = api.post(&path, json!({})).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.body["code"], "api_key_already_expired");

    // `{}` and a past time both expire now.
    for body in [json!({}), json!({"expires_at": "2001-01-01T00:00:00.000Z"})] {
        let k = emu.create_organization_key(&org_id, "k", &[]).unwrap();
        let a = api.post(&format!("/api_keys/{}/expire", k.id), body).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.body["expires_at"].as_str().unwrap() > "2020");
        assert_eq!(
            validate(k.value.expose_secret().to_owned()).await,
            json!({"api_key": null})
        );
    }

    let a = api.post("/api_keys/api_key_nope/expire", json!({})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = api.post(&path, json!({"expires_at": 5})).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn validation_answers_key_or_null_never_4xx_for_a_bad_key() {
    let (emu, api, org) = setup().await;
    let org_id = keygate_types::OrganizationId::new_unchecked(&org);
    let k = emu
        .create_organization_key(&org_id, "k", &["posts:read"])
        .unwrap();
    let v = api
        .post(
            "/api_keys/validations",
            json!({"value": k.value.expose_secret()}),
        )
        .await;
    assert_eq!(v.status, StatusCode::OK);
    assert_key_shape(&v.body["api_key"]);
    assert_eq!(v.body["api_key"]["permissions"], json!(["posts:read"]));
    let used = v.body["api_key"]["last_used_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        emu.api_key(k.id.as_str())
            .unwrap()
            .last_used_at
            .unwrap()
            .to_string(),
        used
    );

    for garbage in ["", "sk_nope", "garbage", &"x".repeat(5000)] {
        let v = api
            .post("/api_keys/validations", json!({"value": garbage}))
            .await;
        assert_eq!(v.status, StatusCode::OK);
        assert_eq!(v.body, json!({"api_key": null}));
    }
    let missing = api.post("/api_keys/validations", json!({})).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.body["errors"][0]["field"], "value");
    let wrong = api
        .post("/api_keys/validations", json!({"value": 42}))
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn user_keys_follow_their_membership() {
    let (emu, api, org) = setup().await;
    let org_id = keygate_types::OrganizationId::new_unchecked(&org);
    let user = emu.create_user("ada@example.com").unwrap();
    let m = emu.create_membership(&user.id, &org_id).unwrap();
    let k = emu.create_user_key(&user.id, &org_id, "k", &[]).unwrap();
    let validate = || {
        api.post(
            "/api_keys/validations",
            json!({"value": k.value.expose_secret()}),
        )
    };
    assert!(validate().await.body["api_key"].is_object());

    let a = api
        .put(&format!(
            "/user_management/organization_memberships/{}/deactivate",
            m.id
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{a:?}");
    assert_eq!(a.body["status"], "inactive");
    assert_eq!(validate().await.body, json!({"api_key": null}));

    let a = api
        .put(&format!(
            "/user_management/organization_memberships/{}/reactivate",
            m.id
        ))
        .await;
    assert_eq!(a.body["status"], "active");
    assert!(validate().await.body["api_key"].is_object());

    let a = api
        .delete(&format!(
            "/user_management/organization_memberships/{}",
            m.id
        ))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(validate().await.body, json!({"api_key": null}));
    assert!(
        emu.api_key(k.id.as_str()).is_none(),
        "revoked with the membership"
    );
    let revoked = emu
        .events()
        .into_iter()
        .filter(|e| e.payload.name() == "api_key.revoked")
        .count();
    assert_eq!(revoked, 1);
}

#[tokio::test]
async fn deleting_an_organization_revokes_all_its_keys() {
    let (emu, api, org) = setup().await;
    let org_id = keygate_types::OrganizationId::new_unchecked(&org);
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org_id).unwrap();
    let a = emu.create_organization_key(&org_id, "a", &[]).unwrap();
    let b = emu.create_user_key(&user.id, &org_id, "b", &[]).unwrap();
    let d = api.delete(&format!("/organizations/{org}")).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    for k in [a, b] {
        let v = api
            .post(
                "/api_keys/validations",
                json!({"value": k.value.expose_secret()}),
            )
            .await;
        assert_eq!(v.body, json!({"api_key": null}));
    }
    let revoked = emu
        .events()
        .into_iter()
        .filter(|e| e.payload.name() == "api_key.revoked")
        .count();
    assert_eq!(revoked, 2);
    assert_eq!(
        api.delete(&format!("/organizations/{org}")).await.status,
        StatusCode::NOT_FOUND
    );
}

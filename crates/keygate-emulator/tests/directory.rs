//! Organizations, users and memberships over real sockets, with WorkOS's shapes.

mod wire;

use keygate_emulator::Emulator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wire::Caller;

#[tokio::test]
async fn organizations_create_list_get_delete() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let a = api
        .post(
            "/organizations",
            json!({"name": "Acme", "external_id": "acme-1", "metadata": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    let org = a.body;
    assert_eq!(org["object"], "organization");
    assert!(org["id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(org["domains"], json!([]));
    assert_eq!(org["metadata"], json!({"tier": "gold"}));
    assert_eq!(org["external_id"], "acme-1");
    assert!(org["created_at"].is_string() && org["updated_at"].is_string());
    let id = org["id"].as_str().unwrap();

    api.post("/organizations", json!({"name": "Beta"})).await;
    let list = api.get("/organizations?limit=1").await;
    assert_eq!(list.body["data"][0]["name"], "Beta", "newest first");
    assert!(list.body["list_metadata"]["after"].is_string());
    let next = api
        .get(&format!(
            "/organizations?limit=1&after={}",
            list.body["list_metadata"]["after"].as_str().unwrap()
        ))
        .await;
    assert_eq!(next.body["data"][0]["name"], "Acme");
    assert_eq!(next.body["list_metadata"]["after"], Value::Null);

    assert_eq!(api.get(&format!("/organizations/{id}")).await.body, org);
    assert_eq!(
        api.delete(&format!("/organizations/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = api.get(&format!("/organizations/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["code"], "entity_not_found");
    assert_eq!(gone.body["entity_id"], id);

    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x", "metadata": {"n": 1}}),
    ] {
        let a = api.post("/organizations", bad.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(!a.body["errors"].as_array().unwrap().is_empty());
    }
}

#[tokio::test]
async fn users_create_list_get_delete() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let a = api
        .post(
            "/user_management/users",
            json!({"email": "ada@example.com", "first_name": "Ada"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    let user = a.body;
    assert_eq!(user["object"], "user");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["first_name"], "Ada");
    assert_eq!(user["last_name"], Value::Null);
    let id = user["id"].as_str().unwrap();
    assert!(id.starts_with("user_"));

    let dup = api
        .post(
            "/user_management/users",
            json!({"email": "ADA@example.com"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    for bad in [
        json!({}),
        json!({"email": ""}),
        json!({"email": "not-an-email"}),
    ] {
        let a = api.post("/user_management/users", bad.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(a.body["errors"][0]["field"], "email");
    }

    let bob = api
        .post(
            "/user_management/users",
            json!({"email": "  Bob@Example.COM "}),
        )
        .await;
    assert_eq!(bob.body["email"], "bob@example.com", "trimmed, lower case");
    assert_eq!(
        api.get("/user_management/users").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let by_email = api
        .get("/user_management/users?email=ada%40example.com")
        .await;
    assert_eq!(by_email.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get(&format!("/user_management/users/{id}")).await.body,
        user
    );
    assert_eq!(
        api.delete(&format!("/user_management/users/{id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&format!("/user_management/users/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn memberships_lifecycle_with_embedded_user() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    let path = "/user_management/organization_memberships";

    let a = api
        .post(path, json!({"user_id": user.id.as_str(), "organization_id": org.id.as_str(), "role_slug": "admin"}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    let m = a.body;
    assert_eq!(m["object"], "organization_membership");
    assert_eq!(m["status"], "active");
    assert_eq!(m["directory_managed"], false);
    assert_eq!(m["role"], json!({"slug": "admin"}));
    assert_eq!(m["roles"], json!([{"slug": "admin"}]));
    assert_eq!(m["organization_name"], "Acme");
    assert_eq!(m["user"]["email"], "ada@example.com");
    let id = m["id"].as_str().unwrap();
    assert!(id.starts_with("om_"));

    let dup = api
        .post(
            path,
            json!({"user_id": user.id.as_str(), "organization_id": org.id.as_str()}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = api
        .post(
            path,
            json!({"user_id": "user_nope", "organization_id": org.id.as_str()}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["entity_id"], "user_nope");
    let missing = api.post(path, json!({"user_id": user.id.as_str()})).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.body["errors"][0]["field"], "organization_id");

    let list = api.get(&format!("{path}?user_id={}", user.id)).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    let list = api
        .get(&format!(
            "{path}?organization_id={}&statuses=inactive",
            org.id
        ))
        .await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 0);
    assert_eq!(
        api.get(&format!("{path}?statuses=sleeping")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let d = api.put(&format!("{path}/{id}/deactivate")).await;
    assert_eq!(d.body["status"], "inactive");
    let active_only = api.get(&format!("{path}?user_id={}", user.id)).await;
    assert_eq!(
        active_only.body["data"],
        json!([]),
        "only active memberships unless asked"
    );
    let list = api.get(&format!("{path}?statuses=active,inactive")).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get(&format!("{path}/{id}")).await.body["status"],
        "inactive"
    );
    assert_eq!(
        api.put(&format!("{path}/{id}/reactivate")).await.body["status"],
        "active"
    );
    assert_eq!(
        api.delete(&format!("{path}/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&format!("{path}/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.put(&format!("{path}/{id}/deactivate")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn deleting_a_user_revokes_their_keys() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org.id).unwrap();
    let key = emu.create_user_key(&user.id, &org.id, "k", &[]).unwrap();
    api.delete(&format!("/user_management/users/{}", user.id))
        .await;
    let v = api
        .post(
            "/api_keys/validations",
            json!({"value": key.value.expose_secret()}),
        )
        .await;
    assert_eq!(v.body, json!({"api_key": null}));
    assert!(emu.api_key(key.id.as_str()).is_none());
}

//! `Idempotency-Key` on the create routes, over real sockets: a retry gets
//! the first answer (one key, one `api_key.created` event), also when the
//! retries race; a different request with the same key is refused; the
//! window is 24 hours and survives a restart with a state file.

mod wire;

use std::time::Duration;

use keygate_emulator::Emulator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wire::{Answer, Caller, answer};

async fn create(api: &Caller, path: &str, key: &str, body: &Value) -> Answer {
    let req = api
        .http
        .post(format!("{}{path}", api.base))
        .bearer_auth(&api.secret)
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(body.to_string());
    answer(req.send().await.expect("request sent")).await
}

fn created_events(emu: &Emulator) -> usize {
    emu.events()
        .iter()
        .filter(|e| e.payload.name() == "api_key.created")
        .count()
}

#[tokio::test]
async fn a_retried_create_gets_the_first_answer_and_makes_one_key() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let api = Caller::new(&emu);
    let path = format!("/organizations/{}/api_keys", org.id);
    let body = json!({"name": "ci", "permissions": ["posts:read"]});

    let first = create(&api, &path, "retry-1", &body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.headers.contains_key("idempotent-replayed"));
    let again = create(&api, &path, "retry-1", &body).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body, "the same id, and the same value");
    assert!(again.body["value"].as_str().unwrap().starts_with("sk_"));
    assert_eq!(created_events(&emu), 1);
    let listed = api.get(&path).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);

    // Another key is another create.
    let other = create(&api, &path, "retry-2", &body).await;
    assert_ne!(other.body["id"], first.body["id"]);
    assert_eq!(created_events(&emu), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_sent_at_once_create_one_key() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org.id).unwrap();
    let api = Caller::new(&emu);
    // The Node SDK's retry: the same request, the same key, sent again
    // before the first answer came back.
    for (path, body) in [
        (
            format!("/organizations/{}/api_keys", org.id),
            json!({"name": "ci"}),
        ),
        (
            format!("/user_management/users/{}/api_keys", user.id),
            json!({"name": "laptop", "organization_id": org.id}),
        ),
    ] {
        let key = format!("race {path}");
        let answers =
            futures_util::future::join_all((0..8).map(|_| create(&api, &path, &key, &body))).await;
        for a in &answers {
            assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
            assert_eq!(a.body, answers[0].body);
        }
        let replayed = answers
            .iter()
            .filter(|a| a.headers.contains_key("idempotent-replayed"))
            .count();
        assert_eq!(replayed, 7);
    }
    assert_eq!(created_events(&emu), 2, "one key per route");
}

#[tokio::test]
async fn the_same_key_on_a_different_request_is_refused() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let other = emu.create_organization("Globex").unwrap();
    let api = Caller::new(&emu);
    let path = format!("/organizations/{}/api_keys", org.id);
    create(&api, &path, "k", &json!({"name": "ci"})).await;
    for (path, body) in [
        (path.clone(), json!({"name": "another"})),
        (
            format!("/organizations/{}/api_keys", other.id),
            json!({"name": "ci"}),
        ),
    ] {
        let a = create(&api, &path, "k", &body).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{a:?}");
        assert_eq!(a.body["code"], "idempotency_key_reused");
        assert_eq!(a.body["errors"][0]["field"], "Idempotency-Key");
    }
    assert_eq!(created_events(&emu), 1);
    for bad in ["", &"x".repeat(256)] {
        let a = create(&api, &path, bad, &json!({"name": "ci"})).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad:?}: {a:?}");
        assert_eq!(a.body["code"], "invalid_idempotency_key");
    }
}

#[tokio::test]
async fn a_key_is_remembered_for_24_hours() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let api = Caller::new(&emu);
    let path = format!("/organizations/{}/api_keys", org.id);
    let body = json!({"name": "ci"});
    let first = create(&api, &path, "day", &body).await;
    emu.advance_time(Duration::from_secs(23 * 3600));
    assert_eq!(create(&api, &path, "day", &body).await.body, first.body);
    emu.advance_time(Duration::from_secs(2 * 3600));
    let later = create(&api, &path, "day", &body).await;
    assert_eq!(later.status, StatusCode::CREATED);
    assert_ne!(
        later.body["id"], first.body["id"],
        "a new create after the window"
    );
}

#[tokio::test]
async fn the_directory_creates_are_idempotent_too() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = json!({"name": "Acme"});
    let a = create(&api, "/organizations", "o", &org).await;
    let b = create(&api, "/organizations", "o", &org).await;
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    let user = json!({"email": "ada@example.com"});
    let u1 = create(&api, "/user_management/users", "u", &user).await;
    let u2 = create(&api, "/user_management/users", "u", &user).await;
    assert_eq!(u1.body, u2.body, "not a 422 for a taken email");
    let m = json!({"user_id": u1.body["id"], "organization_id": a.body["id"]});
    let path = "/user_management/organization_memberships";
    let m1 = create(&api, path, "m", &m).await;
    let m2 = create(&api, path, "m", &m).await;
    assert_eq!(m1.status, StatusCode::CREATED);
    assert_eq!(m1.body["id"], m2.body["id"]);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_window_survives_a_restart_and_the_value_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let emu = Emulator::builder().state_file(&file).start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let path = format!("/organizations/{}/api_keys", org.id);
    let body = json!({"name": "ci"});
    let first = create(&Caller::new(&emu), &path, "restart", &body).await;
    let value = first.body["value"].as_str().unwrap().to_owned();
    emu.shutdown().await;
    // The value is never written to the file.
    let bytes = std::fs::read(&file).unwrap();
    let wal = std::fs::read(dir.path().join("state.db-wal")).unwrap_or_default();
    for kept in [&bytes, &wal] {
        assert!(
            !kept
                .windows(value.len() - 3)
                .any(|w| w == &value.as_bytes()[3..])
        );
    }

    let emu = Emulator::builder().state_file(&file).start().await.unwrap();
    let api = Caller::new(&emu);
    let again = create(&api, &path, "restart", &body).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["id"], first.body["id"]);
    assert!(
        again.body.get("value").is_none(),
        "shown once: not after a restart"
    );
    assert_eq!(created_events(&emu), 1);
    let refused = create(&api, &path, "restart", &json!({"name": "other"})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
}

//! Request hygiene over real sockets: secrets, request ids, body cap,
//! malformed JSON, wrong types, unknown routes and methods.

mod wire;

use keygate_emulator::Emulator;
use reqwest::StatusCode;
use serde_json::json;
use wire::{Caller, answer};

#[tokio::test]
async fn secrets_missing_wrong_or_malformed_get_401_json() {
    let emu = Emulator::builder()
        .secret("sk_test_first")
        .secret("sk_test_second")
        .start()
        .await
        .unwrap();
    assert!(emu.local_addr().ip().is_loopback());
    assert_eq!(emu.secret().expose_secret(), "sk_test_first");
    let http = reqwest::Client::new();
    let url = format!("{}/organizations", emu.base_url());
    for auth in [
        None,
        Some("Bearer sk_test_wrong"),
        Some("Basic c2s6"),
        Some("Bearer"),
        Some("sk_test_first"),
    ] {
        let mut req = http.get(&url);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let a = answer(req.send().await.unwrap()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(a.body["code"], "unauthorized");
        assert!(a.body["message"].as_str().unwrap().len() > 10);
    }
    for secret in ["sk_test_first", "sk_test_second"] {
        let a = answer(http.get(&url).bearer_auth(secret).send().await.unwrap()).await;
        assert_eq!(a.status, StatusCode::OK, "{secret}");
    }
    let a = answer(
        http.get(&url)
            .header("authorization", "bearer sk_test_second")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "the scheme is case-insensitive");
    // The controls need a secret too; /health does not.
    let a = answer(
        http.post(format!("{}/_emulator/reset", emu.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = answer(
        http.get(format!("{}/health", emu.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let emu = Emulator::start().await.unwrap();
    let http = reqwest::Client::new();
    let base = emu.base_url();
    let secret = emu.secret().expose_secret();
    for (method, path, auth) in [
        ("GET", "/organizations", true),
        ("GET", "/organizations", false),
        ("GET", "/nowhere", true),
        ("PATCH", "/organizations", true),
        ("GET", "/health", false),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = http.request(method.clone(), format!("{base}{path}"));
        if auth {
            req = req.bearer_auth(secret);
        }
        let echoed = req
            .try_clone()
            .unwrap()
            .header("x-request-id", "req-123")
            .send()
            .await
            .unwrap();
        assert_eq!(
            echoed.headers()["x-request-id"],
            "req-123",
            "{method} {path}"
        );
        let generated = req.send().await.unwrap();
        let id = generated.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 26, "{method} {path}: {id}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let a = api.get("/nowhere").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.headers["content-type"], "application/json");
    assert!(a.body["message"].as_str().unwrap().contains("/nowhere"));
    let a = api
        .send(reqwest::Method::PATCH, "/organizations", None)
        .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.body["code"], "method_not_allowed");
    let a = api.get("/api_keys/validations").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn oversized_malformed_and_mistyped_bodies() {
    let emu = Emulator::builder().body_limit(1024).start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let path = format!("/organizations/{}/api_keys", org.id);

    let big = json!({"name": "x".repeat(4096)}).to_string();
    let a = api.post_raw(&path, big).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{a:?}");
    assert_eq!(a.headers["content-type"], "application/json");
    assert!(a.body["message"].as_str().unwrap().contains("larger"));

    for raw in [
        r#"{"name": "#,
        "{name: 'x'}",
        "not json",
        r#"{"name":"x"}}"#,
    ] {
        let a = api.post_raw(&path, raw).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{raw:?}");
        assert_eq!(a.body["code"], "invalid_json");
        assert!(
            a.body["message"].as_str().unwrap().contains("JSON"),
            "{a:?}"
        );
    }
    // An empty body is a missing one: 422 as WorkOS's spec documents, with errors[].
    let a = api.post_raw(&path, "").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{a:?}");
    assert_eq!(a.body["errors"][0]["field"], "body");
    let a = api.post_raw(&path, r#"{"name": "#).await;
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("line 1 column"),
        "{a:?}"
    );

    let a = api.post(&path, json!({"name": ["ci"]})).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        a.body["errors"],
        json!([{"code": "invalid_type", "field": "name"}])
    );
    let a = api.post(&path, json!([1, 2])).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.body["errors"][0]["field"], "body");
}

#[tokio::test]
async fn an_optional_rate_limit_per_secret_answers_429_with_retry_after() {
    let emu = Emulator::builder()
        .secret("sk_test_a")
        .secret("sk_test_b")
        .rate_limit(keygate_emulator::SecretRateLimit {
            requests: 3,
            per: std::time::Duration::from_secs(60),
        })
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let get = |secret: &'static str, path: &'static str| {
        let req = http
            .get(format!("{}{path}", emu.base_url()))
            .bearer_auth(secret);
        async move { answer(req.send().await.unwrap()).await }
    };
    for _ in 0..3 {
        assert_eq!(
            get("sk_test_a", "/organizations").await.status,
            StatusCode::OK
        );
    }
    let limited = get("sk_test_a", "/organizations").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["code"], "rate_limit_exceeded");
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        get("sk_test_b", "/organizations").await.status,
        StatusCode::OK,
        "its own budget"
    );
    assert_eq!(
        get("sk_test_a", "/_emulator/requests").await.status,
        StatusCode::OK,
        "controls are not limited"
    );
    assert_eq!(get("sk_test_a", "/health").await.status, StatusCode::OK);
    emu.reset();
    assert_eq!(
        get("sk_test_a", "/organizations").await.status,
        StatusCode::OK,
        "reset refills"
    );
}

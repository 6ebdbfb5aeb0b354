//! The test controls, from the library and over HTTP under `/_emulator/`.

mod wire;

use std::time::{Duration, Instant};

use keygate_emulator::{Emulator, Fault};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wire::Caller;

#[tokio::test]
async fn faults_answer_with_status_body_headers_and_count_down() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .status(503)
            .body(json!({"code": "down"}))
            .header("x-fault", "yes")
            .times(2),
    );
    for _ in 0..2 {
        let a = api
            .post("/api_keys/validations", json!({"value": "sk_x"}))
            .await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(a.body, json!({"code": "down"}));
        assert_eq!(a.headers["x-fault"], "yes");
        assert!(a.headers.contains_key("x-request-id"));
    }
    let a = api
        .post("/api_keys/validations", json!({"value": "sk_x"}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "the fault is spent");
    assert_eq!(emu.request_count("POST", "/api_keys/validations"), 3);

    // 429 gets Retry-After; a template matches concrete paths.
    emu.inject_fault(Fault::new("DELETE", "/api_keys/{id}").status(429));
    let a = api.delete("/api_keys/api_key_anything").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.headers["retry-after"], "1");
    emu.clear_faults();
    assert_eq!(
        api.delete("/api_keys/api_key_anything").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(emu.request_count("DELETE", "/api_keys/{id}"), 2);

    // Text bodies, and a delay before passing through.
    emu.inject_fault(
        Fault::new("GET", "/organizations")
            .status(502)
            .body("bad gateway")
            .times(1),
    );
    let res = api
        .http
        .get(format!("{}/organizations", api.base))
        .bearer_auth(&api.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(res.text().await.unwrap(), "bad gateway");
    emu.inject_fault(
        Fault::new("GET", "/organizations")
            .delay(Duration::from_millis(300))
            .pass_through()
            .times(1),
    );
    let started = Instant::now();
    assert_eq!(api.get("/organizations").await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn http_controls_reset_faults_counters_clock() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    emu.create_organization("Acme").unwrap();

    let f = api
        .post(
            "/_emulator/faults",
            json!({"method": "GET", "path": "/organizations", "status": 500, "times": 1}),
        )
        .await;
    assert_eq!(f.status, StatusCode::CREATED, "{f:?}");
    assert_eq!(
        api.get("/_emulator/faults")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/organizations").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(api.get("/organizations").await.status, StatusCode::OK);
    api.post(
        "/_emulator/faults",
        json!({"method": "*", "path": "/organizations"}),
    )
    .await;
    assert_eq!(
        api.delete("/_emulator/faults").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get("/organizations").await.status, StatusCode::OK);
    for bad in [
        json!({"path": "/x"}),
        json!({"method": "GET", "path": "/x", "status": 42}),
        json!({"method": "GET", "path": "/x", "headers": [["bad header", "v"]]}),
        json!({"method": "GET", "path": "/x", "delay_ms": -1}),
    ] {
        let a = api.post("/_emulator/faults", bad.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }

    let c = api
        .get("/_emulator/requests?method=GET&path=/organizations")
        .await;
    assert_eq!(c.body["count"], 3);
    let all = api.get("/_emulator/requests").await;
    assert!(
        all.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["route"] == "/organizations")
    );

    let t = api
        .send(
            reqwest::Method::PUT,
            "/_emulator/clock",
            Some(&json!({"now": "2031-05-01T00:00:00.000Z"})),
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{t:?}");
    assert!(
        t.body["now"]
            .as_str()
            .unwrap()
            .starts_with("2031-05-01T00:00")
    );
    let t = api
        .post(
            "/_emulator/clock/advance",
            json!({"milliseconds": 86_400_000}),
        )
        .await;
    assert!(
        t.body["now"]
            .as_str()
            .unwrap()
            .starts_with("2031-05-02T00:00"),
        "{t:?}"
    );
    assert!(emu.now().to_string().starts_with("2031-05-02"));

    assert_eq!(
        api.post("/_emulator/reset", Value::Null).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get("/organizations").await.body["data"], json!([]));
    assert_eq!(
        emu.request_count("GET", "/organizations"),
        1,
        "counters were reset"
    );
    assert!(emu.now().to_string().as_str() < "2031");
}

#[tokio::test]
async fn the_settable_clock_drives_expiry() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let key = emu.create_organization_key(&org.id, "k", &[]).unwrap();
    let in_an_hour = emu.now().saturating_add(time::Duration::hours(1));
    let a = api
        .post(
            &format!("/api_keys/{}/expire", key.id),
            json!({"expires_at": in_an_hour.to_string()}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let validate = || {
        api.post(
            "/api_keys/validations",
            json!({"value": key.value.expose_secret()}),
        )
    };
    assert!(validate().await.body["api_key"].is_object());
    emu.advance_time(Duration::from_secs(3601));
    assert_eq!(validate().await.body, json!({"api_key": null}));
    let a = api
        .post(&format!("/api_keys/{}/expire", key.id), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn library_reset_empties_everything() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let key = emu.create_organization_key(&org.id, "k", &[]).unwrap();
    emu.inject_fault(Fault::new("*", "/events"));
    api.get("/organizations").await;
    emu.reset();
    assert!(emu.api_key(key.id.as_str()).is_none());
    assert!(emu.events().is_empty());
    assert_eq!(emu.request_count("GET", "/organizations"), 0);
    assert_eq!(api.get("/events").await.status, StatusCode::OK);
    // New ids still sort after old ones, so old cursors keep their meaning.
    let org2 = emu.create_organization("Beta").unwrap();
    assert!(org2.id > org.id);
}

/// The order of the WorkOS routes' gate: the secret is checked first, so a
/// request without one is refused before it is counted or can take a
/// fault; an authenticated request is counted and may take the fault.
#[tokio::test]
async fn an_unauthenticated_request_takes_no_fault_and_is_not_counted() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let http = reqwest::Client::new();
    let url = format!("{}/api_keys/validations", emu.base_url());
    let without_secret = || http.post(&url).json(&json!({"value": "sk_x"})).send();

    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .status(503)
            .times(1),
    );
    for _ in 0..3 {
        let refused = without_secret().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(refused.headers().contains_key("x-request-id"));
    }
    assert_eq!(
        emu.request_count("POST", "/api_keys/validations"),
        0,
        "unauthenticated requests are not counted"
    );
    // The fault is still there for the test's own, authenticated request.
    let faulted = api
        .post("/api_keys/validations", json!({"value": "sk_x"}))
        .await;
    assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(emu.request_count("POST", "/api_keys/validations"), 1);
    let passed = api
        .post("/api_keys/validations", json!({"value": "sk_x"}))
        .await;
    assert_eq!(passed.status, StatusCode::OK, "the fault is spent");

    // A pass-through fault's delay applies to authenticated requests only.
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .delay(Duration::from_millis(200))
            .pass_through()
            .times(1),
    );
    let started = Instant::now();
    assert_eq!(
        without_secret().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(started.elapsed() < Duration::from_millis(200));
    let started = Instant::now();
    let delayed = api
        .post("/api_keys/validations", json!({"value": "sk_x"}))
        .await;
    assert_eq!(delayed.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(emu.request_count("POST", "/api_keys/validations"), 3);
}

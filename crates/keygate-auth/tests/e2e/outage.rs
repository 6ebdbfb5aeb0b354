//! A failing key service gives 503, never 401; cached keys keep working.

use std::time::Duration;

use keygate_auth::ApiKeyAuth;
use keygate_emulator::Fault;
use reqwest::StatusCode;
use reqwest::header::{RETRY_AFTER, WWW_AUTHENTICATE};

use crate::support::{
    App, VALIDATIONS, assert_no_key_logged, auth, client, emulator, org_key, validations,
};

#[tokio::test]
async fn a_500_on_a_cold_key_is_503_and_not_cached() {
    let emu = emulator().await;
    let auth = auth(&emu).retry_after(Duration::from_secs(2)).build();
    let app = App::with_auth(auth.clone()).await;
    let (_, value) = org_key(&emu, &["posts:read"]);
    emu.inject_fault(Fault::new(VALIDATIONS.0, VALIDATIONS.1).status(500));

    for _ in 0..3 {
        let response = app.get("/whoami", Some(&value)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    }
    assert_eq!(
        auth.stats().errors,
        3,
        "each request asked again: errors are not cached"
    );

    emu.clear_faults();
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );
    assert_no_key_logged();
}

#[tokio::test]
async fn a_429_passes_its_retry_after_on() {
    let emu = emulator().await;
    let app = App::with_auth(auth(&emu).build()).await;
    let (_, value) = org_key(&emu, &["posts:read"]);
    emu.inject_fault(
        Fault::new(VALIDATIONS.0, VALIDATIONS.1)
            .status(429)
            .header("Retry-After", "9")
            .times(1),
    );
    let response = app.get("/whoami", Some(&value)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "9");
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );
    assert_no_key_logged();
}

#[tokio::test]
async fn with_the_emulator_down_cached_keys_work_and_cold_keys_get_503() {
    let emu = emulator().await;
    let app = App::with_auth(auth(&emu).build()).await;
    let (_, warm) = org_key(&emu, &["posts:read"]);
    let (_, cold) = org_key(&emu, &["posts:read"]);
    assert_eq!(
        app.get("/whoami", Some(&warm)).await.status(),
        StatusCode::OK
    );
    assert!(validations(&emu) >= 1);

    emu.shutdown().await;
    let warm_status = app.get("/whoami", Some(&warm)).await.status();
    let cold_status = app.get("/whoami", Some(&cold)).await.status();
    println!("FIGURE emulator down: cached key -> {warm_status}, cold key -> {cold_status}");
    assert_eq!(warm_status, StatusCode::OK);
    assert_eq!(cold_status, StatusCode::SERVICE_UNAVAILABLE);
    assert_no_key_logged();
}

#[tokio::test]
async fn nothing_listening_is_503() {
    // A port that was free a moment ago: connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let secret = keygate_types::SecretString::from("sk_test_unused_environment_secret");
    let auth = ApiKeyAuth::new(client(&format!("http://{addr}"), &secret));
    let app = App::with_auth(auth).await;
    let response = app.get("/whoami", Some("sk_cold_key_0123456789")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(RETRY_AFTER));
}

#[tokio::test]
async fn a_401_from_the_key_service_is_503_not_401() {
    // A wrong environment secret: the service refuses *us*, which says
    // nothing about the caller's key.
    let emu = emulator().await;
    let wrong = keygate_types::SecretString::from("sk_test_not_this_environment");
    let app = App::with_auth(ApiKeyAuth::new(client(emu.base_url(), &wrong))).await;
    let (_, value) = org_key(&emu, &["posts:read"]);
    let response = app.get("/whoami", Some(&value)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    assert_no_key_logged();
}

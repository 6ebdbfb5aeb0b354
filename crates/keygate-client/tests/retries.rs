//! Retries, timeouts and unreadable answers, driven by the emulator's faults.

mod fixture;

use std::time::{Duration, Instant};

use fixture::{builder, org_key, start};
use http::StatusCode;
use keygate_client::{Client, Error, IdempotencyKey};
use keygate_emulator::Fault;
use serde_json::json;

const VALIDATIONS: &str = "/api_keys/validations";
const CREATE_ORG_KEY: &str = "/organizations/{id}/api_keys";

#[tokio::test]
async fn two_500s_then_success() {
    let s = start().await;
    let org = s.emu.create_organization("Acme").unwrap();
    let key = s.emu.create_organization_key(&org.id, "k", &[]).unwrap();
    s.emu
        .inject_fault(Fault::new("POST", VALIDATIONS).status(500).times(2));
    let valid = s
        .client
        .validate_api_key(key.value.expose_secret())
        .await
        .expect("the third attempt succeeds");
    assert_eq!(valid.map(|k| k.id), Some(key.id.clone()));
    assert_eq!(s.emu.request_count("POST", VALIDATIONS), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let s = start().await;
    s.emu
        .inject_fault(Fault::new("POST", VALIDATIONS).status(503));
    let err = s.client.validate_api_key("sk_x").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert!(err.is_retryable());
    assert_eq!(
        s.emu.request_count("POST", VALIDATIONS),
        3,
        "1 + max_retries"
    );

    let once = builder(&s.emu).max_retries(0).build().unwrap();
    once.validate_api_key("sk_x").await.unwrap_err();
    assert_eq!(s.emu.request_count("POST", VALIDATIONS), 4);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let s = start().await;
    s.emu.inject_fault(
        Fault::new("POST", VALIDATIONS)
            .status(429)
            .header("Retry-After", "1")
            .times(1),
    );
    let started = Instant::now();
    let answer = s.client.validate_api_key("sk_unknown").await.unwrap();
    let waited = started.elapsed();
    eprintln!("429 with Retry-After: 1 waited out: success after {waited:?}, 2 requests");
    assert_eq!(answer, None);
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    assert_eq!(s.emu.request_count("POST", VALIDATIONS), 2);
}

#[tokio::test]
async fn a_retry_after_over_the_cap_fails_at_once_and_says_how_long() {
    let s = start().await;
    s.emu.inject_fault(
        Fault::new("POST", VALIDATIONS)
            .status(429)
            .header("Retry-After", "60")
            .times(1),
    );
    let started = Instant::now();
    let err = s.client.validate_api_key("sk_unknown").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    assert!(err.is_retryable());
    assert_eq!(s.emu.request_count("POST", VALIDATIONS), 1);
}

#[tokio::test]
async fn a_create_without_idempotency_key_is_not_retried() {
    let s = start().await;
    let org = s.emu.create_organization("Acme").unwrap();
    s.emu
        .inject_fault(Fault::new("POST", CREATE_ORG_KEY).status(500).times(1));
    let err = s
        .client
        .create_organization_api_key(&org.id, org_key("k", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(s.emu.request_count("POST", CREATE_ORG_KEY), 1);

    // A 429 is not retried either: the brief is "creates only with a key".
    s.emu.inject_fault(
        Fault::new("POST", CREATE_ORG_KEY)
            .status(429)
            .header("Retry-After", "0")
            .times(1),
    );
    let err = s
        .client
        .create_organization_api_key(&org.id, org_key("k", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(s.emu.request_count("POST", CREATE_ORG_KEY), 2);
}

#[tokio::test]
async fn a_create_with_idempotency_key_is_retried() {
    let s = start().await;
    let org = s.emu.create_organization("Acme").unwrap();
    s.emu
        .inject_fault(Fault::new("POST", CREATE_ORG_KEY).status(502).times(2));
    let created = s
        .client
        .create_organization_api_key(&org.id, org_key("k", &[]))
        .idempotency_key(IdempotencyKey::random())
        .await
        .expect("retried until it succeeds");
    assert_eq!(created.name, "k");
    assert_eq!(s.emu.request_count("POST", CREATE_ORG_KEY), 3);
}

#[tokio::test]
async fn a_delay_past_the_timeout_is_a_timeout_in_about_the_timeout() {
    let s = start().await;
    s.emu.inject_fault(
        Fault::new("POST", VALIDATIONS)
            .delay(Duration::from_secs(3))
            .pass_through(),
    );
    let timeout = Duration::from_millis(300);
    let client = builder(&s.emu)
        .timeout(timeout)
        .max_retries(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.validate_api_key("sk_x").await.unwrap_err();
    let took = started.elapsed();
    eprintln!("3 s delay, 300 ms timeout: `{err}` after {took:?}");
    assert!(err.is_timeout(), "{err:?}");
    assert!(matches!(err, Error::Timeout { timeout: t, .. } if t == timeout));
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
    assert!(took >= timeout, "gave up after {took:?}");
    assert!(took < timeout + Duration::from_millis(700), "took {took:?}");
    assert!(err.to_string().contains("300ms"), "{err}");
}

#[tokio::test]
async fn a_timed_out_read_is_retried() {
    let s = start().await;
    s.emu.inject_fault(
        Fault::new("POST", VALIDATIONS)
            .delay(Duration::from_secs(3))
            .pass_through()
            .times(1),
    );
    let client = builder(&s.emu)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    assert_eq!(client.validate_api_key("sk_x").await.unwrap(), None);
    assert_eq!(s.emu.request_count("POST", VALIDATIONS), 2);
}

#[tokio::test]
async fn unreadable_answers_are_errors_never_invalid_keys() {
    let s = start().await;
    for body in [json!("not json at all"), json!({}), json!({"api_key": 42})] {
        s.emu.clear_faults();
        s.emu.inject_fault(
            Fault::new("POST", VALIDATIONS)
                .status(200)
                .body(body.clone()),
        );
        let err = s.client.validate_api_key("sk_x").await.unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{body}: {err:?}");
        assert_eq!(err.status(), Some(StatusCode::OK));
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn an_error_page_that_is_not_json_still_gives_a_typed_error() {
    let s = start().await;
    s.emu.inject_fault(
        Fault::new("GET", "/organizations")
            .status(502)
            .body("<html>bad gateway</html>"),
    );
    let err = s
        .client
        .list_organizations(&Default::default())
        .await
        .unwrap_err();
    let api = err.api_error().expect("an API error");
    assert_eq!(api.status, StatusCode::BAD_GATEWAY);
    assert_eq!(api.code(), "");
    assert!(api.message().contains("unreadable"), "{api}");
}

#[tokio::test]
async fn an_unreachable_service_is_a_transport_error() {
    // Bind a port, then free it: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::builder()
        .secret("sk_test_x")
        .base_url(format!("http://127.0.0.1:{port}"))
        .max_retries(1)
        .build()
        .unwrap();
    let err = client.validate_api_key("sk_x").await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let s = start().await;
    s.emu.inject_fault(
        Fault::new("POST", VALIDATIONS)
            .status(307)
            .header("Location", "http://127.0.0.1:9/steal")
            .times(1),
    );
    let err = s.client.validate_api_key("sk_x").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::TEMPORARY_REDIRECT));
    assert!(!err.is_retryable());
    assert_eq!(s.emu.request_count("POST", VALIDATIONS), 1);
}

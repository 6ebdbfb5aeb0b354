use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use keygate_types::{OrganizationId, Owner, SecretString, Timestamp};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use crate::cache::tests::ManualClock;
use crate::{
    Anonymous, ApiKeyAuth, ApiKeyPrincipal, AuthRejection, CredentialError, InMemoryValidator,
    InvalidToken,
};

fn org() -> Owner {
    Owner::Organization {
        id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
    }
}

/// An inner service that says who called.
async fn echo(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let who = match (
        request.extensions().get::<ApiKeyPrincipal>(),
        request.extensions().get::<Anonymous>(),
    ) {
        (Some(p), _) => p.id().to_string(),
        (None, Some(_)) => "anonymous".to_owned(),
        (None, None) => "nobody".to_owned(),
    };
    Ok(Response::new(Body::from(who)))
}

fn get(auth: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/");
    if let Some(value) = auth {
        builder = builder.header("authorization", value);
    }
    builder.body(Body::empty()).unwrap()
}

async fn call<V: crate::KeyValidator>(
    auth: &ApiKeyAuth<V>,
    request: Request<Body>,
) -> (StatusCode, Response<Body>, String) {
    let service = ServiceBuilder::new().layer(auth.clone()).service_fn(echo);
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let (parts, body) = response.into_parts();
    let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, Response::from_parts(parts, Body::empty()), body)
}

fn bearer(value: &SecretString) -> String {
    format!("Bearer {}", value.expose_secret())
}

#[tokio::test]
async fn a_valid_key_reaches_the_inner_service_and_the_second_use_is_a_hit() {
    let validator = InMemoryValidator::new();
    let (value, key) = validator.issue("ci", org(), ["posts:read"]);
    let auth = ApiKeyAuth::new(validator.clone());
    for _ in 0..3 {
        let (status, _, body) = call(&auth, get(Some(&bearer(&value)))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, key.id.as_str()));
    }
    assert_eq!(validator.calls(), 1);
    let stats = auth.stats();
    assert_eq!((stats.misses, stats.hits), (1, 2));
}

#[tokio::test]
async fn no_credential_is_401_with_the_realm_unless_optional() {
    let auth = ApiKeyAuth::new(InMemoryValidator::new());
    let (status, response, body) = call(&auth, get(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="api""#
    );
    assert!(body.contains("no API key was sent"));
    assert_eq!(
        response.extensions().get::<AuthRejection>(),
        Some(&AuthRejection::MissingCredential)
    );

    let optional = ApiKeyAuth::builder(InMemoryValidator::new())
        .optional()
        .build();
    let (status, _, body) = call(&optional, get(None)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "anonymous"));
    // Optional does not mean "anything goes": a bad key is still refused.
    let (status, _, _) = call(&optional, get(Some("Bearer sk_nope"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&optional, get(Some("Bearer"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_precheck_refuses_without_a_call() {
    let validator = InMemoryValidator::new();
    let auth = ApiKeyAuth::builder(validator.clone())
        .required_prefix("sk_")
        .build();
    let (status, response, _) = call(&auth, get(Some("Bearer pk_live_123"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.extensions().get::<AuthRejection>(),
        Some(&AuthRejection::InvalidToken(InvalidToken::Precheck))
    );
    assert_eq!(validator.calls(), 0);
}

#[tokio::test]
async fn malformed_credentials_are_400_without_a_call() {
    let validator = InMemoryValidator::new();
    let auth = ApiKeyAuth::new(validator.clone());
    let (status, response, body) = call(&auth, get(Some("Bearer a b"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_request""#)
    );
    assert!(body.contains("\"error\":\"invalid_request\""));
    assert_eq!(
        response.extensions().get::<AuthRejection>(),
        Some(&AuthRejection::Credential(CredentialError::NotToken68))
    );
    assert_eq!(validator.calls(), 0);
}

#[tokio::test]
async fn an_outage_is_503_never_401_and_a_cached_key_keeps_working() {
    let validator = InMemoryValidator::new();
    let (value, _) = validator.issue("ci", org(), ["posts:read"]);
    let (cold, _) = validator.issue("cold", org(), ["posts:read"]);
    let auth = ApiKeyAuth::builder(validator.clone())
        .retry_after(Duration::from_secs(3))
        .build();
    assert_eq!(
        call(&auth, get(Some(&bearer(&value)))).await.0,
        StatusCode::OK
    );

    validator.set_unavailable(true);
    let (status, response, body) = call(&auth, get(Some(&bearer(&cold)))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "3");
    assert!(response.headers().get("www-authenticate").is_none());
    assert!(body.contains("temporarily_unavailable"));
    // Not cached: the next request asks again.
    call(&auth, get(Some(&bearer(&cold)))).await;
    assert_eq!(auth.stats().errors, 2);
    // The cached key is still fine.
    assert_eq!(
        call(&auth, get(Some(&bearer(&value)))).await.0,
        StatusCode::OK
    );

    validator.set_unavailable(false);
    assert_eq!(
        call(&auth, get(Some(&bearer(&cold)))).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn expires_at_is_checked_on_every_hit() {
    let now = Timestamp::now();
    let clock = ManualClock(Arc::new(Mutex::new(now)));
    let validator = InMemoryValidator::new();
    let (value, mut key) = validator.issue("ci", org(), ["posts:read"]);
    key.expires_at = Some(now.saturating_add(time::Duration::hours(1)));
    validator.insert(&value, key.clone());
    let auth = ApiKeyAuth::builder(validator.clone())
        .clock(clock.clone())
        .build();
    assert_eq!(
        call(&auth, get(Some(&bearer(&value)))).await.0,
        StatusCode::OK
    );
    *clock.0.lock().unwrap() = key.expires_at.unwrap();
    let (status, response, _) = call(&auth, get(Some(&bearer(&value)))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.extensions().get::<AuthRejection>(),
        Some(&AuthRejection::InvalidToken(InvalidToken::Expired))
    );
    assert_eq!(
        validator.calls(),
        1,
        "the hit answered, not the key service"
    );
}

#[tokio::test]
async fn invalidate_id_makes_the_next_request_revalidate() {
    let validator = InMemoryValidator::new();
    let (value, key) = validator.issue("ci", org(), ["posts:read"]);
    let auth = ApiKeyAuth::new(validator.clone());
    call(&auth, get(Some(&bearer(&value)))).await;
    validator.remove(&value);
    // Still cached...
    assert_eq!(
        call(&auth, get(Some(&bearer(&value)))).await.0,
        StatusCode::OK
    );
    assert!(auth.invalidate_id(&key.id).await.unwrap());
    // ...until invalidated.
    assert_eq!(
        call(&auth, get(Some(&bearer(&value)))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(validator.calls(), 2);
}

#[tokio::test]
async fn works_for_a_plain_tower_service() {
    let validator = InMemoryValidator::new();
    let (value, _) = validator.issue("ci", org(), ["posts:read"]);
    let service = ServiceBuilder::new()
        .layer(ApiKeyAuth::new(validator))
        .service(service_fn(|_req: Request<String>| async {
            Ok::<_, Infallible>(Response::new(http_body_util::Full::new(
                bytes::Bytes::from_static(b"ok"),
            )))
        }));
    let request = Request::get("/")
        .header("authorization", bearer(&value))
        .body(String::new())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_usage_meter_counts_each_request_a_key_lets_through() {
    let validator = InMemoryValidator::new();
    let (value, key) = validator.issue("ci", org(), ["posts:read"]);
    let (other, other_key) = validator.issue("other", org(), ["posts:read"]);
    let meter = crate::usage::UsageMeter::new();
    let auth = ApiKeyAuth::builder(validator.clone())
        .usage(meter.clone())
        .build();
    // A miss, then hits.
    for _ in 0..5 {
        assert_eq!(
            call(&auth, get(Some(&bearer(&value)))).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        call(&auth, get(Some(&bearer(&other)))).await.0,
        StatusCode::OK
    );
    // Refusals are not uses of any key.
    assert_eq!(
        call(&auth, get(Some("Bearer sk_unknown"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call(&auth, get(None)).await.0, StatusCode::UNAUTHORIZED);

    let usage = meter.usage(&key.id);
    assert_eq!((usage.last_24_hours, usage.last_30_days), (5, 5));
    assert!(usage.last_used_at.is_some());
    assert_eq!(meter.usage(&other_key.id).last_24_hours, 1);
    // Counted again after a read, on the same cached principal.
    call(&auth, get(Some(&bearer(&value)))).await;
    assert_eq!(meter.usage(&key.id).last_24_hours, 6);
}

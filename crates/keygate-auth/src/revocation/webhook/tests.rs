use axum::http::HeaderMap;
use keygate_types::{ApiKey, Event, EventId, EventPayload, Timestamp};
use serde_json::Map;

use super::*;
use crate::InMemoryValidator;
use crate::cache::tests::api_key;

const SECRET: &str = "whsec_unit_test";

fn event(n: u32, revoked: bool, key: ApiKey) -> Vec<u8> {
    let payload = if revoked {
        EventPayload::ApiKeyRevoked(key)
    } else {
        EventPayload::ApiKeyCreated(key)
    };
    let event = Event {
        id: EventId::new_unchecked(format!("event_{n:026}")),
        payload,
        created_at: Timestamp::now(),
        context: Map::new(),
    };
    serde_json::to_vec(&event).unwrap()
}

fn headers(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(SIGNATURE_HEADER, value.parse().unwrap());
    headers
}

/// A cache holding a valid verdict for key 1 (value `sk_one`).
async fn warm() -> (VerdictCache, ApiKey) {
    let validator = InMemoryValidator::new();
    let key = api_key(1, None);
    validator.insert(&SecretString::from("sk_one"), key.clone());
    let auth = crate::ApiKeyAuth::new(validator);
    let cache = auth.cache().clone();
    let app = tower::ServiceBuilder::new()
        .layer(auth)
        .service(tower::service_fn(
            |_: http::Request<axum::body::Body>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
            },
        ));
    let request = http::Request::get("/")
        .header("authorization", "Bearer sk_one")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    assert_eq!(response.status(), 200);
    (cache, key)
}

#[tokio::test]
async fn a_signed_revocation_invalidates_once() {
    let (cache, key) = warm().await;
    let receiver = WebhookReceiver::new(SECRET, cache.clone());
    let body = event(1, true, key.clone());
    let now = now_ms();
    let signed = headers(&webhook_signature(SECRET.as_bytes(), now, &body));
    let delivery = receiver.receive_at(&signed, &body, now).await.unwrap();
    assert!(matches!(delivery, Delivery::Invalidated(_)));
    assert_eq!(cache.stats().invalidations, 1);

    // Replayed: refused, nothing more invalidated.
    assert_eq!(
        receiver.receive_at(&signed, &body, now + 5).await,
        Err(WebhookError::Replayed)
    );
    // WorkOS retrying (signed anew): acknowledged, nothing more invalidated.
    let resigned = headers(&webhook_signature(SECRET.as_bytes(), now + 10, &body));
    assert!(matches!(
        receiver.receive_at(&resigned, &body, now + 10).await,
        Ok(Delivery::Duplicate(_))
    ));
    assert_eq!(cache.stats().invalidations, 1);
}

#[tokio::test]
async fn forged_stale_and_malformed_deliveries_invalidate_nothing() {
    let (cache, key) = warm().await;
    let receiver = WebhookReceiver::new(SECRET, cache.clone());
    let body = event(2, true, key);
    let now = now_ms();
    let cases = [
        (HeaderMap::new(), WebhookError::MissingSignature),
        (headers("t=1, v1=nothex"), WebhookError::MalformedSignature),
        (
            headers(&webhook_signature(b"not the secret", now, &body)),
            WebhookError::SignatureMismatch,
        ),
        (
            headers(&webhook_signature(SECRET.as_bytes(), now - 181_000, &body)),
            WebhookError::StaleTimestamp,
        ),
        (
            headers(&webhook_signature(SECRET.as_bytes(), now + 181_000, &body)),
            WebhookError::StaleTimestamp,
        ),
    ];
    for (headers, expected) in cases {
        assert_eq!(
            receiver.receive_at(&headers, &body, now).await,
            Err(expected.clone())
        );
        assert!(expected.status().is_client_error());
    }
    // A body changed after signing.
    let signed = headers(&webhook_signature(SECRET.as_bytes(), now, &body));
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(
        receiver.receive_at(&signed, &tampered, now).await,
        Err(WebhookError::SignatureMismatch)
    );
    // Authentic but not an event.
    let junk = b"not json";
    let signed = headers(&webhook_signature(SECRET.as_bytes(), now, junk));
    assert_eq!(
        receiver.receive_at(&signed, junk, now).await,
        Err(WebhookError::MalformedEvent)
    );
    assert_eq!(cache.stats().invalidations, 0);
    assert!(cache.lookup(&crate::cache::digest("sk_one")).is_some());
}

#[tokio::test]
async fn other_events_are_acknowledged_and_ignored() {
    let (cache, key) = warm().await;
    let receiver = WebhookReceiver::new(SECRET, cache.clone());
    let body = event(3, false, key);
    let now = now_ms();
    let signed = headers(&webhook_signature(SECRET.as_bytes(), now, &body));
    assert!(matches!(
        receiver.receive_at(&signed, &body, now).await,
        Ok(Delivery::Ignored(_))
    ));
    assert_eq!(cache.stats().invalidations, 0);
}

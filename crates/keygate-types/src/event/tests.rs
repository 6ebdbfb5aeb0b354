//! The event envelope's wire round trips.

use super::*;
use serde_json::json;

fn key() -> Value {
    json!({
        "object": "api_key",
        "id": "api_key_01HZY3K2J5QW8N7X6V4T3R2P1M",
        "owner": {"type": "organization", "id": "org_01HZY3K2J5QW8N7X6V4T3R2P1M"},
        "name": "ci",
        "obfuscated_value": "sk_…p1mq",
        "last_used_at": null,
        "expires_at": null,
        "permissions": [],
        "created_at": "2026-01-15T12:00:00.000Z",
        "updated_at": "2026-01-15T12:00:00.000Z"
    })
}

#[test]
fn revoked_round_trip() {
    let v = json!({
        "object": "event",
        "id": "event_01HZY3K2J5QW8N7X6V4T3R2P1M",
        "event": "api_key.revoked",
        "data": key(),
        "created_at": "2026-01-15T12:00:00.000Z",
        "context": {}
    });
    let e: Event = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(e.payload.name(), API_KEY_REVOKED);
    assert_eq!(
        e.payload.api_key().unwrap().id,
        "api_key_01HZY3K2J5QW8N7X6V4T3R2P1M"
    );
    assert_eq!(serde_json::to_value(&e).unwrap(), v);
}

#[test]
fn updated_carries_previous_attributes() {
    let mut data = key();
    data["previous_attributes"] = json!({"expires_at": null});
    let v = json!({
        "object": "event",
        "id": "event_01HZY3K2J5QW8N7X6V4T3R2P1M",
        "event": "api_key.updated",
        "data": data,
        "created_at": "2026-01-15T12:00:00.000Z",
        "context": {}
    });
    let e: Event = serde_json::from_value(v.clone()).unwrap();
    match &e.payload {
        EventPayload::ApiKeyUpdated {
            previous_attributes,
            ..
        } => {
            assert_eq!(previous_attributes.get("expires_at"), Some(&Value::Null));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(serde_json::to_value(&e).unwrap(), v);
}

#[test]
fn unknown_events_are_kept() {
    let v = json!({
        "object": "event",
        "id": "event_01HZY3K2J5QW8N7X6V4T3R2P1M",
        "event": "user.created",
        "data": {"id": "user_x"},
        "created_at": "2026-01-15T12:00:00.000Z",
        "context": {}
    });
    let e: Event = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(e.payload.name(), "user.created");
    assert!(e.payload.api_key().is_none());
    assert_eq!(serde_json::to_value(&e).unwrap(), v);
}

fn membership(status: &str) -> Value {
    json!({
        "object": "organization_membership",
        "id": "om_01HZY3K2J5QW8N7X6V4T3R2P1M",
        "user_id": "user_01HZY3K2J5QW8N7X6V4T3R2P1M",
        "organization_id": "org_01HZY3K2J5QW8N7X6V4T3R2P1M",
        "organization_name": "Acme",
        "status": status,
        "directory_managed": false,
        "role": {"slug": "member"},
        "roles": [{"slug": "member"}],
        "custom_attributes": {},
        "created_at": "2026-01-15T12:00:00.000Z",
        "updated_at": "2026-01-15T12:00:00.000Z"
    })
}

fn event(name: &str, data: Value) -> Value {
    json!({
        "object": "event",
        "id": "event_01HZY3K2J5QW8N7X6V4T3R2P1M",
        "event": name,
        "data": data,
        "created_at": "2026-01-15T12:00:00.000Z",
        "context": {}
    })
}

#[test]
fn membership_events_round_trip_and_say_which_end_a_membership() {
    let cases = [
        (ORGANIZATION_MEMBERSHIP_CREATED, "active", false),
        (ORGANIZATION_MEMBERSHIP_UPDATED, "active", false),
        (ORGANIZATION_MEMBERSHIP_UPDATED, "inactive", true),
        (ORGANIZATION_MEMBERSHIP_UPDATED, "pending", true),
        (ORGANIZATION_MEMBERSHIP_DELETED, "active", true),
        (ORGANIZATION_MEMBERSHIP_DELETED, "inactive", true),
    ];
    for (name, status, ends) in cases {
        let v = event(name, membership(status));
        let e: Event = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(e.payload.name(), name);
        let m = e.payload.membership().expect("a membership event");
        assert_eq!(m.user_id, "user_01HZY3K2J5QW8N7X6V4T3R2P1M");
        assert_eq!(
            e.payload.organization_id().map(|o| o.as_str()),
            Some("org_01HZY3K2J5QW8N7X6V4T3R2P1M")
        );
        assert_eq!(
            e.payload.ended_membership().is_some(),
            ends,
            "{name} {status}"
        );
        assert!(e.payload.api_key().is_none());
        assert_eq!(serde_json::to_value(&e).unwrap(), v, "{name} {status}");
    }
}

#[test]
fn a_known_event_with_unreadable_data_is_kept_as_malformed() {
    for name in [API_KEY_REVOKED, ORGANIZATION_MEMBERSHIP_UPDATED] {
        let v = event(name, json!({"id": 42}));
        let e: Event = serde_json::from_value(v.clone()).expect("the envelope is fine");
        match &e.payload {
            EventPayload::Malformed { event, error, .. } => {
                assert_eq!(event, name);
                assert!(!error.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(e.payload.api_key().is_none() && e.payload.ended_membership().is_none());
        assert_eq!(serde_json::to_value(&e).unwrap(), v);
    }
    // A broken envelope is still an error.
    assert!(serde_json::from_value::<Event>(json!({"object": "event", "event": "x"})).is_err());
}

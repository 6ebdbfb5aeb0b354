//! Events, as served by `GET /events` and delivered to webhooks.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{ApiKey, EventId, Order, OrganizationId, Timestamp};

/// `api_key.created`: a key was created.
pub const API_KEY_CREATED: &str = "api_key.created";
/// `api_key.revoked`: a key was deleted, or revoked with its owner.
pub const API_KEY_REVOKED: &str = "api_key.revoked";
/// `api_key.updated`: a key's expiry changed.
pub const API_KEY_UPDATED: &str = "api_key.updated";

/// One event: `{"object":"event","id","event","data","created_at","context"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `event_…`; ULIDs, so ids sort in the order events happened.
    pub id: EventId,
    /// What happened, with its data.
    pub payload: EventPayload,
    /// When it happened.
    pub created_at: Timestamp,
    /// Extra context; `{}` from the emulator.
    pub context: Map<String, Value>,
}

/// What an event says happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventPayload {
    /// `api_key.created`.
    ApiKeyCreated(ApiKey),
    /// `api_key.revoked`.
    ApiKeyRevoked(ApiKey),
    /// `api_key.updated`.
    ApiKeyUpdated {
        /// The key as it is now.
        api_key: ApiKey,
        /// The changed attributes' previous values, e.g. `{"expires_at": null}`.
        previous_attributes: Map<String, Value>,
    },
    /// Any other event, kept as it came.
    Other {
        /// The event's name.
        event: String,
        /// Its data.
        data: Value,
    },
}

impl EventPayload {
    /// The event's name, such as `api_key.revoked`.
    pub fn name(&self) -> &str {
        match self {
            EventPayload::ApiKeyCreated(_) => API_KEY_CREATED,
            EventPayload::ApiKeyRevoked(_) => API_KEY_REVOKED,
            EventPayload::ApiKeyUpdated { .. } => API_KEY_UPDATED,
            EventPayload::Other { event, .. } => event,
        }
    }

    /// The API key the event is about, for the `api_key.*` events.
    pub fn api_key(&self) -> Option<&ApiKey> {
        match self {
            EventPayload::ApiKeyCreated(k) | EventPayload::ApiKeyRevoked(k) => Some(k),
            EventPayload::ApiKeyUpdated { api_key, .. } => Some(api_key),
            EventPayload::Other { .. } => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "object", rename = "event")]
struct RawEvent {
    id: EventId,
    event: String,
    data: Value,
    created_at: Timestamp,
    #[serde(default)]
    context: Option<Map<String, Value>>,
}

#[derive(Serialize, Deserialize)]
struct UpdatedData {
    #[serde(flatten)]
    api_key: ApiKey,
    #[serde(default)]
    previous_attributes: Map<String, Value>,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let data = match &self.payload {
            EventPayload::ApiKeyCreated(k) | EventPayload::ApiKeyRevoked(k) => {
                serde_json::to_value(k)
            }
            EventPayload::ApiKeyUpdated {
                api_key,
                previous_attributes,
            } => serde_json::to_value(UpdatedData {
                api_key: api_key.clone(),
                previous_attributes: previous_attributes.clone(),
            }),
            EventPayload::Other { data, .. } => Ok(data.clone()),
        }
        .map_err(S::Error::custom)?;
        RawEvent {
            id: self.id.clone(),
            event: self.payload.name().to_owned(),
            data,
            created_at: self.created_at,
            context: Some(self.context.clone()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawEvent::deserialize(deserializer)?;
        let payload = match raw.event.as_str() {
            API_KEY_CREATED => EventPayload::ApiKeyCreated(
                serde_json::from_value(raw.data).map_err(D::Error::custom)?,
            ),
            API_KEY_REVOKED => EventPayload::ApiKeyRevoked(
                serde_json::from_value(raw.data).map_err(D::Error::custom)?,
            ),
            API_KEY_UPDATED => {
                let d: UpdatedData = serde_json::from_value(raw.data).map_err(D::Error::custom)?;
                EventPayload::ApiKeyUpdated {
                    api_key: d.api_key,
                    previous_attributes: d.previous_attributes,
                }
            }
            _ => EventPayload::Other {
                event: raw.event,
                data: raw.data,
            },
        };
        Ok(Event {
            id: raw.id,
            payload,
            created_at: raw.created_at,
            context: raw.context.unwrap_or_default(),
        })
    }
}

/// Query parameters of `GET /events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsParams {
    /// Only these event names; empty means all.
    pub events: Vec<String>,
    /// Only events after this event id (the poller's cursor).
    pub after: Option<String>,
    /// Page size, 1 to 100.
    pub limit: Option<u8>,
    /// The order; pollers want [`Order::Asc`].
    pub order: Option<Order>,
    /// Only events at or after this time.
    pub range_start: Option<Timestamp>,
    /// Only events before this time.
    pub range_end: Option<Timestamp>,
    /// Only events of this organization.
    pub organization_id: Option<OrganizationId>,
}

#[cfg(test)]
mod tests {
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
}

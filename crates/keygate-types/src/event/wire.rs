//! The event envelope on the wire: decoded by its `event` name into a typed
//! payload, encoded back to the same JSON.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::*;

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
            EventPayload::MembershipCreated(m)
            | EventPayload::MembershipUpdated(m)
            | EventPayload::MembershipDeleted(m) => serde_json::to_value(m),
            EventPayload::SessionRevoked(s) => serde_json::to_value(s),
            EventPayload::Malformed { data, .. } | EventPayload::Other { data, .. } => {
                Ok(data.clone())
            }
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

/// The typed payload of a known event, or why its data does not fit.
fn typed(event: &str, data: &Value) -> Option<Result<EventPayload, serde_json::Error>> {
    fn read<T: serde::de::DeserializeOwned>(data: &Value) -> Result<T, serde_json::Error> {
        T::deserialize(data)
    }
    Some(match event {
        API_KEY_CREATED => read(data).map(EventPayload::ApiKeyCreated),
        API_KEY_REVOKED => read(data).map(EventPayload::ApiKeyRevoked),
        API_KEY_UPDATED => read::<UpdatedData>(data).map(|d| EventPayload::ApiKeyUpdated {
            api_key: d.api_key,
            previous_attributes: d.previous_attributes,
        }),
        ORGANIZATION_MEMBERSHIP_CREATED => read(data).map(EventPayload::MembershipCreated),
        ORGANIZATION_MEMBERSHIP_UPDATED => read(data).map(EventPayload::MembershipUpdated),
        ORGANIZATION_MEMBERSHIP_DELETED => read(data).map(EventPayload::MembershipDeleted),
        SESSION_REVOKED => read(data).map(EventPayload::SessionRevoked),
        _ => return None,
    })
}

impl<'de> Deserialize<'de> for Event {
    /// Fails only on a broken envelope; a known event whose `data` has the
    /// wrong shape becomes [`EventPayload::Malformed`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawEvent::deserialize(deserializer)?;
        let payload = match typed(&raw.event, &raw.data) {
            Some(Ok(payload)) => payload,
            Some(Err(error)) => EventPayload::Malformed {
                event: raw.event,
                data: raw.data,
                error: error.to_string(),
            },
            None => EventPayload::Other {
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

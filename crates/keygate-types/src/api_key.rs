//! API keys, their owners, and the bodies of the API-key endpoints.

use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ApiKeyId, OrganizationId, SecretString, Timestamp, UserId};

/// Who an API key belongs to.
///
/// On the wire: `{"type":"organization","id":"org_…"}` or
/// `{"type":"user","id":"user_…","organization_id":"org_…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Owner {
    /// The key belongs to an organization.
    Organization {
        /// The organization.
        id: OrganizationId,
    },
    /// The key belongs to a user, acting within one organization.
    User {
        /// The user.
        id: UserId,
        /// The organization the key acts in; the user's membership there must be active.
        organization_id: OrganizationId,
    },
}

impl Owner {
    /// The organization the key acts for, whichever kind of owner holds it.
    pub fn organization_id(&self) -> &OrganizationId {
        match self {
            Owner::Organization { id } => id,
            Owner::User {
                organization_id, ..
            } => organization_id,
        }
    }

    /// The owner's own id: the organization's or the user's.
    pub fn id(&self) -> &str {
        match self {
            Owner::Organization { id } => id.as_str(),
            Owner::User { id, .. } => id.as_str(),
        }
    }

    /// The user, for a user-owned key.
    pub fn user_id(&self) -> Option<&UserId> {
        match self {
            Owner::Organization { .. } => None,
            Owner::User { id, .. } => Some(id),
        }
    }

    /// `"organization"` or `"user"`, as on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Owner::Organization { .. } => "organization",
            Owner::User { .. } => "user",
        }
    }
}

/// An API key as the key service describes it. Never holds the key's value.
///
/// WorkOS's ten fields are always written, nullable ones as `null`. Reading
/// tolerates a missing `expires_at` (older payloads) and unknown fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "api_key")]
pub struct ApiKey {
    /// `api_key_…`.
    pub id: ApiKeyId,
    /// Who the key belongs to.
    pub owner: Owner,
    /// A human-readable name.
    pub name: String,
    /// A display form of the value, such as `sk_…a1b2`; opaque to clients.
    pub obfuscated_value: String,
    /// When the key last passed validation.
    pub last_used_at: Option<Timestamp>,
    /// When the key stops being valid; `None` means never.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// The permission slugs granted to the key, exactly as stored. An unknown
    /// string grants nothing; matching is exact.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// When the key was created.
    pub created_at: Timestamp,
    /// When the key was last changed.
    pub updated_at: Timestamp,
    /// The agent registration the key was issued for (`agent_reg_…`), when
    /// WorkOS issued it to an AI agent. Not part of WorkOS's key object: the
    /// validation answers it beside the key
    /// ([`ValidationResponse::agent_registration_id`]), and a validator copies
    /// it here so that the caller's principal carries it. Written only when
    /// present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_registration_id: Option<String>,
}

impl ApiKey {
    /// Whether the key grants `permission` (exact match).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// Whether the key has expired at `now`.
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The answer to a create call: the key plus its full value, shown this once.
///
/// It dereferences to [`ApiKey`]. `Debug` redacts the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    /// The key's description.
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The secret value. The service never shows it again.
    pub value: SecretString,
}

impl Deref for CreatedApiKey {
    type Target = ApiKey;

    fn deref(&self) -> &ApiKey {
        &self.api_key
    }
}

/// Body of `POST /organizations/{id}/api_keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrganizationApiKey {
    /// The key's name; must not be empty.
    pub name: String,
    /// Permission slugs to grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// When the key expires; must be in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Body of `POST /user_management/users/{id}/api_keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUserApiKey {
    /// The key's name; must not be empty.
    pub name: String,
    /// The organization the key acts in; the user needs an active membership there.
    pub organization_id: OrganizationId,
    /// Permission slugs to grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// When the key expires; must be in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// What `POST /api_keys/{id}/expire` should do with the key's expiry.
///
/// The wire tells an absent `expires_at` (expire now) from an explicit `null`
/// (clear a scheduled expiry), so this is not an `Option`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expiry {
    /// Expire the key now: no body, `{}`, or a time in the past.
    #[default]
    Now,
    /// Expire the key at this time (now, if it is in the past).
    At(Timestamp),
    /// Clear a scheduled expiry: `{"expires_at": null}`.
    Clear,
}

/// Body of `POST /api_keys/{id}/expire`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpireApiKey {
    /// The expiry to apply.
    pub expiry: Expiry,
}

impl Serialize for ExpireApiKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self.expiry {
            Expiry::Now => {}
            Expiry::At(at) => map.serialize_entry("expires_at", &at)?,
            Expiry::Clear => map.serialize_entry("expires_at", &None::<Timestamp>)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ExpireApiKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            // `Some(None)` is an explicit null; `None` an absent field.
            #[serde(default, deserialize_with = "present")]
            expires_at: Option<Option<Timestamp>>,
        }

        fn present<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Option<Timestamp>>, D::Error> {
            Option::<Timestamp>::deserialize(deserializer).map(Some)
        }

        let raw = Raw::deserialize(deserializer)?;
        Ok(Self {
            expiry: match raw.expires_at {
                None => Expiry::Now,
                Some(None) => Expiry::Clear,
                Some(Some(at)) => Expiry::At(at),
            },
        })
    }
}

/// Body of `POST /api_keys/validations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateApiKey {
    /// The presented key value.
    pub value: SecretString,
}

/// Answer of `POST /api_keys/validations`: the key, or `null` when the value is
/// unknown, revoked, expired or its owner's membership is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationResponse {
    /// The key, when the value is valid. The field must be present: only an
    /// explicit `null` means "invalid", so a body without it is an error.
    #[serde(deserialize_with = "required_nullable")]
    pub api_key: Option<ApiKey>,
    /// The agent registration the key was issued for (`agent_reg_…`), when
    /// WorkOS issued it to an AI agent rather than to a customer; absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_registration_id: Option<String>,
}

/// Reads an `Option` that must be present (as a value or `null`).
fn required_nullable<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ApiKey>, D::Error> {
    Option::<ApiKey>::deserialize(deserializer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> serde_json::Value {
        json!({
            "object": "api_key",
            "id": "api_key_01HZY3K2J5QW8N7X6V4T3R2P1M",
            "owner": {"type": "user", "id": "user_01HZY3K2J5QW8N7X6V4T3R2P1M", "organization_id": "org_01HZY3K2J5QW8N7X6V4T3R2P1M"},
            "name": "ci",
            "obfuscated_value": "sk_…p1mq",
            "last_used_at": null,
            "expires_at": null,
            "permissions": ["posts:read"],
            "created_at": "2026-01-15T12:00:00.000Z",
            "updated_at": "2026-01-15T12:00:00.000Z"
        })
    }

    #[test]
    fn round_trips_all_ten_fields_with_nulls() {
        let key: ApiKey = serde_json::from_value(sample()).unwrap();
        assert_eq!(
            key.owner.organization_id(),
            "org_01HZY3K2J5QW8N7X6V4T3R2P1M"
        );
        assert_eq!(serde_json::to_value(&key).unwrap(), sample());
    }

    #[test]
    fn tolerates_missing_expires_at_and_unknown_fields() {
        let mut v = sample();
        v.as_object_mut().unwrap().remove("expires_at");
        v["brand_new_field"] = json!(true);
        let key: ApiKey = serde_json::from_value(v).unwrap();
        assert_eq!(key.expires_at, None);
    }

    #[test]
    fn created_key_carries_value_and_redacts_it() {
        let mut v = sample();
        v["value"] = json!("sk_supersecretvalue");
        let created: CreatedApiKey = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(created.value.expose_secret(), "sk_supersecretvalue");
        assert!(!format!("{created:?}").contains("supersecret"));
        assert_eq!(serde_json::to_value(&created).unwrap(), v);
    }

    #[test]
    fn expire_body_tells_absent_from_null() {
        let now: ExpireApiKey = serde_json::from_str("{}").unwrap();
        assert_eq!(now.expiry, Expiry::Now);
        let clear: ExpireApiKey = serde_json::from_str(r#"{"expires_at":null}"#).unwrap();
        assert_eq!(clear.expiry, Expiry::Clear);
        let at: ExpireApiKey =
            serde_json::from_str(r#"{"expires_at":"2030-01-01T00:00:00.000Z"}"#).unwrap();
        assert!(matches!(at.expiry, Expiry::At(_)));
        for body in [now, clear, at] {
            let json = serde_json::to_string(&body).unwrap();
            assert_eq!(serde_json::from_str::<ExpireApiKey>(&json).unwrap(), body);
        }
        assert_eq!(serde_json::to_string(&now).unwrap(), "{}");
    }

    #[test]
    fn validation_response_null_is_none() {
        let r: ValidationResponse = serde_json::from_str(r#"{"api_key":null}"#).unwrap();
        assert_eq!(r.api_key, None);
        assert!(serde_json::from_str::<ValidationResponse>("{}").is_err());
    }

    #[test]
    fn validation_response_carries_an_agent_registration_when_there_is_one() {
        let mut body = json!({"api_key": sample()});
        let r: ValidationResponse = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(r.agent_registration_id, None);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            body,
            "absent stays absent"
        );
        body["agent_registration_id"] = json!("agent_reg_01EHZNVPK3SFK441A1RGBFSHRT");
        let r: ValidationResponse = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(
            r.agent_registration_id.as_deref(),
            Some("agent_reg_01EHZNVPK3SFK441A1RGBFSHRT")
        );
        assert_eq!(serde_json::to_value(&r).unwrap(), body);
    }

    #[test]
    fn a_key_writes_workos_ten_fields_and_its_agent_registration_only_when_known() {
        let key: ApiKey = serde_json::from_value(sample()).unwrap();
        assert_eq!(key.agent_registration_id, None);
        let written = serde_json::to_value(&key).unwrap();
        assert_eq!(
            written.as_object().unwrap().len(),
            10,
            "WorkOS's ten, `object` included"
        );
        assert!(written.get("agent_registration_id").is_none());
        let agent = ApiKey {
            agent_registration_id: Some("agent_reg_01EHZNVPK3SFK441A1RGBFSHRT".into()),
            ..key
        };
        let json = serde_json::to_string(&agent).unwrap();
        assert_eq!(serde_json::from_str::<ApiKey>(&json).unwrap(), agent);
    }
}

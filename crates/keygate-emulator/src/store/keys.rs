//! API keys: creation, listing, expiry, revocation and validation.
//!
//! A key's value exists only in the answer to its creation: the table keeps
//! its SHA-256 digest (to find it again on validation) and, inside the
//! obfuscated value, its last four characters.

use std::collections::{BTreeMap, HashMap};

use keygate_types::{
    ApiKey, ApiKeyId, CreatedApiKey, ErrorBody, Expiry, OrganizationId, Owner, SecretString,
    Timestamp, UserId, codes, validate_permission,
};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Page, PageRequest, Policy, Row, State};
use crate::Error;

/// Base62 characters after `sk_` in a generated value: 43 of them carry
/// about 256 bits.
const VALUE_LEN: usize = 43;

/// A SHA-256 digest of a key value.
pub(crate) type ValueDigest = [u8; 32];

pub(crate) fn digest(value: &str) -> ValueDigest {
    Sha256::digest(value.as_bytes()).into()
}

/// A stored key: its description and the digest of its value. No value.
#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    pub(crate) api_key: ApiKey,
    pub(crate) digest: ValueDigest,
    /// The agent registration the key was issued for, answered beside the
    /// key on validation (`agent_registration_id`).
    pub(crate) agent_registration_id: Option<String>,
}

/// All live keys, by id (in creation order) and by value digest.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    by_id: BTreeMap<ApiKeyId, KeyRecord>,
    by_digest: HashMap<ValueDigest, ApiKeyId>,
}

impl KeyTable {
    pub(crate) fn get(&self, id: &str) -> Option<&ApiKey> {
        self.by_id.get(id).map(|r| &r.api_key)
    }

    #[cfg(feature = "sqlite")]
    pub(crate) fn record(&self, id: &str) -> Option<&KeyRecord> {
        self.by_id.get(id)
    }

    #[cfg(feature = "sqlite")]
    pub(crate) fn restore(&mut self, record: KeyRecord) {
        self.by_digest
            .insert(record.digest, record.api_key.id.clone());
        self.by_id.insert(record.api_key.id.clone(), record);
    }
}

/// What a new key should be.
#[derive(Debug, Clone)]
pub(crate) struct NewKey {
    pub(crate) owner: Owner,
    pub(crate) name: String,
    pub(crate) permissions: Vec<String>,
    pub(crate) expires_at: Option<Timestamp>,
    /// A fixed value (from a seed file); a fresh random one when `None`.
    pub(crate) value: Option<SecretString>,
    /// The agent registration it is issued for, if any.
    pub(crate) agent_registration_id: Option<String>,
}

/// A fresh key value: `sk_` and 43 base62 characters from the thread's CSPRNG.
fn generate_value() -> SecretString {
    let mut value = String::with_capacity(3 + VALUE_LEN);
    value.push_str("sk_");
    value.extend(
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(VALUE_LEN)
            .map(char::from),
    );
    SecretString::new(value)
}

/// `sk_…` and the value's last four characters.
fn obfuscate(value: &str) -> String {
    let tail: String = {
        let chars: Vec<char> = value.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    format!("sk_\u{2026}{tail}")
}

impl State {
    /// Creates a key after checking every rule for its owner.
    pub(crate) fn create_key(
        &mut self,
        new: NewKey,
        now: Timestamp,
    ) -> Result<CreatedApiKey, Error> {
        let user_key = matches!(new.owner, Owner::User { .. });
        match &new.owner {
            Owner::Organization { id } => {
                self.directory.organization(id.as_str())?;
            }
            Owner::User {
                id,
                organization_id,
            } => {
                self.directory.user(id.as_str())?;
                self.directory.organization(organization_id.as_str())?;
                if !self.directory.has_active_membership(id, organization_id) {
                    return Err(Error::Unprocessable(ErrorBody::new(
                        "organization_membership_required",
                        format!(
                            "User '{id}' has no active membership in organization '{organization_id}'."
                        ),
                    )));
                }
            }
        }
        if new.name.trim().is_empty() {
            let body = ErrorBody::new(codes::INVALID_REQUEST_PARAMETERS, "name must not be empty.")
                .with_field_error("name", "name_required");
            return Err(if user_key {
                Error::BadRequest(body)
            } else {
                Error::Unprocessable(body)
            });
        }
        check_permissions(&self.policy, &new.permissions, user_key)?;
        if let Some(at) = new.expires_at
            && at <= now
        {
            return Err(Error::invalid_field(
                "expires_at",
                "expires_at_not_in_future",
                format!("expires_at must be in the future; it is {at}."),
            ));
        }
        let value = new.value.unwrap_or_else(generate_value);
        if value.is_empty() {
            return Err(Error::invalid_field(
                "value",
                "value_required",
                "a key value must not be empty.",
            ));
        }
        let digest = digest(value.expose_secret());
        if self.keys.by_digest.contains_key(&digest) {
            return Err(Error::invalid_field(
                "value",
                "value_taken",
                "another key already has this value.",
            ));
        }
        let id = self.ids.api_key(now);
        let api_key = ApiKey {
            id: id.clone(),
            owner: new.owner,
            name: new.name,
            obfuscated_value: obfuscate(value.expose_secret()),
            last_used_at: None,
            expires_at: new.expires_at,
            permissions: new.permissions,
            created_at: now,
            updated_at: now,
            agent_registration_id: None,
        };
        self.keys.by_digest.insert(digest, id.clone());
        self.keys.by_id.insert(
            id.clone(),
            KeyRecord {
                api_key: api_key.clone(),
                digest,
                agent_registration_id: new.agent_registration_id,
            },
        );
        self.changes.touch(Row::ApiKey(id.to_string()));
        tracing::debug!(key_id = %id, owner = api_key.owner.id(), "api key created");
        self.record_created(&api_key, now);
        Ok(CreatedApiKey { api_key, value })
    }

    /// A page of the organization-owned keys of `org`.
    pub(crate) fn list_organization_keys(
        &self,
        org: &OrganizationId,
        req: &PageRequest,
    ) -> Result<Page<ApiKey>, Error> {
        self.directory.organization(org.as_str())?;
        Ok(self.page_keys(
            req,
            |k| matches!(&k.owner, Owner::Organization { id } if id == org),
        ))
    }

    /// A page of `user`'s keys, optionally in one organization.
    pub(crate) fn list_user_keys(
        &self,
        user: &UserId,
        org: Option<&OrganizationId>,
        req: &PageRequest,
    ) -> Result<Page<ApiKey>, Error> {
        self.directory.user(user.as_str())?;
        Ok(self.page_keys(req, |k| match &k.owner {
            Owner::User {
                id,
                organization_id,
            } => id == user && org.is_none_or(|o| o == organization_id),
            Owner::Organization { .. } => false,
        }))
    }

    fn page_keys(&self, req: &PageRequest, keep: impl Fn(&ApiKey) -> bool) -> Page<ApiKey> {
        let page = req.page(
            self.keys
                .by_id
                .iter()
                .filter(|(_, r)| keep(&r.api_key))
                .map(|(id, r)| (id.as_str(), &r.api_key)),
        );
        Page {
            data: page.data.into_iter().cloned().collect(),
            metadata: page.metadata,
        }
    }

    /// Deletes (revokes) a key.
    pub(crate) fn delete_key(&mut self, id: &str, now: Timestamp) -> Result<(), Error> {
        let record = self
            .keys
            .by_id
            .remove(id)
            .ok_or_else(|| Error::not_found("api_key", id))?;
        self.forget(record, now);
        Ok(())
    }

    /// Revokes every key `doomed` picks, recording an event for each.
    pub(crate) fn revoke_keys_where(
        &mut self,
        now: Timestamp,
        doomed: impl Fn(&ApiKey) -> bool,
    ) -> usize {
        let ids: Vec<ApiKeyId> = self
            .keys
            .by_id
            .values()
            .filter(|r| doomed(&r.api_key))
            .map(|r| r.api_key.id.clone())
            .collect();
        for id in &ids {
            if let Some(record) = self.keys.by_id.remove(id) {
                self.forget(record, now);
            }
        }
        ids.len()
    }

    fn forget(&mut self, record: KeyRecord, now: Timestamp) {
        self.keys.by_digest.remove(&record.digest);
        self.changes
            .touch(Row::ApiKey(record.api_key.id.to_string()));
        tracing::debug!(key_id = %record.api_key.id, "api key revoked");
        self.record_revoked(&record.api_key, now);
    }

    /// Applies an expiry to a key: now, at a time, or cleared.
    pub(crate) fn expire_key(
        &mut self,
        id: &str,
        expiry: Expiry,
        now: Timestamp,
    ) -> Result<ApiKey, Error> {
        let record = self
            .keys
            .by_id
            .get_mut(id)
            .ok_or_else(|| Error::not_found("api_key", id))?;
        let key = &mut record.api_key;
        if key.is_expired_at(now) {
            return Err(Error::Conflict(ErrorBody::new(
                codes::API_KEY_ALREADY_EXPIRED,
                format!("API key '{id}' has already expired."),
            )));
        }
        let previous = key.expires_at;
        key.expires_at = match expiry {
            Expiry::Now => Some(now),
            Expiry::At(at) => Some(at.max(now)),
            Expiry::Clear => None,
        };
        key.updated_at = now;
        let key = key.clone();
        self.changes.touch(Row::ApiKey(key.id.to_string()));
        let mut previous_attributes = Map::new();
        previous_attributes.insert(
            "expires_at".to_owned(),
            previous.map_or(Value::Null, |t| Value::String(t.to_string())),
        );
        tracing::debug!(key_id = %key.id, "api key expiry changed");
        self.record_updated(&key, previous_attributes, now);
        Ok(key)
    }

    /// Looks a presented value up by its [`digest`] (hashed by the caller,
    /// before it takes the lock). `None` for an unknown, revoked or expired
    /// key, or a user key whose membership is not active; otherwise records
    /// the use and returns the key (borrowed: the caller encodes it under the
    /// lock instead of copying it out).
    pub(crate) fn validate(&mut self, digest: &ValueDigest, now: Timestamp) -> Option<&KeyRecord> {
        let id = self.keys.by_digest.get(digest)?;
        let record = self.keys.by_id.get_mut(id)?;
        if record.api_key.is_expired_at(now) {
            return None;
        }
        if let Owner::User {
            id,
            organization_id,
        } = &record.api_key.owner
            && !self.directory.has_active_membership(id, organization_id)
        {
            return None;
        }
        record.api_key.last_used_at = Some(now);
        if self.track_last_use {
            self.changes
                .touch(Row::ApiKey(record.api_key.id.to_string()));
        }
        Some(record)
    }
}

/// Checks each slug's form and that the owner type's allow-list has it.
fn check_permissions(policy: &Policy, permissions: &[String], user_key: bool) -> Result<(), Error> {
    let allowed = if user_key {
        policy.user_permissions.as_ref()
    } else {
        policy.organization_permissions.as_ref()
    };
    for (i, slug) in permissions.iter().enumerate() {
        if let Err(e) = validate_permission(slug) {
            return Err(Error::invalid_field(
                &format!("permissions[{i}]"),
                "invalid_permission",
                format!("permissions[{i}]: {e}."),
            ));
        }
        if allowed.is_some_and(|list| !list.contains(slug)) {
            let owner = if user_key { "user" } else { "organization" };
            let message = format!("Permission '{slug}' is not enabled for {owner} API keys.");
            return Err(if user_key {
                Error::Unprocessable(ErrorBody::new("permission_not_allowed", message))
            } else {
                Error::invalid_field(
                    &format!("permissions[{i}]"),
                    "permission_not_allowed",
                    message,
                )
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_sk_and_43_base62() {
        let v = generate_value();
        let s = v.expose_secret();
        assert!(s.starts_with("sk_"));
        assert_eq!(s.len(), 46);
        assert!(s[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(generate_value(), v);
    }

    #[test]
    fn obfuscated_shows_only_the_last_four() {
        assert_eq!(obfuscate("sk_abcdefgh1234"), "sk_\u{2026}1234");
        assert_eq!(obfuscate("ab"), "sk_\u{2026}ab");
    }
}

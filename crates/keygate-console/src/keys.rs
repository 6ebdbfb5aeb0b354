//! The console's operations on the key service, each checked against the
//! caller's scope before it acts.
//!
//! The invariants, each tested end to end (`tests/api.rs`):
//! 1. An action the scope does not allow answers 403 before any call.
//! 2. A key is acted on only after the key service listed it among the
//!    scope's keys (the organization's own, or the scope user's in that
//!    organization); any other id, well-formed or not, answers 404.
//! 3. No key gets a permission outside the scope's grantable set, by
//!    create or by roll.
//! 4. Every new key, by create or by roll, passes the console's
//!    [`KeyPolicy`]; a rolled key keeps the old key's lifetime, so a key
//!    made to expire never becomes a permanent one by being rolled; an
//!    expiry change keeps the policy too (no clearing a required expiry, no
//!    life past the cap counted from the key's creation).
//! 5. A roll never leaves a new key behind without handing out its value:
//!    if the old key's expiry cannot be set, the new key is deleted.

use std::time::Duration;

use std::collections::HashMap;

use futures_util::{StreamExt, TryStreamExt};
use keygate_client::{Client, IdempotencyKey};
use keygate_types::{
    ApiKey, ApiKeyId, CreateOrganizationApiKey, CreateUserApiKey, CreatedApiKey, Expiry, KeyPolicy,
    ListParams, MAX_LIMIT, Owner, Timestamp, UserId,
};

use crate::error::ConsoleError;
use crate::input::NewKey;
use crate::scope::{Action, Scope};

/// How many members' key listings run at once in a members scope: enough
/// to hide latency, few enough to stay far under the key service's rate
/// limit (6,000 requests a minute per environment).
pub(crate) const MEMBER_LISTINGS_AT_ONCE: usize = 4;

/// Members' emails by user id.
pub(crate) type Owners = HashMap<String, String>;

/// Every item, in pages of the most the service gives at once.
fn all() -> ListParams {
    ListParams {
        limit: Some(MAX_LIMIT),
        ..ListParams::default()
    }
}

/// A roll's outcome: the new key with its value, and the old key as it now
/// is (expiring at the end of the grace).
#[derive(Debug)]
pub(crate) struct Rolled {
    pub(crate) created: CreatedApiKey,
    pub(crate) previous: ApiKey,
}

/// The key service as one caller may use it.
#[derive(Debug)]
pub(crate) struct ScopedKeys<'a> {
    pub(crate) client: &'a Client,
    pub(crate) scope: &'a Scope,
    pub(crate) policy: &'a KeyPolicy,
}

impl ScopedKeys<'_> {
    pub(crate) fn require(&self, action: Action, verb: &str) -> Result<(), ConsoleError> {
        if self.scope.may(action) {
            Ok(())
        } else {
            Err(ConsoleError::action_not_allowed(verb))
        }
    }

    fn in_scope(&self, key: &ApiKey) -> bool {
        key.owner.organization_id() == &self.scope.organization
            && if self.scope.members {
                key.owner.user_id().is_some()
            } else {
                key.owner.user_id() == self.scope.user.as_ref()
            }
    }

    /// Every key in scope, newest first.
    pub(crate) async fn list(&self) -> Result<Vec<ApiKey>, ConsoleError> {
        Ok(self.list_with_owners().await?.0)
    }

    /// Every key in scope, newest first, and for a members scope the
    /// members' emails by user id (to show whose each key is).
    pub(crate) async fn list_with_owners(&self) -> Result<(Vec<ApiKey>, Owners), ConsoleError> {
        self.require(Action::View, "view")?;
        if self.scope.members {
            return self.members_keys().await;
        }
        let params = ListParams {
            limit: Some(MAX_LIMIT),
            ..ListParams::default()
        };
        let stream = match &self.scope.user {
            Some(user) => {
                self.client
                    .stream_user_api_keys(user, Some(&self.scope.organization), params)
            }
            None => self
                .client
                .stream_organization_api_keys(&self.scope.organization, params),
        };
        let keys: Vec<ApiKey> = stream
            .try_collect()
            .await
            .map_err(ConsoleError::from_client)?;
        let keys = keys.into_iter().filter(|k| self.in_scope(k)).collect();
        Ok((keys, Owners::new()))
    }

    /// The user keys of every member: the memberships (paged), then each
    /// member's keys in the organization, [`MEMBER_LISTINGS_AT_ONCE`] at a
    /// time, each paged; and the organization's users, for their emails.
    async fn members_keys(&self) -> Result<(Vec<ApiKey>, Owners), ConsoleError> {
        let org = &self.scope.organization;
        let memberships: Vec<_> = self
            .client
            .stream_memberships(None, Some(org), all())
            .try_collect()
            .await
            .map_err(ConsoleError::from_client)?;
        let mut members: Vec<UserId> = memberships.into_iter().map(|m| m.user_id).collect();
        members.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        members.dedup();
        let listings = futures_util::stream::iter(members.into_iter().map(|user| {
            let client = self.client.clone();
            let org = org.clone();
            async move {
                client
                    .stream_user_api_keys(&user, Some(&org), all())
                    .try_collect::<Vec<ApiKey>>()
                    .await
            }
        }))
        .buffer_unordered(MEMBER_LISTINGS_AT_ONCE)
        .try_collect::<Vec<Vec<ApiKey>>>();
        let users = self
            .client
            .stream_users(Some(org), all())
            .try_collect::<Vec<_>>();
        let (listings, users) = futures_util::future::try_join(listings, users)
            .await
            .map_err(ConsoleError::from_client)?;
        let mut keys: Vec<ApiKey> = listings
            .into_iter()
            .flatten()
            .filter(|k| self.in_scope(k))
            .collect();
        keys.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
        let owners = users
            .into_iter()
            .map(|u| (u.id.to_string(), u.email))
            .collect();
        Ok((keys, owners))
    }

    /// The key `id`, if the key service lists it in scope.
    pub(crate) async fn find(&self, id: &str) -> Result<ApiKey, ConsoleError> {
        if ApiKeyId::parse(id).is_err() {
            return Err(ConsoleError::not_found());
        }
        self.list()
            .await?
            .into_iter()
            .find(|key| key.id.as_str() == id)
            .ok_or_else(ConsoleError::not_found)
    }

    /// Creates a key in scope.
    pub(crate) async fn create(&self, new: NewKey) -> Result<CreatedApiKey, ConsoleError> {
        self.require(Action::Create, "create")?;
        let now = Timestamp::now();
        self.policy
            .check_expiry(new.expires_at, now)
            .map_err(ConsoleError::policy)?;
        if self.policy.active_keys_cap().is_some() {
            // Counted from the list: two creates at once may both pass.
            let active = self
                .list()
                .await?
                .iter()
                .filter(|k| !k.is_expired_at(now))
                .count();
            self.policy
                .check_active_keys(active)
                .map_err(ConsoleError::policy)?;
        }
        let created = self.create_owned(None, new).await?;
        tracing::info!(api_key_id = %created.id, organization_id = %self.scope.organization, "console created a key");
        Ok(created)
    }

    /// Creates a key for `owner` (the scope's owner when `None`), retried
    /// safely with an idempotency key.
    async fn create_owned(
        &self,
        owner: Option<&Owner>,
        new: NewKey,
    ) -> Result<CreatedApiKey, ConsoleError> {
        let user = match owner {
            Some(owner) => owner.user_id(),
            None => self.scope.user.as_ref(),
        };
        let created = match user {
            Some(user) => {
                let body = CreateUserApiKey {
                    name: new.name,
                    organization_id: self.scope.organization.clone(),
                    permissions: new.permissions,
                    expires_at: new.expires_at,
                };
                self.client
                    .create_user_api_key(user, body)
                    .idempotency_key(IdempotencyKey::random())
                    .await
            }
            None => {
                let body = CreateOrganizationApiKey {
                    name: new.name,
                    permissions: new.permissions,
                    expires_at: new.expires_at,
                };
                self.client
                    .create_organization_api_key(&self.scope.organization, body)
                    .idempotency_key(IdempotencyKey::random())
                    .await
            }
        };
        created.map_err(ConsoleError::from_client)
    }

    /// A new key with the old one's name, permissions and lifetime (see
    /// [`KeyPolicy::rolled_expiry`]); the old one expires after `grace` (at once for zero), never later than it
    /// already would.
    pub(crate) async fn roll(&self, id: &str, grace: Duration) -> Result<Rolled, ConsoleError> {
        self.require(Action::Roll, "roll")?;
        let old = self.find(id).await?;
        let refused: Vec<String> = old
            .permissions
            .iter()
            .filter(|p| !self.scope.may_grant(p))
            .cloned()
            .collect();
        if !refused.is_empty() {
            return Err(ConsoleError::not_grantable(&refused));
        }
        let now = Timestamp::now();
        if old.is_expired_at(now) {
            return Err(ConsoleError::expired());
        }
        // A roll replaces a key, so the owner's count of keys is unchanged:
        // only the expiry is checked, kept from the old key.
        let new = NewKey {
            name: old.name.clone(),
            permissions: old.permissions.clone(),
            expires_at: self
                .policy
                .rolled_expiry(&old, now)
                .map_err(ConsoleError::policy)?,
        };
        let created = self.create_owned(Some(&old.owner), new).await?;
        let end =
            now.saturating_add(time::Duration::try_from(grace).unwrap_or(time::Duration::MAX));
        let expiry = match old.expires_at {
            Some(at) if at <= end => None,
            _ if grace.is_zero() => Some(Expiry::Now),
            _ => Some(Expiry::At(end)),
        };
        let previous = match expiry {
            None => Ok(old),
            Some(expiry) => self.client.expire_api_key(&old.id, expiry).await,
        };
        match previous {
            Ok(previous) => {
                tracing::info!(api_key_id = %created.id, previous_id = %previous.id, grace_seconds = grace.as_secs(), "console rolled a key");
                Ok(Rolled { created, previous })
            }
            Err(error) => {
                // Undo: a new key nobody has seen the value of must not stay.
                if let Err(undo) = self.client.delete_api_key(&created.id).await {
                    tracing::error!(api_key_id = %created.id, error = %undo, "could not delete the new key of a failed roll");
                }
                Err(ConsoleError::from_client(error))
            }
        }
    }

    /// Deletes a key in scope; answers the key as it was.
    pub(crate) async fn revoke(&self, id: &str) -> Result<ApiKey, ConsoleError> {
        self.require(Action::Revoke, "revoke")?;
        let key = self.find(id).await?;
        self.client
            .delete_api_key(&key.id)
            .await
            .map_err(ConsoleError::from_client)?;
        tracing::info!(api_key_id = %key.id, "console revoked a key");
        Ok(key)
    }

    /// Schedules (`Some`) or clears (`None`) a key's expiry.
    pub(crate) async fn set_expiry(
        &self,
        id: &str,
        at: Option<Timestamp>,
    ) -> Result<ApiKey, ConsoleError> {
        self.require(Action::Revoke, "change the expiry of")?;
        let key = self.find(id).await?;
        if key.is_expired_at(Timestamp::now()) {
            return Err(ConsoleError::expired());
        }
        // The policy holds here too: no clearing a required expiry, and a
        // key's whole life, from its creation, within the cap.
        self.policy
            .check_expiry(at, key.created_at)
            .map_err(ConsoleError::policy)?;
        let expiry = at.map_or(Expiry::Clear, Expiry::At);
        let key = self
            .client
            .expire_api_key(&key.id, expiry)
            .await
            .map_err(ConsoleError::from_client)?;
        tracing::info!(api_key_id = %key.id, expires_at = ?key.expires_at, "console changed a key's expiry");
        Ok(key)
    }
}

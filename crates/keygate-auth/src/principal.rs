//! The authenticated caller: what a valid key says about who is calling.

use std::sync::Arc;

use crate::usage::UsageSlot;
use keygate_types::{ApiKey, ApiKeyId, OrganizationId, Owner, Timestamp, UserId};

/// The caller behind a valid API key, placed in the request's extensions by
/// [`ApiKeyAuth`](crate::ApiKeyAuth).
///
/// Cloning it clones one [`Arc`]. Read it in a handler with the extractor
/// (`principal: ApiKeyPrincipal`), or from `request.extensions()` in any
/// tower service.
///
/// ```
/// use keygate_auth::ApiKeyPrincipal;
/// use keygate_types::ApiKey;
///
/// # let key: ApiKey = serde_json::from_str(r#"{"object":"api_key","id":"api_key_01HZY3K2J5QW8N7X6V4T3R2P1M",
/// #   "owner":{"type":"user","id":"user_01HZY3K2J5QW8N7X6V4T3R2P1M","organization_id":"org_01HZY3K2J5QW8N7X6V4T3R2P1M"},
/// #   "name":"ci","obfuscated_value":"sk_…p1mq","last_used_at":null,"expires_at":null,
/// #   "permissions":["posts:read"],"created_at":"2026-01-15T12:00:00.000Z","updated_at":"2026-01-15T12:00:00.000Z"}"#).unwrap();
/// let principal = ApiKeyPrincipal::new(key);
/// assert_eq!(principal.organization_id(), "org_01HZY3K2J5QW8N7X6V4T3R2P1M");
/// assert_eq!(principal.user_id().unwrap(), "user_01HZY3K2J5QW8N7X6V4T3R2P1M");
/// assert!(principal.has_permission("posts:read"));
/// assert!(!principal.has_permission("posts:write"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPrincipal(Arc<Caller>);

/// What a principal keeps of its key: what handlers and guards use. The key's
/// display value and timestamps are left out, so that a cached principal
/// stays small.
#[derive(Debug, PartialEq, Eq)]
struct Caller {
    id: ApiKeyId,
    name: String,
    owner: Owner,
    permissions: Vec<String>,
    expires_at: Option<Timestamp>,
    /// The key's request counter in the layer's usage meter, found on the
    /// first counted request (see [`crate::usage`]).
    usage: UsageSlot,
}

impl ApiKeyPrincipal {
    /// The caller behind a validated key.
    pub fn new(key: ApiKey) -> Self {
        let ApiKey {
            id,
            owner,
            name,
            mut permissions,
            expires_at,
            ..
        } = key;
        permissions.shrink_to_fit();
        Self(Arc::new(Caller {
            id,
            name,
            owner,
            permissions,
            expires_at,
            usage: UsageSlot::default(),
        }))
    }

    /// The key's id, `api_key_…`: safe to log.
    pub fn id(&self) -> &ApiKeyId {
        &self.0.id
    }

    /// The key's human-readable name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Who the key belongs to.
    pub fn owner(&self) -> &Owner {
        &self.0.owner
    }

    /// The organization the key acts for, for organization and user keys alike.
    pub fn organization_id(&self) -> &OrganizationId {
        self.0.owner.organization_id()
    }

    /// The user, for a user-owned key.
    pub fn user_id(&self) -> Option<&UserId> {
        self.0.owner.user_id()
    }

    /// The permission slugs the key grants, exactly as the key service stores them.
    pub fn permissions(&self) -> &[String] {
        &self.0.permissions
    }

    /// Whether the key grants `permission` (exact match; no wildcards).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.0.permissions.iter().any(|p| p == permission)
    }

    /// When the key stops being valid; `None` means never.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.0.expires_at
    }

    /// The key's usage counter, found by `find` on the first call.
    pub(crate) fn usage_slot(&self) -> &UsageSlot {
        &self.0.usage
    }
}

impl From<ApiKey> for ApiKeyPrincipal {
    fn from(key: ApiKey) -> Self {
        Self::new(key)
    }
}

/// Marks a request that the layer let through without a credential, in
/// [optional mode](crate::ApiKeyAuthBuilder::optional). It is what makes
/// `Option<ApiKeyPrincipal>` answer `None` rather than "misconfigured".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anonymous;

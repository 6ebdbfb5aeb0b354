//! The authenticated caller: who is calling, with which credential, and what
//! it may do.

use std::fmt;
use std::sync::Arc;

use crate::usage::UsageSlot;
use keygate_types::{ApiKey, ApiKeyId, OrganizationId, Owner, Timestamp, UserId};

/// The caller behind a valid credential, placed in the request's extensions
/// by [`ApiKeyAuth`](crate::ApiKeyAuth): an API key, an M2M access token or
/// an AuthKit session access token (the last two with the `jwt` feature).
///
/// Guards and extractors read the same principal for all three: its
/// [`permissions`](Self::permissions) come from the key's `permissions`, a
/// session token's `permissions` claim, or an M2M token's `scope` claim split
/// on spaces (`"posts:read posts:write"` grants `posts:read` and
/// `posts:write`; matching is exact, as for keys).
///
/// | | [`kind`](Self::kind) | [`id`](Self::id) | [`owner`](Self::owner) | [`session_id`](Self::session_id) |
/// |---|---|---|---|---|
/// | API key | `ApiKey` | `api_key_…` | the key's owner | `None` |
/// | M2M token | `M2m` | the application's client id (`sub`) | the organization (`org_id`) | `None` |
/// | session token | `Session` | the user, `user_…` (`sub`) | the user in `org_id` | `sid` |
///
/// Cloning it clones one [`Arc`]. Read it in a handler with the extractor
/// (`principal: Principal`), or from `request.extensions()` in any tower
/// service.
///
/// ```
/// use keygate_auth::{Principal, PrincipalKind};
/// use keygate_types::ApiKey;
///
/// # let key: ApiKey = serde_json::from_str(r#"{"object":"api_key","id":"api_key_01HZY3K2J5QW8N7X6V4T3R2P1M",
/// #   "owner":{"type":"user","id":"user_01HZY3K2J5QW8N7X6V4T3R2P1M","organization_id":"org_01HZY3K2J5QW8N7X6V4T3R2P1M"},
/// #   "name":"ci","obfuscated_value":"sk_…p1mq","last_used_at":null,"expires_at":null,
/// #   "permissions":["posts:read"],"created_at":"2026-01-15T12:00:00.000Z","updated_at":"2026-01-15T12:00:00.000Z"}"#).unwrap();
/// let principal = Principal::new(key);
/// assert_eq!(principal.kind(), PrincipalKind::ApiKey);
/// assert_eq!(principal.id(), "api_key_01HZY3K2J5QW8N7X6V4T3R2P1M");
/// assert_eq!(principal.organization_id(), "org_01HZY3K2J5QW8N7X6V4T3R2P1M");
/// assert_eq!(principal.user_id().unwrap(), "user_01HZY3K2J5QW8N7X6V4T3R2P1M");
/// assert!(principal.has_permission("posts:read"));
/// assert!(!principal.has_permission("posts:write"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(Arc<Caller>);

/// The name `Principal` had while API keys were the only credential; the
/// same type.
pub type ApiKeyPrincipal = Principal;

/// Which credential a [`Principal`] presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrincipalKind {
    /// A WorkOS API key (`sk_…`), validated by the key service.
    ApiKey,
    /// An M2M access token (OAuth client credentials of a WorkOS application).
    M2m,
    /// An AuthKit session access token of a signed-in user.
    Session,
}

impl PrincipalKind {
    /// A short name for logs and metrics: `api_key`, `m2m` or `session`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::M2m => "m2m",
            Self::Session => "session",
        }
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a principal keeps of its credential: what handlers and guards use.
/// A key's display value and timestamps are left out, so that a cached
/// principal stays small.
#[derive(Debug, PartialEq, Eq)]
struct Caller {
    kind: PrincipalKind,
    /// The key id, client id or user id.
    id: String,
    key_id: Option<ApiKeyId>,
    name: String,
    owner: Owner,
    session_id: Option<String>,
    permissions: Vec<String>,
    expires_at: Option<Timestamp>,
    /// When the API key was made (`None` for access tokens).
    created_at: Option<Timestamp>,
    /// The agent registration an API key was issued for.
    agent_registration_id: Option<String>,
    /// The key's request counter in the layer's usage meter, found on the
    /// first counted request (see [`crate::usage`]).
    usage: UsageSlot,
}

impl Principal {
    /// The caller behind a validated key.
    pub fn new(key: ApiKey) -> Self {
        let ApiKey {
            id,
            owner,
            name,
            mut permissions,
            expires_at,
            created_at,
            agent_registration_id,
            ..
        } = key;
        permissions.shrink_to_fit();
        Self(Arc::new(Caller {
            kind: PrincipalKind::ApiKey,
            id: id.as_str().to_owned(),
            key_id: Some(id),
            name,
            owner,
            session_id: None,
            permissions,
            expires_at,
            created_at: Some(created_at),
            agent_registration_id,
            usage: UsageSlot::default(),
        }))
    }

    /// The caller behind a verified M2M access token: the application
    /// `client_id` of `organization`, granted `permissions` (its `scope`).
    #[cfg(feature = "jwt")]
    pub(crate) fn m2m(
        client_id: String,
        organization: OrganizationId,
        mut permissions: Vec<String>,
        expires_at: Timestamp,
    ) -> Self {
        permissions.shrink_to_fit();
        Self(Arc::new(Caller {
            kind: PrincipalKind::M2m,
            name: client_id.clone(),
            id: client_id,
            key_id: None,
            owner: Owner::Organization { id: organization },
            session_id: None,
            permissions,
            expires_at: Some(expires_at),
            created_at: None,
            agent_registration_id: None,
            usage: UsageSlot::default(),
        }))
    }

    /// The caller behind a verified session access token: `user` in
    /// `organization`, in session `session_id`.
    #[cfg(feature = "jwt")]
    pub(crate) fn session(
        user: UserId,
        organization: OrganizationId,
        session_id: String,
        mut permissions: Vec<String>,
        expires_at: Timestamp,
    ) -> Self {
        permissions.shrink_to_fit();
        Self(Arc::new(Caller {
            kind: PrincipalKind::Session,
            id: user.as_str().to_owned(),
            name: user.as_str().to_owned(),
            key_id: None,
            owner: Owner::User {
                id: user,
                organization_id: organization,
            },
            session_id: Some(session_id),
            permissions,
            expires_at: Some(expires_at),
            created_at: None,
            agent_registration_id: None,
            usage: UsageSlot::default(),
        }))
    }

    /// Which credential the caller presented.
    pub fn kind(&self) -> PrincipalKind {
        self.0.kind
    }

    /// Who is calling, safe to log: the key id (`api_key_…`), the M2M
    /// application's client id, or the signed-in user's id (`user_…`).
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The key's id, for an API key.
    pub fn key_id(&self) -> Option<&ApiKeyId> {
        self.0.key_id.as_ref()
    }

    /// A human-readable name: the key's name; for a token, its [`id`](Self::id).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Who the credential acts for: the key's owner; the organization of an
    /// M2M application; the user (in their organization) of a session.
    pub fn owner(&self) -> &Owner {
        &self.0.owner
    }

    /// The organization the caller acts for, for every kind of credential.
    pub fn organization_id(&self) -> &OrganizationId {
        self.0.owner.organization_id()
    }

    /// The user, for a user-owned key or a session.
    pub fn user_id(&self) -> Option<&UserId> {
        self.0.owner.user_id()
    }

    /// The AuthKit session (`sid`, `session_…`), for a session token.
    pub fn session_id(&self) -> Option<&str> {
        self.0.session_id.as_deref()
    }

    /// The permission slugs the credential grants, as it states them.
    pub fn permissions(&self) -> &[String] {
        &self.0.permissions
    }

    /// Whether the credential grants `permission` (exact match; no wildcards).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.0.permissions.iter().any(|p| p == permission)
    }

    /// When the credential stops being valid; `None` means never (a key
    /// without expiry). A token's `exp`.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.0.expires_at
    }

    /// When the API key was made; `None` for an access token.
    pub fn created_at(&self) -> Option<Timestamp> {
        self.0.created_at
    }

    /// The agent registration (`agent_reg_…`) the API key was issued for,
    /// when WorkOS issued it to an AI agent rather than to a customer: a
    /// service can tell an agent's calls from its customers'. `None` for
    /// every other key and for access tokens.
    pub fn agent_registration_id(&self) -> Option<&str> {
        self.0.agent_registration_id.as_deref()
    }

    /// Where the layer's usage meter keeps this key's counter.
    pub(crate) fn usage_slot(&self) -> &UsageSlot {
        &self.0.usage
    }
}

impl From<ApiKey> for Principal {
    fn from(key: ApiKey) -> Self {
        Self::new(key)
    }
}

/// Marks a request that the layer let through without a credential, in
/// [optional mode](crate::ApiKeyAuthBuilder::optional). It is what makes
/// `Option<Principal>` answer `None` rather than "misconfigured".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anonymous;

//! The wire model of the WorkOS API Keys service, as keygate speaks it.
//!
//! This crate is the vocabulary every other keygate crate shares: the
//! [`ApiKey`] object and its [`Owner`], the created-key answer whose value is
//! held in a redacting [`SecretString`], list envelopes and pagination
//! parameters, [`Event`]s, [`ErrorBody`]s, [`Permission`] slugs and the typed
//! ids. It does no I/O; it only says what goes over the wire.
//!
//! Where it sits: `keygate-client` sends and receives these types,
//! `keygate-emulator` serves them, and `keygate-auth` turns a validated
//! [`ApiKey`] into a request's principal.
//!
//! ```
//! use keygate_types::{ApiKey, Owner};
//!
//! let key: ApiKey = serde_json::from_str(r#"{
//!     "object": "api_key",
//!     "id": "api_key_01HZY3K2J5QW8N7X6V4T3R2P1M",
//!     "owner": {"type": "organization", "id": "org_01HZY3K2J5QW8N7X6V4T3R2P1M"},
//!     "name": "CI deploys",
//!     "obfuscated_value": "sk_…p1mq",
//!     "last_used_at": null,
//!     "permissions": ["posts:read"],
//!     "created_at": "2026-01-15T12:00:00.000Z",
//!     "updated_at": "2026-01-15T12:00:00.000Z"
//! }"#)?;
//! assert!(matches!(key.owner, Owner::Organization { .. }));
//! assert!(key.has_permission("posts:read"));
//! assert_eq!(key.expires_at, None); // older payloads omit it
//! # Ok::<(), serde_json::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api_key;
mod authorization;
mod error;
mod event;
mod id;
mod list;
mod membership;
mod organization;
mod permission;
mod policy;
mod secret;
mod session;
mod timestamp;
mod user;
#[cfg(feature = "webhook-signature")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook-signature")))]
pub mod webhook_signature;

pub use api_key::{
    ApiKey, CreateOrganizationApiKey, CreateUserApiKey, CreatedApiKey, ExpireApiKey, Expiry, Owner,
    ValidateApiKey, ValidationResponse,
};
pub use authorization::{
    AuthorizationPermission, CreateAuthorizationPermission, CreateWidgetToken, WIDGET_SCOPES,
    WidgetToken,
};
pub use error::{ErrorBody, FieldError, codes};
pub use event::{
    API_KEY_CREATED, API_KEY_REVOKED, API_KEY_UPDATED, Event, EventPayload, EventsParams,
    ORGANIZATION_MEMBERSHIP_CREATED, ORGANIZATION_MEMBERSHIP_DELETED,
    ORGANIZATION_MEMBERSHIP_UPDATED, SESSION_REVOKED,
};
pub use id::{ApiKeyId, EventId, IdError, MembershipId, OrganizationId, UserId, WebhookEndpointId};
pub use list::{
    DEFAULT_LIMIT, EventListMetadata, List, ListMetadata, ListParams, MAX_LIMIT, Order,
};
pub use membership::{CreateMembership, MembershipStatus, OrganizationMembership, RoleSlug};
pub use organization::{CreateOrganization, Organization};
pub use permission::{
    MAX_PERMISSION_LEN, Permission, PermissionError, is_valid_permission, validate_permission,
};
pub use policy::{KeyPolicy, PolicyViolation};
pub use secret::{SecretString, constant_time_eq};
pub use session::Session;
pub use timestamp::{Timestamp, TimestampError};
pub use user::{CreateUser, User};

//! Organization memberships: a user's place in an organization, which user
//! keys depend on.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{MembershipId, OrganizationId, Timestamp, User, UserId};

/// The state of a membership. Only an active membership lets its user's keys
/// for that organization validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// The membership is in force.
    Active,
    /// The membership was deactivated; it may be reactivated.
    Inactive,
    /// An invitation not yet accepted.
    Pending,
}

/// A role reference, `{"slug":"member"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSlug {
    /// The role's slug.
    pub slug: String,
}

/// An organization membership, with WorkOS's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "organization_membership")]
pub struct OrganizationMembership {
    /// `om_…`.
    pub id: MembershipId,
    /// The member.
    pub user_id: UserId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The organization's name.
    #[serde(default)]
    pub organization_name: Option<String>,
    /// Active, inactive or pending.
    pub status: MembershipStatus,
    /// Whether a directory sync manages it.
    #[serde(default)]
    pub directory_managed: bool,
    /// The member's primary role.
    pub role: RoleSlug,
    /// All of the member's roles.
    #[serde(default)]
    pub roles: Vec<RoleSlug>,
    /// Custom attributes; `{}` from the emulator.
    #[serde(default)]
    pub custom_attributes: Map<String, Value>,
    /// The member, embedded as newer WorkOS payloads do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// Body of `POST /user_management/organization_memberships`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateMembership {
    /// The user to add.
    pub user_id: UserId,
    /// The organization to add them to.
    pub organization_id: OrganizationId,
    /// The role; `member` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_slug: Option<String>,
}

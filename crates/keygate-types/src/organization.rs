//! Organizations: the tenants that own API keys.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{OrganizationId, Timestamp};

/// An organization, with WorkOS's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "organization")]
pub struct Organization {
    /// `org_…`.
    pub id: OrganizationId,
    /// Display name.
    pub name: String,
    /// Verified domains (the emulator keeps none).
    #[serde(default)]
    pub domains: Vec<Value>,
    /// Free-form string metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The caller's own id for this organization.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Whether members may sign in with profiles from outside the organization.
    #[serde(default)]
    pub allow_profiles_outside_organization: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// Body of `POST /organizations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrganization {
    /// Display name; must not be empty.
    pub name: String,
    /// The caller's own id for this organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Free-form string metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

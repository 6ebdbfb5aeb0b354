//! Users: people who may own API keys within an organization.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Timestamp, UserId};

/// A user, with WorkOS's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "user")]
pub struct User {
    /// `user_…`.
    pub id: UserId,
    /// Email address.
    pub email: String,
    /// Whether the email address is verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Given name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Avatar URL.
    #[serde(default)]
    pub profile_picture_url: Option<String>,
    /// Last sign-in (never set by the emulator).
    #[serde(default)]
    pub last_sign_in_at: Option<Timestamp>,
    /// The caller's own id for this user.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Free-form string metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// Body of `POST /user_management/users`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUser {
    /// Email address; must be unique in the environment.
    pub email: String,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Whether the email address is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The caller's own id for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Free-form string metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

//! The environment's permission catalogue (`/authorization/permissions`) and
//! widget tokens (`POST /widgets/token`).

use serde::{Deserialize, Serialize};

use crate::{OrganizationId, SecretString, Timestamp, UserId};

/// A permission as the environment defines it: the slug keys carry, and the
/// name and description people read. From `GET /authorization/permissions`.
///
/// ```
/// use keygate_types::AuthorizationPermission;
///
/// let p: AuthorizationPermission = serde_json::from_value(serde_json::json!({
///     "object": "permission", "id": "perm_01HXYZ123456789ABCDEFGHIJ",
///     "slug": "posts:write", "name": "Write posts", "description": null,
///     "system": false, "resource_type_slug": "environment",
///     "created_at": "2026-01-15T12:00:00.000Z", "updated_at": "2026-01-15T12:00:00.000Z"
/// }))?;
/// assert_eq!((p.slug.as_str(), p.name.as_str()), ("posts:write", "Write posts"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "permission")]
pub struct AuthorizationPermission {
    /// `perm_…`.
    pub id: String,
    /// The slug keys and roles carry, such as `posts:write`.
    pub slug: String,
    /// A name for people, such as "Write posts".
    pub name: String,
    /// What the permission allows, for people; `null` when not given.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether WorkOS manages it (it cannot be deleted).
    #[serde(default)]
    pub system: bool,
    /// The resource type the permission applies to.
    #[serde(default)]
    pub resource_type_slug: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// Body of `POST /authorization/permissions`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateAuthorizationPermission {
    /// The slug: lowercase letters, digits, `-` `_` `:` `.` `*`; at most 48
    /// characters, unique in the environment.
    pub slug: String,
    /// A name for people, at most 48 characters.
    pub name: String,
    /// What it allows, at most 150 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The resource type it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type_slug: Option<String>,
}

/// The scopes a widget token may carry, as WorkOS's spec lists them.
pub const WIDGET_SCOPES: &[&str] = &[
    "widgets:users-table:manage",
    "widgets:domain-verification:manage",
    "widgets:sso:manage",
    "widgets:api-keys:manage",
    "widgets:dsync:manage",
    "widgets:audit-log-streaming:manage",
    "widgets:pipes:manage",
];

/// Body of `POST /widgets/token`: a token for `user_id`'s widgets,
/// scoped to `organization_id` (required when `scopes` is not empty).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateWidgetToken {
    /// The organization the widgets act in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<OrganizationId>,
    /// The user the token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// What the widgets may do: slugs from [`WIDGET_SCOPES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// Answer of `POST /widgets/token`. The token is a credential: it is held
/// in a redacting [`SecretString`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetToken {
    /// The widget session token, for the browser's widgets.
    pub token: SecretString,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_widget_token_is_redacted_and_its_request_omits_what_is_absent() {
        let token: WidgetToken = serde_json::from_str(r#"{"token":"eyJsecret"}"#).unwrap();
        assert!(!format!("{token:?}").contains("eyJsecret"));
        let body = CreateWidgetToken {
            user_id: Some(UserId::new_unchecked("user_1")),
            ..CreateWidgetToken::default()
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"user_id":"user_1"}"#
        );
    }
}

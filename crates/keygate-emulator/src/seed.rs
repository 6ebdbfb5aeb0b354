//! Seed data: organizations, users, memberships, permission allow-lists and
//! keys with fixed values, so examples and demos are reproducible.
//!
//! Entries refer to each other by organization name and user email, since
//! ids are made at start.

use std::path::Path;

use keygate_types::{
    CreateOrganization, CreateUser, MembershipStatus, Owner, SecretString, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::store::{NewKey, State};

/// A seed, read from JSON.
///
/// ```
/// use keygate_emulator::Seed;
///
/// let seed = Seed::from_json(r#"{
///   "organization_permissions": ["posts:read", "posts:write"],
///   "organizations": [{"name": "Acme"}],
///   "users": [{"email": "ada@example.com"}],
///   "memberships": [{"user": "ada@example.com", "organization": "Acme"}],
///   "api_keys": [
///     {"name": "ci", "organization": "Acme", "permissions": ["posts:read"],
///      "value": "sk_example_acme_ci_0000000000000000000000000000000"},
///     {"name": "ada's laptop", "organization": "Acme", "user": "ada@example.com"}
///   ]
/// }"#)?;
/// assert_eq!(seed.api_keys.len(), 2);
/// # Ok::<(), keygate_emulator::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The allow-list for organization keys; any well-formed slug when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_permissions: Option<Vec<String>>,
    /// The allow-list for user keys; any well-formed slug when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_permissions: Option<Vec<String>>,
    /// The permission catalogue: each slug's name and description, as
    /// `POST /authorization/permissions` takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<keygate_types::CreateAuthorizationPermission>,
    /// Organizations to create, in order.
    #[serde(default)]
    pub organizations: Vec<SeedOrganization>,
    /// Users to create, in order.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Memberships to create, after the organizations and users.
    #[serde(default)]
    pub memberships: Vec<SeedMembership>,
    /// Keys to create, last.
    #[serde(default)]
    pub api_keys: Vec<SeedApiKey>,
}

/// An organization in a seed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOrganization {
    /// Its name; other entries refer to the organization by it, so keep it unique.
    pub name: String,
    /// The caller's own id for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// A user in a seed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// Their email; other entries refer to the user by it.
    pub email: String,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// A membership in a seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMembership {
    /// The user's email.
    pub user: String,
    /// The organization's name.
    pub organization: String,
    /// The role; `member` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `active` (the default) or `inactive`.
    #[serde(default = "active")]
    pub status: MembershipStatus,
}

fn active() -> MembershipStatus {
    MembershipStatus::Active
}

/// An API key in a seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApiKey {
    /// The key's name.
    pub name: String,
    /// The organization's name.
    pub organization: String,
    /// For a user key, the user's email; an organization key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Permission slugs.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// When it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// A fixed value, so examples can use it; a random one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<SecretString>,
}

impl Seed {
    /// Reads a seed from JSON.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        serde_json::from_str(json).map_err(|e| Error::Seed(e.to_string()))
    }

    /// Reads a seed from a JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Seed(format!("{}: {e}", path.display())))?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Seed(m) => Error::Seed(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Creates everything in the seed, checking the same rules as the API.
    pub(crate) fn apply(&self, state: &mut State, now: Timestamp) -> Result<(), Error> {
        let fail = |what: String, e: Error| Error::Seed(format!("{what}: {e}"));
        for (i, p) in self.permissions.iter().enumerate() {
            let defined = state.policy.catalogue.permissions.iter();
            if defined.clone().any(|d| d.slug == p.slug) {
                continue;
            }
            state
                .create_permission(p.clone(), now)
                .map_err(|e| fail(format!("permissions[{i}]"), e))?;
        }
        let mut orgs = Vec::new();
        for (i, o) in self.organizations.iter().enumerate() {
            let org = state
                .create_organization(
                    CreateOrganization {
                        name: o.name.clone(),
                        external_id: o.external_id.clone(),
                        metadata: None,
                    },
                    now,
                )
                .map_err(|e| fail(format!("organizations[{i}]"), e))?;
            orgs.push(org);
        }
        let mut users = Vec::new();
        for (i, u) in self.users.iter().enumerate() {
            let user = state
                .create_user(
                    CreateUser {
                        email: u.email.clone(),
                        first_name: u.first_name.clone(),
                        last_name: u.last_name.clone(),
                        ..CreateUser::default()
                    },
                    now,
                )
                .map_err(|e| fail(format!("users[{i}]"), e))?;
            users.push(user);
        }
        let org_id = |what: &str, name: &str| {
            orgs.iter()
                .find(|o| o.name == name)
                .map(|o| o.id.clone())
                .ok_or_else(|| Error::Seed(format!("{what}: no organization named `{name}`")))
        };
        let user_id = |what: &str, email: &str| {
            users
                .iter()
                .find(|u| u.email.eq_ignore_ascii_case(email))
                .map(|u| u.id.clone())
                .ok_or_else(|| Error::Seed(format!("{what}: no user with email `{email}`")))
        };
        for (i, m) in self.memberships.iter().enumerate() {
            let what = format!("memberships[{i}]");
            let created = state
                .create_membership(
                    user_id(&what, &m.user)?,
                    org_id(&what, &m.organization)?,
                    m.role.iter().cloned().collect(),
                    now,
                )
                .map_err(|e| fail(what.clone(), e))?;
            if m.status != MembershipStatus::Active {
                state
                    .set_membership_status(created.id.as_str(), m.status, now)
                    .map_err(|e| fail(what, e))?;
            }
        }
        for (i, k) in self.api_keys.iter().enumerate() {
            let what = format!("api_keys[{i}]");
            let organization_id = org_id(&what, &k.organization)?;
            let owner = match &k.user {
                Some(email) => Owner::User {
                    id: user_id(&what, email)?,
                    organization_id,
                },
                None => Owner::Organization {
                    id: organization_id,
                },
            };
            state
                .create_key(
                    NewKey {
                        owner,
                        name: k.name.clone(),
                        permissions: k.permissions.clone(),
                        expires_at: k.expires_at,
                        value: k.value.clone(),
                        agent_registration_id: None,
                    },
                    now,
                )
                .map_err(|e| fail(what, e))?;
        }
        Ok(())
    }
}

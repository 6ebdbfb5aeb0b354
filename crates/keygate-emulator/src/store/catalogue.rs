//! The permission catalogue: the slugs the environment defines, each with a
//! name and a description for people (`/authorization/permissions`).
//!
//! It is configuration, like the allow-lists: kept with them in the state
//! file's settings, and not emptied by a reset.

use keygate_types::{AuthorizationPermission, CreateAuthorizationPermission, ErrorBody, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Page, PageRequest, State};
use crate::Error;

/// The longest slug or name, in characters (WorkOS's spec).
const MAX_SLUG_OR_NAME: usize = 48;
/// The longest description, in characters (WorkOS's spec).
const MAX_DESCRIPTION: usize = 150;
/// **decision**: the resource type of a permission created without one.
pub(crate) const ENVIRONMENT_RESOURCE_TYPE: &str = "environment";

/// The environment's permissions, in creation (id) order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Catalogue {
    pub(crate) permissions: Vec<AuthorizationPermission>,
}

/// Whether `slug` is what WorkOS's spec allows for a permission: lowercase
/// letters, digits, `-` `_` `:` `.` `*`, 1 to 48 characters.
fn slug_is_valid(slug: &str) -> bool {
    (1..=MAX_SLUG_OR_NAME).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_:.*".contains(&b))
}

impl State {
    /// Defines a permission; 422 for a bad field, 409 for a slug taken.
    pub(crate) fn create_permission(
        &mut self,
        body: CreateAuthorizationPermission,
        now: Timestamp,
    ) -> Result<AuthorizationPermission, Error> {
        if !slug_is_valid(&body.slug) {
            return Err(Error::invalid_field(
                "slug",
                "invalid_slug",
                "slug must be 1 to 48 lowercase letters, digits, or `-` `_` `:` `.` `*`.",
            ));
        }
        let name_chars = body.name.trim().chars().count();
        if name_chars == 0 || name_chars > MAX_SLUG_OR_NAME {
            return Err(Error::invalid_field(
                "name",
                "invalid_name",
                "name must be 1 to 48 characters.",
            ));
        }
        if body
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            return Err(Error::invalid_field(
                "description",
                "description_too_long",
                "description must be at most 150 characters.",
            ));
        }
        let resource_type_slug = match body.resource_type_slug {
            Some(r) if r.is_empty() || r.chars().count() > MAX_SLUG_OR_NAME => {
                return Err(Error::invalid_field(
                    "resource_type_slug",
                    "invalid_resource_type_slug",
                    "resource_type_slug must be 1 to 48 characters.",
                ));
            }
            Some(r) => r,
            None => ENVIRONMENT_RESOURCE_TYPE.to_owned(),
        };
        let catalogue = &self.policy.catalogue.permissions;
        if catalogue.iter().any(|p| p.slug == body.slug) {
            return Err(Error::Conflict(ErrorBody::new(
                "permission_slug_conflict",
                format!("A permission with slug '{}' already exists.", body.slug),
            )));
        }
        let permission = AuthorizationPermission {
            id: self.ids.permission(now),
            slug: body.slug,
            name: body.name.trim().to_owned(),
            description: body.description,
            system: false,
            resource_type_slug,
            created_at: now,
            updated_at: now,
        };
        self.policy.catalogue.permissions.push(permission.clone());
        self.changes.settings = true;
        Ok(permission)
    }

    /// A page of the catalogue.
    pub(crate) fn list_permissions(&self, req: &PageRequest) -> Page<AuthorizationPermission> {
        let page = req.page(
            self.policy
                .catalogue
                .permissions
                .iter()
                .map(|p| (p.id.as_str(), p)),
        );
        Page {
            data: page.data.into_iter().cloned().collect(),
            metadata: page.metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_spec() {
        for good in ["posts:write", "documents.*", "a", "x-y_z"] {
            assert!(slug_is_valid(good), "{good}");
        }
        for bad in ["", "Posts", "a b", "a/b", &"a".repeat(49)] {
            assert!(!slug_is_valid(bad), "{bad}");
        }
    }
}

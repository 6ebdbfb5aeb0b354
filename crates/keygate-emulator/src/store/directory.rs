//! The directory API keys depend on: organizations, users and memberships.
//!
//! Removing an organization, a user or a membership revokes the keys that
//! depended on it, each with an `api_key.revoked` event. Memberships record
//! `organization_membership.created`, `.updated` (when the status changes)
//! and `.deleted`, also when their user or organization goes.

use std::collections::{BTreeMap, HashMap};

use keygate_types::{
    CreateOrganization, CreateUser, ErrorBody, EventPayload, MembershipId, MembershipStatus,
    Organization, OrganizationId, OrganizationMembership, Owner, RoleSlug, Timestamp, User, UserId,
    codes,
};
use serde_json::{Map, Value};

use super::{Page, PageRequest, Row, State};
use crate::Error;

/// Organizations, users and memberships, each in creation order.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    pub(crate) organizations: BTreeMap<OrganizationId, Organization>,
    pub(crate) users: BTreeMap<UserId, User>,
    /// Stored without the embedded user, which is filled in when served.
    pub(crate) memberships: BTreeMap<MembershipId, OrganizationMembership>,
    by_pair: HashMap<(UserId, OrganizationId), MembershipId>,
}

/// Which memberships a list wants.
#[derive(Debug, Clone, Default)]
pub(crate) struct MembershipFilter {
    pub(crate) user_id: Option<UserId>,
    pub(crate) organization_id: Option<OrganizationId>,
    /// Empty means any status (the route asks for active ones by default).
    pub(crate) statuses: Vec<MembershipStatus>,
}

/// Which users a list wants.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserFilter {
    pub(crate) email: Option<String>,
    pub(crate) organization_id: Option<OrganizationId>,
}

impl Directory {
    #[cfg(feature = "sqlite")]
    pub(crate) fn restore_organization(&mut self, org: Organization) {
        self.organizations.insert(org.id.clone(), org);
    }

    #[cfg(feature = "sqlite")]
    pub(crate) fn restore_user(&mut self, user: User) {
        self.users.insert(user.id.clone(), user);
    }

    #[cfg(feature = "sqlite")]
    pub(crate) fn restore_membership(&mut self, m: OrganizationMembership) {
        self.by_pair
            .insert((m.user_id.clone(), m.organization_id.clone()), m.id.clone());
        self.memberships.insert(m.id.clone(), m);
    }

    pub(crate) fn organization(&self, id: &str) -> Result<&Organization, Error> {
        self.organizations
            .get(id)
            .ok_or_else(|| Error::not_found("organization", id))
    }

    pub(crate) fn user(&self, id: &str) -> Result<&User, Error> {
        self.users
            .get(id)
            .ok_or_else(|| Error::not_found("user", id))
    }

    pub(crate) fn has_active_membership(&self, user: &UserId, org: &OrganizationId) -> bool {
        self.by_pair
            .get(&(user.clone(), org.clone()))
            .and_then(|id| self.memberships.get(id))
            .is_some_and(|m| m.status == MembershipStatus::Active)
    }

    /// A membership as served: with its user embedded.
    fn served(&self, m: &OrganizationMembership) -> OrganizationMembership {
        let mut m = m.clone();
        m.user = self.users.get(&m.user_id).cloned();
        m
    }

    pub(crate) fn membership(&self, id: &str) -> Result<OrganizationMembership, Error> {
        self.memberships
            .get(id)
            .map(|m| self.served(m))
            .ok_or_else(|| Error::not_found("organization_membership", id))
    }
}

/// Checks that metadata holds only string values, as WorkOS requires.
fn check_metadata(metadata: Option<Map<String, Value>>) -> Result<Map<String, Value>, Error> {
    let metadata = metadata.unwrap_or_default();
    if let Some((k, _)) = metadata.iter().find(|(_, v)| !v.is_string()) {
        return Err(Error::invalid_field(
            &format!("metadata.{k}"),
            "invalid_metadata",
            format!("metadata values must be strings; `{k}` is not."),
        ));
    }
    Ok(metadata)
}

impl State {
    pub(crate) fn create_organization(
        &mut self,
        new: CreateOrganization,
        now: Timestamp,
    ) -> Result<Organization, Error> {
        if new.name.trim().is_empty() {
            return Err(Error::invalid_field(
                "name",
                "name_required",
                "name must not be empty.",
            ));
        }
        let metadata = check_metadata(new.metadata)?;
        let org = Organization {
            id: self.ids.organization(now),
            name: new.name,
            domains: Vec::new(),
            metadata,
            external_id: new.external_id,
            allow_profiles_outside_organization: false,
            created_at: now,
            updated_at: now,
        };
        self.directory
            .organizations
            .insert(org.id.clone(), org.clone());
        self.changes.touch(Row::Organization(org.id.to_string()));
        Ok(org)
    }

    pub(crate) fn list_organizations(&self, req: &PageRequest) -> Page<Organization> {
        let page = req.page(
            self.directory
                .organizations
                .iter()
                .map(|(id, o)| (id.as_str(), o)),
        );
        Page {
            data: page.data.into_iter().cloned().collect(),
            metadata: page.metadata,
        }
    }

    /// Deletes an organization, its memberships, and revokes all its keys.
    pub(crate) fn delete_organization(&mut self, id: &str, now: Timestamp) -> Result<(), Error> {
        let org = self
            .directory
            .organizations
            .remove(id)
            .ok_or_else(|| Error::not_found("organization", id))?;
        self.changes.touch(Row::Organization(org.id.to_string()));
        self.remove_memberships_where(now, |m| m.organization_id == org.id);
        let revoked = self.revoke_keys_where(now, |k| *k.owner.organization_id() == org.id);
        tracing::debug!(organization_id = %org.id, revoked, "organization deleted");
        Ok(())
    }

    pub(crate) fn create_user(&mut self, new: CreateUser, now: Timestamp) -> Result<User, Error> {
        // As WorkOS: trimmed and lower-cased before it is stored.
        let email = new.email.trim().to_lowercase();
        let email = email.as_str();
        if email.is_empty() {
            return Err(Error::invalid_field(
                "email",
                "email_required",
                "email must not be empty.",
            ));
        }
        if !email.contains('@') {
            return Err(Error::invalid_field(
                "email",
                "email_invalid",
                format!("`{email}` is not an email address."),
            ));
        }
        if self
            .directory
            .users
            .values()
            .any(|u| u.email.eq_ignore_ascii_case(email))
        {
            return Err(Error::Unprocessable(
                ErrorBody::new(
                    "email_not_available",
                    format!("A user with email '{email}' already exists."),
                )
                .with_field_error("email", "email_not_available"),
            ));
        }
        let metadata = check_metadata(new.metadata)?;
        let user = User {
            id: self.ids.user(now),
            email: email.to_owned(),
            email_verified: new.email_verified.unwrap_or(false),
            first_name: new.first_name,
            last_name: new.last_name,
            profile_picture_url: None,
            last_sign_in_at: None,
            external_id: new.external_id,
            metadata,
            created_at: now,
            updated_at: now,
        };
        self.directory.users.insert(user.id.clone(), user.clone());
        self.changes.touch(Row::User(user.id.to_string()));
        Ok(user)
    }

    pub(crate) fn list_users(&self, filter: &UserFilter, req: &PageRequest) -> Page<User> {
        let dir = &self.directory;
        let page = req.page(
            dir.users
                .iter()
                .filter(|(_, u)| {
                    filter
                        .email
                        .as_deref()
                        .is_none_or(|e| u.email.eq_ignore_ascii_case(e))
                })
                .filter(|(id, _)| {
                    filter
                        .organization_id
                        .as_ref()
                        .is_none_or(|org| dir.by_pair.contains_key(&((*id).clone(), org.clone())))
                })
                .map(|(id, u)| (id.as_str(), u)),
        );
        Page {
            data: page.data.into_iter().cloned().collect(),
            metadata: page.metadata,
        }
    }

    /// Deletes a user, their memberships, and revokes their keys.
    pub(crate) fn delete_user(&mut self, id: &str, now: Timestamp) -> Result<(), Error> {
        let user = self
            .directory
            .users
            .remove(id)
            .ok_or_else(|| Error::not_found("user", id))?;
        self.changes.touch(Row::User(user.id.to_string()));
        self.remove_memberships_where(now, |m| m.user_id == user.id);
        self.revoke_keys_where(now, |k| k.owner.user_id() == Some(&user.id));
        Ok(())
    }

    /// Makes `user` an active member of `org`. The first role is the primary
    /// one; `member` when none is given.
    pub(crate) fn create_membership(
        &mut self,
        user: UserId,
        org: OrganizationId,
        roles: Vec<String>,
        now: Timestamp,
    ) -> Result<OrganizationMembership, Error> {
        self.directory.user(user.as_str())?;
        let org_name = self.directory.organization(org.as_str())?.name.clone();
        let pair = (user.clone(), org.clone());
        if self.directory.by_pair.contains_key(&pair) {
            return Err(Error::Unprocessable(ErrorBody::new(
                "organization_membership_already_exists",
                format!("User '{user}' is already a member of organization '{org}'."),
            )));
        }
        if let Some(i) = roles.iter().position(|r| r.trim().is_empty()) {
            return Err(Error::invalid_field(
                &format!("role_slugs[{i}]"),
                "role_slug_invalid",
                "role slugs must not be empty.",
            ));
        }
        let mut roles: Vec<RoleSlug> = roles.into_iter().map(|slug| RoleSlug { slug }).collect();
        if roles.is_empty() {
            roles.push(RoleSlug {
                slug: "member".to_owned(),
            });
        }
        let membership = OrganizationMembership {
            id: self.ids.membership(now),
            user_id: user,
            organization_id: org,
            organization_name: Some(org_name),
            status: MembershipStatus::Active,
            directory_managed: false,
            role: roles[0].clone(),
            roles,
            custom_attributes: Map::new(),
            user: None,
            created_at: now,
            updated_at: now,
        };
        let dir = &mut self.directory;
        dir.by_pair.insert(pair, membership.id.clone());
        dir.memberships
            .insert(membership.id.clone(), membership.clone());
        self.changes
            .touch(Row::Membership(membership.id.to_string()));
        let served = dir.served(&membership);
        self.record(EventPayload::MembershipCreated(membership), now);
        Ok(served)
    }

    pub(crate) fn list_memberships(
        &self,
        filter: &MembershipFilter,
        req: &PageRequest,
    ) -> Page<OrganizationMembership> {
        let dir = &self.directory;
        let page = req.page(
            dir.memberships
                .iter()
                .filter(|(_, m)| filter.user_id.as_ref().is_none_or(|u| *u == m.user_id))
                .filter(|(_, m)| {
                    filter
                        .organization_id
                        .as_ref()
                        .is_none_or(|o| *o == m.organization_id)
                })
                .filter(|(_, m)| filter.statuses.is_empty() || filter.statuses.contains(&m.status))
                .map(|(id, m)| (id.as_str(), m)),
        );
        Page {
            data: page.data.into_iter().map(|m| dir.served(m)).collect(),
            metadata: page.metadata,
        }
    }

    /// Deletes a membership and revokes the user's keys in that organization.
    pub(crate) fn delete_membership(&mut self, id: &str, now: Timestamp) -> Result<(), Error> {
        let m = self
            .directory
            .memberships
            .remove(id)
            .ok_or_else(|| Error::not_found("organization_membership", id))?;
        self.directory
            .by_pair
            .remove(&(m.user_id.clone(), m.organization_id.clone()));
        self.changes.touch(Row::Membership(m.id.to_string()));
        self.record(EventPayload::MembershipDeleted(m.clone()), now);
        let revoked = self.revoke_keys_where(now, |k| {
            matches!(&k.owner, Owner::User { id, organization_id }
                if *id == m.user_id && *organization_id == m.organization_id)
        });
        tracing::debug!(membership_id = %m.id, revoked, "membership deleted");
        Ok(())
    }

    /// Sets a membership's status. While it is not active, the user's keys in
    /// that organization validate as `null`; reactivating restores them.
    pub(crate) fn set_membership_status(
        &mut self,
        id: &str,
        status: MembershipStatus,
        now: Timestamp,
    ) -> Result<OrganizationMembership, Error> {
        let dir = &mut self.directory;
        let m = dir
            .memberships
            .get_mut(id)
            .ok_or_else(|| Error::not_found("organization_membership", id))?;
        if status == MembershipStatus::Active && m.status == MembershipStatus::Pending {
            return Err(Error::Unprocessable(ErrorBody::new(
                codes::INVALID_REQUEST_PARAMETERS,
                format!("Membership '{id}' is pending and cannot be reactivated."),
            )));
        }
        let changed = m.status != status;
        if changed {
            m.status = status;
            m.updated_at = now;
            self.changes.touch(Row::Membership(m.id.to_string()));
        }
        let m = m.clone();
        let served = dir.served(&m);
        if changed {
            self.record(EventPayload::MembershipUpdated(m), now);
        }
        Ok(served)
    }

    /// Removes the memberships `doomed` picks, each with an
    /// `organization_membership.deleted` event.
    fn remove_memberships_where(
        &mut self,
        now: Timestamp,
        doomed: impl Fn(&OrganizationMembership) -> bool,
    ) {
        let dir = &mut self.directory;
        let ids: Vec<MembershipId> = dir
            .memberships
            .values()
            .filter(|m| doomed(m))
            .map(|m| m.id.clone())
            .collect();
        let removed: Vec<OrganizationMembership> = ids
            .iter()
            .filter_map(|id| dir.memberships.remove(id))
            .collect();
        for m in &removed {
            dir.by_pair
                .remove(&(m.user_id.clone(), m.organization_id.clone()));
            self.changes.touch(Row::Membership(m.id.to_string()));
        }
        for m in removed {
            self.record(EventPayload::MembershipDeleted(m), now);
        }
    }
}

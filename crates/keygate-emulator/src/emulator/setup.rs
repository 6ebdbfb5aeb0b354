//! Setting up what a test needs, straight on the store (no HTTP): the same
//! rules apply as on the endpoints.

use keygate_types::{
    ApiKey, CreateOrganization, CreateUser, CreatedApiKey, Event, Expiry, MembershipStatus,
    Organization, OrganizationId, OrganizationMembership, Owner, User, UserId,
};

use super::Emulator;
use crate::Error;
use crate::store::NewKey;

impl Emulator {
    /// Creates an organization.
    pub fn create_organization(&self, name: &str) -> Result<Organization, Error> {
        let now = self.now();
        self.env.store.write(|state| {
            state.create_organization(
                CreateOrganization {
                    name: name.to_owned(),
                    ..CreateOrganization::default()
                },
                now,
            )
        })
    }

    /// Creates a user.
    pub fn create_user(&self, email: &str) -> Result<User, Error> {
        let now = self.now();
        self.env.store.write(|state| {
            state.create_user(
                CreateUser {
                    email: email.to_owned(),
                    ..CreateUser::default()
                },
                now,
            )
        })
    }

    /// Makes `user` an active member of `organization`, with role `member`.
    pub fn create_membership(
        &self,
        user: &UserId,
        organization: &OrganizationId,
    ) -> Result<OrganizationMembership, Error> {
        let now = self.now();
        self.env.store.write(|state| {
            state.create_membership(user.clone(), organization.clone(), Vec::new(), now)
        })
    }

    /// Deactivates a membership: the user's keys there validate as `null`
    /// until it is reactivated.
    pub fn deactivate_membership(&self, id: &str) -> Result<OrganizationMembership, Error> {
        let now = self.now();
        self.env
            .store
            .write(|state| state.set_membership_status(id, MembershipStatus::Inactive, now))
    }

    /// Reactivates a membership.
    pub fn reactivate_membership(&self, id: &str) -> Result<OrganizationMembership, Error> {
        let now = self.now();
        self.env
            .store
            .write(|state| state.set_membership_status(id, MembershipStatus::Active, now))
    }

    /// Deletes a membership, revoking the user's keys in that organization.
    pub fn delete_membership(&self, id: &str) -> Result<(), Error> {
        let now = self.now();
        self.env
            .store
            .write(|state| state.delete_membership(id, now))
    }

    /// Creates an organization-owned key. The value is in the answer only.
    pub fn create_organization_key(
        &self,
        organization: &OrganizationId,
        name: &str,
        permissions: &[&str],
    ) -> Result<CreatedApiKey, Error> {
        self.create_key(
            Owner::Organization {
                id: organization.clone(),
            },
            name,
            permissions,
        )
    }

    /// Creates an organization-owned key issued to an AI agent: validations
    /// of its value answer `agent_registration_id` beside the key, as WorkOS
    /// does for keys it issues to agent registrations.
    pub fn create_agent_key(
        &self,
        organization: &OrganizationId,
        name: &str,
        permissions: &[&str],
        agent_registration_id: &str,
    ) -> Result<CreatedApiKey, Error> {
        let now = self.now();
        let new = NewKey {
            owner: Owner::Organization {
                id: organization.clone(),
            },
            name: name.to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            expires_at: None,
            value: None,
            agent_registration_id: Some(agent_registration_id.to_owned()),
        };
        self.env.store.write(|state| state.create_key(new, now))
    }

    /// Creates a user-owned key; the user needs an active membership in `organization`.
    pub fn create_user_key(
        &self,
        user: &UserId,
        organization: &OrganizationId,
        name: &str,
        permissions: &[&str],
    ) -> Result<CreatedApiKey, Error> {
        self.create_key(
            Owner::User {
                id: user.clone(),
                organization_id: organization.clone(),
            },
            name,
            permissions,
        )
    }

    fn create_key(
        &self,
        owner: Owner,
        name: &str,
        permissions: &[&str],
    ) -> Result<CreatedApiKey, Error> {
        let now = self.now();
        let new = NewKey {
            owner,
            name: name.to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            expires_at: None,
            value: None,
            agent_registration_id: None,
        };
        self.env.store.write(|state| state.create_key(new, now))
    }

    /// An organization, if it exists.
    pub fn organization(&self, id: &str) -> Option<Organization> {
        self.env
            .store
            .read(|state| state.directory.organization(id).ok().cloned())
    }

    /// A key as the service describes it now, if it exists.
    pub fn api_key(&self, id: &str) -> Option<ApiKey> {
        self.env.store.read(|state| state.keys.get(id).cloned())
    }

    /// Deletes (revokes) a key.
    pub fn delete_api_key(&self, id: &str) -> Result<(), Error> {
        let now = self.now();
        self.env.store.write(|state| state.delete_key(id, now))
    }

    /// Expires a key now, at a time, or clears its expiry, like `POST /api_keys/{id}/expire`.
    pub fn expire_api_key(&self, id: &str, expiry: Expiry) -> Result<ApiKey, Error> {
        let now = self.now();
        self.env
            .store
            .write(|state| state.expire_key(id, expiry, now))
    }

    /// Every event kept, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.env
            .store
            .read(|state| state.events.since(None).cloned().collect())
    }
}

//! Organization memberships, which user keys depend on.

use keygate_types::{
    CreateMembership, List, ListParams, MembershipId, OrganizationId, OrganizationMembership,
    UserId,
};

use crate::call::{Call, segment};
use crate::page::list_query;
use crate::{Client, Create, Error, ItemStream, Page};

const MEMBERSHIPS: &str = "/user_management/organization_memberships";

impl Client {
    /// Adds a user to an organization:
    /// `POST /user_management/organization_memberships`.
    pub fn create_membership(&self, body: CreateMembership) -> Create<OrganizationMembership> {
        Create::new(
            self,
            Call::post(MEMBERSHIPS, MEMBERSHIPS.into()).json(&body),
        )
    }

    /// Reads a membership: `GET /user_management/organization_memberships/{id}`.
    pub async fn get_membership(&self, id: &MembershipId) -> Result<OrganizationMembership, Error> {
        let path = format!("{MEMBERSHIPS}/{}", segment(id.as_str()));
        self.execute(Call::get(
            "/user_management/organization_memberships/{id}",
            path,
        ))
        .await
    }

    /// One page of memberships of a user and/or of an organization:
    /// `GET /user_management/organization_memberships`.
    pub async fn list_memberships(
        &self,
        user: Option<&UserId>,
        organization: Option<&OrganizationId>,
        params: &ListParams,
    ) -> Result<Page<OrganizationMembership>, Error> {
        let call = Call::get(MEMBERSHIPS, MEMBERSHIPS.into())
            .query("user_id", user)
            .query("organization_id", organization);
        Ok(self
            .execute::<List<OrganizationMembership>>(list_query(call, params))
            .await?
            .into())
    }

    /// All memberships of a user and/or of an organization, page after page.
    pub fn stream_memberships(
        &self,
        user: Option<&UserId>,
        organization: Option<&OrganizationId>,
        params: ListParams,
    ) -> ItemStream<OrganizationMembership> {
        let (client, user, organization) = (self.clone(), user.cloned(), organization.cloned());
        ItemStream::paging(params, move |params| {
            let (client, user, organization) = (client.clone(), user.clone(), organization.clone());
            async move {
                client
                    .list_memberships(user.as_ref(), organization.as_ref(), &params)
                    .await
            }
        })
    }

    /// Deletes a membership, revoking the user's keys for that organization:
    /// `DELETE /user_management/organization_memberships/{id}`.
    pub async fn delete_membership(&self, id: &MembershipId) -> Result<(), Error> {
        let path = format!("{MEMBERSHIPS}/{}", segment(id.as_str()));
        self.execute_empty(Call::delete(
            "/user_management/organization_memberships/{id}",
            path,
        ))
        .await
    }

    /// Deactivates a membership; its user's keys for that organization stop
    /// validating until it is reactivated:
    /// `PUT /user_management/organization_memberships/{id}/deactivate`.
    pub async fn deactivate_membership(
        &self,
        id: &MembershipId,
    ) -> Result<OrganizationMembership, Error> {
        let path = format!("{MEMBERSHIPS}/{}/deactivate", segment(id.as_str()));
        self.execute(Call::put(
            "/user_management/organization_memberships/{id}/deactivate",
            path,
        ))
        .await
    }

    /// Reactivates a membership, restoring its user's keys:
    /// `PUT /user_management/organization_memberships/{id}/reactivate`.
    pub async fn reactivate_membership(
        &self,
        id: &MembershipId,
    ) -> Result<OrganizationMembership, Error> {
        let path = format!("{MEMBERSHIPS}/{}/reactivate", segment(id.as_str()));
        self.execute(Call::put(
            "/user_management/organization_memberships/{id}/reactivate",
            path,
        ))
        .await
    }
}

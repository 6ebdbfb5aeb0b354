//! Organizations: the tenants that own API keys.

use keygate_types::{CreateOrganization, List, ListParams, Organization, OrganizationId};

use crate::call::{Call, segment};
use crate::page::list_query;
use crate::{Client, Create, Error, ItemStream, Page};

impl Client {
    /// Creates an organization: `POST /organizations`.
    pub fn create_organization(&self, body: CreateOrganization) -> Create<Organization> {
        Create::new(
            self,
            Call::post("/organizations", "/organizations".into()).json(&body),
        )
    }

    /// Reads an organization: `GET /organizations/{id}`.
    pub async fn get_organization(&self, id: &OrganizationId) -> Result<Organization, Error> {
        let path = format!("/organizations/{}", segment(id.as_str()));
        self.execute(Call::get("/organizations/{id}", path)).await
    }

    /// One page of organizations: `GET /organizations`.
    pub async fn list_organizations(
        &self,
        params: &ListParams,
    ) -> Result<Page<Organization>, Error> {
        let call = list_query(Call::get("/organizations", "/organizations".into()), params);
        Ok(self.execute::<List<Organization>>(call).await?.into())
    }

    /// All organizations, page after page.
    pub fn stream_organizations(&self, params: ListParams) -> ItemStream<Organization> {
        let client = self.clone();
        ItemStream::paging(params, move |params| {
            let client = client.clone();
            async move { client.list_organizations(&params).await }
        })
    }

    /// Deletes an organization and revokes all its keys:
    /// `DELETE /organizations/{id}`.
    pub async fn delete_organization(&self, id: &OrganizationId) -> Result<(), Error> {
        let path = format!("/organizations/{}", segment(id.as_str()));
        self.execute_empty(Call::delete("/organizations/{id}", path))
            .await
    }
}

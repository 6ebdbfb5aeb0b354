//! Users: people who may own API keys within an organization.

use keygate_types::{CreateUser, List, ListParams, OrganizationId, User, UserId};

use crate::call::{Call, segment};
use crate::page::list_query;
use crate::{Client, Create, Error, ItemStream, Page};

impl Client {
    /// Creates a user: `POST /user_management/users`.
    pub fn create_user(&self, body: CreateUser) -> Create<User> {
        Create::new(
            self,
            Call::post("/user_management/users", "/user_management/users".into()).json(&body),
        )
    }

    /// Reads a user: `GET /user_management/users/{id}`.
    pub async fn get_user(&self, id: &UserId) -> Result<User, Error> {
        let path = format!("/user_management/users/{}", segment(id.as_str()));
        self.execute(Call::get("/user_management/users/{id}", path))
            .await
    }

    /// One page of users, optionally only members of one organization:
    /// `GET /user_management/users`.
    pub async fn list_users(
        &self,
        organization: Option<&OrganizationId>,
        params: &ListParams,
    ) -> Result<Page<User>, Error> {
        let call = Call::get("/user_management/users", "/user_management/users".into())
            .query("organization_id", organization);
        Ok(self
            .execute::<List<User>>(list_query(call, params))
            .await?
            .into())
    }

    /// All users (of one organization, if given), page after page.
    pub fn stream_users(
        &self,
        organization: Option<&OrganizationId>,
        params: ListParams,
    ) -> ItemStream<User> {
        let (client, organization) = (self.clone(), organization.cloned());
        ItemStream::paging(params, move |params| {
            let (client, organization) = (client.clone(), organization.clone());
            async move { client.list_users(organization.as_ref(), &params).await }
        })
    }

    /// Deletes a user: `DELETE /user_management/users/{id}`.
    pub async fn delete_user(&self, id: &UserId) -> Result<(), Error> {
        let path = format!("/user_management/users/{}", segment(id.as_str()));
        self.execute_empty(Call::delete("/user_management/users/{id}", path))
            .await
    }
}

//! The API-key endpoints: create, list, expire, delete, validate.

use keygate_types::{
    ApiKey, ApiKeyId, CreateOrganizationApiKey, CreateUserApiKey, CreatedApiKey, ExpireApiKey,
    Expiry, List, ListParams, OrganizationId, SecretString, UserId, ValidateApiKey,
    ValidationResponse,
};

use crate::call::{Call, segment};
use crate::page::list_query;
use crate::{Client, Create, Error, ItemStream, Page};

impl Client {
    /// Validates a presented key value: `POST /api_keys/validations`.
    ///
    /// `Ok(Some(key))` for a valid key; `Ok(None)` **only** when the service
    /// answers `200 {"api_key": null}` (unknown, revoked or expired, or its
    /// owner's membership is gone). A 401, 429, 5xx, a timeout or an
    /// unreadable body is an `Err`: the key's validity is then unknown, never
    /// "invalid". Retried like a read. The value goes in the body only; it is
    /// never logged.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emu = keygate_emulator::Emulator::start().await?;
    /// # let org = emu.create_organization("Acme")?;
    /// # let created = emu.create_organization_key(&org.id, "CI", &["posts:read"])?;
    /// # let presented = created.value.expose_secret();
    /// # let client = keygate_client::Client::builder()
    /// #     .secret(emu.secret().clone()).base_url(emu.base_url()).build()?;
    /// match client.validate_api_key(presented).await? {
    ///     Some(key) => assert!(key.has_permission("posts:read")),
    ///     None => unreachable!("the key was just created"),
    /// }
    /// assert_eq!(client.validate_api_key("sk_made_up").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn validate_api_key(&self, value: &str) -> Result<Option<ApiKey>, Error> {
        Ok(self.validation(value).await?.api_key)
    }

    /// Validates a presented key value and answers the whole validation:
    /// the key (as [`validate_api_key`](Self::validate_api_key) does) and,
    /// for a key WorkOS issued to an AI agent, its `agent_registration_id`,
    /// so a service can tell an agent's key from a customer's.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emu = keygate_emulator::Emulator::start().await?;
    /// # let org = emu.create_organization("Acme")?;
    /// # let client = keygate_client::Client::builder()
    /// #     .secret(emu.secret().clone()).base_url(emu.base_url()).build()?;
    /// let agent = emu.create_agent_key(&org.id, "agent", &[], "agent_reg_01EHZNVPK3SFK441A1RGBFSHRT")?;
    /// let answer = client.validation(agent.value.expose_secret()).await?;
    /// assert_eq!(answer.api_key.map(|k| k.id), Some(agent.id.clone()));
    /// assert_eq!(answer.agent_registration_id.as_deref(), Some("agent_reg_01EHZNVPK3SFK441A1RGBFSHRT"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn validation(&self, value: &str) -> Result<ValidationResponse, Error> {
        let body = ValidateApiKey {
            value: SecretString::from(value),
        };
        let call = Call::post("/api_keys/validations", "/api_keys/validations".into())
            .idempotent()
            .json(&body);
        self.execute(call).await
    }

    /// Creates a key owned by an organization: `POST /organizations/{id}/api_keys`.
    /// The answer holds the value, shown this once.
    pub fn create_organization_api_key(
        &self,
        organization: &OrganizationId,
        body: CreateOrganizationApiKey,
    ) -> Create<CreatedApiKey> {
        let path = format!("/organizations/{}/api_keys", segment(organization.as_str()));
        Create::new(
            self,
            Call::post("/organizations/{id}/api_keys", path).json(&body),
        )
    }

    /// Creates a key owned by a user within an organization:
    /// `POST /user_management/users/{id}/api_keys`. The user needs an active
    /// membership in `body.organization_id`.
    pub fn create_user_api_key(
        &self,
        user: &UserId,
        body: CreateUserApiKey,
    ) -> Create<CreatedApiKey> {
        let path = format!("/user_management/users/{}/api_keys", segment(user.as_str()));
        Create::new(
            self,
            Call::post("/user_management/users/{id}/api_keys", path).json(&body),
        )
    }

    /// One page of an organization's own keys: `GET /organizations/{id}/api_keys`.
    pub async fn list_organization_api_keys(
        &self,
        organization: &OrganizationId,
        params: &ListParams,
    ) -> Result<Page<ApiKey>, Error> {
        let path = format!("/organizations/{}/api_keys", segment(organization.as_str()));
        let call = list_query(Call::get("/organizations/{id}/api_keys", path), params);
        Ok(self.execute::<List<ApiKey>>(call).await?.into())
    }

    /// All of an organization's keys, page after page.
    pub fn stream_organization_api_keys(
        &self,
        organization: &OrganizationId,
        params: ListParams,
    ) -> ItemStream<ApiKey> {
        let (client, organization) = (self.clone(), organization.clone());
        ItemStream::paging(params, move |params| {
            let (client, organization) = (client.clone(), organization.clone());
            async move {
                client
                    .list_organization_api_keys(&organization, &params)
                    .await
            }
        })
    }

    /// One page of a user's keys, optionally only those acting in one
    /// organization: `GET /user_management/users/{id}/api_keys`.
    pub async fn list_user_api_keys(
        &self,
        user: &UserId,
        organization: Option<&OrganizationId>,
        params: &ListParams,
    ) -> Result<Page<ApiKey>, Error> {
        let path = format!("/user_management/users/{}/api_keys", segment(user.as_str()));
        let call = Call::get("/user_management/users/{id}/api_keys", path)
            .query("organization_id", organization);
        Ok(self
            .execute::<List<ApiKey>>(list_query(call, params))
            .await?
            .into())
    }

    /// All of a user's keys, page after page.
    pub fn stream_user_api_keys(
        &self,
        user: &UserId,
        organization: Option<&OrganizationId>,
        params: ListParams,
    ) -> ItemStream<ApiKey> {
        let (client, user, organization) = (self.clone(), user.clone(), organization.cloned());
        ItemStream::paging(params, move |params| {
            let (client, user, organization) = (client.clone(), user.clone(), organization.clone());
            async move {
                client
                    .list_user_api_keys(&user, organization.as_ref(), &params)
                    .await
            }
        })
    }

    /// Deletes (revokes) a key: `DELETE /api_keys/{id}`. It stops validating at
    /// once. Retried like a read, so after a lost answer a retry may see 404.
    pub async fn delete_api_key(&self, id: &ApiKeyId) -> Result<(), Error> {
        let path = format!("/api_keys/{}", segment(id.as_str()));
        self.execute_empty(Call::delete("/api_keys/{id}", path))
            .await
    }

    /// Changes a key's expiry: `POST /api_keys/{id}/expire`.
    ///
    /// [`Expiry::Now`] expires it at once (409 `api_key_already_expired` if it
    /// already has); [`Expiry::At`] schedules it (a past time means now);
    /// [`Expiry::Clear`] removes a scheduled expiry. Scheduling and clearing
    /// are retried like reads; expiring now is not (a repeat would answer 409).
    pub async fn expire_api_key(&self, id: &ApiKeyId, expiry: Expiry) -> Result<ApiKey, Error> {
        let path = format!("/api_keys/{}/expire", segment(id.as_str()));
        let mut call = Call::post("/api_keys/{id}/expire", path).json(&ExpireApiKey { expiry });
        if expiry != Expiry::Now {
            call = call.idempotent();
        }
        self.execute(call).await
    }
}

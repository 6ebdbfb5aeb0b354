//! Creating keys under a [`KeyPolicy`], for services that make keys
//! themselves.

use futures_util::TryStreamExt;
use keygate_types::{
    ApiKey, CreateOrganizationApiKey, CreateUserApiKey, CreatedApiKey, KeyPolicy, ListParams,
    MAX_LIMIT, OrganizationId, Timestamp, UserId,
};

use crate::{Client, Error, IdempotencyKey};

impl Client {
    /// Creates an organization key if `policy` allows it: the expiry is
    /// checked first (no call), then, when the policy caps active keys, the
    /// organization's unexpired keys are counted. A refusal is
    /// [`Error::Policy`], and nothing is created.
    ///
    /// The count and the create are two calls: two creates at once may both
    /// pass the cap. Retried safely with a fresh idempotency key.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use keygate_client::Error;
    /// use keygate_types::{CreateOrganizationApiKey, KeyPolicy, PolicyViolation};
    ///
    /// # let emu = keygate_emulator::Emulator::start().await?;
    /// # let org = emu.create_organization("Acme")?;
    /// # let client = keygate_client::Client::builder()
    /// #     .secret(emu.secret().clone()).base_url(emu.base_url()).build()?;
    /// let policy = KeyPolicy::new().require_expiry();
    /// let body = CreateOrganizationApiKey {
    ///     name: "CI".into(),
    ///     permissions: Vec::new(),
    ///     expires_at: None,
    /// };
    /// let refused = client.create_organization_api_key_within(&policy, &org.id, body.clone()).await;
    /// assert!(matches!(refused, Err(Error::Policy(PolicyViolation::ExpiryRequired))));
    ///
    /// let one_each = KeyPolicy::new().max_active_keys(1);
    /// client.create_organization_api_key_within(&one_each, &org.id, body.clone()).await?;
    /// let refused = client.create_organization_api_key_within(&one_each, &org.id, body).await;
    /// assert!(matches!(refused, Err(Error::Policy(PolicyViolation::TooManyActiveKeys { max: 1 }))));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_organization_api_key_within(
        &self,
        policy: &KeyPolicy,
        organization: &OrganizationId,
        body: CreateOrganizationApiKey,
    ) -> Result<CreatedApiKey, Error> {
        let owned = self.stream_organization_api_keys(organization, all());
        check(policy, body.expires_at, owned).await?;
        self.create_organization_api_key(organization, body)
            .idempotency_key(IdempotencyKey::random())
            .await
    }

    /// Creates a user key if `policy` allows it, counting the user's
    /// unexpired keys in `body.organization_id`; as
    /// [`create_organization_api_key_within`](Self::create_organization_api_key_within).
    pub async fn create_user_api_key_within(
        &self,
        policy: &KeyPolicy,
        user: &UserId,
        body: CreateUserApiKey,
    ) -> Result<CreatedApiKey, Error> {
        let owned = self.stream_user_api_keys(user, Some(&body.organization_id), all());
        check(policy, body.expires_at, owned).await?;
        self.create_user_api_key(user, body)
            .idempotency_key(IdempotencyKey::random())
            .await
    }
}

/// Whether `policy` lets a key with `expires_at` be made: the expiry first
/// (no call), then, only when the policy caps active keys, the owner's
/// unexpired keys read from `owned` (a lazy stream: not read otherwise).
async fn check(
    policy: &KeyPolicy,
    expires_at: Option<Timestamp>,
    owned: impl futures_util::Stream<Item = Result<ApiKey, Error>>,
) -> Result<(), Error> {
    let now = Timestamp::now();
    policy
        .check_expiry(expires_at, now)
        .map_err(Error::Policy)?;
    if policy.active_keys_cap().is_some() {
        let keys: Vec<ApiKey> = owned.try_collect().await?;
        let active = keys.iter().filter(|k| !k.is_expired_at(now)).count();
        policy.check_active_keys(active).map_err(Error::Policy)?;
    }
    Ok(())
}

fn all() -> ListParams {
    ListParams {
        limit: Some(MAX_LIMIT),
        ..ListParams::default()
    }
}

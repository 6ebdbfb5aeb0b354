//! The permission catalogue and widget tokens.

use keygate_types::{
    AuthorizationPermission, CreateAuthorizationPermission, CreateWidgetToken, List, ListParams,
    WidgetToken,
};

use crate::call::Call;
use crate::page::list_query;
use crate::{Client, Create, Error, ItemStream, Page};

const PERMISSIONS: &str = "/authorization/permissions";

impl Client {
    /// A page of the environment's permissions (slug, name, description):
    /// `GET /authorization/permissions`.
    pub async fn list_permissions(
        &self,
        params: &ListParams,
    ) -> Result<Page<AuthorizationPermission>, Error> {
        let call = Call::get(PERMISSIONS, PERMISSIONS.into());
        Ok(self
            .execute::<List<AuthorizationPermission>>(list_query(call, params))
            .await?
            .into())
    }

    /// Every permission of the environment, page after page.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::TryStreamExt;
    /// use keygate_types::ListParams;
    ///
    /// let emu = keygate_emulator::Emulator::builder()
    ///     .permission("posts:write", "Write posts", Some("Create and edit posts."))
    ///     .start()
    ///     .await?;
    /// let client = keygate_client::Client::builder()
    ///     .secret(emu.secret().clone()).base_url(emu.base_url()).build()?;
    /// let all: Vec<_> = client.stream_permissions(ListParams::default()).try_collect().await?;
    /// assert_eq!(all[0].name, "Write posts");
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream_permissions(&self, params: ListParams) -> ItemStream<AuthorizationPermission> {
        let client = self.clone();
        ItemStream::paging(params, move |params| {
            let client = client.clone();
            async move { client.list_permissions(&params).await }
        })
    }

    /// Defines a permission: `POST /authorization/permissions`.
    pub fn create_permission(
        &self,
        body: CreateAuthorizationPermission,
    ) -> Create<AuthorizationPermission> {
        Create::new(
            self,
            Call::post(PERMISSIONS, PERMISSIONS.into()).json(&body),
        )
    }

    /// A token for a user's WorkOS widgets (`POST /widgets/token`), scoped
    /// to an organization when `body.organization_id` is set. The token is
    /// a credential: hand it to that user's browser only. Not retried: each
    /// call issues a new token.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use keygate_types::CreateWidgetToken;
    ///
    /// # let emu = keygate_emulator::Emulator::start().await?;
    /// # let org = emu.create_organization("Acme")?;
    /// # let ada = emu.create_user("ada@example.com")?;
    /// # emu.create_membership(&ada.id, &org.id)?;
    /// # let client = keygate_client::Client::builder()
    /// #     .secret(emu.secret().clone()).base_url(emu.base_url()).build()?;
    /// let widget = client
    ///     .create_widget_token(CreateWidgetToken {
    ///         organization_id: Some(org.id.clone()),
    ///         user_id: Some(ada.id.clone()),
    ///         scopes: vec!["widgets:api-keys:manage".into()],
    ///     })
    ///     .await?;
    /// assert!(!widget.token.expose_secret().is_empty());
    /// assert!(!format!("{widget:?}").contains(widget.token.expose_secret()));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_widget_token(&self, body: CreateWidgetToken) -> Result<WidgetToken, Error> {
        self.execute(Call::post("/widgets/token", "/widgets/token".into()).json(&body))
            .await
    }
}

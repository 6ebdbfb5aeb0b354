//! M2M applications, session tokens, the signing key: one line each in a test.

use keygate_types::{ErrorBody, OrganizationId, Session, UserId};

use super::Emulator;
use crate::{Error, M2mApplication, SessionToken};

impl Emulator {
    /// The environment's client id (`client_…`): the `aud` of M2M tokens and
    /// the `{client_id}` of `/sso/jwks/{client_id}`. Made on the first start
    /// and kept by a state file.
    pub fn client_id(&self) -> &str {
        self.env.tokens.client_id()
    }

    /// The AuthKit domain this emulator plays: the `iss` of M2M tokens, with
    /// the key set at `{authkit_domain}/oauth2/jwks`. Its base URL, unless
    /// [`EmulatorBuilder::authkit_domain`](crate::EmulatorBuilder::authkit_domain) set another.
    pub fn authkit_domain(&self) -> &str {
        self.env.tokens.m2m_issuer()
    }

    /// The `iss` of session tokens: `{authkit_domain}/user_management/{client_id}`.
    pub fn session_issuer(&self) -> String {
        self.env.tokens.session_issuer()
    }

    /// Registers an M2M application of `organization` that may be granted
    /// `scopes` (OAuth scope tokens: printable ASCII without spaces, quotes
    /// or backslashes); its client secret is in the answer only.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let emu = keygate_emulator::Emulator::start().await?;
    /// let org = emu.create_organization("Partner")?;
    /// let app = emu.create_m2m_application(&org.id, &["posts:read"])?;
    /// let form = format!(
    ///     "grant_type=client_credentials&client_id={}&client_secret={}",
    ///     app.client_id, app.client_secret,
    /// );
    /// let answer: serde_json::Value = reqwest::Client::new()
    ///     .post(format!("{}/oauth2/token", emu.authkit_domain()))
    ///     .header("content-type", "application/x-www-form-urlencoded")
    ///     .body(form)
    ///     .send().await?
    ///     .json().await?;
    /// assert_eq!(answer["token_type"], "bearer");
    /// # Ok(()) }
    /// ```
    pub fn create_m2m_application(
        &self,
        organization: &OrganizationId,
        scopes: &[&str],
    ) -> Result<M2mApplication, Error> {
        self.env.tokens.create_application(
            organization.as_str(),
            None,
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            self.now(),
        )
    }

    /// An M2M access token of a new application of `organization` granted
    /// `scopes`, as `POST /oauth2/token` would give it.
    pub fn m2m_access_token(
        &self,
        organization: &OrganizationId,
        scopes: &[&str],
    ) -> Result<String, Error> {
        let app = self.create_m2m_application(organization, scopes)?;
        self.env
            .tokens
            .client_credentials(&app.client_id, &app.client_secret, None, self.now())
            .map(|(token, _)| token)
            .map_err(|e| match e {
                crate::tokens::TokenError::Store(e) => e,
                _ => Error::BadRequest(ErrorBody::new(
                    "invalid_client",
                    "the application just made was refused",
                )),
            })
    }

    /// A new session of `user` in `organization` (an active membership is
    /// needed) with `permissions`, and its access token.
    pub fn session_access_token(
        &self,
        user: &UserId,
        organization: &OrganizationId,
        permissions: &[&str],
    ) -> Result<SessionToken, Error> {
        let active = self.env.store.read(|state| {
            state.directory.user(user.as_str())?;
            state.directory.organization(organization.as_str())?;
            Ok::<_, Error>(state.directory.has_active_membership(user, organization))
        })?;
        if !active {
            return Err(Error::Unprocessable(ErrorBody::new(
                "organization_membership_not_found",
                format!("{user} has no active membership in {organization}."),
            )));
        }
        self.env.tokens.start_session(
            user.clone(),
            Some(organization.clone()),
            "member",
            &permissions
                .iter()
                .map(|p| (*p).to_owned())
                .collect::<Vec<_>>(),
            None,
            self.now(),
        )
    }

    /// Revokes session `session_id` as `POST /user_management/sessions/revoke`
    /// does: a `session.revoked` event, delivered to webhooks. A revoked
    /// session stays revoked ([`Error::BadRequest`] `session_already_revoked`
    /// when revoked again), across restarts with a state file.
    pub fn revoke_session(&self, session_id: &str) -> Result<(), Error> {
        self.env.tokens.revoke_session(session_id, self.now())
    }

    /// Session `session_id` as the `session.revoked` event carries it:
    /// `status` is `active`, or `inactive` once revoked. `None` for an
    /// unknown session (or one a reset forgot).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let emu = keygate_emulator::Emulator::start().await?;
    /// let org = emu.create_organization("Acme")?;
    /// let user = emu.create_user("ada@example.com")?;
    /// emu.create_membership(&user.id, &org.id)?;
    /// let token = emu.session_access_token(&user.id, &org.id, &[])?;
    /// emu.revoke_session(&token.session_id)?;
    /// assert_eq!(emu.session(&token.session_id).unwrap().status, "inactive");
    /// # Ok(()) }
    /// ```
    pub fn session(&self, session_id: &str) -> Option<Session> {
        self.env.tokens.session(session_id)
    }

    /// Signs with a new key from now on (the old ones stay in the key set);
    /// the new key's `kid`. When a state file cannot keep the new key, the
    /// error is logged and the current key's `kid` returned: the new key is
    /// not used.
    pub fn rotate_signing_key(&self) -> String {
        match self.env.tokens.rotate() {
            Ok(kid) => kid,
            Err(e) => {
                tracing::error!(error = %e, "the new signing key could not be kept");
                self.env
                    .store
                    .read(|s| s.tokens.signing_keys.last().map(|k| k.kid().to_owned()))
                    .unwrap_or_default()
            }
        }
    }
}

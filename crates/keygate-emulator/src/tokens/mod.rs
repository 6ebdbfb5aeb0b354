//! The other WorkOS credentials: M2M access tokens (client credentials of
//! M2M applications) and AuthKit session access tokens, both RS256 JWTs
//! signed with the environment's key, published at `/oauth2/jwks` and
//! `/sso/jwks/{client_id}`.
//!
//! **decision** (WIRE.md): the emulator is its own AuthKit domain: M2M
//! tokens have `iss` = its base URL (or the domain set with
//! `EmulatorBuilder::authkit_domain`) and `aud` = the environment's client
//! id; session tokens have `iss` = `{AuthKit domain}/user_management/{client_id}`.
//! The signing key is made on first use (2048-bit RSA) and a rotation adds a
//! new one, the old ones staying in the key set. The client id, the keys,
//! applications and sessions are part of the store's state (`store::tokens`),
//! so a state file keeps them.

mod signing;

use std::sync::{Arc, OnceLock};

use keygate_types::{OrganizationId, Session, Timestamp, UserId};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub(crate) use signing::SigningKey;

use crate::Error;
use crate::store::{Application, NewApplication, Store};

/// How long an M2M access token lives (WorkOS does not publish it).
pub const M2M_TOKEN_LIFETIME_SECS: i64 = 3600;

/// How long a session access token lives (WorkOS's default).
pub const SESSION_TOKEN_LIFETIME_SECS: i64 = 300;

/// An M2M application as created, with its client secret (shown once: the
/// emulator keeps only its digest).
#[derive(Debug, Clone, Serialize)]
pub struct M2mApplication {
    /// The application's client id, `client_…`: an M2M token's `sub`.
    pub client_id: String,
    /// The client secret for `POST /oauth2/token`.
    pub client_secret: String,
    /// A name for people, when one was given.
    pub name: Option<String>,
    /// The organization the application acts for: a token's `org_id`.
    pub organization_id: OrganizationId,
    /// The scopes it may be granted: a token's `scope`.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A session access token as issued, with its session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionToken {
    /// The JWT.
    pub access_token: String,
    /// The session, `session_…`: the token's `sid`.
    pub session_id: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// What an M2M token request may be refused for (RFC 6749 § 5.2), or fail on.
#[derive(Debug)]
pub(crate) enum TokenError {
    /// Unknown client or wrong secret (401).
    InvalidClient,
    /// A scope the application does not have (400).
    InvalidScope,
    /// The signing key could not be made or kept (500).
    Store(Error),
}

/// The environment's token issuer; what it issues from lives in the store.
#[derive(Debug)]
pub(crate) struct Tokens {
    store: Arc<Store>,
    client_id: String,
    authkit_domain: OnceLock<String>,
}

impl Tokens {
    /// The issuer of the environment `client_id`, whose records are in `store`.
    pub(crate) fn new(store: Arc<Store>, client_id: String) -> Self {
        Self {
            store,
            client_id,
            authkit_domain: OnceLock::new(),
        }
    }

    /// Sets the AuthKit domain (the issuer), once the server is listening.
    pub(crate) fn set_authkit_domain(&self, url: &str) {
        let _ = self
            .authkit_domain
            .set(url.trim_end_matches('/').to_owned());
    }

    /// The environment's client id.
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The issuer of M2M tokens: the AuthKit domain.
    pub(crate) fn m2m_issuer(&self) -> &str {
        self.authkit_domain.get().map_or("", String::as_str)
    }

    /// The issuer of session tokens.
    pub(crate) fn session_issuer(&self) -> String {
        format!("{}/user_management/{}", self.m2m_issuer(), self.client_id)
    }

    /// The current signing key, made (and kept) on first use.
    fn signing_key(&self) -> Result<SigningKey, Error> {
        if let Some(key) = self.store.read(|s| s.tokens.signing_keys.last().cloned()) {
            return Ok(key);
        }
        // Made outside the lock: it takes a while.
        let made = SigningKey::generate();
        self.store.write(|state| {
            if state.tokens.signing_keys.is_empty() {
                state.add_signing_key(made);
            }
            Ok(state
                .tokens
                .signing_keys
                .last()
                .cloned()
                .expect("a key was just added"))
        })
    }

    /// Makes a new signing key and signs with it from now on; the old keys
    /// stay published. Returns the new `kid`.
    pub(crate) fn rotate(&self) -> Result<String, Error> {
        self.signing_key()?;
        let made = SigningKey::generate();
        let kid = made.kid().to_owned();
        self.store.write(|state| {
            state.add_signing_key(made);
            Ok(())
        })?;
        Ok(kid)
    }

    /// The key set document (JWKS).
    pub(crate) fn key_set(&self) -> Result<Value, Error> {
        self.signing_key()?;
        Ok(self.store.read(|state| {
            json!({"keys": state.tokens.signing_keys.iter().map(SigningKey::jwk).collect::<Vec<_>>()})
        }))
    }

    /// Registers an M2M application of `organization_id` (which must exist)
    /// with a fresh client secret.
    pub(crate) fn create_application(
        &self,
        organization_id: &str,
        name: Option<String>,
        scopes: Vec<String>,
        now: Timestamp,
    ) -> Result<M2mApplication, Error> {
        let client_secret: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(43)
            .map(char::from)
            .collect();
        let new = NewApplication {
            organization_id: organization_id.to_owned(),
            name,
            scopes,
            secret_digest: Sha256::digest(client_secret.as_bytes()).into(),
        };
        let Application {
            client_id,
            name,
            organization_id,
            scopes,
            created_at,
        } = self
            .store
            .write(|state| state.create_application(new, now))?;
        Ok(M2mApplication {
            client_id,
            client_secret,
            name,
            organization_id,
            scopes,
            created_at,
        })
    }

    /// An M2M access token for `client_id` proving `client_secret`, with
    /// `scope` (space-separated; all the application's scopes when `None`).
    pub(crate) fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
        now: Timestamp,
    ) -> Result<(String, i64), TokenError> {
        let presented: [u8; 32] = Sha256::digest(client_secret.as_bytes()).into();
        let (organization_id, scopes) = self.store.read(|state| {
            let record = state
                .tokens
                .applications
                .get(client_id)
                .ok_or(TokenError::InvalidClient)?;
            if !bool::from(presented.ct_eq(&record.secret_digest)) {
                return Err(TokenError::InvalidClient);
            }
            let app = &record.application;
            let scopes: Vec<String> = match scope {
                None => app.scopes.clone(),
                Some(asked) => {
                    let asked: Vec<String> = asked
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if asked.iter().any(|s| !app.scopes.contains(s)) {
                        return Err(TokenError::InvalidScope);
                    }
                    asked
                }
            };
            Ok((app.organization_id.clone(), scopes))
        })?;
        let iat = now.unix_timestamp();
        let claims = json!({
            "iss": self.m2m_issuer(),
            "sub": client_id,
            "aud": self.client_id,
            "client_id": client_id,
            "org_id": organization_id,
            "scope": scopes.join(" "),
            "jti": ulid::Ulid::new().to_string(),
            "iat": iat,
            "exp": iat + M2M_TOKEN_LIFETIME_SECS,
        });
        let key = self.signing_key().map_err(TokenError::Store)?;
        Ok((key.sign(&claims), M2M_TOKEN_LIFETIME_SECS))
    }

    /// A new session of `user_id` (in `organization_id`) and its access
    /// token; the session is kept, so it can be revoked.
    pub(crate) fn start_session(
        &self,
        user_id: UserId,
        organization_id: Option<OrganizationId>,
        role: &str,
        permissions: &[String],
        expires_in: Option<i64>,
        now: Timestamp,
    ) -> Result<SessionToken, Error> {
        let key = self.signing_key()?;
        let session_id = format!("session_{}", ulid::Ulid::new());
        let expires_in = expires_in.unwrap_or(SESSION_TOKEN_LIFETIME_SECS);
        let iat = now.unix_timestamp();
        let claims = json!({
            "iss": self.session_issuer(),
            "sub": user_id,
            "sid": session_id,
            "org_id": organization_id,
            "role": role,
            "roles": [role],
            "permissions": permissions,
            "entitlements": [],
            "feature_flags": [],
            "jti": ulid::Ulid::new().to_string(),
            "iat": iat,
            "exp": iat + expires_in,
        });
        let access_token = key.sign(&claims);
        self.store.write(|state| {
            state.start_session(Session {
                id: session_id.clone(),
                user_id,
                organization_id,
                status: "active".to_owned(),
                created_at: now,
                updated_at: now,
            });
            Ok(())
        })?;
        Ok(SessionToken {
            access_token,
            session_id,
            expires_in,
        })
    }

    /// Ends session `id`, recording `session.revoked` (delivered to webhooks).
    pub(crate) fn revoke_session(&self, id: &str, now: Timestamp) -> Result<(), Error> {
        self.store.write(|state| state.revoke_session(id, now))
    }

    /// Session `id`, active or revoked.
    pub(crate) fn session(&self, id: &str) -> Option<Session> {
        self.store
            .read(|state| state.tokens.sessions.get(id).cloned())
    }
}

//! The other WorkOS credentials: M2M access tokens (client credentials of
//! M2M applications) and AuthKit session access tokens, both RS256 JWTs
//! signed with the environment's key, published at `/oauth2/jwks` and
//! `/sso/jwks/{client_id}`.
//!
//! **decision** (WIRE.md): the emulator is its own AuthKit domain: M2M
//! tokens have `iss` = its base URL and `aud` = the environment's client
//! id; session tokens have `iss` = `{base URL}/user_management/{client_id}`.
//! The signing key is made on first use (2048-bit RSA) and a rotation adds a
//! new one, the old ones staying in the key set. Applications and sessions
//! live in memory only (not in the state file).

mod signing;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use keygate_types::{OrganizationId, Session, Timestamp, UserId};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub(crate) use signing::SigningKey;

/// How long an M2M access token lives (WorkOS does not publish it).
pub const M2M_TOKEN_LIFETIME_SECS: i64 = 3600;

/// How long a session access token lives (WorkOS's default).
pub const SESSION_TOKEN_LIFETIME_SECS: i64 = 300;

/// An M2M application as created, with its client secret (shown once).
#[derive(Debug, Clone, Serialize)]
pub struct M2mApplication {
    /// The application's client id, `client_…`: an M2M token's `sub`.
    pub client_id: String,
    /// The client secret for `POST /oauth2/token`.
    pub client_secret: String,
    /// The organization the application acts for: a token's `org_id`.
    pub organization_id: OrganizationId,
    /// The scopes it may be granted: a token's `scope`.
    pub scopes: Vec<String>,
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

/// What an M2M token request may be refused for (RFC 6749 § 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Unknown client or wrong secret (401).
    InvalidClient,
    /// A scope the application does not have (400).
    InvalidScope,
}

#[derive(Debug)]
struct Application {
    organization_id: OrganizationId,
    secret_digest: [u8; 32],
    scopes: Vec<String>,
}

#[derive(Debug, Clone)]
struct SessionRecord {
    user_id: UserId,
    organization_id: Option<OrganizationId>,
    created_at: Timestamp,
}

#[derive(Debug, Default)]
struct Held {
    /// Oldest first; the last one signs.
    keys: Vec<SigningKey>,
    applications: HashMap<String, Application>,
    sessions: HashMap<String, SessionRecord>,
}

/// The environment's token issuer.
#[derive(Debug)]
pub(crate) struct Tokens {
    client_id: String,
    base_url: OnceLock<String>,
    held: Mutex<Held>,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            client_id: format!("client_{}", ulid::Ulid::new()),
            base_url: OnceLock::new(),
            held: Mutex::new(Held::default()),
        }
    }
}

impl Tokens {
    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the base URL, once the server is listening.
    pub(crate) fn set_base_url(&self, url: &str) {
        let _ = self.base_url.set(url.to_owned());
    }

    /// The environment's client id.
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The issuer of M2M tokens: the base URL.
    pub(crate) fn m2m_issuer(&self) -> String {
        self.base_url.get().cloned().unwrap_or_default()
    }

    /// The issuer of session tokens.
    pub(crate) fn session_issuer(&self) -> String {
        format!("{}/user_management/{}", self.m2m_issuer(), self.client_id)
    }

    /// Forgets applications and sessions; the signing keys stay.
    pub(crate) fn reset(&self) {
        let mut held = self.held();
        held.applications.clear();
        held.sessions.clear();
    }

    /// The current signing key, made on first use.
    fn signing_key(&self) -> SigningKey {
        if let Some(key) = self.held().keys.last() {
            return key.clone();
        }
        // Made outside the lock: it takes a while.
        let made = SigningKey::generate();
        let mut held = self.held();
        if held.keys.is_empty() {
            held.keys.push(made);
        }
        held.keys.last().cloned().expect("a key was just added")
    }

    /// Makes a new signing key and signs with it from now on; the old keys
    /// stay published. Returns the new `kid`.
    pub(crate) fn rotate(&self) -> String {
        self.signing_key();
        let made = SigningKey::generate();
        let kid = made.kid().to_owned();
        self.held().keys.push(made);
        kid
    }

    /// The key set document (JWKS).
    pub(crate) fn key_set(&self) -> Value {
        self.signing_key();
        let held = self.held();
        json!({"keys": held.keys.iter().map(SigningKey::jwk).collect::<Vec<_>>()})
    }

    /// Registers an M2M application of `organization_id`.
    pub(crate) fn create_application(
        &self,
        organization_id: OrganizationId,
        scopes: Vec<String>,
    ) -> M2mApplication {
        let client_id = format!("client_{}", ulid::Ulid::new());
        let client_secret: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(43)
            .map(char::from)
            .collect();
        self.held().applications.insert(
            client_id.clone(),
            Application {
                organization_id: organization_id.clone(),
                secret_digest: Sha256::digest(client_secret.as_bytes()).into(),
                scopes: scopes.clone(),
            },
        );
        M2mApplication {
            client_id,
            client_secret,
            organization_id,
            scopes,
        }
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
        let (organization_id, scopes) = {
            let held = self.held();
            let app = held
                .applications
                .get(client_id)
                .ok_or(TokenError::InvalidClient)?;
            let presented: [u8; 32] = Sha256::digest(client_secret.as_bytes()).into();
            if !bool::from(presented.ct_eq(&app.secret_digest)) {
                return Err(TokenError::InvalidClient);
            }
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
            (app.organization_id.clone(), scopes)
        };
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
        Ok((self.signing_key().sign(&claims), M2M_TOKEN_LIFETIME_SECS))
    }

    /// A new session of `user_id` (in `organization_id`) and its access token.
    pub(crate) fn start_session(
        &self,
        user_id: UserId,
        organization_id: Option<OrganizationId>,
        role: &str,
        permissions: &[String],
        expires_in: Option<i64>,
        now: Timestamp,
    ) -> SessionToken {
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
        let access_token = self.signing_key().sign(&claims);
        self.held().sessions.insert(
            session_id.clone(),
            SessionRecord {
                user_id,
                organization_id,
                created_at: now,
            },
        );
        SessionToken {
            access_token,
            session_id,
            expires_in,
        }
    }

    /// Ends session `id`: the session as a `session.revoked` event carries
    /// it, or `None` for an unknown session.
    pub(crate) fn revoke_session(&self, id: &str, now: Timestamp) -> Option<Session> {
        let record = self.held().sessions.remove(id)?;
        Some(Session {
            id: id.to_owned(),
            user_id: record.user_id,
            organization_id: record.organization_id,
            status: "inactive".to_owned(),
            created_at: record.created_at,
            updated_at: now,
        })
    }
}

//! M2M access tokens and AuthKit session access tokens (RS256 JWTs),
//! verified locally: the other two WorkOS credentials, on the same layer as
//! API keys and with the same [`Principal`].
//!
//! Build a [`JwtVerifier`] with the kinds of token you accept (each opt-in),
//! and hand it to the layer; a credential shaped like a JWT goes to it, an
//! `sk_…` key goes to the key service as before.
//!
//! ```no_run
//! use keygate_auth::jwt::{JwtVerifier, M2mTokens, SessionTokens};
//!
//! # async fn run() -> Result<(), keygate_auth::jwt::JwtConfigError> {
//! let tokens = JwtVerifier::builder()
//!     // A partner's integration: client credentials from your AuthKit domain.
//!     .m2m(M2mTokens::new("https://acme.authkit.app", "client_01HZY3K2J5QW8N7X6V4T3R2P1M"))
//!     // Your web app's signed-in users.
//!     .sessions(SessionTokens::new("client_01HZY3K2J5QW8N7X6V4T3R2P1M"))
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! # What is checked
//! - **RS256 only**: any other `alg` (`none`, `HS256` signed with the public
//!   key, …) is refused before a key is looked up; a `kid` is required.
//! - **Issuer**: the token's `iss` picks the configuration; an `iss` not
//!   listed for that kind of token is refused. Session issuers are a list
//!   (WorkOS uses several forms; add a custom auth domain with
//!   [`SessionTokens::issuer`]).
//! - **Audience** (M2M): `aud` must name the client id given to [`M2mTokens::new`].
//! - **Time**: `exp` is required; `exp`, `nbf` and `iat` are checked with
//!   a leeway of [`DEFAULT_LEEWAY`] (30 s) for clock skew.
//! - **Revocation** (sessions): a `session.revoked` event denies its `sid`
//!   through the [`SessionDenylist`] until the session's tokens have expired.
//!   In fleet mode the denial reaches every replica through the shared
//!   tier's log, and a replica that has not heard the log within the tier's
//!   revocation bound (one just started included) answers session tokens
//!   with 503: see the [tier contract](crate::tier).
//!
//! Claims to principal: see [`Principal`] (permissions from a session's
//! `permissions`, from an M2M token's space-separated `scope`).
//!
//! # The key-set cache
//! Each issuer's key set is fetched when the verifier is built, refreshed
//! on an unknown `kid` at most once per [cooldown](JwtVerifierBuilder::key_set_cooldown)
//! (so a flood of forged `kid`s costs the key-set endpoint at most one
//! request per cooldown), remembers `kid`s it did not find, and keeps the
//! last good set when the endpoint fails. A token whose key set was never
//! fetched is answered 503, never 401.
//!
//! # A token seen before
//! A verified token's principal is kept (by the SHA-256 digest of the
//! token, never the token) until its `exp`, for at most
//! [`VERIFIED_TTL`]; a hit costs a hash and a lookup, and still honours
//! `exp` and the session denylist.

mod claims;
mod key_set;
mod sessions;
mod token;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use key_set::{MAX_UNKNOWN_KIDS, UNKNOWN_KID_MEMORY};
pub use sessions::SessionDenylist;
pub use token::MAX_TOKEN_LENGTH;

use crate::clock::{Clock, SystemClock};
use crate::principal::{Principal, PrincipalKind};
use crate::{AuthRejection, InvalidToken, TokenRefusal};
use claims::Claims;
use key_set::{KeyMiss, KeySet};

/// The clock-skew allowance on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The least time between two fetches of a key set caused by unknown `kid`s.
pub const DEFAULT_KEY_SET_COOLDOWN: Duration = Duration::from_secs(30);

/// How old a key set may grow before it is fetched again in the background.
pub const DEFAULT_KEY_SET_REFRESH: Duration = Duration::from_secs(3600);

/// The longest a session token may be valid (`exp` − `iat`): the time a
/// revoked session stays denied. WorkOS's default is 5 minutes.
pub const DEFAULT_SESSION_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The longest a verified token's principal is kept before it is verified again.
pub const VERIFIED_TTL: Duration = Duration::from_secs(300);

/// WorkOS's API, where session key sets are served.
pub const WORKOS_API: &str = "https://api.workos.com";

/// The timeout of a key-set fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Accept M2M access tokens (OAuth client credentials) from an AuthKit domain.
#[derive(Debug, Clone)]
pub struct M2mTokens {
    issuer: String,
    audience: String,
    key_set_url: String,
}

impl M2mTokens {
    /// Tokens issued by `authkit_domain` (such as `https://acme.authkit.app`:
    /// their `iss`) for `client_id` (your environment's client id: their
    /// `aud`). Keys at `{authkit_domain}/oauth2/jwks`.
    pub fn new(authkit_domain: impl Into<String>, client_id: impl Into<String>) -> Self {
        let issuer = authkit_domain.into().trim_end_matches('/').to_owned();
        Self {
            key_set_url: format!("{issuer}/oauth2/jwks"),
            issuer,
            audience: client_id.into(),
        }
    }

    /// Fetches the key set from `url` instead.
    pub fn key_set_url(mut self, url: impl Into<String>) -> Self {
        self.key_set_url = url.into();
        self
    }
}

/// Accept AuthKit session access tokens of your signed-in users.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    client_id: String,
    api_base: String,
    issuers: Vec<String>,
    key_set_url: Option<String>,
    audience: Option<String>,
}

impl SessionTokens {
    /// Tokens of your environment's `client_id`, keys at
    /// `https://api.workos.com/sso/jwks/{client_id}`, issued by
    /// `https://api.workos.com` or `https://api.workos.com/user_management/{client_id}`.
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            api_base: WORKOS_API.to_owned(),
            issuers: Vec::new(),
            key_set_url: None,
            audience: None,
        }
    }

    /// Another WorkOS API base (such as the emulator's URL) for the key set
    /// and the two default issuers.
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into().trim_end_matches('/').to_owned();
        self
    }

    /// Trusts `issuer` too, such as a custom auth domain.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Fetches the key set from `url` instead.
    pub fn key_set_url(mut self, url: impl Into<String>) -> Self {
        self.key_set_url = Some(url.into());
        self
    }

    /// Requires `aud` to name `audience` (WorkOS's SDKs check no audience on
    /// session tokens, so neither does keygate unless asked).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
}

/// Why a [`JwtVerifier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// Neither M2M nor session tokens were configured.
    #[error("no kind of token was configured: add `m2m(…)` or `sessions(…)`")]
    Empty,
    /// The HTTP client for key sets could not be built (TLS set-up).
    #[error("the HTTP client for key sets could not be built: {0}")]
    Http(String),
    /// A key-set URL needs TLS and keygate-auth was built without it.
    #[error(
        "the key-set URL `{0}` needs TLS: turn on keygate's feature `aws-lc-rs` or `ring`, \
         or pass a reqwest client with `http_client`"
    )]
    NoTls(String),
}

/// Builds a [`JwtVerifier`].
#[derive(Debug)]
pub struct JwtVerifierBuilder {
    m2m: Option<M2mTokens>,
    sessions: Option<SessionTokens>,
    leeway: Duration,
    cooldown: Duration,
    refresh: Duration,
    session_max_lifetime: Duration,
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
    denylist: SessionDenylist,
}

impl JwtVerifierBuilder {
    /// Accepts M2M access tokens.
    pub fn m2m(mut self, m2m: M2mTokens) -> Self {
        self.m2m = Some(m2m);
        self
    }

    /// Accepts AuthKit session access tokens.
    pub fn sessions(mut self, sessions: SessionTokens) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// The clock-skew allowance ([`DEFAULT_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The least time between two key-set fetches caused by unknown `kid`s
    /// ([`DEFAULT_KEY_SET_COOLDOWN`]).
    pub fn key_set_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How old a key set may grow before it is fetched again in the
    /// background ([`DEFAULT_KEY_SET_REFRESH`]).
    pub fn key_set_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }

    /// The longest a session token may be valid, `exp` − `iat`
    /// ([`DEFAULT_SESSION_MAX_LIFETIME`]): a revoked session is denied for
    /// this long, so a longer-lived token is refused.
    pub fn session_max_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_max_lifetime = lifetime;
        self
    }

    /// Fetches key sets with this client (its proxy, TLS roots, timeouts).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock for `exp`, `nbf` and `iat` (tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Shares `denylist` (for one denylist across verifiers).
    pub fn session_denylist(mut self, denylist: SessionDenylist) -> Self {
        self.denylist = denylist;
        self
    }

    /// Builds the verifier and, on a Tokio runtime, starts fetching the key sets.
    pub fn build(self) -> Result<JwtVerifier, JwtConfigError> {
        let mut trusts = Vec::new();
        let mut urls = Vec::new();
        if let Some(m2m) = &self.m2m {
            urls.push(m2m.key_set_url.clone());
        }
        if let Some(sessions) = &self.sessions {
            urls.push(session_key_set_url(sessions));
        }
        if urls.is_empty() {
            return Err(JwtConfigError::Empty);
        }
        let http = match self.http {
            Some(http) => http,
            None => http_client(&urls)?,
        };
        let key_set =
            |url: String| Arc::new(KeySet::new(url, http.clone(), self.cooldown, self.refresh));
        if let Some(m2m) = self.m2m {
            trusts.push(Trust {
                kind: PrincipalKind::M2m,
                issuers: vec![m2m.issuer],
                audience: Some(m2m.audience),
                keys: key_set(m2m.key_set_url),
            });
        }
        if let Some(sessions) = self.sessions {
            let url = session_key_set_url(&sessions);
            let mut issuers = vec![
                sessions.api_base.clone(),
                format!(
                    "{}/user_management/{}",
                    sessions.api_base, sessions.client_id
                ),
            ];
            issuers.extend(sessions.issuers);
            // Two kinds on one key-set URL share one cache.
            let keys = trusts
                .iter()
                .find(|t: &&Trust| t.keys.url() == url)
                .map_or_else(|| key_set(url), |t| Arc::clone(&t.keys));
            trusts.push(Trust {
                kind: PrincipalKind::Session,
                issuers,
                audience: sessions.audience,
                keys,
            });
        }
        let verifier = JwtVerifier(Arc::new(Inner {
            trusts,
            leeway: self.leeway,
            session_max_lifetime: self.session_max_lifetime,
            clock: self.clock,
            denylist: self.denylist,
            verified: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(VERIFIED_TTL)
                .build(),
        }));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let prefetch = verifier.clone();
            runtime.spawn(async move { prefetch.prefetch().await });
        }
        Ok(verifier)
    }
}

fn session_key_set_url(sessions: &SessionTokens) -> String {
    sessions
        .key_set_url
        .clone()
        .unwrap_or_else(|| format!("{}/sso/jwks/{}", sessions.api_base, sessions.client_id))
}

/// One kind of token and whom it trusts.
#[derive(Debug)]
struct Trust {
    kind: PrincipalKind,
    issuers: Vec<String>,
    audience: Option<String>,
    keys: Arc<KeySet>,
}

/// Verifies M2M and AuthKit session access tokens and turns them into
/// [`Principal`]s. Cloning it shares its caches. See the [module docs](self).
#[derive(Clone)]
pub struct JwtVerifier(Arc<Inner>);

struct Inner {
    trusts: Vec<Trust>,
    leeway: Duration,
    session_max_lifetime: Duration,
    clock: Arc<dyn Clock>,
    denylist: SessionDenylist,
    /// Principals of verified tokens by the token's digest.
    verified: moka::sync::Cache<[u8; 32], Principal>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("trusts", &self.0.trusts)
            .field("leeway", &self.0.leeway)
            .field("denylist", &self.0.denylist)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A builder with the defaults and no kind of token yet.
    pub fn builder() -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            m2m: None,
            sessions: None,
            leeway: DEFAULT_LEEWAY,
            cooldown: DEFAULT_KEY_SET_COOLDOWN,
            refresh: DEFAULT_KEY_SET_REFRESH,
            session_max_lifetime: DEFAULT_SESSION_MAX_LIFETIME,
            http: None,
            clock: Arc::new(SystemClock),
            denylist: SessionDenylist::default(),
        }
    }

    /// The revoked sessions this verifier refuses; give it to the
    /// [revocation listener](crate::RevocationListener::sessions) and the
    /// [webhook receiver](crate::WebhookReceiver::sessions).
    pub fn session_denylist(&self) -> &SessionDenylist {
        &self.0.denylist
    }

    /// Denies session `sid` from now until its tokens can no longer be
    /// valid (the [maximum lifetime](JwtVerifierBuilder::session_max_lifetime)).
    pub fn revoke_session(&self, sid: &str) {
        self.0.denylist.deny(sid, self.deny_until());
    }

    /// Until when a session revoked now stays denied.
    pub(crate) fn deny_until(&self) -> keygate_types::Timestamp {
        let lifetime =
            time::Duration::try_from(self.0.session_max_lifetime).unwrap_or(time::Duration::DAY);
        let leeway = time::Duration::try_from(self.0.leeway).unwrap_or(time::Duration::ZERO);
        self.0.clock.now().saturating_add(lifetime + leeway)
    }

    /// Fetches every key set not fetched yet, and waits for fetches under
    /// way: the verifier is then ready to verify without a fetch.
    pub async fn prefetch(&self) {
        for trust in &self.0.trusts {
            trust.keys.prefetch().await;
        }
    }

    /// How many key-set fetches this verifier has made (all issuers).
    pub fn key_set_fetches(&self) -> u64 {
        let mut seen: Vec<&Arc<KeySet>> = Vec::new();
        for trust in &self.0.trusts {
            if !seen.iter().any(|k| Arc::ptr_eq(k, &trust.keys)) {
                seen.push(&trust.keys);
            }
        }
        seen.iter().map(|k| k.fetches()).sum()
    }

    /// How many keys the key sets hold (all issuers).
    pub fn keys_held(&self) -> usize {
        self.0.trusts.iter().map(|t| t.keys.len()).sum()
    }

    /// Verifies `token` and returns its principal, or the refusal to send:
    /// 401 `invalid_token` with a [`TokenRefusal`], or 503 when the issuer's
    /// key set was never fetched.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthRejection> {
        if let Some(judged) = self.verify_seen(token) {
            return judged;
        }
        let principal = self.verify_fresh(token, self.0.clock.now()).await?;
        self.0.verified.insert(digest(token), principal.clone());
        Ok(principal)
    }

    /// The verdict on a token verified before, without waiting: `None` when
    /// it was not (the layer's hit path, with no allocation).
    pub(crate) fn verify_seen(&self, token: &str) -> Option<Result<Principal, AuthRejection>> {
        let principal = self.0.verified.get(&digest(token))?;
        Some(
            self.still_valid(principal, self.0.clock.now())
                .map_err(refused),
        )
    }

    /// A kept principal's checks that time and revocation can change.
    fn still_valid(
        &self,
        principal: Principal,
        now: keygate_types::Timestamp,
    ) -> Result<Principal, TokenRefusal> {
        let leeway = self.leeway_secs();
        if principal
            .expires_at()
            .is_some_and(|exp| exp.unix_timestamp().saturating_add(leeway) <= now.unix_timestamp())
        {
            return Err(TokenRefusal::Expired);
        }
        if let Some(sid) = principal.session_id()
            && self.0.denylist.is_denied(sid, now)
        {
            return Err(TokenRefusal::SessionRevoked);
        }
        Ok(principal)
    }

    fn leeway_secs(&self) -> i64 {
        i64::try_from(self.0.leeway.as_secs()).unwrap_or(i64::MAX)
    }

    async fn verify_fresh(
        &self,
        token: &str,
        now: keygate_types::Timestamp,
    ) -> Result<Principal, AuthRejection> {
        let jws = token::split(token).map_err(refused)?;
        let claims = Claims::read(&jws.payload).map_err(refused)?;
        let kind = claims.kind();
        let issuer = claims
            .iss
            .as_deref()
            .ok_or(refused(TokenRefusal::Claim("iss")))?;
        let trust = self
            .0
            .trusts
            .iter()
            .find(|t| t.kind == kind && t.issuers.iter().any(|i| i == issuer))
            .ok_or(refused(TokenRefusal::Issuer))?;
        let key = match trust.keys.key(&jws.kid).await {
            Ok(key) => key,
            Err(KeyMiss::Unknown) => return Err(refused(TokenRefusal::UnknownKeyId)),
            Err(KeyMiss::NoKeySet) => {
                return Err(AuthRejection::Unavailable {
                    retry_after: trust.keys.cooldown_left().max(Duration::from_secs(1)),
                });
            }
        };
        if !key.verify(jws.signed.as_bytes(), &jws.signature) {
            return Err(refused(TokenRefusal::Signature));
        }
        self.check(trust, &claims, now).map_err(refused)?;
        let principal = claims.principal().map_err(refused)?;
        self.still_valid(principal, now).map_err(refused)
    }

    /// The claims' checks once the signature holds: time, audience, lifetime.
    fn check(
        &self,
        trust: &Trust,
        claims: &Claims,
        now: keygate_types::Timestamp,
    ) -> Result<(), TokenRefusal> {
        let now = now.unix_timestamp();
        let leeway = self.leeway_secs();
        let exp = claims.expires_at()?.unix_timestamp();
        if exp.saturating_add(leeway) <= now {
            return Err(TokenRefusal::Expired);
        }
        for at in [claims.nbf, claims.iat].into_iter().flatten() {
            let at = claims::seconds(at).ok_or(TokenRefusal::Malformed)?;
            if at.unix_timestamp() > now.saturating_add(leeway) {
                return Err(TokenRefusal::NotYetValid);
            }
        }
        if let Some(audience) = &trust.audience
            && !claims.aud.names(audience)
        {
            return Err(TokenRefusal::Audience);
        }
        if trust.kind == PrincipalKind::Session {
            let issued = claims
                .iat
                .and_then(claims::seconds)
                .ok_or(TokenRefusal::Claim("iat"))?
                .unix_timestamp();
            let max = i64::try_from(self.0.session_max_lifetime.as_secs()).unwrap_or(i64::MAX);
            if exp.saturating_sub(issued) > max {
                return Err(TokenRefusal::Lifetime);
            }
        }
        Ok(())
    }
}

/// The key of a verified token's principal: its SHA-256, never the token.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn refused(refusal: TokenRefusal) -> AuthRejection {
    tracing::debug!(reason = %refusal, "access token refused");
    AuthRejection::InvalidToken(InvalidToken::Token(refusal))
}

/// The HTTP client for key sets, with TLS as keygate-auth's features say.
fn http_client(urls: &[String]) -> Result<reqwest::Client, JwtConfigError> {
    let builder = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("keygate-auth/", env!("CARGO_PKG_VERSION")));
    let builder = tls(builder, urls)?;
    builder
        .build()
        .map_err(|e| JwtConfigError::Http(e.to_string()))
}

#[cfg(feature = "aws-lc-rs")]
fn tls(
    builder: reqwest::ClientBuilder,
    _urls: &[String],
) -> Result<reqwest::ClientBuilder, JwtConfigError> {
    // reqwest's `rustls` feature: the process default provider, else aws-lc-rs.
    Ok(builder)
}

#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
fn tls(
    builder: reqwest::ClientBuilder,
    _urls: &[String],
) -> Result<reqwest::ClientBuilder, JwtConfigError> {
    use rustls::crypto::CryptoProvider;
    use rustls_platform_verifier::BuilderVerifierExt;

    // As keygate-client does on ring: the process default first, the OS's trust store.
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| JwtConfigError::Http(format!("TLS on ring: {e}")))?
        .with_platform_verifier()
        .map_err(|e| JwtConfigError::Http(format!("the OS's trust store: {e}")))?
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(builder.tls_backend_preconfigured(tls))
}

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
fn tls(
    builder: reqwest::ClientBuilder,
    urls: &[String],
) -> Result<reqwest::ClientBuilder, JwtConfigError> {
    match urls.iter().find(|u| u.starts_with("https:")) {
        Some(url) => Err(JwtConfigError::NoTls(url.clone())),
        None => Ok(builder),
    }
}

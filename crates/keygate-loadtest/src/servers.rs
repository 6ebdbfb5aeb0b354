//! The servers under test, all on loopback in one process:
//!
//! - the **app**: one axum server with five front doors to the same `hello`
//!   handler: none, keygate (`ApiKeyAuth` validating through the typed client
//!   against the emulator, plus a `RequirePermission` guard), tower-http's
//!   static bearer check, an HS256 JWT, and keygate with access tokens (an
//!   AuthKit session token, RS256, verified once against the emulator's key
//!   set, then answered from keygate's cache of verified tokens); and a
//!   second keygate route checking the permission with the `Authorized<P>`
//!   extractor instead of a guard layer;
//! - the **emulator**, whose `POST /api_keys/validations` is measured, and
//!   which signs the session token and serves its key set;
//! - a **hello-world** axum server, the emulator's yardstick.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use keygate_auth::jwt::{JwtVerifier, SessionTokens};
use keygate_auth::{ApiKeyAuth, ApiKeyPrincipal, Authorized, RequirePermission, permission};
use keygate_emulator::{Emulator, Seed};
use keygate_types::{OrganizationId, SecretString, UserId};
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The public route of the app: no authentication (door 1 of 5).
pub const PUBLIC_PATH: &str = "/public";
/// tower-http's `ValidateRequestHeaderLayer::bearer` with one static token
/// (door 3 of 5): the least a service can do.
pub const STATIC_BEARER_PATH: &str = "/static-bearer";
/// An HS256 JWT verified by `jsonwebtoken` in a `from_fn` middleware (door 4
/// of 5): what a service would do with self-contained tokens, verifying
/// every request.
pub const JWT_PATH: &str = "/jwt";
/// The keygate route of the app (door 2 of 5): `.layer(ApiKeyAuth)` on its
/// router and `RequirePermission` on the route, as the README mounts it.
pub const KEYGATE_PATH: &str = "/private";
/// The keygate route for access tokens (door 5 of 5): the same handler and
/// guard as [`KEYGATE_PATH`] behind an `ApiKeyAuth` of its own built with
/// `access_tokens` (AuthKit session tokens of the emulator), so that the API
/// key door's layer stays as the README mounts it. Send it a token from
/// [`session_token`].
pub const SESSION_PATH: &str = "/private-session";
/// The app's keygate route that checks [`PERMISSION`] with the
/// `Authorized<P>` extractor: one route layer fewer than [`KEYGATE_PATH`].
pub const EXTRACTOR_PATH: &str = "/private-extractor";
/// The hello-world server's route.
pub const HELLO_PATH: &str = "/hello";
/// The emulator's validation endpoint.
pub const VALIDATION_PATH: &str = "/api_keys/validations";
/// The permission the keygate route requires (and the key has).
pub const PERMISSION: &str = "posts:read";

permission!(PostsRead = "posts:read");

/// The emulator's environment secret and the one API key the load uses:
/// chosen by the driver, handed to the server process in its environment,
/// never printed.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The emulator's environment secret (`sk_test_…`).
    pub secret: SecretString,
    /// An organization key with [`PERMISSION`]; also the static bearer
    /// token of [`STATIC_BEARER_PATH`], so both requests are the same size.
    pub key: SecretString,
}

/// The HS256 secret of [`JWT_PATH`] (a load test's, not a secret).
const JWT_SECRET: &[u8] = b"keygate-loadtest-hs256-secret-0123456789";

/// The claims of the JWT door's token.
#[derive(Debug, serde::Serialize, serde::Deserialize, Clone)]
struct Claims {
    sub: String,
    org: String,
    permissions: Vec<String>,
    exp: u64,
}

/// A token for [`JWT_PATH`], valid for a day, with [`PERMISSION`].
pub fn jwt() -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 86_400;
    let claims = Claims {
        sub: "api_key_01HZY3K2J5QW8N7X6V4T3R2P1M".into(),
        org: "org_01HZY3K2J5QW8N7X6V4T3R2P1M".into(),
        permissions: vec![PERMISSION.into()],
        exp,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET),
    )
    .expect("HS256 encoding of plain claims")
}

/// The JWT door: verify the token, check the permission, put the claims in
/// the request's extensions.
async fn jwt_check(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    static KEY: std::sync::LazyLock<jsonwebtoken::DecodingKey> =
        std::sync::LazyLock::new(|| jsonwebtoken::DecodingKey::from_secret(JWT_SECRET));
    static VALIDATION: std::sync::LazyLock<jsonwebtoken::Validation> =
        std::sync::LazyLock::new(|| jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256));
    let token = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let claims =
        token.and_then(|token| jsonwebtoken::decode::<Claims>(token, &KEY, &VALIDATION).ok());
    match claims {
        Some(data) if data.claims.permissions.iter().any(|p| p == PERMISSION) => {
            request
                .extensions_mut()
                .insert(std::sync::Arc::new(data.claims));
            next.run(request).await
        }
        Some(_) => http::StatusCode::FORBIDDEN.into_response(),
        None => http::StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// The environment variable carrying [`Credentials::secret`] to a server process.
pub const SECRET_VAR: &str = "KEYGATE_LOADTEST_SECRET";
/// The environment variable carrying [`Credentials::key`] to a server process.
pub const KEY_VAR: &str = "KEYGATE_LOADTEST_KEY";

impl Credentials {
    /// Fresh random ones.
    pub fn generate() -> Self {
        let random = |n| -> String {
            rand::rng()
                .sample_iter(Alphanumeric)
                .take(n)
                .map(char::from)
                .collect()
        };
        Self {
            secret: SecretString::new(format!("sk_test_{}", random(40))),
            key: SecretString::new(format!("sk_{}", random(48))),
        }
    }

    /// Reads them from [`SECRET_VAR`] and [`KEY_VAR`].
    pub fn from_env() -> Option<Self> {
        Some(Self {
            secret: SecretString::new(std::env::var(SECRET_VAR).ok()?),
            key: SecretString::new(std::env::var(KEY_VAR).ok()?),
        })
    }
}

/// Why the servers could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The emulator did not start.
    #[error("emulator: {0}")]
    Emulator(#[from] keygate_emulator::Error),
    /// The key-service client could not be built.
    #[error("key-service client: {0}")]
    Client(#[from] keygate_client::Error),
    /// A listener could not be bound.
    #[error("binding a loopback port: {0}")]
    Bind(#[from] std::io::Error),
    /// The session door's token verifier could not be built.
    #[error("access-token verifier: {0}")]
    Tokens(#[from] keygate_auth::jwt::JwtConfigError),
}

/// The running servers; they stop when this is dropped.
#[derive(Debug)]
pub struct Servers {
    /// The app: [`PUBLIC_PATH`], [`KEYGATE_PATH`], [`EXTRACTOR_PATH`],
    /// [`STATIC_BEARER_PATH`], [`JWT_PATH`] and [`SESSION_PATH`].
    pub app: SocketAddr,
    /// The emulator: [`VALIDATION_PATH`].
    pub emulator: SocketAddr,
    /// The hello-world server: [`HELLO_PATH`].
    pub hello: SocketAddr,
    /// The user whose [`session_token`] the session door accepts.
    pub session_user: UserId,
    /// The organization of that user's sessions.
    pub session_organization: OrganizationId,
    // Held for its lifetime: dropping it stops the emulator.
    _emulator: Emulator,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn hello() -> &'static str {
    "hello"
}

async fn hello_principal(principal: ApiKeyPrincipal) -> &'static str {
    // Read the principal as a handler would, so the route does what users' do.
    let _ = principal.organization_id();
    "hello"
}

async fn hello_authorized(who: Authorized<PostsRead>) -> &'static str {
    let _ = who.organization_id();
    "hello"
}

/// The app: the five front doors, each on a router of its own, merged.
/// `auth` guards the API key door, `session_auth` (an `ApiKeyAuth` with
/// access tokens) the session token door.
pub fn app<V: keygate_auth::KeyValidator>(
    auth: ApiKeyAuth<V>,
    session_auth: ApiKeyAuth<V>,
    static_token: &str,
) -> Router {
    let session = Router::new()
        .route(
            SESSION_PATH,
            get(hello_principal).route_layer(RequirePermission(PERMISSION)),
        )
        .layer(session_auth);
    let keygate = Router::new()
        .route(
            KEYGATE_PATH,
            get(hello_principal).route_layer(RequirePermission(PERMISSION)),
        )
        .route(EXTRACTOR_PATH, get(hello_authorized))
        .layer(auth);
    #[allow(deprecated)] // `bearer` is tower-http's static-token check, the baseline.
    let static_bearer = Router::new()
        .route(STATIC_BEARER_PATH, get(hello))
        .layer(tower_http::validate_request::ValidateRequestHeaderLayer::bearer(static_token));
    let jwt = Router::new()
        .route(JWT_PATH, get(hello))
        .layer(axum::middleware::from_fn(jwt_check));
    Router::new()
        .route(PUBLIC_PATH, get(hello))
        .merge(keygate)
        .merge(static_bearer)
        .merge(jwt)
        .merge(session)
}

/// The hello-world router.
pub fn hello_world() -> Router {
    Router::new().route(HELLO_PATH, get(hello))
}

async fn spawn(router: Router) -> Result<(SocketAddr, JoinHandle<()>), ServeError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // Serving ends only on an accept error; the run then reports broken
        // connections.
        let _ = axum::serve(listener, router).await;
    });
    Ok((addr, task))
}

/// Starts the emulator (holding the key, and a user whose sessions the
/// session door accepts), the app and the hello-world server on loopback
/// ports, on the current tokio runtime.
pub async fn start(credentials: &Credentials) -> Result<Servers, ServeError> {
    let seed = serde_json::json!({
        "organization_permissions": [PERMISSION],
        "organizations": [{"name": "Load"}],
        "api_keys": [{
            "name": "load test",
            "organization": "Load",
            "permissions": [PERMISSION],
            "value": credentials.key.expose_secret(),
        }],
    });
    let seed = Seed::from_json(&seed.to_string())?;
    let emulator = Emulator::builder()
        .secret(credentials.secret.clone())
        .seed(seed)
        .start()
        .await?;
    let session_organization = emulator.create_organization("Load sessions")?.id;
    let session_user = emulator.create_user("load@example.com")?.id;
    emulator.create_membership(&session_user, &session_organization)?;

    let client = keygate_client::Client::builder()
        .base_url(emulator.base_url())
        .secret(credentials.secret.clone())
        .build()?;
    let tokens = JwtVerifier::builder()
        .sessions(SessionTokens::new(emulator.client_id()).api_base(emulator.base_url()))
        .build()?;
    // The key set is in hand before the first request, as on a service
    // that has been up for a while.
    tokens.prefetch().await;
    let session_auth = ApiKeyAuth::builder(client.clone())
        .access_tokens(tokens)
        .build();
    let (app, app_task) = spawn(app(
        ApiKeyAuth::new(client),
        session_auth,
        credentials.key.expose_secret(),
    ))
    .await?;
    let (hello, hello_task) = spawn(hello_world()).await?;
    Ok(Servers {
        app,
        emulator: emulator.local_addr(),
        hello,
        session_user,
        session_organization,
        _emulator: emulator,
        tasks: vec![app_task, hello_task],
    })
}

/// How long the load's session token lives: longer than any run, so that
/// the session door never refuses an expired token halfway (WorkOS's own
/// last 5 minutes; keygate accepts up to a day).
pub const SESSION_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Why a session token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SessionTokenError {
    /// The emulator could not be reached or its answer read.
    #[error("asking the emulator for a session token: {0}")]
    Request(#[from] reqwest::Error),
    /// The emulator refused.
    #[error("the emulator refused a session token: {status} {body}")]
    Refused {
        /// Its status.
        status: u16,
        /// Its error body.
        body: String,
    },
    /// The answer had no `access_token`.
    #[error("the emulator's answer has no access_token")]
    NoToken,
}

/// A session access token of `user` in `organization`, with [`PERMISSION`],
/// valid for [`SESSION_TOKEN_LIFETIME`]: made by the emulator at `emulator`
/// (its `POST /_emulator/sessions` control, authorised by `secret`), for
/// [`SESSION_PATH`].
pub async fn session_token(
    emulator: SocketAddr,
    secret: &SecretString,
    user: &UserId,
    organization: &OrganizationId,
) -> Result<SecretString, SessionTokenError> {
    let response = reqwest::Client::new()
        .post(format!("http://{emulator}/_emulator/sessions"))
        .bearer_auth(secret.expose_secret())
        .json(&serde_json::json!({
            "user_id": user,
            "organization_id": organization,
            "permissions": [PERMISSION],
            "expires_in": SESSION_TOKEN_LIFETIME.as_secs(),
        }))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        return Err(SessionTokenError::Refused {
            status: status.as_u16(),
            body: response.text().await.unwrap_or_default(),
        });
    }
    let answer: serde_json::Value = response.json().await?;
    answer["access_token"]
        .as_str()
        .map(|token| SecretString::new(token.to_owned()))
        .ok_or(SessionTokenError::NoToken)
}

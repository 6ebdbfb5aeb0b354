//! The servers under test, all on loopback in one process:
//!
//! - the **app**: one axum server with a public route and a keygate route
//!   (`ApiKeyAuth` validating through the typed client against the emulator,
//!   plus a `RequirePermission` guard), both answering `hello`, and a second
//!   keygate route checking the same permission with the `Authorized<P>`
//!   extractor instead of a guard layer;
//! - the **emulator**, whose `POST /api_keys/validations` is measured;
//! - a **hello-world** axum server, the emulator's yardstick.

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::routing::get;
use keygate_auth::{ApiKeyAuth, ApiKeyPrincipal, Authorized, RequirePermission, permission};
use keygate_emulator::{Emulator, Seed};
use keygate_types::SecretString;
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The public route of the app.
pub const PUBLIC_PATH: &str = "/public";
/// The keygate route of the app.
pub const KEYGATE_PATH: &str = "/private";
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
    /// An organization key with [`PERMISSION`].
    pub key: SecretString,
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
}

/// The running servers; they stop when this is dropped.
#[derive(Debug)]
pub struct Servers {
    /// The app: [`PUBLIC_PATH`], [`KEYGATE_PATH`] and [`EXTRACTOR_PATH`].
    pub app: SocketAddr,
    /// The emulator: [`VALIDATION_PATH`].
    pub emulator: SocketAddr,
    /// The hello-world server: [`HELLO_PATH`].
    pub hello: SocketAddr,
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

/// The app: a public route and two keygate routes on one router.
pub fn app<V: keygate_auth::KeyValidator>(auth: ApiKeyAuth<V>) -> Router {
    let guarded = Router::new()
        .route(KEYGATE_PATH, get(hello_principal))
        .route_layer(RequirePermission(PERMISSION));
    let keygate = Router::new()
        .route(EXTRACTOR_PATH, get(hello_authorized))
        .merge(guarded)
        .route_layer(auth);
    Router::new().route(PUBLIC_PATH, get(hello)).merge(keygate)
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

/// Starts the emulator (holding the key), the app and the hello-world
/// server on loopback ports, on the current tokio runtime.
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
    let client = keygate_client::Client::builder()
        .base_url(emulator.base_url())
        .secret(credentials.secret.clone())
        .build()?;
    let (app, app_task) = spawn(app(ApiKeyAuth::new(client))).await?;
    let (hello, hello_task) = spawn(hello_world()).await?;
    Ok(Servers {
        app,
        emulator: emulator.local_addr(),
        hello,
        _emulator: emulator,
        tasks: vec![app_task, hello_task],
    })
}

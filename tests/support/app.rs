//! An axum app behind `keygate::ApiKeyAuth` on a real socket, validating
//! through `keygate::Client` against an in-process emulator.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use keygate::emulator::Emulator;
use keygate::types::SecretString;
use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client};

use super::trace_capture;

/// The route of `POST /api_keys/validations`, as the emulator counts it.
pub const VALIDATIONS: (&str, &str) = ("POST", "/api_keys/validations");

/// An emulator whose environment secret is registered as a secret.
pub async fn emulator() -> Emulator {
    trace_capture::install();
    let emu = Emulator::builder()
        .organization_permissions(["posts:read", "posts:write"])
        .user_permissions(["posts:read"])
        .start()
        .await
        .expect("the emulator starts");
    trace_capture::secret(emu.secret().expose_secret());
    emu
}

/// How many validations the emulator has served.
pub fn validations(emu: &Emulator) -> u64 {
    emu.request_count(VALIDATIONS.0, VALIDATIONS.1)
}

/// The typed client, pointed at the emulator, failing fast (no retries).
pub fn client(base_url: &str, secret: &SecretString) -> Client {
    Client::builder()
        .secret(secret.clone())
        .base_url(base_url)
        .timeout(Duration::from_secs(5))
        .max_retries(0)
        .build()
        .expect("the client builds")
}

/// A fresh organization key; its value is registered as a secret.
pub fn organization_key(emu: &Emulator, permissions: &[&str]) -> (keygate::types::ApiKey, String) {
    let org = emu.create_organization("Acme").expect("organization");
    let created = emu
        .create_organization_key(&org.id, "reliability", permissions)
        .expect("key");
    let value = trace_capture::secret(created.value.expose_secret());
    (created.api_key, value)
}

async fn whoami(principal: ApiKeyPrincipal) -> String {
    principal.id().to_string()
}

/// `GET /whoami` (the key's id) behind `auth`.
pub fn whoami_router<V: keygate::validator::KeyValidator>(auth: ApiKeyAuth<V>) -> Router {
    Router::new().route("/whoami", get(whoami)).layer(auth)
}

/// A server on 127.0.0.1:0; stops when dropped.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(router: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

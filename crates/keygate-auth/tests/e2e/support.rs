//! What every end-to-end test needs: the emulator, an axum app with the layer
//! on a real socket, an HTTP client, and the shared tracing capture
//! (`keygate-test-support`) that proves no key value is ever logged.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use keygate_auth::{
    ApiKeyAuth, ApiKeyAuthBuilder, ApiKeyPrincipal, Authorized, RequireAllPermissions,
    RequireAnyPermission, RequirePermission, permission,
};
use keygate_client::Client;
use keygate_emulator::Emulator;
use keygate_test_support::trace_capture;
use keygate_types::{CreatedApiKey, OrganizationMembership, SecretString, UserId};
use serde_json::{Value, json};

permission!(
    /// May publish posts.
    pub PostsWrite = "posts:write"
);

/// Registers a key value the log must never contain (whole or in part).
pub fn secret(value: &SecretString) -> String {
    trace_capture::secret(value.expose_secret())
}

/// The captured log so far, as text.
pub fn captured() -> String {
    String::from_utf8_lossy(&trace_capture::captured()).into_owned()
}

/// Fails if any registered key value, or anything shaped like one, appears
/// anywhere in the log. Every test calls it last, so together they cover the
/// whole suite's output.
pub fn assert_no_key_logged() {
    trace_capture::assert_no_secret_logged();
}

pub async fn emulator() -> Emulator {
    trace_capture::install();
    Emulator::builder()
        .organization_permissions(["posts:read", "posts:write", "posts:admin"])
        .user_permissions(["posts:read", "posts:write"])
        .start()
        .await
        .expect("emulator starts")
}

/// The typed client pointed at `base_url`, with short timeouts and no
/// retries, so a failing key service shows at once.
pub fn client(base_url: &str, secret: &SecretString) -> Client {
    Client::builder()
        .secret(secret.clone())
        .base_url(base_url)
        .timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_millis(500))
        .max_retries(0)
        .build()
        .expect("client builds")
}

async fn whoami(principal: ApiKeyPrincipal) -> Json<Value> {
    Json(json!({
        "id": principal.id(),
        "name": principal.name(),
        "owner_type": principal.owner().kind(),
        "owner_id": principal.owner().id(),
        "organization_id": principal.organization_id(),
        "user_id": principal.user_id(),
        "permissions": principal.permissions(),
        "agent_registration_id": principal.agent_registration_id(),
    }))
}

async fn maybe(principal: Option<ApiKeyPrincipal>) -> String {
    principal.map_or_else(|| "anonymous".to_owned(), |p| p.id().to_string())
}

async fn publish(who: Authorized<PostsWrite>) -> String {
    format!("published by {}", who.id())
}

async fn ok() -> &'static str {
    "ok"
}

/// The routes every test app serves, with guards in every form.
pub fn routes() -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/maybe", get(maybe))
        .route("/typed", post(publish))
        .route(
            "/posts/new",
            post(ok).route_layer(RequirePermission("posts:write")),
        )
        .route(
            "/posts/all",
            get(ok).route_layer(RequireAllPermissions(&["posts:read", "posts:write"])),
        )
        .route(
            "/posts/any",
            get(ok).route_layer(RequireAnyPermission(&["posts:admin", "posts:write"])),
        )
}

/// An app on 127.0.0.1:0 serving `router`.
pub struct App {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl App {
    pub async fn serve(router: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            addr,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .build()
                .unwrap(),
            server,
        }
    }

    /// The standard routes behind `auth` (as a route layer, so unknown paths stay 404).
    pub async fn with_auth(auth: ApiKeyAuth<Client>) -> Self {
        Self::serve(routes().route_layer(auth)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("request reaches the app")
    }

    pub async fn post(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.http.post(self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("request reaches the app")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The layer with the client as its validator.
pub fn auth(emu: &Emulator) -> ApiKeyAuthBuilder<Client> {
    ApiKeyAuth::builder(client(emu.base_url(), emu.secret()))
}

/// A fresh organization key with `permissions`, its value registered as a secret.
pub fn org_key(emu: &Emulator, permissions: &[&str]) -> (CreatedApiKey, String) {
    let org = emu.create_organization("Acme").unwrap();
    let key = emu
        .create_organization_key(&org.id, "test key", permissions)
        .unwrap();
    let value = secret(&key.value);
    (key, value)
}

/// A user key with `permissions` in a new organization, for `user` (a new
/// user when `None`), with the active membership it needs.
pub fn user_key(
    emu: &Emulator,
    user: Option<&UserId>,
    permissions: &[&str],
) -> (OrganizationMembership, String) {
    static USERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let org = emu.create_organization("Acme").unwrap();
    let user = match user {
        Some(user) => user.clone(),
        None => {
            let n = USERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            emu.create_user(&format!("member{n}@example.com"))
                .unwrap()
                .id
        }
    };
    let membership = emu.create_membership(&user, &org.id).unwrap();
    let key = emu
        .create_user_key(&user, &org.id, "member key", permissions)
        .unwrap();
    (membership, secret(&key.value))
}

pub const VALIDATIONS: (&str, &str) = ("POST", "/api_keys/validations");

pub fn validations(emu: &Emulator) -> u64 {
    emu.request_count(VALIDATIONS.0, VALIDATIONS.1)
}

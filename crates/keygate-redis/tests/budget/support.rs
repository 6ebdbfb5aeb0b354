//! The suite's fixtures: the emulator, keys made through the typed client,
//! an axum app on a real socket.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use keygate_auth::{ApiKeyAuth, ApiKeyPrincipal};
use keygate_client::Client;
use keygate_emulator::Emulator;
use keygate_test_support::trace_capture;
use keygate_types::{CreateOrganization, CreateOrganizationApiKey, OrganizationId};

/// The emulator, with the suite's TRACE capture on (`keygate-test-support`:
/// it fails a test that logs a registered key).
pub async fn emulator() -> Emulator {
    trace_capture::install();
    Emulator::builder()
        .organization_permissions(["posts:read"])
        .start()
        .await
        .expect("emulator starts")
}

/// The typed client of `emu`, short timeouts, no retries.
pub fn client(emu: &Emulator) -> Client {
    Client::builder()
        .secret(emu.secret().clone())
        .base_url(emu.base_url())
        .timeout(Duration::from_secs(5))
        .max_retries(0)
        .build()
        .expect("client builds")
}

/// A new organization, made through the client.
pub async fn organization(client: &Client) -> OrganizationId {
    client
        .create_organization(CreateOrganization {
            name: "Acme".to_owned(),
            ..CreateOrganization::default()
        })
        .await
        .expect("organization created")
        .id
}

/// A new key of `org` with `permissions`, made through the client; its
/// value, registered as a secret the log must never hold.
pub async fn key(client: &Client, org: &OrganizationId, permissions: &[&str]) -> String {
    let created = client
        .create_organization_api_key(
            org,
            CreateOrganizationApiKey {
                name: "rate limited".to_owned(),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                expires_at: None,
            },
        )
        .await
        .expect("key created");
    trace_capture::secret(created.value.expose_secret())
}

async fn whoami(principal: Option<ApiKeyPrincipal>) -> String {
    principal.map_or_else(|| "anonymous".to_owned(), |p| p.id().to_string())
}

/// `/posts` behind `rate_limit` behind `auth`.
pub fn routes(rate_limit: keygate_ratelimit::RateLimit, auth: ApiKeyAuth<Client>) -> Router {
    Router::new()
        .route("/posts", get(whoami))
        .layer(rate_limit)
        .layer(auth)
}

/// An app on 127.0.0.1:0.
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
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            server,
        }
    }

    pub async fn get(&self, key: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(format!("http://{}/posts", self.addr));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("the app answers")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

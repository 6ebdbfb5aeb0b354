//! Testing your own service against the in-process emulator: copy this.
//!
//! ```sh
//! cargo test --example testing_with_emulator
//! ```
//!
//! In your crate, add keygate with its emulator for tests only:
//!
//! ```toml
//! [dependencies]
//! keygate = "0.1"
//!
//! [dev-dependencies]
//! keygate = { version = "0.1", features = ["emulator"] }
//! ```
//!
//! Each test starts its own emulator (a real HTTP server on a free loopback
//! port, in memory, a few milliseconds to start), seeds what it needs
//! straight into the emulator's store, and sends real requests to your app
//! over a socket. No account, no network, no shared state between tests.

use axum::Router;
use axum::routing::{get, post};
use keygate::validator::KeyValidator;
use keygate::{ApiKeyAuth, ApiKeyPrincipal, RequirePermission};

// ----- your application --------------------------------------------------

async fn list_invoices(principal: ApiKeyPrincipal) -> String {
    format!("invoices of {}", principal.organization_id())
}

async fn issue_invoice() -> &'static str {
    "issued"
}

/// Your router, taking the auth layer as a parameter so that tests can point
/// it at the emulator and production at WorkOS.
pub fn app<V: KeyValidator>(auth: ApiKeyAuth<V>) -> Router {
    Router::new()
        .route("/invoices", get(list_invoices))
        .route(
            "/invoices",
            post(issue_invoice).route_layer(RequirePermission("invoices:write")),
        )
        .layer(auth)
}

fn main() {
    println!("this example is a test suite: cargo test --example testing_with_emulator");
}

// ----- its tests ---------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use keygate::Client;
    use keygate::emulator::{Emulator, Fault};

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    /// One running app in front of one emulator.
    struct TestApp {
        emulator: Emulator,
        auth: ApiKeyAuth<Client>,
        url: String,
        http: reqwest::Client,
    }

    impl TestApp {
        async fn start() -> Result<Self, BoxError> {
            let emulator = Emulator::builder()
                .organization_permissions(["invoices:read", "invoices:write"])
                .start()
                .await?;
            let client = Client::builder()
                .secret(emulator.secret().clone())
                .base_url(emulator.base_url())
                .max_retries(0) // make outage tests fast
                .build()?;
            let auth = ApiKeyAuth::new(client);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}", listener.local_addr()?);
            tokio::spawn(axum::serve(listener, app(auth.clone())).into_future());
            Ok(Self {
                emulator,
                auth,
                url,
                http: reqwest::Client::new(),
            })
        }

        /// A fresh organization key with `permissions`; returns (id, value).
        fn key(
            &self,
            permissions: &[&str],
        ) -> Result<(keygate::types::ApiKeyId, String), BoxError> {
            let org = self.emulator.create_organization("Acme")?;
            let key = self
                .emulator
                .create_organization_key(&org.id, "test", permissions)?;
            Ok((key.id.clone(), key.value.expose_secret().to_owned()))
        }

        async fn status(
            &self,
            method: &str,
            path: &str,
            key: Option<&str>,
        ) -> Result<u16, BoxError> {
            let mut request = self
                .http
                .request(method.parse()?, format!("{}{path}", self.url));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            Ok(request.send().await?.status().as_u16())
        }
    }

    #[tokio::test]
    async fn a_reader_lists_but_cannot_issue() -> Result<(), BoxError> {
        let app = TestApp::start().await?;
        let (_, reader) = app.key(&["invoices:read"])?;
        assert_eq!(app.status("GET", "/invoices", Some(&reader)).await?, 200);
        assert_eq!(app.status("POST", "/invoices", Some(&reader)).await?, 403);
        Ok(())
    }

    #[tokio::test]
    async fn a_writer_issues() -> Result<(), BoxError> {
        let app = TestApp::start().await?;
        let (_, writer) = app.key(&["invoices:read", "invoices:write"])?;
        assert_eq!(app.status("POST", "/invoices", Some(&writer)).await?, 200);
        Ok(())
    }

    #[tokio::test]
    async fn no_key_and_unknown_keys_are_401() -> Result<(), BoxError> {
        let app = TestApp::start().await?;
        assert_eq!(app.status("GET", "/invoices", None).await?, 401);
        assert_eq!(app.status("GET", "/invoices", Some("sk_nope")).await?, 401);
        Ok(())
    }

    #[tokio::test]
    async fn a_revoked_key_stops_working_once_its_verdict_is_dropped() -> Result<(), BoxError> {
        let app = TestApp::start().await?;
        let (id, key) = app.key(&["invoices:read"])?;
        assert_eq!(app.status("GET", "/invoices", Some(&key)).await?, 200);
        app.emulator.delete_api_key(id.as_str())?;
        // The cached verdict would otherwise serve it until its TTL ends.
        app.auth.invalidate_id(&id).await.unwrap();
        assert_eq!(app.status("GET", "/invoices", Some(&key)).await?, 401);
        Ok(())
    }

    #[tokio::test]
    async fn a_key_service_outage_is_503_never_401() -> Result<(), BoxError> {
        let app = TestApp::start().await?;
        let (_, key) = app.key(&["invoices:read"])?;
        app.emulator.inject_fault(
            Fault::new("POST", "/api_keys/validations")
                .status(500)
                .times(None),
        );
        assert_eq!(app.status("GET", "/invoices", Some(&key)).await?, 503);
        app.emulator.clear_faults();
        assert_eq!(app.status("GET", "/invoices", Some(&key)).await?, 200);
        Ok(())
    }

    #[tokio::test]
    async fn the_cache_spares_the_key_service() -> Result<(), BoxError> {
        let app = TestApp::start().await?;
        let (_, key) = app.key(&["invoices:read"])?;
        for _ in 0..20 {
            assert_eq!(app.status("GET", "/invoices", Some(&key)).await?, 200);
        }
        assert_eq!(
            app.emulator.request_count("POST", "/api_keys/validations"),
            1
        );
        Ok(())
    }
}

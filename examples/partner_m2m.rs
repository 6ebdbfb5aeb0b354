//! A partner's integration calls your API with an M2M access token (OAuth
//! client credentials from your AuthKit domain), on the same routes and
//! guards as your customers' API keys and your web app's session tokens.
//!
//! ```sh
//! cargo run --example partner_m2m --features jwt,emulator
//! ```
//!
//! The emulator plays WorkOS: it registers the partner's M2M application,
//! answers `POST /oauth2/token`, and serves the key set. In production, point
//! `M2mTokens` at your AuthKit domain and your environment's client id.
//!
//! How each credential's permissions are read (see `keygate::Principal`):
//! an API key's `permissions`; an M2M token's `scope`, split on spaces; a
//! session token's `permissions`.

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use keygate::Principal;
use keygate::emulator::Emulator;
use keygate::jwt::{JwtVerifier, M2mTokens, SessionTokens};
use keygate::validator::KeyValidator;
use keygate::{ApiKeyAuth, Client, RequirePermission};
use serde_json::Value;

// ----- your application --------------------------------------------------

async fn list_reports(principal: Principal) -> String {
    format!(
        "reports of {} for {} {}\n",
        principal.organization_id(),
        principal.kind(),
        principal.id()
    )
}

async fn publish_report() -> &'static str {
    "published\n"
}

/// One router for every caller: keys, M2M tokens and session tokens.
pub fn app<V: KeyValidator>(auth: ApiKeyAuth<V>) -> Router {
    Router::new()
        .route("/reports", get(list_reports))
        .route(
            "/reports",
            post(publish_report).route_layer(RequirePermission("reports:write")),
        )
        .layer(auth)
}

// ----- the tour ------------------------------------------------------------

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The statuses of the tour, in order.
async fn tour() -> Result<Vec<(String, u16)>, BoxError> {
    let emu = Emulator::start().await?;
    let acme = emu.create_organization("Acme")?;
    let ada = emu.create_user("ada@acme.example")?;
    emu.create_membership(&ada.id, &acme.id)?;

    // Your service: API keys through the key service, M2M and session
    // tokens verified locally against WorkOS's key sets.
    let client = Client::builder()
        .secret(emu.secret().clone())
        .base_url(emu.base_url())
        .build()?;
    let tokens = JwtVerifier::builder()
        .m2m(M2mTokens::new(emu.authkit_domain(), emu.client_id()))
        .sessions(SessionTokens::new(emu.client_id()).api_base(emu.base_url()))
        .build()?;
    let auth = ApiKeyAuth::builder(client).access_tokens(tokens).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app(auth)).await });

    // The partner's integration: an M2M application of Acme that may read reports.
    let partner = emu.create_m2m_application(&acme.id, &["reports:read"])?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let answer: Value = http
        .post(format!("{}/oauth2/token", emu.authkit_domain()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", partner.client_id.as_str()),
            ("client_secret", partner.client_secret.as_str()),
            ("scope", "reports:read"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let partner_token = answer["access_token"]
        .as_str()
        .ok_or("no access_token in the token answer")?
        .to_owned();

    // A customer's script with an API key, and Ada in the web app.
    let key = emu.create_organization_key(&acme.id, "ci", &["reports:read", "reports:write"])?;
    let session = emu.session_access_token(&ada.id, &acme.id, &["reports:read"])?;

    let mut statuses = Vec::new();
    let calls = [
        ("partner GET /reports", "GET", partner_token.as_str()),
        ("partner POST /reports", "POST", partner_token.as_str()),
        (
            "customer key POST /reports",
            "POST",
            key.value.expose_secret(),
        ),
        (
            "ada's session GET /reports",
            "GET",
            session.access_token.as_str(),
        ),
        (
            "ada's session POST /reports",
            "POST",
            session.access_token.as_str(),
        ),
        (
            "a forged token GET /reports",
            "GET",
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        ),
    ];
    for (what, method, credential) in calls {
        let request = match method {
            "GET" => http.get(format!("{base}/reports")),
            _ => http.post(format!("{base}/reports")),
        };
        let response = request.bearer_auth(credential).send().await?;
        let status = response.status().as_u16();
        println!("{what:<30} {status} {}", response.text().await?.trim_end());
        statuses.push((what.to_owned(), status));
    }
    emu.shutdown().await;
    Ok(statuses)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tour().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_tour_gets_the_statuses_it_prints() {
        let statuses: Vec<u16> = super::tour()
            .await
            .unwrap()
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(statuses, [200, 403, 200, 200, 403, 401]);
    }
}

//! Optional authentication: one route for everyone, more for key holders.
//!
//! ```sh
//! cargo run --example optional_auth
//! ```
//!
//! With [`ApiKeyAuthBuilder::optional`](keygate::ApiKeyAuthBuilder::optional)
//! a request without any credential passes through with no principal, and
//! `Option<ApiKeyPrincipal>` is `None`. A credential that *is* sent must still
//! be valid: a wrong key is 401, never silently anonymous, so a client with a
//! typo in its key finds out at once.

use axum::Router;
use axum::routing::get;
use keygate::emulator::Emulator;
use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn feed(principal: Option<ApiKeyPrincipal>) -> String {
    match principal {
        Some(p) => format!("the full feed for {}", p.organization_id()),
        None => "the public feed (send a key to see your organization's posts)".to_owned(),
    }
}

fn app(client: Client) -> Router {
    Router::new()
        .route("/feed", get(feed))
        .layer(ApiKeyAuth::builder(client).optional().build())
}

/// Starts the emulator and the app, and asks three ways.
async fn demo() -> Result<Vec<(u16, String)>, BoxError> {
    let emulator = Emulator::start().await?;
    let org = emulator.create_organization("Acme")?;
    let key = emulator.create_organization_key(&org.id, "reader", &[])?;
    let client = Client::builder()
        .secret(emulator.secret().clone())
        .base_url(emulator.base_url())
        .build()?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/feed", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app(client)).into_future());

    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for (label, key) in [
        ("no key", None),
        ("a valid key", Some(key.value.expose_secret())),
        ("a wrong key", Some("sk_typo")),
    ] {
        let mut request = http.get(&url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        println!("{label:>12}: {status} {body}");
        seen.push((status, body));
    }
    Ok(seen)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    demo().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn anonymous_passes_valid_is_known_wrong_is_refused() -> Result<(), super::BoxError> {
        let seen = super::demo().await?;
        assert_eq!(seen[0].0, 200);
        assert!(seen[0].1.starts_with("the public feed"));
        assert_eq!(seen[1].0, 200);
        assert!(seen[1].1.starts_with("the full feed for org_"));
        assert_eq!(seen[2].0, 401);
        Ok(())
    }
}

//! User-scoped keys and tenant isolation.
//!
//! ```sh
//! cargo run --example tenant_isolation
//! ```
//!
//! Every key acts for exactly one organization, whoever owns it:
//! [`ApiKeyPrincipal::organization_id`] is the tenant boundary, for
//! organization keys and user keys alike. Within a tenant, a user key also
//! says *which* user is calling ([`ApiKeyPrincipal::user_id`]), so this notes
//! API lets a user key see only its user's notes, while an organization key (a
//! service account) sees the whole organization's.
//!
//! User keys live and die with their owner's membership: deactivate it and
//! the key stops validating. The key service says so at once, but the layer
//! has the key's verdict cached; the revocation listener (or the webhook
//! receiver) follows `organization_membership.updated` and drops the cached
//! verdicts of that user's keys in that organization, so the key is refused
//! within one poll interval (here 100 ms), not after the cache's TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use keygate::emulator::Emulator;
use keygate::types::{OrganizationId, UserId};
use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client, RequirePermission};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Notes by tenant, each with its author (`None`: written by an organization key).
type Notes = Arc<Mutex<HashMap<OrganizationId, Vec<(Option<UserId>, String)>>>>;

async fn list_notes(principal: ApiKeyPrincipal, State(notes): State<Notes>) -> Json<Vec<String>> {
    let notes = notes.lock().unwrap_or_else(|p| p.into_inner());
    let tenant = notes.get(principal.organization_id());
    let visible = tenant
        .into_iter()
        .flatten()
        // An organization key sees its whole tenant; a user key only its user's notes.
        .filter(|(author, _)| {
            principal.user_id().is_none() || author.as_ref() == principal.user_id()
        })
        .map(|(_, text)| text.clone())
        .collect();
    Json(visible)
}

async fn add_note(
    principal: ApiKeyPrincipal,
    State(notes): State<Notes>,
    text: String,
) -> StatusCode {
    notes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(principal.organization_id().clone())
        .or_default()
        .push((principal.user_id().cloned(), text));
    StatusCode::CREATED
}

fn app(auth: ApiKeyAuth<Client>) -> Router {
    Router::new()
        .route(
            "/notes",
            get(list_notes)
                .post(add_note)
                .route_layer(RequirePermission("notes:use")),
        )
        .with_state(Notes::default())
        .layer(auth)
}

/// What each caller saw, in order.
#[derive(Debug, Default)]
struct Seen {
    lines: Vec<(String, u16, String)>,
    /// From the deactivation to the first refusal of ada's key.
    refused_after: Duration,
}

async fn demo() -> Result<Seen, BoxError> {
    let emulator = Emulator::builder()
        .organization_permissions(["notes:use"])
        .user_permissions(["notes:use"])
        .start()
        .await?;
    let acme = emulator.create_organization("Acme")?;
    let globex = emulator.create_organization("Globex")?;
    let ada = emulator.create_user("ada@acme.example")?;
    let bob = emulator.create_user("bob@acme.example")?;
    let ada_in_acme = emulator.create_membership(&ada.id, &acme.id)?;
    emulator.create_membership(&bob.id, &acme.id)?;

    let ada_key = emulator.create_user_key(&ada.id, &acme.id, "ada", &["notes:use"])?;
    let bob_key = emulator.create_user_key(&bob.id, &acme.id, "bob", &["notes:use"])?;
    let acme_key = emulator.create_organization_key(&acme.id, "acme backend", &["notes:use"])?;
    let globex_key = emulator.create_organization_key(&globex.id, "globex", &["notes:use"])?;

    let client = Client::builder()
        .secret(emulator.secret().clone())
        .base_url(emulator.base_url())
        .build()?;
    // The TTL alone would keep ada's key working for 30 s after it ends.
    let auth = ApiKeyAuth::builder(client.clone())
        .revocation_listener(client, Duration::from_millis(100))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/notes", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app(auth.clone())).into_future());

    let http = reqwest::Client::new();
    let mut seen = Seen::default();
    let mut call = async |who: &str, key: &str, note: Option<&str>| -> Result<(), BoxError> {
        let request = match note {
            Some(text) => http.post(&url).body(text.to_owned()),
            None => http.get(&url),
        };
        let response = request.bearer_auth(key).send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        println!("{who:>28}: {status} {body}");
        seen.lines.push((who.to_owned(), status, body));
        Ok(())
    };

    call(
        "ada writes",
        ada_key.value.expose_secret(),
        Some("ada's note"),
    )
    .await?;
    call(
        "bob writes",
        bob_key.value.expose_secret(),
        Some("bob's note"),
    )
    .await?;
    call("ada reads", ada_key.value.expose_secret(), None).await?;
    call("bob reads", bob_key.value.expose_secret(), None).await?;
    call("acme's org key reads", acme_key.value.expose_secret(), None).await?;
    call(
        "globex's org key reads",
        globex_key.value.expose_secret(),
        None,
    )
    .await?;

    // Only the listener drops ada's cached verdict: wait for its refusal.
    emulator.deactivate_membership(ada_in_acme.id.as_str())?;
    let deactivated = Instant::now();
    while deactivated.elapsed() < Duration::from_secs(5) {
        let response = http
            .get(&url)
            .bearer_auth(ada_key.value.expose_secret())
            .send()
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused_after = deactivated.elapsed();
    println!(
        "ada's key refused {} ms after the deactivation",
        refused_after.as_millis()
    );
    call(
        "ada, membership deactivated",
        ada_key.value.expose_secret(),
        None,
    )
    .await?;
    call(
        "bob reads, still a member",
        bob_key.value.expose_secret(),
        None,
    )
    .await?;
    seen.refused_after = refused_after;
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
    async fn tenants_and_users_see_only_their_own() -> Result<(), super::BoxError> {
        let seen = super::demo().await?;
        let at = |who: &str| {
            seen.lines
                .iter()
                .find(|(w, _, _)| w == who)
                .map(|(_, s, b)| (*s, b.clone()))
                .expect("step ran")
        };
        assert_eq!(at("ada reads"), (200, r#"["ada's note"]"#.to_owned()));
        assert_eq!(at("bob reads"), (200, r#"["bob's note"]"#.to_owned()));
        assert_eq!(
            at("acme's org key reads"),
            (200, r#"["ada's note","bob's note"]"#.to_owned())
        );
        assert_eq!(at("globex's org key reads"), (200, "[]".to_owned()));
        assert_eq!(at("ada, membership deactivated").0, 401);
        assert_eq!(at("bob reads, still a member").0, 200);
        // One poll interval (100 ms) and a round trip, not the 30 s TTL.
        assert!(
            seen.refused_after < std::time::Duration::from_secs(1),
            "{:?}",
            seen.refused_after
        );
        Ok(())
    }
}

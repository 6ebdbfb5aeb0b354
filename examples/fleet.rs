//! Three replicas of one service in fleet mode, on Redis: one key-service
//! call per new key for the whole fleet, and a revocation delivered to one
//! replica that reaches all three.
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example fleet --features redis,emulator,webhooks
//! ```
//!
//! Without `REDIS_URL` it starts a throwaway `redis-server` of its own on a
//! free loopback port (Debian's package; installed when missing). The key
//! service is the embedded emulator: no account, no network.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use keygate::emulator::Emulator;
use keygate::redis::RedisTier;
use keygate::revocation::WebhookReceiver;
use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client};
use keygate_test_support::redis_server::RedisServer;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WEBHOOK_SECRET: &str = "whsec_fleet_example";

async fn whoami(principal: ApiKeyPrincipal) -> String {
    format!("{} of {}\n", principal.id(), principal.organization_id())
}

/// One replica: its own layer (its own cache and Redis connections) on its
/// own port. Returns its base URL.
async fn replica(client: &Client, redis_url: &str, name: &str) -> Result<String, BoxError> {
    let tier = RedisTier::builder(redis_url)
        .prefix("fleet-example")
        // Every replica shares it; in production, from the secret store.
        .secret("the fleet secret of this example, 32+ bytes")
        .build()?;
    let auth = ApiKeyAuth::builder(client.clone())
        .shared_tier(tier)
        .positive_ttl(Duration::from_secs(60))
        .build();
    let receiver = WebhookReceiver::new(WEBHOOK_SECRET, auth.cache().clone());
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(auth)
        .merge(receiver.router("/webhooks/workos"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("{name} listens on {base}");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Our own Redis unless one is named: kept alive until the end of main.
    let (redis_url, _redis) = match std::env::var("REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = RedisServer::start();
            (server.url(), Some(server))
        }
    };
    let emu = Emulator::builder()
        .organization_permissions(["posts:read"])
        .start()
        .await?;
    let client = Client::builder()
        .secret(emu.secret().clone())
        .base_url(emu.base_url())
        .build()?;
    let mut replicas = Vec::new();
    for name in ["replica 1", "replica 2", "replica 3"] {
        replicas.push(replica(&client, &redis_url, name).await?);
    }
    // WorkOS delivers each webhook to one replica behind the load balancer.
    emu.add_webhook_endpoint(&format!("{}/webhooks/workos", replicas[0]), WEBHOOK_SECRET)?;
    // Give the replicas a moment to subscribe to the fleet's invalidations.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let organization = emu.create_organization("Acme")?;
    let created = emu.create_organization_key(&organization.id, "fleet", &["posts:read"])?;
    let key = created.value.expose_secret().to_owned();
    let http = reqwest::Client::new();
    let status = async |base: &str| -> Result<u16, BoxError> {
        let response = http
            .get(format!("{base}/whoami"))
            .bearer_auth(&key)
            .send()
            .await?;
        Ok(response.status().as_u16())
    };

    let validations = || emu.request_count("POST", "/api_keys/validations");
    for (n, base) in replicas.iter().enumerate() {
        println!(
            "GET /whoami on replica {} -> {}",
            n + 1,
            status(base).await?
        );
    }
    println!("key-service validations for 3 replicas: {}", validations());
    assert_eq!(validations(), 1, "one validation for the whole fleet");

    let revoked = Instant::now();
    emu.delete_api_key(created.api_key.id.as_str())?;
    for (n, base) in replicas.iter().enumerate() {
        while status(base).await? == 200 {
            assert!(
                revoked.elapsed() < Duration::from_secs(5),
                "the revocation reached every replica"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!(
            "replica {} refuses the deleted key {} ms after the delete (the webhook went to replica 1 only)",
            n + 1,
            revoked.elapsed().as_millis()
        );
    }
    Ok(())
}

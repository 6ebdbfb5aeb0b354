//! A revoked AuthKit session is refused by every replica of a fleet: the
//! `session.revoked` webhook reaches one replica, which logs
//! `Invalidation::Session` in Redis; the others apply it to their own token
//! verifier's denylist.
//!
//! ```sh
//! cargo test --test credentials --features jwt,redis,emulator,webhooks
//! ```

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use keygate::emulator::Emulator;
use keygate::jwt::{JwtVerifier, M2mTokens, SessionTokens};
use keygate::redis::RedisTier;
use keygate::revocation::WebhookReceiver;
use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client};
use keygate_test_support::redis_server::RedisServer;
use reqwest::StatusCode;

const WEBHOOK_PATH: &str = "/webhooks/workos";
const WEBHOOK_SECRET: &str = "whsec_credentials_fleet_test";

async fn whoami(principal: ApiKeyPrincipal) -> String {
    format!("{} {}", principal.kind(), principal.id())
}

/// One replica: its own layer, token verifier and Redis connections.
async fn replica(emu: &Emulator, redis_url: &str) -> String {
    let client = Client::builder()
        .secret(emu.secret().clone())
        .base_url(emu.base_url())
        .max_retries(0)
        .build()
        .unwrap();
    let tier = RedisTier::builder(redis_url)
        .prefix("credentials-test")
        .secret("the fleet secret of this test, 32 bytes or more")
        .build()
        .unwrap();
    let fleet = tier.stats_handle();
    let tokens = JwtVerifier::builder()
        .m2m(M2mTokens::new(emu.authkit_domain(), emu.client_id()))
        .sessions(SessionTokens::new(emu.client_id()).api_base(emu.base_url()))
        .build()
        .unwrap();
    tokens.prefetch().await;
    let auth = ApiKeyAuth::builder(client)
        .shared_tier(tier)
        .access_tokens(tokens.clone())
        .build();
    let receiver = WebhookReceiver::new(WEBHOOK_SECRET, auth.cache().clone()).sessions(&tokens);
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(auth)
        .merge(receiver.router(WEBHOOK_PATH));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Session tokens are answered 503 until the replica has read the fleet's
    // log (and its revoked sessions) once.
    while !fleet.stats().listening {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    base
}

async fn status(base: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_session_revoked_by_webhook_on_one_replica_is_refused_by_every_replica() {
    let redis = RedisServer::start();
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org.id).unwrap();

    let a = replica(&emu, &redis.url()).await;
    let b = replica(&emu, &redis.url()).await;
    // Only replica A hears the webhook.
    emu.add_webhook_endpoint(&format!("{a}{WEBHOOK_PATH}"), WEBHOOK_SECRET)
        .unwrap();

    let revoked = emu.session_access_token(&user.id, &org.id, &[]).unwrap();
    let kept = emu.session_access_token(&user.id, &org.id, &[]).unwrap();
    for base in [&a, &b] {
        assert_eq!(status(base, &revoked.access_token).await, StatusCode::OK);
    }
    let started = Instant::now();
    emu.revoke_session(&revoked.session_id).unwrap();
    for (name, base) in [("A", &a), ("B", &b)] {
        loop {
            match status(base, &revoked.access_token).await {
                StatusCode::UNAUTHORIZED => break,
                StatusCode::OK => {
                    assert!(
                        started.elapsed() < Duration::from_secs(2),
                        "replica {name} still accepts the revoked session"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                other => panic!("replica {name}: {other}"),
            }
        }
        println!(
            "replica {name} refuses the revoked session after {:?}",
            started.elapsed()
        );
        assert_eq!(status(base, &kept.access_token).await, StatusCode::OK);
    }
}

//! A revoked AuthKit session across the fleet, fault by fault. An access
//! token is verified in the replica alone, so its session's denial must
//! reach every replica whatever the log lost; a replica that cannot hear the
//! log refuses session tokens (503) rather than accept a revoked one.
//!
//! The fault model, each on the replica that receives the webhook (A) and on
//! the others (B, C):
//! - the entry trimmed from the log before a replica read it (B cut off);
//! - a replica started after the revocation (C);
//! - Redis restarted empty before a replica read the entry (B cut off), and
//!   replicas started after that (C);
//! - a replica cut off from Redis for longer than the bound (B);
//! - Redis unreachable from A when the webhook arrives.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use keygate_auth::jwt::{JwtVerifier, SessionTokens};
use keygate_auth::{ApiKeyAuth, ApiKeyPrincipal, WebhookReceiver};
use keygate_emulator::{Emulator, SessionToken, WebhookRetry};
use keygate_redis::{RedisTier, RedisTierBuilder, StatsHandle};
use keygate_test_support::redis_server::RedisServer;
use keygate_types::{OrganizationId, UserId};
use reqwest::StatusCode;

use crate::support::*;

/// A replica that accepts API keys and session tokens, with the webhook
/// receiver beside its route.
struct SessionReplica {
    auth: ApiKeyAuth<keygate_client::Client>,
    stats: StatsHandle,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl SessionReplica {
    async fn start(
        emu: &Emulator,
        redis_url: &str,
        tier: fn(RedisTierBuilder) -> RedisTierBuilder,
    ) -> Self {
        let tier = tier(
            RedisTier::builder(redis_url)
                .prefix("sessions-test")
                .secret(FLEET_SECRET),
        )
        .build()
        .expect("tier builds");
        let stats = tier.stats_handle();
        let tokens = JwtVerifier::builder()
            .sessions(SessionTokens::new(emu.client_id()).api_base(emu.base_url()))
            .build()
            .expect("verifier builds");
        tokens.prefetch().await;
        let auth = ApiKeyAuth::builder(client(emu))
            .shared_tier(tier)
            .access_tokens(tokens.clone())
            .build();
        let receiver = WebhookReceiver::new(WEBHOOK_SECRET, auth.cache().clone()).sessions(&tokens);
        let router = Router::new()
            .route(
                "/whoami",
                get(|p: ApiKeyPrincipal| async move { p.id().to_string() }),
            )
            .route_layer(auth.clone())
            .merge(receiver.router(WEBHOOK_PATH));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let replica = Self {
            auth,
            stats,
            base,
            server,
        };
        until(Duration::from_secs(10), || replica.stats.stats().listening).await;
        replica
    }

    async fn get(&self, token: &str) -> StatusCode {
        http()
            .get(format!("{}/whoami", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the replica")
            .status()
    }

    /// Polls until `token` gets `want`; panics after `limit`.
    async fn until_status(&self, token: &str, want: StatusCode, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let got = self.get(token).await;
            if got == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "still {got} after {limit:?}, not {want}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for SessionReplica {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A member of an organization, and two of their sessions.
struct Member {
    user: UserId,
    organization: OrganizationId,
}

impl Member {
    fn new(emu: &Emulator) -> Self {
        let organization = emu.create_organization("Sessions").unwrap().id;
        let user = emu.create_user("ada@example.com").unwrap().id;
        emu.create_membership(&user, &organization).unwrap();
        Self { user, organization }
    }

    fn session(&self, emu: &Emulator) -> SessionToken {
        emu.session_access_token(&self.user, &self.organization, &["posts:read"])
            .unwrap()
    }
}

const BOUND: Duration = Duration::from_secs(1);

/// An emulator that delivers each webhook once: what reaches the fleet then
/// depends on the replica alone, not on the delivery being retried.
async fn emulator_delivering_once() -> Emulator {
    Emulator::builder()
        .organization_permissions(["posts:read"])
        .webhook_retry(WebhookRetry {
            attempts: 1,
            ..WebhookRetry::default()
        })
        .start()
        .await
        .expect("emulator starts")
}

/// The session is revoked at the key service; the webhook goes to `a`, which
/// refuses it once this returns.
async fn revoke(emu: &Emulator, a: &SessionReplica, session: &SessionToken) {
    emu.revoke_session(&session.session_id).unwrap();
    a.until_status(
        &session.access_token,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(5),
    )
    .await;
}

/// Which replica reaches Redis through the proxy that can be cut.
#[derive(Clone, Copy, PartialEq)]
enum CutOff {
    /// A, the replica the webhooks go to.
    A,
    /// B, another replica.
    B,
}

/// Two replicas on one Redis, one of them behind a proxy that can be cut,
/// the webhooks going to A, and two sessions of one member.
struct Pair {
    emu: Emulator,
    redis: RedisServer,
    proxy: Proxy,
    a: SessionReplica,
    b: SessionReplica,
    revoked: SessionToken,
    kept: SessionToken,
}

impl Pair {
    async fn start(
        emu: Emulator,
        cut_off: CutOff,
        tier: fn(RedisTierBuilder) -> RedisTierBuilder,
    ) -> Self {
        let redis = RedisServer::start();
        let member = Member::new(&emu);
        let proxy = Proxy::start(redis.port()).await;
        let url = |replica| {
            if replica == cut_off {
                proxy.url()
            } else {
                redis.url()
            }
        };
        let a = SessionReplica::start(&emu, &url(CutOff::A), tier).await;
        let b = SessionReplica::start(&emu, &url(CutOff::B), tier).await;
        emu.add_webhook_endpoint(&format!("{}{WEBHOOK_PATH}", a.base), WEBHOOK_SECRET)
            .unwrap();
        let (revoked, kept) = (member.session(&emu), member.session(&emu));
        Self {
            emu,
            redis,
            proxy,
            a,
            b,
            revoked,
            kept,
        }
    }
}

/// The log trimmed the revocation away while B was cut off: B flushes, and
/// still refuses the session once it hears the log again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_entry_trimmed_away_is_still_refused_by_the_replica_that_missed_it() {
    let Pair {
        emu,
        proxy,
        a,
        b,
        revoked,
        kept,
        redis: _redis,
    } = Pair::start(emulator().await, CutOff::B, |tier| tier.log_length(3)).await;
    let keys = Keys::new(&emu);
    assert_eq!(b.get(&revoked.access_token).await, StatusCode::OK);
    let before = b.stats.stats().discontinuities;

    proxy.cut();
    revoke(&emu, &a, &revoked).await;
    for _ in 0..5 {
        let (other, _) = keys.mint(&emu);
        a.auth.cache().invalidate_id(&other.id).await.unwrap();
    }
    proxy.restore();
    until(Duration::from_secs(10), || {
        b.stats.stats().discontinuities > before
    })
    .await;
    b.until_status(&kept.access_token, StatusCode::OK, BOUND)
        .await;
    assert_eq!(b.get(&revoked.access_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(a.get(&revoked.access_token).await, StatusCode::UNAUTHORIZED);
}

/// A replica started after the revocation refuses the session from its
/// first request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_after_a_session_was_revoked_refuses_it() {
    let Pair {
        emu,
        redis,
        a,
        revoked,
        kept,
        proxy: _proxy,
        b: _b,
    } = Pair::start(emulator().await, CutOff::B, |tier| tier).await;
    revoke(&emu, &a, &revoked).await;

    let c = SessionReplica::start(&emu, &redis.url(), |tier| tier).await;
    assert_eq!(c.get(&revoked.access_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(c.get(&kept.access_token).await, StatusCode::OK);
}

/// Redis restarted empty before B read the revocation: A, which denies the
/// session, logs it again; B and a replica started afterwards refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revoked_before_redis_restarted_empty_is_refused_everywhere_after() {
    let Pair {
        emu,
        mut redis,
        proxy,
        a,
        b,
        revoked,
        kept,
    } = Pair::start(emulator().await, CutOff::B, |tier| tier).await;
    assert_eq!(b.get(&revoked.access_token).await, StatusCode::OK);

    proxy.cut();
    revoke(&emu, &a, &revoked).await;
    redis.restart();
    proxy.restore();
    // B hears the new Redis, then A's entry logged again.
    b.until_status(
        &revoked.access_token,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(b.get(&kept.access_token).await, StatusCode::OK);
    assert_eq!(a.get(&revoked.access_token).await, StatusCode::UNAUTHORIZED);
    // Once B refuses it, the entry is in the new Redis: a new replica reads it.
    let c = SessionReplica::start(&emu, &redis.url(), |tier| tier).await;
    assert_eq!(c.get(&revoked.access_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(c.get(&kept.access_token).await, StatusCode::OK);
}

/// A replica cut off from Redis for longer than the bound cannot hear a
/// revocation: it answers 503 to session tokens (API keys are still fetched
/// from the key service), and applies what it missed when it hears again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_deaf_past_the_bound_refuses_session_tokens_until_it_hears() {
    let Pair {
        emu,
        proxy,
        a,
        b,
        revoked,
        kept,
        redis: _redis,
    } = Pair::start(emulator().await, CutOff::B, |tier| tier).await;
    let (_, key) = Keys::new(&emu).mint(&emu);
    assert_eq!(b.get(&revoked.access_token).await, StatusCode::OK);

    let cut = Instant::now();
    proxy.cut();
    revoke(&emu, &a, &revoked).await;
    // Whatever B answers, never a 200 to the revoked session past the bound.
    let mut first_503 = None;
    while cut.elapsed() < BOUND * 3 {
        let status = b.get(&revoked.access_token).await;
        assert!(
            status != StatusCode::OK || cut.elapsed() < BOUND,
            "B accepted the revoked session {:?} after it went deaf",
            cut.elapsed()
        );
        if status == StatusCode::SERVICE_UNAVAILABLE && first_503.is_none() {
            first_503 = Some(cut.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("B deaf: session tokens 503 from {first_503:?} after the cut");
    assert_eq!(
        b.get(&kept.access_token).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(b.get(&key).await, StatusCode::OK);

    proxy.restore();
    b.until_status(&kept.access_token, StatusCode::OK, Duration::from_secs(5))
        .await;
    assert_eq!(b.get(&revoked.access_token).await, StatusCode::UNAUTHORIZED);
}

/// A cannot reach Redis when the webhook arrives: it refuses the session at
/// once, and B refuses it within the bound once A has logged it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_the_receiving_replica_could_not_log_reaches_the_fleet_later() {
    let Pair {
        emu,
        proxy,
        a,
        b,
        revoked,
        kept,
        redis: _redis,
    } = Pair::start(emulator_delivering_once().await, CutOff::A, |tier| tier).await;
    assert_eq!(b.get(&revoked.access_token).await, StatusCode::OK);

    proxy.cut();
    revoke(&emu, &a, &revoked).await;
    assert_eq!(b.get(&kept.access_token).await, StatusCode::OK);
    let restored = Instant::now();
    proxy.restore();
    let refused = b
        .until_status(
            &revoked.access_token,
            StatusCode::UNAUTHORIZED,
            Duration::from_secs(5),
        )
        .await;
    println!("B refuses the session {refused:?} after A could reach Redis again");
    assert!(restored.elapsed() < Duration::from_secs(5));
    assert_eq!(a.get(&revoked.access_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(b.get(&kept.access_token).await, StatusCode::OK);
}

/// More invalidations than A keeps one by one pile up while it cannot reach
/// Redis: those about keys become one "everything", the session's denial is
/// kept, and B refuses the session once A has logged what it owes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revocation_owed_among_a_pile_of_invalidations_reaches_the_fleet() {
    let Pair {
        emu,
        proxy,
        a,
        b,
        revoked,
        kept,
        redis: _redis,
    } = Pair::start(emulator_delivering_once().await, CutOff::A, |tier| tier).await;

    proxy.cut();
    revoke(&emu, &a, &revoked).await;
    let ids: Vec<_> = (0..1_100)
        .map(|n| keygate_types::ApiKeyId::new_unchecked(format!("api_key_pile{n:05}")))
        .collect();
    let cache = a.auth.cache();
    let sent = futures_util::future::join_all(ids.iter().map(|id| cache.invalidate_id(id))).await;
    assert!(sent.iter().all(Result::is_err));
    proxy.restore();
    b.until_status(
        &revoked.access_token,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(b.get(&kept.access_token).await, StatusCode::OK);
}

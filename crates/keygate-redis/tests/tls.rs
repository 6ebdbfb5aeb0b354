//! Fleet mode over TLS, against Debian's `redis-server` started TLS-only
//! (`--port 0 --tls-port …`) with a CA and certificates made for the test:
//! the tier end to end through the layer, a client certificate, an ACL
//! user, and what a user sees when the settings are wrong.
//!
//! A misconfiguration shows in the log (building the tier connects
//! lazily), so every test runs under the TRACE capture, which also fails a
//! test whose password was logged.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use keygate_auth::{ApiKeyAuth, ApiKeyPrincipal};
use keygate_client::Client;
use keygate_emulator::Emulator;
use keygate_redis::{Error, FleetStats, RedisTier, RedisTierBuilder, TlsError, TlsOptions};
use keygate_test_support::redis_server::{
    ClientCertificates, RedisServer, TlsRedisCluster, TlsRedisServer,
};
use keygate_test_support::trace_capture::{self, LeakCheck};
use tower::ServiceExt;

/// The fleet secret of these tests.
const FLEET_SECRET: &str = "the fleet secret of the TLS tests, 32+ bytes";

const ACL_USER: &str = "fleet-replica";

async fn emulator() -> Emulator {
    Emulator::builder()
        .organization_permissions(["posts:read"])
        .start()
        .await
        .expect("emulator starts")
}

fn client(emu: &Emulator) -> Client {
    Client::builder()
        .secret(emu.secret().clone())
        .base_url(emu.base_url())
        .timeout(Duration::from_secs(5))
        .max_retries(0)
        .build()
        .expect("client builds")
}

/// A new key's value, registered as a secret of the log.
fn mint(emu: &Emulator) -> String {
    let organization = emu.create_organization("TLS fleet").unwrap().id;
    let created = emu
        .create_organization_key(&organization, "tls", &["posts:read"])
        .unwrap();
    trace_capture::secret(created.value.expose_secret())
}

fn validations(emu: &Emulator) -> u64 {
    emu.request_count("POST", "/api_keys/validations")
}

/// A password for the ACL user, registered as a secret of the log.
fn password() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    trace_capture::secret(format!("acl-password-{nanos:x}"))
}

/// One replica: the layer with `tier` in front of a route.
struct Replica {
    app: Router,
    stats: keygate_redis::StatsHandle,
}

impl Replica {
    fn start(emu: &Emulator, tier: RedisTierBuilder) -> Self {
        // A TLS handshake on a loaded machine can outlast the default
        // 250 ms; these tests are about TLS, not latency.
        let tier = tier
            .prefix("tls-test")
            .secret(FLEET_SECRET)
            .command_timeout(Duration::from_secs(2))
            .build()
            .expect("tier builds");
        let stats = tier.stats_handle();
        let auth = ApiKeyAuth::builder(client(emu))
            .positive_ttl(Duration::from_secs(60))
            .shared_tier(tier)
            .build();
        let app = Router::new()
            .route(
                "/whoami",
                get(|principal: ApiKeyPrincipal| async move { principal.id().to_string() }),
            )
            .route_layer(auth);
        Self { app, stats }
    }

    async fn get(&self, key: &str) -> StatusCode {
        let request = Request::get("/whoami")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        self.app.clone().oneshot(request).await.unwrap().status()
    }

    fn stats(&self) -> FleetStats {
        self.stats.stats()
    }

    /// Waits until it hears the fleet's invalidations: connected, over TLS
    /// when the URL says so.
    async fn until_listening(&self) {
        until(Duration::from_secs(10), || self.stats().listening).await;
    }
}

async fn until(limit: Duration, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for `text` in the captured log.
async fn until_logged(text: &str) -> String {
    let started = Instant::now();
    loop {
        let log = String::from_utf8_lossy(&trace_capture::captured()).into_owned();
        if let Some(line) = log.lines().find(|line| line.contains(text)) {
            return line.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never logged: {text}; the log's fleet-mode lines: {:#?}",
            log.lines()
                .filter(
                    |line| line.contains("fleet mode: redis") || line.contains("first connection")
                )
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two replicas on `builder()`: a key validated on the first is read from
/// Redis by the second, with one key-service call in all.
async fn validated_once_through_redis(emu: &Emulator, builder: impl Fn() -> RedisTierBuilder) {
    let (first, second) = (
        Replica::start(emu, builder()),
        Replica::start(emu, builder()),
    );
    first.until_listening().await;
    second.until_listening().await;
    let key = mint(emu);
    let before = validations(emu);
    assert_eq!(first.get(&key).await, StatusCode::OK);
    assert_eq!(second.get(&key).await, StatusCode::OK);
    assert_eq!(validations(emu) - before, 1, "one key-service call");
    assert_eq!(first.stats().writes, 1, "the verdict stored in Redis");
    assert_eq!(second.stats().shared_hits, 1, "read back from Redis");
    assert_eq!(first.stats().fallbacks + second.stats().fallbacks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_validated_once_for_the_fleet_through_redis_over_tls() {
    let _leaks = LeakCheck::start();
    let (emu, redis) = (emulator().await, TlsRedisServer::start());
    validated_once_through_redis(&emu, || {
        RedisTier::builder(redis.url()).tls(TlsOptions::new().ca_file(redis.ca_file()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_over_tls_a_key_is_validated_once_for_the_fleet() {
    let _leaks = LeakCheck::start();
    let (emu, cluster) = (emulator().await, TlsRedisCluster::start(3));
    let urls = cluster.urls();
    validated_once_through_redis(&emu, || {
        RedisTier::cluster(urls.clone()).tls(TlsOptions::new().ca_file(cluster.ca_file()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_client_certificate_is_shown() {
    let _leaks = LeakCheck::start();
    let emu = emulator().await;
    let redis = TlsRedisServer::builder()
        .client_certificates(ClientCertificates::Required)
        .start();
    validated_once_through_redis(&emu, || {
        RedisTier::builder(redis.url()).tls(
            TlsOptions::new()
                .ca_file(redis.ca_file())
                .client_certificate(redis.client_cert_file(), redis.client_key_file()),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_client_certificate_is_named_in_the_log_and_keys_still_work() {
    let _leaks = LeakCheck::start();
    let emu = emulator().await;
    let redis = TlsRedisServer::builder()
        .client_certificates(ClientCertificates::Required)
        .start();
    let replica = Replica::start(
        &emu,
        RedisTier::builder(redis.url()).tls(TlsOptions::new().ca_file(redis.ca_file())),
    );
    until_logged("the server requires a client certificate: set TlsOptions::client_certificate")
        .await;
    // Redis never decides: the key service answers.
    assert_eq!(replica.get(&mint(&emu)).await, StatusCode::OK);
    assert_eq!(replica.stats().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_another_ca_is_named_in_the_log() {
    let _leaks = LeakCheck::start();
    let emu = emulator().await;
    let redis = TlsRedisServer::builder()
        .client_certificates(ClientCertificates::Optional)
        .start();
    let certificates = redis.certificates();
    let replica = Replica::start(
        &emu,
        RedisTier::builder(redis.url()).tls(
            TlsOptions::new()
                .ca_file(redis.ca_file())
                .client_certificate(
                    &certificates.foreign_client_cert,
                    &certificates.foreign_client_key,
                ),
        ),
    );
    until_logged("the server refused the client certificate").await;
    assert_eq!(replica.get(&mint(&emu)).await, StatusCode::OK);
    assert_eq!(replica.stats().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_given_to_the_builder_or_in_the_url_connects() {
    let _leaks = LeakCheck::start();
    let emu = emulator().await;
    let password = password();
    let redis = TlsRedisServer::builder()
        .acl_user(ACL_USER, &password)
        .start();
    let tls = || TlsOptions::new().ca_file(redis.ca_file());
    validated_once_through_redis(&emu, || {
        RedisTier::builder(redis.url())
            .tls(tls())
            .credentials(ACL_USER, password.clone())
    })
    .await;
    validated_once_through_redis(&emu, || {
        RedisTier::builder(redis.url_with_credentials()).tls(tls())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_credentials_are_named_in_the_log_without_the_password() {
    let _leaks = LeakCheck::start();
    let emu = emulator().await;
    let password = password();
    let redis = TlsRedisServer::builder()
        .acl_user(ACL_USER, &password)
        .start();
    let tls = || TlsOptions::new().ca_file(redis.ca_file());
    let _anonymous = Replica::start(&emu, RedisTier::builder(redis.url()).tls(tls()));
    until_logged("the server requires credentials: set RedisTierBuilder::credentials").await;
    let wrong = trace_capture::secret(format!("{password}-but-wrong"));
    let wrong = Replica::start(
        &emu,
        RedisTier::builder(redis.url())
            .tls(tls())
            .credentials(ACL_USER, wrong),
    );
    until_logged("the server refused the user or password").await;
    assert_eq!(wrong.get(&mint(&emu)).await, StatusCode::OK);
    assert_eq!(wrong.stats().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_url_to_a_tls_only_server_is_told_to_use_rediss() {
    let _leaks = LeakCheck::start();
    let (emu, redis) = (emulator().await, TlsRedisServer::start());
    let replica = Replica::start(&emu, RedisTier::builder(redis.plain_url()));
    let line = until_logged("write rediss:// instead of redis://").await;
    assert!(line.contains("ERROR"), "{line}");
    // The replica works on its own: the key service answers every miss.
    assert_eq!(replica.get(&mint(&emu)).await, StatusCode::OK);
    assert_eq!(replica.stats().writes, 0);
    assert!(!replica.stats().listening);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_url_to_a_plain_server_is_told_to_use_redis() {
    let _leaks = LeakCheck::start();
    let (emu, redis) = (emulator().await, RedisServer::start());
    let url = format!("rediss://127.0.0.1:{}/", redis.port());
    let replica = Replica::start(&emu, RedisTier::builder(url));
    until_logged("the server does not answer TLS on this port").await;
    assert_eq!(replica.get(&mint(&emu)).await, StatusCode::OK);
    assert_eq!(replica.stats().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_another_ca_is_refused() {
    let _leaks = LeakCheck::start();
    let (emu, redis) = (emulator().await, TlsRedisServer::start());
    let replica = Replica::start(
        &emu,
        RedisTier::builder(redis.url())
            .tls(TlsOptions::new().ca_file(&redis.certificates().foreign_ca)),
    );
    until_logged("the server's certificate is not signed by a CA in TlsOptions::ca_file").await;
    assert_eq!(replica.get(&mint(&emu)).await, StatusCode::OK);
    assert_eq!(replica.stats().writes, 0);
    assert!(!replica.stats().listening);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_roots_do_not_trust_a_private_ca() {
    let _leaks = LeakCheck::start();
    let (emu, redis) = (emulator().await, TlsRedisServer::start());
    let replica = Replica::start(&emu, RedisTier::builder(redis.url()));
    until_logged(
        "the server's certificate does not chain to the system's roots: \
         set TlsOptions::ca_file",
    )
    .await;
    assert_eq!(replica.get(&mint(&emu)).await, StatusCode::OK);
    assert_eq!(replica.stats().writes, 0);
}

#[tokio::test]
async fn a_bad_ca_file_or_client_key_is_refused_when_the_tier_is_built() {
    let redis = TlsRedisServer::start();
    let dir = redis.ca_file().parent().unwrap().to_owned();
    let not_pem = dir.join("not-a-certificate.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let build = |options: TlsOptions| {
        RedisTier::builder(redis.url())
            .tls(options)
            .secret(FLEET_SECRET)
            .build()
            .expect_err("refused")
    };

    let missing = dir.join("missing-ca.pem");
    let error = build(TlsOptions::new().ca_file(&missing));
    assert!(
        matches!(error, Error::Tls(TlsError::Unreadable { what: "CA", .. })),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("redis TLS: cannot read the CA file ")
            && message.contains("missing-ca.pem"),
        "{message}"
    );

    let error = build(TlsOptions::new().ca_file(&not_pem));
    assert!(
        matches!(error, Error::Tls(TlsError::Invalid { what: "CA", .. })),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("holds no certificate: no -----BEGIN CERTIFICATE----- block"),
        "{error}"
    );

    // The CA is not a private key.
    let error = build(
        TlsOptions::new()
            .ca_file(redis.ca_file())
            .client_certificate(redis.client_cert_file(), redis.ca_file()),
    );
    assert!(
        matches!(
            error,
            Error::Tls(TlsError::Invalid {
                what: "client key",
                ..
            })
        ),
        "{error:?}"
    );

    // The server's key is not the client certificate's.
    let error = build(
        TlsOptions::new()
            .ca_file(redis.ca_file())
            .client_certificate(redis.client_cert_file(), &redis.certificates().server_key),
    );
    assert!(
        matches!(error, Error::Tls(TlsError::ClientKeyMismatch { .. })),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("does not go with the client certificate"),
        "{error}"
    );
}

#[tokio::test]
async fn tls_options_for_a_plain_url_are_refused_when_the_tier_is_built() {
    let error = RedisTier::builder("redis://127.0.0.1:6379/")
        .tls(TlsOptions::new())
        .secret(FLEET_SECRET)
        .build()
        .expect_err("refused");
    assert!(
        matches!(error, Error::Tls(TlsError::OptionsForPlainUrl)),
        "{error:?}"
    );
    assert!(error.to_string().contains("write rediss://"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_reconnects_over_tls_after_redis_restarts() {
    let _leaks = LeakCheck::start();
    let emu = emulator().await;
    let mut redis = TlsRedisServer::builder()
        .client_certificates(ClientCertificates::Optional)
        .start();
    let builder = || {
        RedisTier::builder(redis.url()).tls(
            TlsOptions::new()
                .ca_file(redis.ca_file())
                .client_certificate(redis.client_cert_file(), redis.client_key_file()),
        )
    };
    let (first, second) = (
        Replica::start(&emu, builder()),
        Replica::start(&emu, builder()),
    );
    first.until_listening().await;
    second.until_listening().await;
    redis.restart();
    // Each replica notices the loss, then hears the fleet again.
    until(Duration::from_secs(15), || {
        first.stats().subscription_losses > 0 && second.stats().subscription_losses > 0
    })
    .await;
    first.until_listening().await;
    second.until_listening().await;
    // A command failure during the restart leaves Redis alone for a
    // second: try fresh keys until one is stored, then read it back.
    let started = Instant::now();
    let key = loop {
        let key = mint(&emu);
        assert_eq!(first.get(&key).await, StatusCode::OK);
        if first.stats().writes > 0 {
            break key;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let before = validations(&emu);
    assert_eq!(second.get(&key).await, StatusCode::OK);
    assert_eq!(
        validations(&emu),
        before,
        "read from Redis, not the key service"
    );
    assert_eq!(second.stats().shared_hits, 1);
}

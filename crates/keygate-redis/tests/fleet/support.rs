//! A fleet: the emulator, a real redis-server, and replicas serving a
//! `/whoami` route behind the layer (with the webhook receiver beside it).

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use keygate_auth::{ApiKeyAuth, ApiKeyPrincipal, WebhookReceiver};
use keygate_client::Client;
use keygate_emulator::Emulator;
use keygate_redis::{RedisTier, RedisTierBuilder, StatsHandle};
use keygate_test_support::redis_server::RedisServer;
use keygate_types::{ApiKey, OrganizationId};
use reqwest::StatusCode;

pub const WEBHOOK_PATH: &str = "/webhooks/workos";
pub const WEBHOOK_SECRET: &str = "whsec_fleet_test";
/// The fleet secret every replica of the tests shares.
pub const FLEET_SECRET: &str = "the fleet secret of keygate's own tests";
pub const VALIDATIONS: (&str, &str) = ("POST", "/api_keys/validations");

pub async fn emulator() -> Emulator {
    Emulator::builder()
        .organization_permissions(["posts:read"])
        .start()
        .await
        .expect("emulator starts")
}

pub fn client(emu: &Emulator) -> Client {
    Client::builder()
        .secret(emu.secret().clone())
        .base_url(emu.base_url())
        .timeout(Duration::from_secs(5))
        .max_retries(0)
        .build()
        .expect("client builds")
}

/// How many validations the emulator has answered.
pub fn validations(emu: &Emulator) -> u64 {
    emu.request_count(VALIDATIONS.0, VALIDATIONS.1)
}

/// One organization, and a way to mint its keys.
pub struct Keys {
    organization: OrganizationId,
}

impl Keys {
    pub fn new(emu: &Emulator) -> Self {
        let organization = emu.create_organization("Fleet").unwrap().id;
        Self { organization }
    }

    /// A new key: (its record, its value).
    pub fn mint(&self, emu: &Emulator) -> (ApiKey, String) {
        let created = emu
            .create_organization_key(&self.organization, "fleet", &["posts:read"])
            .unwrap();
        let value = created.value.expose_secret().to_owned();
        (created.api_key, value)
    }
}

/// How a replica's layer is built.
#[derive(Clone)]
pub struct Options {
    pub tier: Option<fn(RedisTierBuilder) -> RedisTierBuilder>,
    /// A Redis Cluster's nodes, instead of the one endpoint.
    pub cluster: Option<Vec<String>>,
    pub positive_ttl: Duration,
    pub listener: Option<Duration>,
}

impl Options {
    pub fn fleet() -> Self {
        Self {
            tier: Some(|builder| builder),
            cluster: None,
            positive_ttl: Duration::from_secs(60),
            listener: None,
        }
    }

    pub fn alone() -> Self {
        Self {
            tier: None,
            ..Self::fleet()
        }
    }

    pub fn tier(mut self, tier: fn(RedisTierBuilder) -> RedisTierBuilder) -> Self {
        self.tier = Some(tier);
        self
    }

    pub fn listener(mut self, interval: Duration) -> Self {
        self.listener = Some(interval);
        self
    }
}

/// One replica of the service.
pub struct Replica {
    pub auth: ApiKeyAuth<Client>,
    pub stats: Option<StatsHandle>,
    pub base: String,
    server: tokio::task::JoinHandle<()>,
}

async fn whoami(principal: ApiKeyPrincipal) -> String {
    principal.id().to_string()
}

impl Replica {
    pub async fn start(emu: &Emulator, redis_url: &str, options: &Options) -> Self {
        let validator = client(emu);
        let mut builder = ApiKeyAuth::builder(validator.clone()).positive_ttl(options.positive_ttl);
        let mut stats = None;
        if let Some(configure) = options.tier {
            let tier_builder = match &options.cluster {
                Some(nodes) => RedisTier::cluster(nodes.clone()),
                None => RedisTier::builder(redis_url),
            };
            let tier = configure(tier_builder.prefix("fleet-test").secret(FLEET_SECRET))
                .build()
                .expect("tier builds");
            stats = Some(tier.stats_handle());
            builder = builder.shared_tier(tier);
        }
        if let Some(interval) = options.listener {
            builder = builder.revocation_listener(validator, interval);
        }
        let auth = builder.build();
        let receiver = WebhookReceiver::new(WEBHOOK_SECRET, auth.cache().clone());
        let router = Router::new()
            .route("/whoami", get(whoami))
            .route_layer(auth.clone())
            .merge(receiver.router(WEBHOOK_PATH));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            auth,
            stats,
            base,
            server,
        }
    }

    pub fn stats(&self) -> keygate_redis::FleetStats {
        self.stats.as_ref().expect("a fleet replica").stats()
    }

    /// The status of `GET /whoami` with `key`.
    pub async fn get(&self, http: &reqwest::Client, key: &str) -> StatusCode {
        http.get(format!("{}/whoami", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("request reaches the replica")
            .status()
    }

    /// Stops serving and drops the layer (its listener and log follower stop).
    pub async fn kill(self) {
        self.server.abort();
        let _ = self.server.await;
        drop(self.auth);
    }
}

pub async fn replicas(
    emu: &Emulator,
    redis: &RedisServer,
    n: usize,
    options: &Options,
) -> Vec<Replica> {
    replicas_on(emu, &redis.url(), n, options).await
}

pub async fn replicas_on(
    emu: &Emulator,
    redis_url: &str,
    n: usize,
    options: &Options,
) -> Vec<Replica> {
    let mut replicas = Vec::with_capacity(n);
    for _ in 0..n {
        replicas.push(Replica::start(emu, redis_url, options).await);
    }
    replicas
}

/// Waits until every fleet replica hears the fleet's invalidations.
pub async fn until_listening(replicas: &[Replica]) {
    until(Duration::from_secs(10), || {
        replicas.iter().all(|r| r.stats().listening)
    })
    .await;
}

/// Polls `condition` every 5 ms, up to `limit`.
pub async fn until(limit: Duration, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// (p50, max) of a set of durations, in ms.
pub fn p50_max(mut all: Vec<Duration>) -> (u128, u128) {
    all.sort();
    (
        all[all.len() / 2].as_millis(),
        all[all.len() - 1].as_millis(),
    )
}

/// A TCP proxy to Redis that can be cut, for one replica alone: a
/// partition between that replica and Redis, the others unaffected.
pub struct Proxy {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: u16) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let (open, links) = (open.clone(), links.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is closed at once
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) =
                            tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                        {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            }
        });
        Self {
            port,
            open,
            links,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Closes every connection through it, and every new one until restored.
    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Polls `value` on each replica every 5 ms after `revoked` until all refuse
/// it: (when the last 200 was sent, when the last replica's first 401 came
/// back), both after `revoked`.
pub async fn stopped_on(
    replicas: &[Replica],
    http: &reqwest::Client,
    value: &str,
    revoked: Instant,
) -> (Duration, Duration) {
    let mut last_accepted = Duration::ZERO;
    let mut refused = Duration::ZERO;
    for replica in replicas {
        loop {
            let sent = revoked.elapsed();
            match replica.get(http, value).await {
                StatusCode::OK => last_accepted = last_accepted.max(sent),
                StatusCode::UNAUTHORIZED => break,
                other => panic!("unexpected {other}"),
            }
            assert!(revoked.elapsed() < Duration::from_secs(10), "never revoked");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        refused = refused.max(revoked.elapsed());
    }
    (last_accepted, refused)
}

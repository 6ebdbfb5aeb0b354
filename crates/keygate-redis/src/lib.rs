#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

mod connection;
mod entry;
mod follower;
mod health;
mod lease;
mod names;
mod scripts;
mod sessions;
mod stats;
mod stored;
mod tier;
mod tls;
mod usage;

mod budget;
pub use budget::{
    DEFAULT_BUDGET_RECHECK, DEFAULT_BUDGET_TIMEOUT, RedisBudget, RedisBudgetBuilder,
    RedisBudgetStats,
};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keygate_auth::ValidatorError;
use keygate_auth::tier::{
    EventsLease, Invalidation, KeyDigest, KeyServiceCall, LocalCache, NotPassedOn, SharedTier,
    TierFuture, TierVerdict,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterConfig;

use connection::Connection;

pub use stats::FleetStats;
pub use tls::{TlsError, TlsOptions};
pub use usage::{DEFAULT_USAGE_INTERVAL, RedisUsage, UsageFlusher};

use health::Health;
use names::Names;
use stats::Counters;
use stored::Seal;
use tier::{Config, Core};

/// The default prefix of keygate's names in Redis.
pub const DEFAULT_PREFIX: &str = "keygate";
/// The default bound on one Redis command.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// The default time a replica waits for another replica's call.
pub const DEFAULT_CLAIM_WAIT: Duration = Duration::from_secs(2);
/// The default revocation bound: how long after an invalidation is logged
/// any replica may still serve the key.
pub const DEFAULT_REVOCATION_BOUND: Duration = Duration::from_secs(1);
/// The default number of verdict shards (hash tags).
pub const DEFAULT_SHARDS: u16 = 16;
/// The default number of entries the invalidation log keeps.
pub const DEFAULT_LOG_LENGTH: u32 = 10_000;
/// The shortest fleet secret accepted, in bytes.
pub const MIN_SECRET_LENGTH: usize = 32;
/// The default lifetime of the Events lease.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// Why a [`RedisTier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL or client settings were refused.
    #[error("redis client: {0}")]
    Redis(#[from] redis::RedisError),
    /// `build` was called outside a Tokio runtime.
    #[error("RedisTier::build must be called within a Tokio runtime")]
    NoRuntime,
    /// `RedisTier::cluster` was given no node.
    #[error("a Redis Cluster needs at least one node")]
    NoNodes,
    /// No fleet secret, or a short one: see [`RedisTierBuilder::secret`].
    #[error(
        "fleet mode needs a secret of at least {MIN_SECRET_LENGTH} bytes, the same on every replica (RedisTierBuilder::secret)"
    )]
    Secret,
    /// The TLS settings were refused.
    #[error("redis TLS: {0}")]
    Tls(#[from] TlsError),
}

/// Fleet mode on Redis: a [`SharedTier`] for
/// [`ApiKeyAuthBuilder::shared_tier`](keygate_auth::ApiKeyAuthBuilder::shared_tier).
/// Build one per layer, with [`RedisTier::builder`]. See the
/// [crate docs](crate) for what it does and how it fails.
#[derive(Debug)]
pub struct RedisTier {
    core: Arc<Core>,
}

/// Configures a [`RedisTier`].
#[derive(Debug, Clone)]
pub struct RedisTierBuilder {
    target: Target,
    prefix: String,
    shards: u16,
    secret: Option<Secret>,
    config: Config,
    access: tls::Access,
}

/// The fleet secret; never printed.
#[derive(Clone)]
struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Where Redis is.
#[derive(Clone)]
enum Target {
    /// One endpoint: a standalone Redis, or a Sentinel or managed primary.
    Single(String),
    /// The seed nodes of a Redis Cluster.
    Cluster(Vec<String>),
}

/// URLs may hold a password: printed as their number only.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Single(_) => f.write_str("Single(..)"),
            Self::Cluster(nodes) => write!(f, "Cluster({} nodes)", nodes.len()),
        }
    }
}

impl RedisTier {
    /// A builder for a tier on the Redis at `url`: `redis://host:port/db`,
    /// or `rediss://host:port/db` for TLS (see [`RedisTierBuilder::tls`]).
    /// ACL credentials may be in the URL (`redis://user:password@host/`) or,
    /// to keep the password out of a URL, given with
    /// [`RedisTierBuilder::credentials`].
    pub fn builder(url: impl Into<String>) -> RedisTierBuilder {
        Self::builder_for(Target::Single(url.into()))
    }

    /// A builder for a tier on a Redis Cluster, given some of its nodes
    /// (`redis://host:port/` each); the others are discovered. The verdicts
    /// spread over the [shards](RedisTierBuilder::shards)' slots; the log
    /// lives in the prefix's slot.
    pub fn cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> RedisTierBuilder {
        Self::builder_for(Target::Cluster(nodes.into_iter().map(Into::into).collect()))
    }

    fn builder_for(target: Target) -> RedisTierBuilder {
        RedisTierBuilder {
            target,
            prefix: DEFAULT_PREFIX.to_owned(),
            shards: DEFAULT_SHARDS,
            secret: None,
            access: tls::Access::default(),
            config: Config {
                command_timeout: DEFAULT_COMMAND_TIMEOUT,
                claim_wait: DEFAULT_CLAIM_WAIT,
                claim_poll: Duration::from_millis(5),
                revocation_bound: DEFAULT_REVOCATION_BOUND,
                retry_after_failure: Duration::from_secs(1),
                lease_ttl: DEFAULT_LEASE_TTL,
                log_length: DEFAULT_LOG_LENGTH,
            },
        }
    }

    /// This replica's counters.
    pub fn stats(&self) -> FleetStats {
        self.core.counters.snapshot()
    }

    /// A rate limiter's shared budget (`keygate_ratelimit`'s
    /// `RateLimitBuilder::shared_budget`) on this tier's connection: the
    /// same Redis, TLS, credentials and prefix, names of its own.
    pub fn budget(&self) -> RedisBudget {
        RedisBudget::on(self.core.conn.clone(), &self.core.prefix)
    }

    /// The fleet's request counts per key, on this tier's connection: flush
    /// each replica's [`UsageMeter`](keygate_auth::usage::UsageMeter) into
    /// it, read any key's figures from any replica.
    pub fn usage(&self) -> RedisUsage {
        RedisUsage::on(self.core.conn.clone(), &self.core.prefix)
    }

    /// A handle on the same counters, to keep after the tier is given to
    /// the layer.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::clone(&self.core))
    }
}

/// Reads a [`RedisTier`]'s counters after it went into a layer.
#[derive(Debug, Clone)]
pub struct StatsHandle(Arc<Core>);

impl StatsHandle {
    /// The counters now.
    pub fn stats(&self) -> FleetStats {
        self.0.counters.snapshot()
    }
}

impl RedisTierBuilder {
    /// The prefix of keygate's names in Redis (default `keygate`): give
    /// each service its own when several share one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The fleet's secret (required, at least [`MIN_SECRET_LENGTH`] bytes,
    /// the same on every replica): shared verdicts are sealed with it, so
    /// that whoever can write to Redis cannot make a key valid. Keep it with
    /// the service's other secrets, not in Redis.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(Secret(secret.as_ref().to_vec()));
        self
    }

    /// How many shards the verdicts spread over (default 16, at most 256):
    /// on a Redis Cluster each shard is its own hash tag, so the verdicts'
    /// reads spread over that many slots. Every replica must use the same.
    pub fn shards(mut self, shards: u16) -> Self {
        self.shards = shards.clamp(1, 256);
        self
    }

    /// The revocation bound (default 1 s): once an invalidation is logged,
    /// no replica serves the key for longer than this, whatever it failed to
    /// hear. A replica that cannot read the log serves only verdicts fetched
    /// within the bound, so a shorter bound costs more key-service calls
    /// while Redis fails. The log is read four times per bound.
    pub fn revocation_bound(mut self, bound: Duration) -> Self {
        self.config.revocation_bound = bound.max(Duration::from_millis(40));
        self
    }

    /// How many entries the invalidation log keeps (default 10,000): a
    /// replica that falls further behind flushes its cache.
    pub fn log_length(mut self, entries: u32) -> Self {
        self.config.log_length = entries.max(1);
        self
    }

    /// The longest a Redis command may take (default 250 ms) before the
    /// replica works without Redis for a second.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.config.command_timeout = timeout;
        self
    }

    /// How long a replica that missed on a key waits for the replica that
    /// claimed its call (default 2 s) before calling the key service itself.
    pub fn claim_wait(mut self, wait: Duration) -> Self {
        self.config.claim_wait = wait;
        self
    }

    /// The Events lease's lifetime (default 15 s, and at least three poll
    /// intervals): when the replica holding it dies, another one takes over
    /// within this plus one poll interval.
    pub fn events_lease(mut self, ttl: Duration) -> Self {
        self.config.lease_ttl = ttl;
        self
    }

    /// TLS settings for a `rediss://` URL (or cluster nodes): a CA file
    /// instead of the system's roots, a client certificate. A `rediss://`
    /// URL without them uses the system's roots. See [`TlsOptions`] for
    /// the crypto provider.
    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.access.tls = Some(options);
        self
    }

    /// An ACL user and its password (user `default` for a Redis with only
    /// `requirepass`), used instead of any in the URL. Neither is logged.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.access.credentials = Some(tls::Credentials {
            user: user.into(),
            password: password.into().into(),
        });
        self
    }

    /// Builds the tier, connecting lazily: a Redis that is down now does not
    /// stop the service from starting. Call it within a Tokio runtime.
    pub fn build(self) -> Result<RedisTier, Error> {
        let secret = match &self.secret {
            Some(secret) if secret.0.len() >= MIN_SECRET_LENGTH => Seal::new(&secret.0),
            _ => return Err(Error::Secret),
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let timeout = self.config.command_timeout;
        let (conn, subscribers) = match &self.target {
            Target::Single(url) => {
                let client = self.access.client(url)?;
                self.access.first_contact(&runtime, client.clone());
                let manager = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager)?;
                (Connection::Single(conn), vec![client])
            }
            Target::Cluster(nodes) => {
                let subscribers = nodes
                    .iter()
                    .map(|node| self.access.client(node))
                    .collect::<Result<Vec<_>, _>>()?;
                if subscribers.is_empty() {
                    return Err(Error::NoNodes);
                }
                self.access.first_contact(&runtime, subscribers[0].clone());
                let cluster = self
                    .access
                    .cluster(nodes)?
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1)
                    .build()?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout);
                let conn = cluster.get_pending_async_connection_with_config(config);
                (Connection::Cluster(conn), subscribers)
            }
        };
        let core = Core {
            names: Names::new(&self.prefix, self.shards),
            prefix: self.prefix.clone(),
            seal: secret,
            unlogged: Default::default(),
            subscribers,
            conn,
            replica: format!("{:016x}", rand::random::<u64>()),
            health: Health::new(self.config.retry_after_failure),
            counters: Counters::default(),
            local: OnceLock::new(),
            runtime,
            config: self.config,
        };
        Ok(RedisTier {
            core: Arc::new(core),
        })
    }
}

impl SharedTier for RedisTier {
    fn verdict(
        &self,
        digest: KeyDigest,
        call: KeyServiceCall,
    ) -> TierFuture<'static, Result<TierVerdict, ValidatorError>> {
        let core = Arc::clone(&self.core);
        Box::pin(async move { core.verdict(digest, call).await })
    }

    fn invalidate(
        &self,
        invalidation: Invalidation,
    ) -> TierFuture<'static, Result<(), NotPassedOn>> {
        let core = Arc::clone(&self.core);
        Box::pin(async move { core.invalidate(invalidation).await })
    }

    fn revocation_bound(&self) -> Duration {
        self.core.config.revocation_bound
    }

    fn attach(&self, local: LocalCache) {
        tier::attach(&self.core, local);
    }

    fn events_lease(&self) -> Option<Arc<dyn EventsLease>> {
        Some(Arc::new(lease::FleetLease(Arc::clone(&self.core))))
    }
}

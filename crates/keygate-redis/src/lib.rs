//! Fleet mode for keygate: many replicas of a service, one key-service
//! budget, and revocation that reaches every replica, on Redis.
//!
//! Plug a [`RedisTier`] into the layer's builder. Each replica keeps its own
//! cache, and a hit there never touches Redis; a miss reads the verdict
//! another replica stored in Redis before calling the key service:
//!
//! ```no_run
//! use std::time::Duration;
//! use keygate_auth::ApiKeyAuth;
//! use keygate_redis::RedisTier;
//!
//! # async fn run(client: keygate_client::Client) -> Result<(), keygate_redis::Error> {
//! let tier = RedisTier::builder("redis://127.0.0.1:6379/")
//!     .prefix("billing-api")
//!     .build()?;
//! let auth = ApiKeyAuth::builder(client.clone())
//!     .shared_tier(tier)
//!     // Every replica runs the listener; one at a time polls.
//!     .revocation_listener(client, Duration::from_secs(5))
//!     .build();
//! # let _ = auth; Ok(()) }
//! ```
//!
//! What it gives the fleet:
//! - **A shared verdict tier.** Definite verdicts (valid with the key, and
//!   invalid) are stored under the SHA-256 digest of the key, never its
//!   value, for the layer's TTLs (a valid key's cut at its `expires_at`). A
//!   replica that reads one serves it only for what is left of it. Errors
//!   are never stored.
//! - **Fleet-wide single flight.** On a miss, a replica claims the call for
//!   the key (`SET NX PX`, in the same script as the read); the others read
//!   again (after 5 ms, doubling up to 50 ms) for up to the
//!   [claim wait](RedisTierBuilder::claim_wait), then call the key service
//!   themselves rather than fail.
//! - **Fleet-wide revocation.** Every invalidation (the revocation listener,
//!   the webhook receiver, your own calls on `VerdictCache`) deletes the
//!   shared verdict and is published to every replica, in one script. A
//!   verdict is stored only if no invalidation happened since the call that
//!   produced it began, so a late answer cannot bring a revoked key back.
//! - **One Events poller.** With a revocation listener on each replica,
//!   only the holder of a lease in Redis polls; the cursor is in Redis too,
//!   and another replica takes over within the lease's lifetime plus one
//!   poll interval when the holder dies.
//!
//! On a Redis Cluster, build the tier with [`RedisTier::cluster`]: every
//! name keygate uses shares the prefix's hash tag, so each script runs
//! within one slot, and invalidations published on any node reach every
//! replica.
//!
//! # When Redis fails
//!
//! Redis is never trusted with a decision it cannot make. Each command is
//! bounded by the [command timeout](RedisTierBuilder::command_timeout); on a
//! failure the replica leaves Redis alone for a second and works as a single
//! process would (its own cache, then the key service), so a valid key never
//! gets a 401 because of Redis and an unvalidated key never gets a 200.
//!
//! A replica that does not hear the fleet's invalidations (before its first
//! subscription, or after losing it: the connection cut, or Redis not
//! answering a ping within the command timeout) flushes its cache, and
//! until it hears them again keeps each verdict for at most the
//! [deaf TTL](RedisTierBuilder::deaf_ttl). A revoked key is therefore refused
//! on every replica within: the pub/sub delivery time while Redis is healthy;
//! at most the ping interval plus the command timeout plus the deaf TTL
//! (1 s + 250 ms + 5 s by default) on a replica that lost its subscription.
//! An invalidation that cannot be passed on (Redis unreachable from the
//! replica that made it) is logged as an error. When it came from a webhook,
//! the receiver answers 503 and acts again on the retry; from the Events
//! listener, the events are read again after a backoff. One made by your
//! own code through `VerdictCache` is not retried: the other replicas keep
//! the verdict up to their TTL, unless they lost Redis too.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

mod connection;
mod health;
mod lease;
mod message;
mod names;
mod relay;
mod scripts;
mod stats;
mod stored;
mod tier;

mod budget;
pub use budget::{
    DEFAULT_BUDGET_RECHECK, DEFAULT_BUDGET_TIMEOUT, RedisBudget, RedisBudgetBuilder,
    RedisBudgetStats,
};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keygate_auth::{
    EventsLease, Invalidation, KeyDigest, KeyServiceCall, LocalCache, NotPassedOn, SharedTier,
    TierFuture, TierVerdict, ValidatorError,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};

use connection::Connection;

pub use stats::FleetStats;

use health::Health;
use names::Names;
use stats::Counters;
use tier::{Config, Core};

/// The default prefix of keygate's names in Redis.
pub const DEFAULT_PREFIX: &str = "keygate";
/// The default bound on one Redis command.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// The default time a replica waits for another replica's call.
pub const DEFAULT_CLAIM_WAIT: Duration = Duration::from_secs(2);
/// The default freshness of verdicts while a replica is deaf.
pub const DEFAULT_DEAF_TTL: Duration = Duration::from_secs(5);
/// The default interval between pings on the invalidation subscription.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(1);
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
    config: Config,
}

/// Where Redis is.
#[derive(Debug, Clone)]
enum Target {
    /// One endpoint: a standalone Redis, or a Sentinel or managed primary.
    Single(String),
    /// The seed nodes of a Redis Cluster.
    Cluster(Vec<String>),
}

impl RedisTier {
    /// A builder for a tier on the Redis at `url` (`redis://[user:password@]host:port/db`).
    /// TLS to Redis (`rediss://`) is not built in: keep Redis on a private
    /// network.
    pub fn builder(url: impl Into<String>) -> RedisTierBuilder {
        Self::builder_for(Target::Single(url.into()))
    }

    /// A builder for a tier on a Redis Cluster, given some of its nodes
    /// (`redis://host:port/` each); the others are discovered. keygate's
    /// names share the prefix's hash tag, so they all live in one slot.
    pub fn cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> RedisTierBuilder {
        Self::builder_for(Target::Cluster(nodes.into_iter().map(Into::into).collect()))
    }

    fn builder_for(target: Target) -> RedisTierBuilder {
        RedisTierBuilder {
            target,
            prefix: DEFAULT_PREFIX.to_owned(),
            config: Config {
                command_timeout: DEFAULT_COMMAND_TIMEOUT,
                claim_wait: DEFAULT_CLAIM_WAIT,
                claim_poll: Duration::from_millis(5),
                deaf_ttl: DEFAULT_DEAF_TTL,
                ping_interval: DEFAULT_PING_INTERVAL,
                retry_after_failure: Duration::from_secs(1),
                lease_ttl: DEFAULT_LEASE_TTL,
            },
        }
    }

    /// This replica's counters.
    pub fn stats(&self) -> FleetStats {
        self.core.counters.snapshot()
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
    /// each service its own when several share one Redis. It is also their
    /// hash tag (`{prefix}:…`), so on Redis Cluster all of them live in one
    /// slot.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
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

    /// The longest a verdict is fresh while this replica does not hear the
    /// fleet's invalidations (default 5 s): the bound on serving a revoked
    /// key after losing the subscription, against one key-service call per
    /// key per deaf TTL while it lasts.
    pub fn deaf_ttl(mut self, ttl: Duration) -> Self {
        self.config.deaf_ttl = ttl;
        self
    }

    /// How often the subscription is pinged (default 1 s): a Redis that
    /// stopped answering is noticed within this plus the command timeout.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.config.ping_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The Events lease's lifetime (default 15 s, and at least three poll
    /// intervals): when the replica holding it dies, another one takes over
    /// within this plus one poll interval.
    pub fn events_lease(mut self, ttl: Duration) -> Self {
        self.config.lease_ttl = ttl;
        self
    }

    /// Builds the tier, connecting lazily: a Redis that is down now does not
    /// stop the service from starting. Call it within a Tokio runtime.
    pub fn build(self) -> Result<RedisTier, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let timeout = self.config.command_timeout;
        let (conn, subscribers) = match &self.target {
            Target::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
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
                    .map(|node| redis::Client::open(node.as_str()))
                    .collect::<Result<Vec<_>, _>>()?;
                if subscribers.is_empty() {
                    return Err(Error::NoNodes);
                }
                let cluster = ClusterClient::builder(nodes.iter().map(String::as_str))
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
            names: Names::new(&self.prefix),
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

    fn invalidated(
        &self,
        invalidation: Invalidation,
    ) -> TierFuture<'static, Result<(), NotPassedOn>> {
        let core = Arc::clone(&self.core);
        Box::pin(async move { core.send(invalidation).await })
    }

    fn attach(&self, local: LocalCache) {
        tier::attach(&self.core, local);
    }

    fn events_lease(&self) -> Option<Arc<dyn EventsLease>> {
        Some(Arc::new(lease::FleetLease(Arc::clone(&self.core))))
    }
}

//! [`RedisBudget`]: the rate limiter's budget shared by every replica, in
//! Redis, for keygate-ratelimit's
//! [`shared_budget`](keygate_ratelimit::RateLimitBuilder::shared_budget).

use std::fmt;
use std::future::ready;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use keygate_ratelimit::{BudgetFuture, BudgetUnavailable, Decision, Quota, SharedBudget};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

use crate::connection::Connection;
use crate::health::{Failure, Health};
use crate::{DEFAULT_PREFIX, Error};

/// The default bound on one budget call: it is on every limited request's path.
pub const DEFAULT_BUDGET_TIMEOUT: Duration = Duration::from_millis(50);
/// The default time Redis is left alone after a failed budget call.
pub const DEFAULT_BUDGET_RECHECK: Duration = Duration::from_secs(1);

/// The GCRA, one atomic step. `KEYS[1]`: the partition; `ARGV[1]`: the
/// replenish interval in microseconds; `ARGV[2]`: the burst. Answers
/// `{accepted (0|1), remaining, reset_us, retry_us}`. TATs are written with
/// `%d`: Lua 5.1's `tostring` would round them to 14 digits.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local next_tat = tat + interval
if next_tat - now > capacity then
  return {0, 0, tat - now, next_tat - capacity - now}
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, math.floor((capacity - (next_tat - now)) / interval), next_tat - now, 0}
",
    )
});

/// The rate limiter's budget in Redis: one budget per partition (key,
/// owner or organization) shared by every replica. Give it to
/// [`RateLimitBuilder::shared_budget`](keygate_ratelimit::RateLimitBuilder::shared_budget);
/// build it with [`RedisBudget::builder`].
///
/// ```no_run
/// use keygate_ratelimit::{Quota, RateLimit};
/// use keygate_redis::RedisBudget;
///
/// # async fn run() -> Result<(), keygate_redis::Error> {
/// let budget = RedisBudget::builder("redis://127.0.0.1:6379/")
///     .prefix("billing-api")
///     .build()?;
/// let rate_limit = RateLimit::builder(Quota::per_second(10))
///     .shared_budget(budget.clone()) // keep a clone for its stats
///     .build();
/// # let _ = rate_limit; Ok(()) }
/// ```
///
/// The rules, tested in `tests/budget`:
///
/// 1. Each decision is one `EVALSHA` of a GCRA script: it reads the
///    partition's theoretical arrival time (TAT), decides, and writes the
///    new TAT with a `PX` expiry of the time until the budget is whole
///    again, in one atomic step. The clock is Redis's `TIME`, so the
///    replicas' clocks do not matter.
/// 2. A partition's budget is `PREFIX:ratelimit:{ID}`, the id of a key,
///    owner or organization (`api_key_…`, `user_…`, `org_…`) or
///    `anonymous`: never a key's value. The id is the hash tag: each
///    script touches one name, so on a Redis Cluster the budgets spread
///    over the slots rather than load one node with every request.
/// 3. Each call is bounded by the [timeout](RedisBudgetBuilder::timeout)
///    (50 ms by default). A failure (an error, no answer in time) is
///    answered [`BudgetUnavailable`], and so is every request for the next
///    [recheck interval](RedisBudgetBuilder::recheck_after) (1 s by
///    default), without a call; then one request at a time asks Redis
///    again, until one is answered. A failing Redis so costs each replica
///    about one timeout per recheck interval.
/// 4. While it answers `BudgetUnavailable`, the layer decides alone, from a
///    fallback that starts every partition empty: see
///    [`SharedBudget`](keygate_ratelimit::SharedBudget) for the worst case
///    it allows (`N·⌊D / T⌋` more requests per partition for N replicas cut
///    off for `D`, `T` the quota's replenish interval; no burst).
/// 5. The budgets in Redis are not signed: whoever can write to Redis can
///    make a partition refuse requests (a far-future TAT) or accept more
///    than its quota (deleting it). Never more: the rate limit runs after
///    authentication, and nothing it reads from Redis authenticates.
/// 6. A Redis restarted empty (or failed over to a replica that lacks the
///    budgets) has forgotten what it counted: every partition has its whole
///    burst again, once. Budgets are short-lived (each expires when whole),
///    so persistence buys little.
///
/// Clones share the connection and the counters.
#[derive(Clone)]
pub struct RedisBudget {
    core: Arc<BudgetCore>,
}

/// Configures a [`RedisBudget`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisBudgetBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
    recheck_after: Duration,
}

/// What a [`RedisBudget`] has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RedisBudgetStats {
    /// Calls Redis answered.
    pub answered: u64,
    /// Calls that failed or timed out.
    pub failures: u64,
    /// Whether Redis is being asked now (`false`: it is left alone after a
    /// failure, or only one request at a time asks it again).
    pub redis_up: bool,
}

struct BudgetCore {
    conn: Connection,
    /// `PREFIX:ratelimit:`, before each partition's `{ID}`.
    name_prefix: String,
    timeout: Duration,
    health: Health,
    /// Whether the last call failed: then one request at a time asks again.
    down: AtomicBool,
    /// Whether a request is asking again after a failure.
    probing: AtomicBool,
    answered: AtomicU64,
    failures: AtomicU64,
}

/// Why a request was not asked of Redis.
#[derive(Debug)]
struct LeftAlone;

impl fmt::Display for LeftAlone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis is left alone after a failure until the next recheck")
    }
}

impl std::error::Error for LeftAlone {}

impl RedisBudget {
    /// A builder for a budget on the Redis at `url`
    /// (`redis://[user:password@]host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisBudgetBuilder {
        RedisBudgetBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_BUDGET_TIMEOUT,
            recheck_after: DEFAULT_BUDGET_RECHECK,
        }
    }

    /// What it has done so far.
    pub fn stats(&self) -> RedisBudgetStats {
        let core = &*self.core;
        RedisBudgetStats {
            answered: core.answered.load(Ordering::Relaxed),
            failures: core.failures.load(Ordering::Relaxed),
            redis_up: !core.down.load(Ordering::Relaxed),
        }
    }
}

impl RedisBudget {
    /// A budget on a connection the tier already holds (its TLS, credentials
    /// and Cluster routing included); see [`RedisTier::budget`](crate::RedisTier::budget).
    pub(crate) fn on(conn: Connection, prefix: &str) -> Self {
        Self::with(conn, prefix, DEFAULT_BUDGET_TIMEOUT, DEFAULT_BUDGET_RECHECK)
    }

    fn with(conn: Connection, prefix: &str, timeout: Duration, recheck_after: Duration) -> Self {
        RedisBudget {
            core: Arc::new(BudgetCore {
                conn,
                name_prefix: format!("{prefix}:ratelimit:"),
                timeout,
                health: Health::new(recheck_after),
                down: AtomicBool::new(false),
                probing: AtomicBool::new(false),
                answered: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }),
        }
    }
}

impl RedisBudgetBuilder {
    /// The prefix of the budgets' names in Redis (default `keygate`). Give
    /// each rate limit its own: two layers on one prefix spend the same
    /// budgets.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest a budget call may take (default 50 ms): past it the
    /// layer's fallback decides the request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long Redis is left alone after a failed call (default 1 s).
    pub fn recheck_after(mut self, recheck_after: Duration) -> Self {
        self.recheck_after = recheck_after;
        self
    }

    /// Builds the budget, connecting lazily: a Redis that is down now does
    /// not stop the service from starting. Call it within a Tokio runtime.
    pub fn build(self) -> Result<RedisBudget, Error> {
        tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let client = redis::Client::open(self.url.as_str())?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, manager)?;
        Ok(RedisBudget::with(
            Connection::Single(conn),
            &self.prefix,
            self.timeout,
            self.recheck_after,
        ))
    }
}

impl SharedBudget for RedisBudget {
    fn spend(
        &self,
        partition: &str,
        quota: Quota,
    ) -> BudgetFuture<'static, Result<Decision, BudgetUnavailable>> {
        let core = &*self.core;
        if !core.health.available() {
            return Box::pin(ready(Err(BudgetUnavailable::new(LeftAlone))));
        }
        // After a failure, one request at a time asks again; the others
        // are not made to wait for a Redis that may still be down.
        let probe = if core.down.load(Ordering::Acquire) {
            if core.probing.swap(true, Ordering::AcqRel) {
                return Box::pin(ready(Err(BudgetUnavailable::new(LeftAlone))));
            }
            Some(Probe(Arc::clone(&self.core)))
        } else {
            None
        };
        let name = core.name(partition);
        let core = Arc::clone(&self.core);
        Box::pin(async move {
            let decision = core.spend(&name, quota).await;
            drop(probe);
            decision
        })
    }
}

/// A request asking Redis again after a failure: the next may ask once it
/// is done, answered, failed or dropped.
struct Probe(Arc<BudgetCore>);

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.probing.store(false, Ordering::Release);
    }
}

impl BudgetCore {
    /// `PREFIX:ratelimit:{ID}`: the partition's id is the hash tag.
    fn name(&self, partition: &str) -> String {
        format!("{}{{{partition}}}", self.name_prefix)
    }

    async fn spend(&self, name: &str, quota: Quota) -> Result<Decision, BudgetUnavailable> {
        match self.run(name, quota).await {
            Ok(decision) => {
                self.answered.fetch_add(1, Ordering::Relaxed);
                self.down.store(false, Ordering::Release);
                Ok(decision)
            }
            Err(failure) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.down.store(true, Ordering::Release);
                self.health.failed(&failure);
                Err(BudgetUnavailable::new(failure))
            }
        }
    }

    /// One run of the script, within the timeout.
    async fn run(&self, name: &str, quota: Quota) -> Result<Decision, Failure> {
        let interval_us = u64::try_from(quota.replenish_interval().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut invocation = GCRA.key(name);
        invocation.arg(interval_us).arg(quota.burst());
        let mut conn = self.conn.clone();
        let call = invocation.invoke_async::<Value>(&mut conn);
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Ok(answer) => answer?,
            Err(_) => return Err(Failure::Timeout(self.timeout)),
        };
        let (accepted, remaining, reset_us, retry_us) =
            redis::from_redis_value::<(u8, u64, u64, u64)>(answer)
                .map_err(|_| Failure::Unreadable)?;
        Ok(match accepted {
            1 => Decision::Accepted {
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                reset: Duration::from_micros(reset_us),
            },
            0 => Decision::Limited {
                retry_after: Duration::from_micros(retry_us),
            },
            _ => return Err(Failure::Unreadable),
        })
    }
}

impl fmt::Debug for RedisBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &*self.core;
        f.debug_struct("RedisBudget")
            .field("conn", &core.conn)
            .field("name_prefix", &core.name_prefix)
            .field("timeout", &core.timeout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_budget_is_named_by_the_partition_id_as_hash_tag_under_the_prefix() {
        let budget = RedisBudget::builder("redis://127.0.0.1:1/")
            .prefix("billing")
            .build()
            .unwrap();
        assert_eq!(
            budget.core.name("api_key_01"),
            "billing:ratelimit:{api_key_01}"
        );
    }

    #[test]
    fn building_outside_a_runtime_is_a_clear_error() {
        let error = RedisBudget::builder("redis://127.0.0.1:1/")
            .build()
            .unwrap_err();
        assert!(matches!(error, Error::NoRuntime), "{error}");
    }
}

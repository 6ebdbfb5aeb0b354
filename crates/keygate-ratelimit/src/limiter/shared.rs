//! [`RedisBudget`]: one budget per partition for every replica, kept in
//! Redis by an atomic GCRA script, with the in-process limiter as the
//! fallback while Redis fails.
//!
//! The rules it keeps are on [`RedisBudget`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::Script;
use redis::aio::ConnectionManager;

use super::Outcome;
use crate::Quota;

/// The GCRA script. `KEYS[1]`: the partition; `ARGV[1]`: the replenish
/// interval in microseconds; `ARGV[2]`: the burst. Answers `{accepted (0|1),
/// remaining, reset_us, retry_us}`. TATs are written with `%d`, Lua 5.1's
/// `tostring` would round them to 14 digits.
pub const GCRA: &str = r"
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
";

/// The default Redis key prefix.
pub const DEFAULT_PREFIX: &str = "keygate:ratelimit:";
/// The default bound on one Redis call.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(50);
/// The default time on the local limiter after a Redis failure.
pub const DEFAULT_RECHECK_AFTER: Duration = Duration::from_secs(1);
const WARN_EVERY: Duration = Duration::from_secs(10);

/// One budget per partition shared by every replica, in Redis. Give it to
/// [`RateLimitBuilder::redis`](crate::RateLimitBuilder::redis).
///
/// The rules, tested in `tests/redis.rs`:
///
/// 1. Each decision is one `EVALSHA` of [`GCRA`]: it reads the partition's
///    theoretical arrival time (TAT), decides, and writes the new TAT with a
///    `PX` expiry of the time until the budget is whole again, all in one
///    atomic step. The clock is Redis's `TIME`, so replicas' clocks do not
///    matter.
/// 2. Redis keys are `{prefix}{id}`, the id of a key, owner or organization
///    (`api_key_…`, `user_…`, `org_…`): never a key's value.
/// 3. Each call is bounded by a timeout (50 ms by default). An error or a
///    timeout answers that request from the local fallback, and so do all
///    requests for the next `recheck_after` (1 s by default); then one
///    request asks Redis again, and the first answer brings the shared
///    budget back. A failing Redis costs each replica at most one timeout
///    per recheck.
/// 4. The fallback cannot know what Redis had counted, so it starts every
///    partition empty when Redis fails, then refills it at the quota's
///    steady rate: in a spell of `D` without Redis, each replica accepts at
///    most `D / (window / count)` requests per partition (rounded down) on
///    top of what Redis counted, never a burst.
/// 5. Failures are logged at `warn` at most once per 10 s, the return at `info`.
///
/// Clones share the connection and the counters.
///
/// ```no_run
/// use keygate_ratelimit::{Quota, RateLimit, RedisBudget};
///
/// # async fn run() -> redis::RedisResult<()> {
/// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
/// let connection = redis::aio::ConnectionManager::new(client).await?;
/// let budget = RedisBudget::new(connection).prefix("myapp:ratelimit:");
/// let rate_limit = RateLimit::builder(Quota::per_second(10)).redis(budget).build();
/// # let _ = rate_limit; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBudget {
    connection: ConnectionManager,
    script: Arc<Script>,
    prefix: Arc<str>,
    timeout: Duration,
    recheck_after: Duration,
    health: Arc<Health>,
}

/// Whether Redis is being asked, and the counters.
struct Health {
    epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not asked; 0 while
    /// it answers.
    down_until: AtomicU64,
    /// When the last warning was logged, in milliseconds since `epoch` + 1; 0: never.
    warned_at: AtomicU64,
    shared: AtomicU64,
    fallback: AtomicU64,
    failures: AtomicU64,
}

/// What a [`RedisBudget`] has decided so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BudgetStats {
    /// Requests decided by Redis.
    pub shared: u64,
    /// Requests decided by the local limiter because Redis failed or was
    /// being left alone until the next recheck.
    pub fallback: u64,
    /// Redis calls that failed or timed out.
    pub failures: u64,
    /// Whether Redis is being asked now (`false`: the local limiter decides).
    pub redis_up: bool,
}

impl RedisBudget {
    /// The budget over `connection`, with the default prefix
    /// (`keygate:ratelimit:`), timeout (50 ms) and recheck (1 s).
    pub fn new(connection: ConnectionManager) -> Self {
        Self {
            connection,
            script: Arc::new(Script::new(GCRA)),
            prefix: Arc::from(DEFAULT_PREFIX),
            timeout: DEFAULT_REDIS_TIMEOUT,
            recheck_after: DEFAULT_RECHECK_AFTER,
            health: Arc::new(Health {
                epoch: Instant::now(),
                down_until: AtomicU64::new(0),
                warned_at: AtomicU64::new(0),
                shared: AtomicU64::new(0),
                fallback: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }),
        }
    }

    /// The prefix of the Redis keys. Give each rate limit of one Redis its
    /// own: two layers with one prefix share their budgets.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// The bound on one Redis call; past it the local limiter decides.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the local limiter decides alone after a failure before
    /// Redis is asked again.
    pub fn recheck_after(mut self, recheck_after: Duration) -> Self {
        self.recheck_after = recheck_after;
        self
    }

    /// What it has decided so far.
    pub fn stats(&self) -> BudgetStats {
        let health = &*self.health;
        BudgetStats {
            shared: health.shared.load(Ordering::Relaxed),
            fallback: health.fallback.load(Ordering::Relaxed),
            failures: health.failures.load(Ordering::Relaxed),
            redis_up: health.down_until.load(Ordering::Relaxed) == 0,
        }
    }

    /// Whether this request asks Redis: yes while it answers; while it
    /// does not, one request per recheck interval.
    pub(crate) fn should_ask(&self) -> bool {
        let health = &*self.health;
        let down_until = health.down_until.load(Ordering::Acquire);
        if down_until == 0 {
            return true;
        }
        let now = health.now_ms();
        let ask = now >= down_until
            && health
                .down_until
                .compare_exchange(
                    down_until,
                    now + millis(self.recheck_after),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok();
        if !ask {
            health.fallback.fetch_add(1, Ordering::Relaxed);
        }
        ask
    }

    /// Spends one request of `id`'s shared budget; `None` when Redis did
    /// not answer in time (counted, logged, and the budget left alone
    /// until the next recheck).
    pub(crate) async fn check(&self, id: &str, quota: &Quota) -> Option<Outcome> {
        let interval_us = quota.replenish_interval().as_micros().max(1) as u64;
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("{}{id}", self.prefix));
        invocation.arg(interval_us).arg(quota.burst());
        let call = invocation.invoke_async::<(u8, u64, u64, u64)>(&mut connection);
        let health = &*self.health;
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((accepted, remaining, reset_us, retry_us))) => {
                health.shared.fetch_add(1, Ordering::Relaxed);
                if health.down_until.swap(0, Ordering::AcqRel) != 0 {
                    tracing::info!("Redis answers again: the shared rate-limit budget is back");
                }
                Some(if accepted == 1 {
                    Outcome::Accepted {
                        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                        reset: Duration::from_micros(reset_us),
                    }
                } else {
                    Outcome::Limited {
                        retry_after: Duration::from_micros(retry_us),
                    }
                })
            }
            Ok(Err(error)) => {
                self.failed(&error);
                None
            }
            Err(_elapsed) => {
                self.failed(&format_args!("no answer within {:?}", self.timeout));
                None
            }
        }
    }

    fn failed(&self, error: &dyn fmt::Display) {
        let health = &*self.health;
        health.failures.fetch_add(1, Ordering::Relaxed);
        health.fallback.fetch_add(1, Ordering::Relaxed);
        let now = health.now_ms();
        health
            .down_until
            .store(now + millis(self.recheck_after).max(1), Ordering::Release);
        let warned_at = health.warned_at.load(Ordering::Relaxed);
        let due = warned_at == 0 || now + 1 >= warned_at + millis(WARN_EVERY);
        if due
            && health
                .warned_at
                .compare_exchange(warned_at, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                %error,
                "the shared rate-limit budget in Redis failed; each replica limits on its own \
                 until Redis answers (this warning repeats at most every 10 s)"
            );
        }
    }
}

impl Health {
    /// Milliseconds since `epoch`, at least 1 (0 means "up").
    fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed()).max(1)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Debug for RedisBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBudget")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("recheck_after", &self.recheck_after)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

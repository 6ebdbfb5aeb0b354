//! Requests per key across the fleet: each replica's
//! [`UsageMeter`](keygate_auth::usage::UsageMeter) drained every interval
//! into one Redis hash per key.
//!
//! One round trip per key with requests per interval (a pipeline of two
//! `HINCRBY`, an `HSET`, an `HDEL` and an `EXPIRE` on that key's hash, so in
//! a cluster it goes to one node), never one per request. A flush that fails
//! keeps its counts and adds them to the next one: a count is written at
//! least once (one whose reply was lost after Redis applied it, twice).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use keygate_auth::usage::{Drained, KeyUsage, UsageMeter};
use keygate_types::{ApiKeyId, Timestamp};
use redis::aio::ConnectionLike;

use crate::connection::Connection;

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// How long a key's hash outlives its latest request: the month shown, and a day.
const KEPT: i64 = 31 * DAY;
/// Keys flushed at once.
const IN_FLIGHT: usize = 32;

/// The default interval between two flushes of a replica's meter.
pub const DEFAULT_USAGE_INTERVAL: Duration = Duration::from_secs(60);

/// The fleet's request counts per key in Redis; from [`RedisTier::usage`](crate::RedisTier::usage).
#[derive(Clone)]
pub struct RedisUsage {
    conn: Connection,
    prefix: String,
    /// Counts a failed flush could not write, added to the next.
    owed: Arc<Mutex<Vec<Drained>>>,
}

impl fmt::Debug for RedisUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUsage")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Stops the flushing task started by [`RedisUsage::every`] when dropped.
#[derive(Debug)]
pub struct UsageFlusher(tokio::task::JoinHandle<()>);

impl Drop for UsageFlusher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RedisUsage {
    pub(crate) fn on(conn: Connection, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
            owed: Arc::default(),
        }
    }

    fn name(&self, id: &ApiKeyId) -> String {
        format!("{}:usage:{id}", self.prefix)
    }

    /// Adds what `meter` counted since its last drain to the fleet's counts.
    /// Returns how many keys were written; on an error the counts are kept
    /// for the next flush.
    pub async fn flush(&self, meter: &UsageMeter) -> Result<usize, redis::RedisError> {
        let mut batch = std::mem::take(&mut *lock(&self.owed));
        batch.extend(meter.drain());
        let now = Timestamp::now().unix_timestamp();
        let results: Vec<_> = stream::iter(batch)
            .map(|drained| async move {
                let written = self.write(&drained, now).await;
                (drained, written)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut written = 0;
        let mut failure = None;
        let mut owed = lock(&self.owed);
        for (drained, result) in results {
            match result {
                Ok(()) => written += 1,
                Err(error) => {
                    owed.push(drained);
                    failure = Some(error);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(written),
        }
    }

    async fn write(&self, drained: &Drained, now: i64) -> Result<(), redis::RedisError> {
        let name = self.name(&drained.key_id);
        let count = i64::try_from(drained.requests).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        pipe.cmd("HINCRBY")
            .arg(&name)
            .arg(format!("h:{}", now.div_euclid(HOUR)))
            .arg(count)
            .ignore()
            .cmd("HINCRBY")
            .arg(&name)
            .arg(format!("d:{}", now.div_euclid(DAY)))
            .arg(count)
            .ignore()
            // Replicas flush in any order: the latest may be off by one interval.
            .cmd("HSET")
            .arg(&name)
            .arg("last")
            .arg(drained.last_used_at.unix_timestamp())
            .ignore()
            // The buckets that left the chart, so a key in steady use keeps
            // about 48 hour fields and 31 day fields.
            .cmd("HDEL")
            .arg(&name)
            .arg(format!("h:{}", now.div_euclid(HOUR) - 48))
            .arg(format!("d:{}", now.div_euclid(DAY) - 31))
            .ignore()
            .cmd("EXPIRE")
            .arg(&name)
            .arg(KEPT)
            .ignore();
        let mut conn = self.conn.clone();
        conn.req_packed_commands(&pipe, 0, 0).await.map(drop)
    }

    /// Flushes `meter` every `interval` until the returned handle is dropped
    /// (also at the end, as far as the runtime lets it: call
    /// [`flush`](Self::flush) yourself on shutdown to be sure).
    pub fn every(&self, meter: UsageMeter, interval: Duration) -> UsageFlusher {
        let usage = self.clone();
        UsageFlusher(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(error) = usage.flush(&meter).await {
                    tracing::warn!(%error, "could not write request counts to Redis; kept for the next flush");
                }
            }
        }))
    }

    /// Key `id`'s requests across the fleet: the last 24 hours, the last 30
    /// days and each day, as flushed so far.
    pub async fn usage(&self, id: &ApiKeyId) -> Result<KeyUsage, redis::RedisError> {
        let mut conn = self.conn.clone();
        let fields: Vec<(String, i64)> = redis::cmd("HGETALL")
            .arg(self.name(id))
            .query_async(&mut conn)
            .await?;
        let (mut hours, mut days, mut last) = (Vec::new(), Vec::new(), None);
        for (field, value) in fields {
            let count = u64::try_from(value).unwrap_or(0);
            match field.split_once(':') {
                Some(("h", hour)) => hours.extend(hour.parse().ok().map(|hour| (hour, count))),
                Some(("d", day)) => days.extend(day.parse().ok().map(|day| (day, count))),
                _ if field == "last" => last = Timestamp::from_unix_timestamp(value),
                _ => {}
            }
        }
        Ok(KeyUsage::from_buckets(Timestamp::now(), hours, days, last))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

//! The shared verdict tier: what a replica does on a miss of its own cache,
//! and how it logs an invalidation made here.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures_util::future::try_join_all;
use keygate_auth::ValidatorError;
use keygate_auth::tier::{
    Invalidation, KeyDigest, KeyServiceCall, LocalCache, NotPassedOn, TierVerdict,
};
use keygate_types::ApiKey;
use redis::Value;
use tokio::time::Instant;

use crate::connection::Connection;
use crate::entry::{self, Position};
use crate::health::{Failure, Health};
use crate::names::{Names, Shard};
use crate::scripts;
use crate::sessions;
use crate::stats::Counters;
use crate::stored::{Opened, Seal};

/// The longest pause between two reads of a replica waiting for another
/// replica's call.
const MAX_POLL: Duration = Duration::from_millis(50);

/// Unlogged invalidations kept one by one; past this many those about keys
/// are kept as one "everything".
const MAX_UNLOGGED: usize = 1_024;

/// The tier's settings (see the builder's methods).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) command_timeout: Duration,
    pub(crate) claim_wait: Duration,
    pub(crate) claim_poll: Duration,
    pub(crate) revocation_bound: Duration,
    pub(crate) retry_after_failure: Duration,
    pub(crate) lease_ttl: Duration,
    pub(crate) log_length: u32,
}

impl Config {
    /// How often a follower reads the log when nothing wakes it: four reads
    /// per revocation bound, so that one slow read does not cost the bound.
    pub(crate) fn poll_interval(&self) -> Duration {
        (self.revocation_bound / 4).max(Duration::from_millis(10))
    }
}

/// What every handle on one tier shares: the follower and lease tasks too.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) names: Names,
    /// The prefix the names were built from.
    pub(crate) prefix: String,
    /// Where wake-ups are subscribed: the endpoint, or each cluster node in
    /// turn (a publish on any node reaches every node).
    pub(crate) subscribers: Vec<redis::Client>,
    pub(crate) conn: Connection,
    pub(crate) config: Config,
    /// This replica's id, in its claims and its lease.
    pub(crate) replica: String,
    pub(crate) health: Health,
    pub(crate) counters: Counters,
    pub(crate) seal: Seal,
    /// Invalidations made here that are not yet logged.
    pub(crate) unlogged: Mutex<Unlogged>,
    /// The layer's cache, once attached.
    pub(crate) local: OnceLock<LocalCache>,
    pub(crate) runtime: tokio::runtime::Handle,
}

/// What this replica owes the fleet. While anything is owed it reads no
/// shared verdict: one could be what it is revoking.
#[derive(Debug, Default)]
pub(crate) struct Unlogged {
    /// Invalidations made here that could not be logged.
    invalidations: Vec<Invalidation>,
    /// Redis lost data (restarted, failed over or flushed): every shared
    /// verdict is to be retired.
    retire: bool,
}

/// One step of a miss, as `READ_OR_CLAIM` answers it.
enum Step {
    Found { value: Vec<u8>, left: Duration },
    Claimed { fence: String, generation: String },
    Busy { fence: String, generation: String },
}

/// One read of the log, as `READ_LOG` answers it.
#[derive(Debug)]
pub(crate) struct LogRead {
    /// The Redis process and the log's token: another means data was lost.
    pub(crate) incarnation: String,
    /// The last entry trimmed away.
    pub(crate) floor: Position,
    /// The last entry.
    pub(crate) head: Position,
    /// The entries after the position asked for, in order; `None` for an
    /// entry this version cannot read.
    pub(crate) entries: Vec<(Position, Option<Invalidation>)>,
}

/// Where a call's answer goes in Redis.
struct Share<'a> {
    shard: &'a Shard,
    digest: KeyDigest,
    /// This replica's claim token, if it holds the claim.
    claim: Option<&'a str>,
    /// The shard's fence, read before the call began.
    fence: String,
    generation: String,
}

impl Core {
    /// Runs one Redis command within the command timeout.
    pub(crate) async fn run<T>(
        &self,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.config.command_timeout, command).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(Failure::Timeout(self.config.command_timeout)),
        }
    }

    fn unlogged(&self) -> std::sync::MutexGuard<'_, Unlogged> {
        self.unlogged.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this replica owes the fleet an invalidation or a retirement.
    pub(crate) fn owes(&self) -> bool {
        let unlogged = self.unlogged();
        unlogged.retire || !unlogged.invalidations.is_empty()
    }

    /// The verdict for a miss: from Redis, or from the key service (once for
    /// the fleet when Redis answers). Straight from the key service while
    /// Redis fails, or while this replica owes the fleet an invalidation.
    pub(crate) async fn verdict(
        &self,
        digest: KeyDigest,
        call: KeyServiceCall,
    ) -> Result<TierVerdict, ValidatorError> {
        let local = self
            .local
            .get()
            .filter(|_| self.health.available() && !self.owes());
        let Some(local) = local else {
            Counters::bump(&self.counters.fallbacks);
            return call.await.map(TierVerdict::fresh);
        };
        let shard = self.names.shard(&digest);
        let token = format!("{}-{:016x}", self.replica, rand::random::<u64>());
        let deadline = Instant::now() + self.config.claim_wait;
        let mut waited = false;
        let mut pause = self.config.claim_poll;
        loop {
            let step = match self.read_or_claim(shard, &digest, &token).await {
                Ok(step) => step,
                Err(failure) => {
                    self.health.failed(&failure);
                    Counters::bump(&self.counters.fallbacks);
                    return call.await.map(TierVerdict::fresh);
                }
            };
            let (fence, generation, claim) = match step {
                Step::Found { value, left } => match self.seal.open(&digest, &value) {
                    Opened::Verdict { key, left: sealed } => {
                        Counters::bump(&self.counters.shared_hits);
                        if waited {
                            Counters::bump(&self.counters.waits);
                        }
                        return Ok(TierVerdict::fresh(key).fresh_for(left.min(sealed)));
                    }
                    Opened::Forged => {
                        Counters::bump(&self.counters.forged);
                        tracing::warn!(
                            digest = ?digest,
                            "fleet mode: a verdict in redis not sealed by this fleet; ignored, asking the key service"
                        );
                        return call.await.map(TierVerdict::fresh);
                    }
                    Opened::Unusable => return call.await.map(TierVerdict::fresh),
                },
                Step::Claimed { fence, generation } => (fence, generation, Some(token.as_str())),
                Step::Busy { fence, generation } => {
                    if Instant::now() < deadline {
                        waited = true;
                        // Polls back off, so replicas waiting on a slow call
                        // cost Redis a handful of reads each, not one per tick.
                        tokio::time::sleep(pause.min(deadline - Instant::now())).await;
                        pause = (pause * 2).min(MAX_POLL);
                        continue;
                    }
                    // The replica that claimed the call is slow or gone: ask
                    // the key service rather than fail.
                    Counters::bump(&self.counters.claim_timeouts);
                    (fence, generation, None)
                }
            };
            let share = Share {
                shard,
                digest,
                claim,
                fence,
                generation,
            };
            return self.call_and_share(local, call, share).await;
        }
    }

    async fn read_or_claim(
        &self,
        shard: &Shard,
        digest: &KeyDigest,
        token: &str,
    ) -> Result<Step, Failure> {
        let mut conn = self.conn.clone();
        let answer: Vec<Value> = self
            .run(
                scripts::READ_OR_CLAIM
                    .key(shard.fence())
                    .key(shard.generation())
                    .arg(shard.verdict_prefix())
                    .arg(shard.claim(digest))
                    .arg(digest.to_hex())
                    .arg(token)
                    .arg(millis(self.config.claim_wait))
                    .arg(fresh_token())
                    .invoke_async(&mut conn),
            )
            .await?;
        let (Some(kind), Some(fence), Some(generation)) = (
            text(answer.first()),
            text(answer.get(1)),
            text(answer.get(2)),
        ) else {
            return Err(Failure::Unreadable);
        };
        match kind.as_str() {
            "found" => {
                let (Some(Value::BulkString(value)), Some(Value::Int(left))) =
                    (answer.get(3), answer.get(4))
                else {
                    return Err(Failure::Unreadable);
                };
                // PTTL is -1 without an expiry (never written so by keygate).
                let left = u64::try_from(*left).unwrap_or(0);
                Ok(Step::Found {
                    value: value.clone(),
                    left: Duration::from_millis(left),
                })
            }
            "claimed" => Ok(Step::Claimed { fence, generation }),
            "busy" => Ok(Step::Busy { fence, generation }),
            _ => Err(Failure::Unreadable),
        }
    }

    /// Makes the key service call, and stores its definite answer for the
    /// fleet unless the shard's fence moved meanwhile.
    async fn call_and_share(
        &self,
        local: &LocalCache,
        call: KeyServiceCall,
        share: Share<'_>,
    ) -> Result<TierVerdict, ValidatorError> {
        Counters::bump(&self.counters.key_service_calls);
        let answer = call.await;
        let stored = match &answer {
            Ok(key) => match local.lifetime(key.as_ref()) {
                Some(ttl) => self.write(&share, key.as_ref(), ttl).await,
                None => self.release(&share).await,
            },
            Err(_) => self.release(&share).await,
        };
        if let Err(failure) = stored {
            self.health.failed(&failure);
        }
        answer.map(TierVerdict::fresh)
    }

    async fn write(
        &self,
        share: &Share<'_>,
        key: Option<&ApiKey>,
        ttl: Duration,
    ) -> Result<(), Failure> {
        let shard = share.shard;
        let at = format!("{}:{}", share.generation, share.digest.to_hex());
        let id_index = key.map(|key| shard.id(&key.id)).unwrap_or_default();
        let mut conn = self.conn.clone();
        let stored: i64 = self
            .run(
                scripts::WRITE
                    .key(shard.fence())
                    .arg(format!("{}{at}", shard.verdict_prefix()))
                    .arg(self.seal.seal(&share.digest, key, ttl))
                    .arg(millis(ttl))
                    .arg(id_index)
                    .arg(&at)
                    .arg(shard.claim(&share.digest))
                    .arg(share.claim.unwrap_or(""))
                    .arg(&share.fence)
                    .invoke_async(&mut conn),
            )
            .await?;
        Counters::bump(if stored == 1 {
            &self.counters.writes
        } else {
            &self.counters.writes_refused
        });
        Ok(())
    }

    async fn release(&self, share: &Share<'_>) -> Result<(), Failure> {
        let Some(token) = share.claim else {
            return Ok(());
        };
        let mut conn = self.conn.clone();
        let _: i64 = self
            .run(
                scripts::RELEASE
                    .key(share.shard.claim(&share.digest))
                    .arg(token)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// Logs an invalidation made here for the fleet. On failure it is owed:
    /// kept, retried by the follower, and until then this replica reads no
    /// shared verdict.
    pub(crate) async fn invalidate(&self, invalidation: Invalidation) -> Result<(), NotPassedOn> {
        match self.log(&invalidation).await {
            Ok(()) => {
                Counters::bump(&self.counters.invalidations_sent);
                Ok(())
            }
            Err(failure) => {
                Counters::bump(&self.counters.send_failures);
                tracing::error!(
                    error = %failure,
                    invalidation = ?invalidation,
                    "fleet mode: an invalidation could not be logged; applied here, retried in the background, and this replica reads no shared verdict until it is logged"
                );
                self.health.failed(&failure);
                let mut unlogged = self.unlogged();
                unlogged.invalidations.push(invalidation);
                if unlogged.invalidations.len() > MAX_UNLOGGED {
                    // "Everything" covers every key verdict, not a session's
                    // denial: those are kept one by one.
                    unlogged
                        .invalidations
                        .retain(|owed| matches!(owed, Invalidation::Session { .. }));
                    unlogged.invalidations.push(Invalidation::All);
                }
                Err(NotPassedOn::new(failure))
            }
        }
    }

    /// Fences and cleans every shard the invalidation touches, then appends
    /// it to the log. Once this returns `Ok`, no shared verdict it names can
    /// be read or written back, and every follower will apply it.
    async fn log(&self, invalidation: &Invalidation) -> Result<(), Failure> {
        self.fence(invalidation).await?;
        let mut conn = self.conn.clone();
        let names = &self.names;
        let (session, until) = sessions::append_args(invalidation);
        let _: String = self
            .run(
                scripts::APPEND
                    .key(names.log())
                    .key(names.incarnation())
                    .key(names.floor())
                    .key(names.sessions())
                    .arg(entry::encode(invalidation))
                    .arg(self.config.log_length)
                    .arg(names.wake())
                    .arg(fresh_token())
                    .arg(session)
                    .arg(until)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// Runs an invalidation's `FENCE` on each shard it touches: a key's own
    /// shard; every shard for an id (its digest is unknown here), a
    /// membership or everything.
    async fn fence(&self, invalidation: &Invalidation) -> Result<(), Failure> {
        let (kind, shards): (&str, Vec<&Shard>) = match invalidation {
            // A session names no shared verdict.
            Invalidation::Session { .. } => return Ok(()),
            Invalidation::Key(digest) => ("key", vec![self.names.shard(digest)]),
            Invalidation::Id(_) => ("id", self.names.shards().iter().collect()),
            // A membership's keys cannot be listed in Redis: a new
            // generation retires every shared verdict (each replica still
            // forgets only the membership's keys locally).
            _ => ("all", self.names.shards().iter().collect()),
        };
        try_join_all(shards.into_iter().map(|shard| {
            let target = match invalidation {
                Invalidation::Key(digest) => digest.to_hex(),
                Invalidation::Id(id) => shard.id(id),
                _ => String::new(),
            };
            let mut conn = self.conn.clone();
            async move {
                let _: i64 = self
                    .run(
                        scripts::FENCE
                            .key(shard.fence())
                            .key(shard.generation())
                            .arg(kind)
                            .arg(shard.verdict_prefix())
                            .arg(target)
                            .arg(fresh_token())
                            .invoke_async(&mut conn),
                    )
                    .await?;
                Ok::<_, Failure>(())
            }
        }))
        .await?;
        Ok(())
    }

    /// Owes the fleet `invalidations` (those not owed already): logged by
    /// the next [`settle`](Self::settle).
    pub(crate) fn owe(&self, invalidations: Vec<Invalidation>) {
        let mut unlogged = self.unlogged();
        for invalidation in invalidations {
            if !unlogged.invalidations.contains(&invalidation) {
                unlogged.invalidations.push(invalidation);
            }
        }
    }

    /// Marks every shared verdict as to be retired (Redis lost data), until
    /// [`settle`](Self::settle) has done it.
    pub(crate) fn owe_retirement(&self) {
        self.unlogged().retire = true;
    }

    /// Pays what this replica owes the fleet: retires the shared verdicts if
    /// Redis lost data, and logs the invalidations that could not be logged.
    /// Returns whether nothing is owed any more.
    pub(crate) async fn settle(&self) -> bool {
        let (retire, owed) = {
            let mut unlogged = self.unlogged();
            (unlogged.retire, std::mem::take(&mut unlogged.invalidations))
        };
        if retire {
            match self.fence(&Invalidation::All).await {
                Ok(()) => {
                    self.unlogged().retire = false;
                    tracing::info!(
                        "fleet mode: every shared verdict retired after redis lost data"
                    );
                }
                Err(failure) => {
                    self.health.failed(&failure);
                    self.unlogged().invalidations.extend(owed);
                    return false;
                }
            }
        }
        let mut owed = owed.into_iter();
        while let Some(invalidation) = owed.next() {
            if let Err(failure) = self.log(&invalidation).await {
                self.health.failed(&failure);
                let mut unlogged = self.unlogged();
                unlogged.invalidations.push(invalidation);
                unlogged.invalidations.extend(owed);
                return false;
            }
            Counters::bump(&self.counters.invalidations_sent);
            tracing::info!(invalidation = ?invalidation, "fleet mode: an owed invalidation is logged");
        }
        !self.owes()
    }

    /// Reads up to `count` log entries after `after`, with the log's
    /// incarnation, floor and head.
    pub(crate) async fn read_log(&self, after: Position, count: usize) -> Result<LogRead, Failure> {
        let names = &self.names;
        let mut conn = self.conn.clone();
        let answer: Vec<Value> = self
            .run(
                scripts::READ_LOG
                    .key(names.log())
                    .key(names.incarnation())
                    .key(names.floor())
                    .arg(after.to_string())
                    .arg(count)
                    .arg(fresh_token())
                    .invoke_async(&mut conn),
            )
            .await?;
        let position = |value: Option<&Value>| text(value).as_deref().and_then(Position::parse);
        let (Some(incarnation), Some(floor), Some(head), Some(Value::Array(entries))) = (
            text(answer.first()),
            position(answer.get(1)),
            position(answer.get(2)),
            answer.get(3),
        ) else {
            return Err(Failure::Unreadable);
        };
        let entries = entries
            .iter()
            .map(|entry| {
                let Value::Array(parts) = entry else {
                    return Err(Failure::Unreadable);
                };
                let at = position(parts.first()).ok_or(Failure::Unreadable)?;
                let line = match parts.get(1) {
                    Some(Value::Array(fields)) if fields.len() == 2 => text(fields.get(1)),
                    _ => None,
                };
                Ok((at, line.as_deref().and_then(entry::decode)))
            })
            .collect::<Result<_, _>>()?;
        Ok(LogRead {
            incarnation,
            floor,
            head,
            entries,
        })
    }
}

/// A Redis string answer as text.
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::BulkString(bytes)) => String::from_utf8(bytes.clone()).ok(),
        Some(Value::SimpleString(text)) => Some(text.clone()),
        _ => None,
    }
}

/// A random token, for fences and incarnations: a Redis that lost its data
/// can never produce one a replica read before.
fn fresh_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Whole milliseconds, for `PX`; saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Gives the tier its layer's cache, once, and starts the follower.
pub(crate) fn attach(core: &Arc<Core>, local: LocalCache) {
    if core.local.set(local.clone()).is_err() {
        tracing::warn!(
            "fleet mode: this RedisTier is already attached to a layer; build one per layer"
        );
        return;
    }
    core.runtime
        .spawn(crate::follower::run(Arc::clone(core), local));
}

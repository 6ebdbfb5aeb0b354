//! The shared verdict tier: what a replica does on a miss of its own cache,
//! and with an invalidation made here.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keygate_auth::{
    Invalidation, KeyDigest, KeyServiceCall, LocalCache, NotPassedOn, TierVerdict, ValidatorError,
};
use keygate_types::ApiKey;
use redis::Value;
use tokio::time::Instant;

use crate::connection::Connection;
use crate::health::{Failure, Health};
use crate::message;
use crate::names::Names;
use crate::scripts;
use crate::stats::Counters;
use crate::stored;

/// The longest pause between two reads of a replica waiting for another
/// replica's call.
const MAX_POLL: Duration = Duration::from_millis(50);

/// The tier's settings (see the builder's methods).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) command_timeout: Duration,
    pub(crate) claim_wait: Duration,
    pub(crate) claim_poll: Duration,
    pub(crate) deaf_ttl: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) retry_after_failure: Duration,
    pub(crate) lease_ttl: Duration,
}

/// What every handle on one tier shares: the relay and lease tasks too.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) names: Names,
    /// Where the relay subscribes: the endpoint, or each cluster node in
    /// turn (a publish on any node reaches every node).
    pub(crate) subscribers: Vec<redis::Client>,
    pub(crate) conn: Connection,
    pub(crate) config: Config,
    /// This replica's id, in its messages and its lease.
    pub(crate) replica: String,
    pub(crate) health: Health,
    pub(crate) counters: Counters,
    /// The layer's cache, once attached.
    pub(crate) local: OnceLock<LocalCache>,
    pub(crate) runtime: tokio::runtime::Handle,
}

/// One step of a miss, as `READ_OR_CLAIM` answers it.
enum Step {
    Found { value: Vec<u8>, left: Duration },
    Claimed { epoch: String, generation: String },
    Busy { epoch: String, generation: String },
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

    /// The verdict for a miss: from Redis, or from the key service (once
    /// for the fleet when Redis answers), cut short while this replica
    /// cannot hear the fleet's invalidations.
    pub(crate) async fn verdict(
        &self,
        digest: KeyDigest,
        call: KeyServiceCall,
    ) -> Result<TierVerdict, ValidatorError> {
        let verdict = self.fetch(digest, call).await?;
        Ok(if self.counters.is_listening() {
            verdict
        } else {
            verdict.fresh_for(self.config.deaf_ttl)
        })
    }

    async fn fetch(
        &self,
        digest: KeyDigest,
        call: KeyServiceCall,
    ) -> Result<TierVerdict, ValidatorError> {
        let Some(local) = self.local.get().filter(|_| self.health.available()) else {
            Counters::bump(&self.counters.fallbacks);
            return call.await.map(TierVerdict::fresh);
        };
        let token = format!("{}-{:016x}", self.replica, rand::random::<u64>());
        let deadline = Instant::now() + self.config.claim_wait;
        let mut waited = false;
        let mut pause = self.config.claim_poll;
        loop {
            let step = match self.read_or_claim(&digest, &token).await {
                Ok(step) => step,
                Err(failure) => {
                    self.health.failed(&failure);
                    Counters::bump(&self.counters.fallbacks);
                    return call.await.map(TierVerdict::fresh);
                }
            };
            match step {
                Step::Found { value, left } => {
                    let Some(key) = stored::decode(&value) else {
                        tracing::warn!(
                            digest = ?digest,
                            "fleet mode: an unreadable verdict in redis; asking the key service"
                        );
                        return call.await.map(TierVerdict::fresh);
                    };
                    Counters::bump(&self.counters.shared_hits);
                    if waited {
                        Counters::bump(&self.counters.waits);
                    }
                    return Ok(TierVerdict::fresh(key).fresh_for(left));
                }
                Step::Claimed { epoch, generation } => {
                    let share = Share {
                        digest,
                        claim: Some(&token),
                        epoch,
                        generation,
                    };
                    return self.call_and_share(local, call, share).await;
                }
                Step::Busy { epoch, generation } => {
                    if Instant::now() >= deadline {
                        // The replica that claimed the call is slow or gone:
                        // ask the key service rather than fail.
                        Counters::bump(&self.counters.claim_timeouts);
                        let share = Share {
                            digest,
                            claim: None,
                            epoch,
                            generation,
                        };
                        return self.call_and_share(local, call, share).await;
                    }
                    waited = true;
                    // Polls back off, so replicas waiting on a slow call
                    // cost Redis a handful of reads each, not one per tick.
                    tokio::time::sleep(pause.min(deadline - Instant::now())).await;
                    pause = (pause * 2).min(MAX_POLL);
                }
            }
        }
    }

    async fn read_or_claim(&self, digest: &KeyDigest, token: &str) -> Result<Step, Failure> {
        let names = &self.names;
        let mut conn = self.conn.clone();
        let claim_ms = millis(self.config.claim_wait);
        let answer: Vec<Value> = self
            .run(
                scripts::READ_OR_CLAIM
                    .key(names.epoch())
                    .key(names.generation())
                    .arg(names.verdict_prefix())
                    .arg(names.claim(digest))
                    .arg(digest.to_hex())
                    .arg(token)
                    .arg(claim_ms)
                    .invoke_async(&mut conn),
            )
            .await?;
        let text = |at: usize| match answer.get(at) {
            Some(Value::BulkString(bytes)) => String::from_utf8(bytes.clone()).ok(),
            Some(Value::SimpleString(text)) => Some(text.clone()),
            _ => None,
        };
        let (Some(kind), Some(epoch), Some(generation)) = (text(0), text(1), text(2)) else {
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
            "claimed" => Ok(Step::Claimed { epoch, generation }),
            "busy" => Ok(Step::Busy { epoch, generation }),
            _ => Err(Failure::Unreadable),
        }
    }

    /// Makes the key service call, and stores its definite answer for the
    /// fleet unless an invalidation moved the epoch meanwhile.
    async fn call_and_share(
        &self,
        local: &LocalCache,
        call: KeyServiceCall,
        share: Share<'_>,
    ) -> Result<TierVerdict, ValidatorError> {
        Counters::bump(&self.counters.key_service_calls);
        let answer = call.await;
        let stored = match &answer {
            Ok(key) => match lifetime(local, key.as_ref()) {
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
        let names = &self.names;
        let at = format!("{}:{}", share.generation, share.digest.to_hex());
        let id_index = key.map(|key| names.id(&key.id)).unwrap_or_default();
        let mut conn = self.conn.clone();
        let stored: i64 = self
            .run(
                scripts::WRITE
                    .key(names.epoch())
                    .arg(format!("{}{at}", names.verdict_prefix()))
                    .arg(stored::encode(key))
                    .arg(millis(ttl))
                    .arg(id_index)
                    .arg(&at)
                    .arg(names.claim(&share.digest))
                    .arg(share.claim.unwrap_or(""))
                    .arg(&share.epoch)
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
                    .key(self.names.claim(&share.digest))
                    .arg(token)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// Applies an invalidation made here to Redis and publishes it to the
    /// other replicas, as one step.
    pub(crate) async fn send(&self, invalidation: Invalidation) -> Result<(), NotPassedOn> {
        let names = &self.names;
        let (kind, target) = match &invalidation {
            Invalidation::Key(digest) => ("key", digest.to_hex()),
            Invalidation::Id(id) => ("id", names.id(id)),
            // A membership's keys cannot be listed in Redis: a new
            // generation retires every shared verdict (each replica still
            // forgets only the membership's keys locally).
            _ => ("all", String::new()),
        };
        let mut conn = self.conn.clone();
        let sent: Result<i64, Failure> = self
            .run(
                scripts::INVALIDATE
                    .key(names.epoch())
                    .key(names.generation())
                    .arg(kind)
                    .arg(names.verdict_prefix())
                    .arg(target)
                    .arg(names.channel())
                    .arg(message::encode(&self.replica, &invalidation))
                    .arg(format!("{:016x}", rand::random::<u64>()))
                    .invoke_async(&mut conn),
            )
            .await;
        match sent {
            Ok(_) => {
                Counters::bump(&self.counters.invalidations_sent);
                Ok(())
            }
            Err(failure) => {
                Counters::bump(&self.counters.send_failures);
                tracing::error!(
                    error = %failure,
                    invalidation = ?invalidation,
                    "fleet mode: an invalidation could not be passed on; the webhook receiver answers 503 and the listener reads the events again, other invalidations keep their verdicts on other replicas until their TTL"
                );
                self.health.failed(&failure);
                Err(NotPassedOn::new(failure))
            }
        }
    }
}

/// Where a call's answer goes in Redis.
struct Share<'a> {
    digest: KeyDigest,
    /// This replica's claim token, if it holds the claim.
    claim: Option<&'a str>,
    /// The epoch read before the call began.
    epoch: String,
    generation: String,
}

/// How long Redis keeps a verdict: the layer's TTLs, a valid key's cut at
/// its `expires_at`; `None` for a key already expired.
fn lifetime(local: &LocalCache, key: Option<&ApiKey>) -> Option<Duration> {
    let Some(key) = key else {
        return Some(local.negative_ttl());
    };
    let mut ttl = local.positive_ttl();
    if let Some(at) = key.expires_at {
        let left = Duration::try_from(at.since(local.clock().now())).unwrap_or(Duration::ZERO);
        ttl = ttl.min(left);
    }
    (millis(ttl) > 0).then_some(ttl)
}

/// Whole milliseconds, for `PX`; saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Gives the tier its layer's cache, once, and starts the relay.
pub(crate) fn attach(core: &Arc<Core>, local: LocalCache) {
    if core.local.set(local.clone()).is_err() {
        tracing::warn!(
            "fleet mode: this RedisTier is already attached to a layer; build one per layer"
        );
        return;
    }
    core.runtime
        .spawn(crate::relay::run(Arc::clone(core), local));
}

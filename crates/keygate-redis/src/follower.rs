//! The follower: a task that applies the fleet's invalidation log to this
//! replica's cache, in order, from the position it has applied.
//!
//! It reads the log every quarter of the revocation bound, and at once when
//! a wake-up arrives on pub/sub (a lost wake-up only delays it to the next
//! read). Each read brings, in one step, the entries after its position and
//! what proves it missed none: the incarnation (Redis's run id and the log's
//! token), the floor (the last entry trimmed) and the head (the last entry).
//! When it cannot prove continuity (its first read, the incarnation changed,
//! its position trimmed away, the head behind its position, an entry it
//! cannot read) it flushes the cache instead of applying entries, which also
//! keeps every call in flight from storing its answer, and reads the fleet's
//! revoked sessions again (a flush forgets key verdicts, which are fetched
//! again; a session's denial cannot be fetched from anywhere else). When Redis
//! lost data it also retires every shared verdict before this replica reads
//! one again, and logs again every session this replica denies. After a read
//! that left it caught up, it tells the cache it has heard everything logged
//! before the read was sent; without that, the cache serves only verdicts
//! younger than the bound, and no session token.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use keygate_auth::tier::LocalCache;
use tokio::sync::Notify;

use crate::entry::Position;
use crate::stats::Counters;
use crate::tier::Core;

/// Entries read at once; a follower far behind reads again at once.
const BATCH: usize = 256;

/// The longest wait between attempts to subscribe to wake-ups again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Where this replica is in the log.
#[derive(Debug)]
struct Followed {
    incarnation: String,
    at: Position,
}

/// Runs until the layer is dropped.
pub(crate) async fn run(core: Arc<Core>, local: LocalCache) {
    let wake = Arc::new(Notify::new());
    let wakeups = core
        .runtime
        .spawn(wakeups(Arc::clone(&core), Arc::clone(&wake), local.clone()));
    let mut tick = tokio::time::interval(core.config.poll_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut followed = None;
    while local.is_attached() {
        tokio::select! {
            _ = tick.tick() => {}
            () = wake.notified() => {}
        }
        if core.owes() {
            core.settle().await;
        }
        follow(&core, &local, &mut followed).await;
    }
    wakeups.abort();
}

/// Reads the log until caught up (or Redis fails), applying what it finds.
async fn follow(core: &Core, local: &LocalCache, followed: &mut Option<Followed>) {
    loop {
        let sent = std::time::Instant::now();
        let after = followed.as_ref().map_or(Position::default(), |f| f.at);
        let read = match core.read_log(after, BATCH).await {
            Ok(read) => read,
            Err(failure) => {
                unheard(core, &failure);
                return;
            }
        };
        let unreadable = read.entries.iter().find(|(_, entry)| entry.is_none());
        match followed {
            Some(f)
                if f.incarnation == read.incarnation
                    && read.floor <= f.at
                    && read.head >= f.at
                    && unreadable.is_none() =>
            {
                let more = read.entries.len() >= BATCH;
                let entries = read.entries.into_iter();
                for (at, invalidation) in entries.filter_map(|(at, entry)| Some((at, entry?))) {
                    if !local.apply(&invalidation) {
                        return;
                    }
                    f.at = at;
                    Counters::bump(&core.counters.invalidations_received);
                }
                if more {
                    continue;
                }
            }
            _ => {
                if let Some((at, _)) = unreadable {
                    tracing::warn!(%at, "fleet mode: an unreadable log entry; starting again from the head");
                }
                if let Some(f) = followed {
                    Counters::bump(&core.counters.discontinuities);
                    let lost = f.incarnation != read.incarnation || read.head < f.at;
                    if lost {
                        // What Redis lost may include deleted verdicts that
                        // are back: none is read until all are retired. And
                        // the sessions it denied: this replica's go back.
                        core.owe_retirement();
                        core.owe(local.denied_sessions());
                    }
                    tracing::warn!(
                        position = %f.at,
                        head = %read.head,
                        floor = %read.floor,
                        redis_lost_data = lost,
                        "fleet mode: cannot prove every invalidation since this replica's position was applied; cache flushed"
                    );
                }
                if !local.flush() {
                    return;
                }
                // Every session entry up to the head is in the set now: it
                // was written with its entry, and is dropped only once ended.
                let denied = match core.denied_sessions().await {
                    Ok(denied) => denied,
                    Err(failure) => {
                        unheard(core, &failure);
                        return;
                    }
                };
                for denial in &denied {
                    if !local.apply(denial) {
                        return;
                    }
                }
                *followed = Some(Followed {
                    incarnation: read.incarnation,
                    at: read.head,
                });
                if core.owes() {
                    core.settle().await;
                }
            }
        }
        local.heard(sent);
        core.counters.listening.store(true, Ordering::SeqCst);
        return;
    }
}

/// Notes that the log could not be read (said once, until it is read again).
fn unheard(core: &Core, failure: &crate::health::Failure) {
    if core.counters.listening.swap(false, Ordering::SeqCst) {
        tracing::warn!(
            error = %failure,
            bound_ms = core.config.revocation_bound.as_millis() as u64,
            "fleet mode: cannot read the invalidation log; verdicts older than the revocation bound are fetched again, session tokens refused"
        );
    }
}

/// Wakes the follower when an entry is appended. Only a shortcut: the
/// follower reads the log on its own schedule too.
async fn wakeups(core: Arc<Core>, wake: Arc<Notify>, local: LocalCache) {
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 0usize;
    while local.is_attached() {
        let node = &core.subscribers[attempt % core.subscribers.len()];
        attempt = attempt.wrapping_add(1);
        match subscribe(&core, node).await {
            // The sink is kept: dropping it would end the subscription.
            Ok((_sink, mut stream)) => {
                backoff = Duration::from_millis(50);
                while stream.next().await.is_some() {
                    wake.notify_one();
                }
                Counters::bump(&core.counters.subscription_losses);
            }
            Err(error) => {
                tracing::debug!(%error, "fleet mode: cannot subscribe to log wake-ups");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe(
    core: &Core,
    node: &redis::Client,
) -> Result<(redis::aio::PubSubSink, redis::aio::PubSubStream), crate::health::Failure> {
    let mut pubsub = core.run(node.get_async_pubsub()).await?;
    core.run(pubsub.subscribe(core.names.wake())).await?;
    Ok(pubsub.split())
}

//! The relay: a task that hears the fleet's invalidations on Redis pub/sub
//! and applies them to this replica's cache.
//!
//! While it hears nothing (not yet subscribed, the connection cut, Redis
//! not answering its pings), the replica is *deaf*: it may have missed a
//! revocation. Losing the subscription flushes this replica's cache, and
//! until it is back every verdict is fresh for at most the deaf TTL. The
//! flag is lowered before the flush, so no verdict fetched before the loss
//! is stored after it with a full TTL: the flush moves the cache's epoch,
//! which keeps any call in flight from storing its answer, and a call that
//! begins after it sees the flag.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use keygate_auth::{Invalidation, LocalCache};
use redis::aio::{PubSubSink, PubSubStream};

use crate::message;
use crate::stats::Counters;
use crate::tier::Core;

/// The longest wait between attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Runs until the layer is dropped.
pub(crate) async fn run(core: Arc<Core>, local: LocalCache) {
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 0usize;
    while local.is_attached() {
        let node = &core.subscribers[attempt % core.subscribers.len()];
        attempt = attempt.wrapping_add(1);
        match subscribe(&core, node).await {
            Ok((sink, stream)) => {
                core.counters.listening.store(true, Ordering::SeqCst);
                tracing::debug!("fleet mode: hearing the fleet's invalidations");
                backoff = Duration::from_millis(50);
                listen(&core, &local, sink, stream).await;
            }
            Err(error) => {
                tracing::debug!(%error, "fleet mode: cannot subscribe to invalidations");
            }
        }
        if core.counters.listening.swap(false, Ordering::SeqCst) {
            Counters::bump(&core.counters.subscription_losses);
            local.apply(&Invalidation::All);
            tracing::warn!(
                deaf_ttl_ms = core.config.deaf_ttl.as_millis() as u64,
                "fleet mode: lost the invalidation subscription; cache flushed, verdicts kept for the deaf TTL until it is back"
            );
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe(
    core: &Core,
    node: &redis::Client,
) -> Result<(PubSubSink, PubSubStream), crate::health::Failure> {
    let mut pubsub = core.run(node.get_async_pubsub()).await?;
    core.run(pubsub.subscribe(core.names.channel())).await?;
    Ok(pubsub.split())
}

/// Applies messages until the subscription is lost (the stream ends, or a
/// ping is not answered within the command timeout) or the layer is gone.
async fn listen(core: &Core, local: &LocalCache, mut sink: PubSubSink, mut stream: PubSubStream) {
    let mut ping = tokio::time::interval(core.config.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return };
                let payload: String = message.get_payload().unwrap_or_default();
                match message::decode(&payload) {
                    Some(message) if message.origin == core.replica => {}
                    Some(message) => {
                        Counters::bump(&core.counters.invalidations_received);
                        if !local.apply(&message.invalidation) {
                            return;
                        }
                    }
                    None => {
                        tracing::warn!("fleet mode: an unreadable invalidation message; forgetting every verdict");
                        local.apply(&Invalidation::All);
                    }
                }
            }
            _ = ping.tick() => {
                if !local.is_attached() {
                    return;
                }
                // Subscribed, Redis answers a PING with `["pong", ""]`: any
                // answer will do.
                let pong: Result<redis::Value, _> = core.run(sink.ping()).await;
                if let Err(error) = pong {
                    tracing::debug!(%error, "fleet mode: the subscription does not answer");
                    return;
                }
            }
        }
    }
}

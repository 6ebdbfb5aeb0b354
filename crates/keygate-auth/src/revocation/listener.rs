//! The pull side: a task that follows the Events API and invalidates.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keygate_client::{Client, Error};
use keygate_types::{Event, EventId, EventsParams, Order, Timestamp};
use rand::Rng;
use tokio::sync::watch;

use super::effect::{self, Effect, FOLLOWED as EVENTS};
use super::sessions::Sessions;
use crate::VerdictCache;
use crate::tier::EventsLease;

/// Events fetched per request; a full page is followed at once by the next.
const PAGE: u8 = 100;
/// The default interval between polls.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// The longest wait between attempts while the Events API fails.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How far before its start the listener looks for the newest event: the
/// key service's clock may be behind this host's by up to this much.
const START_LOOKBACK: Duration = Duration::from_secs(300);

/// Follows the key service's Events API (`api_key.revoked`,
/// `api_key.updated`, `organization_membership.updated` and `.deleted`) and
/// invalidates cached verdicts: a key's by id, a deactivated or deleted
/// membership's user's keys in that organization, so a revoked key stops
/// working within one poll interval, not after a full TTL.
///
/// Most users start it from the layer's builder in one line, with
/// [`ApiKeyAuthBuilder::revocation_listener`](crate::ApiKeyAuthBuilder::revocation_listener);
/// it then stops when the last clone of the layer and its services is dropped.
/// To follow events for a cache by hand, [`spawn`](Self::spawn) one and keep
/// its [`ListenerHandle`]:
///
/// ```
/// use std::time::Duration;
/// use keygate_auth::{ApiKeyAuth, RevocationListener};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let emu = keygate_emulator::Emulator::start().await?;
/// let client = keygate_client::Client::builder()
///     .secret(emu.secret().clone())
///     .base_url(emu.base_url())
///     .build()?;
/// let auth = ApiKeyAuth::new(client.clone());
/// let listener = RevocationListener::new(client, auth.cache().clone())
///     .interval(Duration::from_secs(1))
///     .spawn();
/// assert!(listener.is_running());
/// listener.stop();
/// # Ok(())
/// # }
/// ```
///
/// **Behaviour.** It starts "from now" (the newest event when it starts; it
/// retries that first call with backoff until it succeeds). Each poll fetches
/// the events after its cursor, oldest first, invalidates each key they name,
/// and keeps the cursor; a full page is followed by the next one at once.
/// When a poll fails it keeps the cursor (no event is skipped) and waits
/// longer each time, the interval doubling with jitter up to 60 s, then goes
/// back to the interval after a success.
///
/// **Cost.** One `GET /events` per interval per process (more only while a
/// backlog of over 100 events drains). WorkOS allows 6,000 requests a minute
/// per environment, shared with validations: at the default 5 s that is 12
/// requests a minute per process (0.2 % of the budget; 100 processes use
/// 20 %); at 1 s, 60 a minute per process.
#[derive(Debug, Clone)]
pub struct RevocationListener {
    config: ListenerConfig,
    cache: VerdictCache,
}

#[derive(Debug, Clone)]
pub(crate) struct ListenerConfig {
    pub(crate) client: Client,
    pub(crate) interval: Duration,
    /// In fleet mode: polls only while this replica holds the lease.
    lease: Option<Arc<dyn EventsLease>>,
    /// Where `session.revoked` goes.
    pub(crate) sessions: Sessions,
}

impl ListenerConfig {
    pub(crate) fn new(client: Client, interval: Duration) -> Self {
        Self {
            client,
            // A zero interval would spin.
            interval: interval.max(Duration::from_millis(10)),
            lease: None,
            sessions: Sessions::default(),
        }
    }

    /// Also denies the sessions of `session.revoked` events through `verifier`.
    #[cfg(feature = "jwt")]
    pub(crate) fn with_sessions(mut self, verifier: &crate::jwt::JwtVerifier) -> Self {
        self.sessions = Sessions::new(verifier);
        self
    }

    pub(crate) fn with_lease(mut self, lease: Option<Arc<dyn EventsLease>>) -> Self {
        self.lease = lease;
        self
    }
}

impl RevocationListener {
    /// A listener that will invalidate `cache`, polling through `client`
    /// every 5 s unless [`interval`](Self::interval) says otherwise.
    pub fn new(client: Client, cache: VerdictCache) -> Self {
        Self {
            config: ListenerConfig::new(client, DEFAULT_POLL_INTERVAL),
            cache,
        }
    }

    /// The time between polls (default 5 s; at least 10 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        let sessions = self.config.sessions.clone();
        self.config = ListenerConfig::new(self.config.client, interval);
        self.config.sessions = sessions;
        self
    }

    /// Also denies the sessions of `session.revoked` events, through
    /// `verifier`'s [denylist](crate::jwt::SessionDenylist), until their
    /// tokens expire.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn sessions(mut self, verifier: &crate::jwt::JwtVerifier) -> Self {
        self.config.sessions = super::sessions::Sessions::new(verifier);
        self
    }

    /// Starts following events on the current Tokio runtime (or, outside
    /// one, on a thread of its own with its own runtime).
    /// Dropping the handle stops it, so keep it as long as the cache is in
    /// use; dropping it at once is refused by the compiler's
    /// `unused_must_use` lint:
    ///
    /// ```compile_fail
    /// #![deny(unused_must_use)]
    /// # use keygate_auth::{RevocationListener, VerdictCache};
    /// # fn wire(client: keygate_client::Client, cache: VerdictCache) {
    /// RevocationListener::new(client, cache).spawn(); // stops at once
    /// # }
    /// # fn main() {}
    /// ```
    #[must_use = "the listener stops when its handle is dropped: keep the handle as long as the cache is in use"]
    pub fn spawn(self) -> ListenerHandle {
        ListenerHandle::start(self.config, self.cache)
    }
}

/// What a listener has done so far, from [`ListenerHandle::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerStats {
    /// Successful calls to the Events API (the start included).
    pub polls: u64,
    /// Failed polls: calls to the Events API that failed, and, in fleet
    /// mode, pages whose invalidations could not be passed on to the fleet
    /// (read again after a backoff).
    pub failures: u64,
    /// Revocation events acted on (one invalidation each: a key, a
    /// membership's keys, or everything for an unreadable event).
    pub events: u64,
    /// The id of the last event seen: where the next poll starts.
    pub cursor: Option<EventId>,
}

#[derive(Debug, Default)]
struct Progress {
    polls: AtomicU64,
    failures: AtomicU64,
    events: AtomicU64,
    cursor: Mutex<Option<EventId>>,
    running: AtomicBool,
}

/// Controls a running [`RevocationListener`]: stop it, read its progress.
/// Dropping the handle stops the listener (and logs, at info, that it stopped).
#[must_use = "the listener stops when its handle is dropped: keep the handle as long as the cache is in use"]
pub struct ListenerHandle {
    progress: Arc<Progress>,
    stop: watch::Sender<bool>,
}

impl fmt::Debug for ListenerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerHandle")
            .field("stats", &self.stats())
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

/// Marks the listener's task as running until dropped.
struct Running(Arc<Progress>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::SeqCst);
    }
}

impl ListenerHandle {
    /// Starts following events for `cache`: on the Tokio runtime this is
    /// called from, or, outside one, on a thread of its own with its own
    /// runtime (so a layer built before the runtime still revokes).
    pub(crate) fn start(config: ListenerConfig, cache: VerdictCache) -> Self {
        let handle = Self {
            progress: Arc::default(),
            stop: watch::Sender::new(false),
        };
        handle.progress.running.store(true, Ordering::SeqCst);
        let progress = Arc::clone(&handle.progress);
        let stop = handle.stop.subscribe();
        // Cleared however the task ends: returning, panicking, or dropped
        // with its runtime (polled or not).
        let running = Running(Arc::clone(&progress));
        let task = async move {
            let _running = running;
            run(config, cache, &progress, stop).await;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(task);
            }
            Err(_) => {
                let thread = std::thread::Builder::new()
                    .name("keygate-revocation".into())
                    .spawn(move || {
                        match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(runtime) => runtime.block_on(task),
                            Err(error) => tracing::error!(
                                %error,
                                "revocation listener: no Tokio runtime could be built; not following events"
                            ),
                        }
                    });
                if let Err(error) = thread {
                    tracing::error!(%error, "revocation listener: no thread could be started");
                }
            }
        }
        handle
    }

    /// Stops the listener (at its next await point; a poll in flight is dropped).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Whether the listener's task is running.
    pub fn is_running(&self) -> bool {
        self.progress.running.load(Ordering::SeqCst)
    }

    /// Its counters and cursor.
    pub fn stats(&self) -> ListenerStats {
        let p = &*self.progress;
        ListenerStats {
            polls: p.polls.load(Ordering::Relaxed),
            failures: p.failures.load(Ordering::Relaxed),
            events: p.events.load(Ordering::Relaxed),
            cursor: p
                .cursor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        if self.is_running() && !*self.stop.borrow() {
            let stats = self.stats();
            tracing::info!(
                polls = stats.polls,
                events = stats.events,
                cursor = ?stats.cursor,
                "revocation listener stopped: its handle was dropped"
            );
        }
        self.stop();
    }
}

/// Waits `wait`, or until told to stop; `false` means stop.
async fn pause(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    let slept = tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stop.wait_for(|stop| *stop) => false,
    };
    slept && !*stop.borrow()
}

/// Runs `call`, unless told to stop first; `None` means stop.
async fn unless_stopped<T>(
    stop: &mut watch::Receiver<bool>,
    call: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        out = call => Some(out),
        _ = stop.wait_for(|stop| *stop) => None,
    }
}

/// The wait after `failures` failed calls in a row: the interval doubling
/// per failure, capped at a minute, with jitter in its upper half.
fn backoff(interval: Duration, failures: u32) -> Duration {
    let cap = interval
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(MAX_BACKOFF.max(interval));
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(nanos / 2..=nanos))
}

/// Where the listener reads from: after its cursor, or, until it has seen
/// an event, from the time it started (less the lookback).
#[derive(Debug, Clone)]
struct Position {
    cursor: Option<EventId>,
    since: Timestamp,
}

impl Position {
    fn starting_now() -> Self {
        let lookback = time::Duration::try_from(START_LOOKBACK).unwrap_or(time::Duration::ZERO);
        Self {
            cursor: None,
            since: Timestamp::from(time::OffsetDateTime::now_utc().saturating_sub(lookback)),
        }
    }

    /// The next page after this position, oldest first. Without a cursor,
    /// `range_start` bounds it, so no history older than the start is read.
    fn params(&self) -> EventsParams {
        EventsParams {
            events: EVENTS.iter().map(|e| (*e).to_owned()).collect(),
            after: self.cursor.as_ref().map(|c| c.as_str().to_owned()),
            limit: Some(PAGE),
            order: Some(Order::Asc),
            range_start: self.cursor.is_none().then_some(self.since),
            ..EventsParams::default()
        }
    }

    /// Reads one page: its events, and whether more follow at once.
    async fn read(&mut self, client: &Client) -> Result<(Vec<Event>, bool), Error> {
        let page = client.list_events(&self.params()).await?;
        let more = page.has_next();
        if let Some(last) = page.data.last() {
            self.cursor = Some(last.id.clone());
        }
        Ok((page.data, more))
    }

    /// Moves to the newest event (of those followed) recorded since the
    /// start time, by pages in time order: finding "now" this way depends on
    /// the time range, not on how the service honours `order`.
    async fn skip_to_now(&mut self, client: &Client) -> Result<(), Error> {
        loop {
            let (_, more) = self.read(client).await?;
            if !more {
                return Ok(());
            }
        }
    }
}

async fn run(
    config: ListenerConfig,
    cache: VerdictCache,
    progress: &Progress,
    mut stop: watch::Receiver<bool>,
) {
    let Some(lease) = config.lease.clone() else {
        follow(&config, &cache, progress, &mut stop, None).await;
        return;
    };
    // Fleet mode: wait for the lease, follow while holding it, and wait
    // again when it is lost (to a replica that took it over, or to a
    // failing lease store).
    loop {
        let Some(held) = unless_stopped(&mut stop, lease.hold(config.interval)).await else {
            return;
        };
        if held {
            tracing::info!(
                "revocation listener: this replica follows the Events API for the fleet"
            );
            if follow(&config, &cache, progress, &mut stop, Some(&*lease)).await
                == Followed::Stopped
            {
                return;
            }
            tracing::info!("revocation listener: the lease went to another replica");
        }
        if !pause(&mut stop, config.interval).await {
            return;
        }
    }
}

/// Why [`follow`] returned.
#[derive(Debug, PartialEq, Eq)]
enum Followed {
    Stopped,
    LeaseLost,
}

/// Follows the Events API until stopped, or, with a lease, until the lease
/// is lost. With a lease, it starts from the fleet's cursor when there is
/// one, and records its cursor there after each poll.
async fn follow(
    config: &ListenerConfig,
    cache: &VerdictCache,
    progress: &Progress,
    stop: &mut watch::Receiver<bool>,
    lease: Option<&dyn EventsLease>,
) -> Followed {
    let client = &config.client;
    let mut failures = 0;
    let set_cursor = |cursor: &Option<EventId>| {
        *progress
            .cursor
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = cursor.clone();
    };
    let resumed = match lease {
        Some(lease) => match unless_stopped(stop, lease.cursor()).await {
            None => return Followed::Stopped,
            Some(cursor) => cursor.map(EventId::new_unchecked),
        },
        None => None,
    };
    let mut position = match resumed {
        // Where the replica that held the lease before left off: no event
        // is skipped, so nothing needs forgetting.
        Some(cursor) => Position {
            cursor: Some(cursor),
            ..Position::starting_now()
        },
        // Start from now: what happened before cannot be in this cache's future.
        None => {
            let position = loop {
                let mut position = Position::starting_now();
                match unless_stopped(stop, position.skip_to_now(client)).await {
                    None => return Followed::Stopped,
                    Some(Ok(())) => break position,
                    Some(Err(error)) => {
                        failures += 1;
                        progress.failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %error, failures, "revocation listener cannot reach the Events API");
                        if !pause(stop, backoff(config.interval, failures)).await {
                            return Followed::Stopped;
                        }
                    }
                }
            };
            // Finding "now" skipped, without applying them, the events recorded since
            // the layer was built (more of them when the Events API failed at first):
            // a verdict cached meanwhile may predate one of those revocations.
            if let Err(error) = cache.invalidate_all().await {
                tracing::warn!(%error, "revocation listener: forgetting every verdict could not be logged for the fleet");
            }
            progress.polls.fetch_add(1, Ordering::Relaxed);
            if let (Some(lease), Some(cursor)) = (lease, &position.cursor) {
                lease.advance(cursor.as_str()).await;
            }
            position
        }
    };
    set_cursor(&position.cursor);
    tracing::debug!(cursor = ?position.cursor, "revocation listener started");
    failures = 0;
    let mut wait = config.interval;
    loop {
        if !pause(stop, wait).await {
            return Followed::Stopped;
        }
        if let Some(lease) = lease {
            match unless_stopped(stop, lease.hold(config.interval)).await {
                None => return Followed::Stopped,
                Some(false) => return Followed::LeaseLost,
                Some(true) => {}
            }
        }
        // Read into a copy: a failed or stopped read keeps the position.
        let mut next = position.clone();
        let Some(answer) = unless_stopped(stop, next.read(client)).await else {
            return Followed::Stopped;
        };
        match answer {
            Ok((events, more)) => {
                progress.polls.fetch_add(1, Ordering::Relaxed);
                let mut passed_on = Ok(());
                for event in &events {
                    match effect::apply(cache, &config.sessions, event).await {
                        Ok(Effect::Nothing) => {}
                        Ok(_) => {
                            progress.events.fetch_add(1, Ordering::Relaxed);
                            crate::metrics::invalidation(crate::metrics::Source::Listener);
                        }
                        Err(error) => {
                            passed_on = Err(error);
                            break;
                        }
                    }
                }
                if let Err(error) = passed_on {
                    // The fleet may not have heard of it: keep the cursor,
                    // and read these events again (invalidating is idempotent).
                    failures += 1;
                    progress.failures.fetch_add(1, Ordering::Relaxed);
                    wait = backoff(config.interval, failures);
                    tracing::warn!(
                        error = %error,
                        failures,
                        retry_in_ms = wait.as_millis() as u64,
                        "revocation listener: an invalidation was not passed on to the fleet; keeping its cursor"
                    );
                    continue;
                }
                failures = 0;
                position = next;
                set_cursor(&position.cursor);
                if let (Some(lease), Some(cursor)) = (lease, &position.cursor) {
                    lease.advance(cursor.as_str()).await;
                }
                wait = if more {
                    Duration::ZERO
                } else {
                    config.interval
                };
            }
            Err(error) => {
                failures += 1;
                progress.failures.fetch_add(1, Ordering::Relaxed);
                wait = backoff(config.interval, failures);
                tracing::warn!(
                    error = %error,
                    failures,
                    retry_in_ms = wait.as_millis() as u64,
                    "revocation listener cannot reach the Events API; keeping its cursor"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_whose_runtime_is_gone_does_not_report_running() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A key service nobody listens on: the task keeps retrying until its
        // runtime goes.
        let client = Client::builder()
            .secret(keygate_types::SecretString::from("sk_test_unused"))
            .base_url("http://127.0.0.1:9")
            .build()
            .unwrap();
        let cache = crate::ApiKeyAuth::new(crate::InMemoryValidator::new())
            .cache()
            .clone();
        let handle = runtime.block_on(async {
            ListenerHandle::start(ListenerConfig::new(client, Duration::from_secs(1)), cache)
        });
        assert!(handle.is_running());
        drop(runtime);
        assert!(!handle.is_running());
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_minute() {
        let i = Duration::from_secs(1);
        for _ in 0..50 {
            let b = backoff(i, 1);
            assert!(
                b >= Duration::from_secs(1) && b <= Duration::from_secs(2),
                "{b:?}"
            );
            let b = backoff(i, 3);
            assert!(
                b >= Duration::from_secs(4) && b <= Duration::from_secs(8),
                "{b:?}"
            );
            assert!(backoff(i, 30) <= MAX_BACKOFF);
        }
        // An interval above the cap is not shortened.
        assert!(backoff(Duration::from_secs(120), 1) >= Duration::from_secs(60));
    }
}

//! The verdict cache: moka, keyed by the SHA-256 digest of the key.
//!
//! # Invariants
//!
//! moka is the only authority on what is cached: `verdicts` holds valid
//! verdicts, `refusals` definite "invalid" ones, and nothing else holds a
//! verdict (the id index beside them only finds digests, see `index.rs`).
//! Every store into either happens under the gate (`flight.rs`), and so does
//! every invalidation. Each invariant has a test in `tests.rs` named after it.
//!
//! 1. **Only definite answers are stored.** A key-service error is never
//!    stored and never turns into "invalid" (`errors_are_never_stored`).
//! 2. **One call per key at a time.** Requests that miss on a key while a
//!    call for it is in flight wait for that call and share its answer; one
//!    that missed just before the call stored its answer finds it under the
//!    gate (`concurrent_misses_on_one_key_make_one_call`,
//!    `a_miss_that_lost_the_race_with_the_store_makes_no_second_call`).
//! 3. **An invalidation is never overtaken.** An answer is stored only if no
//!    invalidation happened while its call was in flight; the check and the
//!    store happen under the gate, as does every invalidation
//!    (`an_answer_that_began_before_an_invalidation_is_not_stored`).
//! 4. **A request never waits for an answer older than an invalidation it
//!    came after.** It joins a call in flight only if that call began after
//!    the latest invalidation; otherwise it starts its own
//!    (`a_request_after_an_invalidation_does_not_join_an_older_call`).
//! 5. **Stale verdicts need a failing key service.** A valid verdict past
//!    its freshness (kept only with stale-if-error) is served only when the
//!    call that would replace it fails at the key service (not when this
//!    process is saturated), and a definite "invalid" or an invalidation
//!    removes it (`a_kept_verdict_ends_with_a_definite_invalid_or_an_invalidation`
//!    here; `stale_is_served_only_when_the_key_service_fails` and
//!    `saturation_never_serves_stale` in `verdicts.rs`, which decides).
//! 6. **Nothing outlives its key.** A valid verdict is fresh for the positive
//!    TTL cut at the key's `expires_at`, and `expires_at` is compared with
//!    the clock on every use (`valid_verdicts_never_outlive_expires_at`).
//! 7. **Refusals cannot crowd out valid keys.** Invalid verdicts live in
//!    their own, smaller cache (`a_flood_of_invalid_keys_evicts_no_valid_verdict`).
//! 8. **Every valid verdict in moka can be found by its key id.** It is
//!    indexed in the same critical section that stores it
//!    (`invalidate_id_finds_verdicts_stored_after_evictions`).
//!
//! 9. **In a fleet, heard or young.** With a [shared tier](crate::tier), a
//!    valid verdict is served (fresh or stale) only if the load that fetched
//!    it began within the tier's revocation bound, or the tier has heard the
//!    fleet's log within it (`a_fleet_verdict_is_served_only_if_heard_or_young`).
//!    An invalidation is logged before it is forgotten here, so what this
//!    process fetched meanwhile is forgotten with it
//!    (`an_invalidation_is_logged_before_it_is_forgotten`).
//!
//! A shared tier changes nothing else: it only stands between a call and the
//! key service, and what it answers is stored (or not) under the same gate,
//! cut to the freshness it says is left
//! (`a_shared_verdict_is_fresh_only_for_what_is_left_of_it`).

mod changes;
mod digest;
mod fleet;
mod flight;
mod index;
mod stats;
mod verdict;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use keygate_types::{ApiKey, ApiKeyId, OrganizationId, UserId};
use moka::sync::Cache;

use crate::tier::{Follower, Invalidation, KeyDigest, LocalCache, NotPassedOn, SharedTier};

pub use stats::CacheStats;

use crate::Clock;
use crate::validator::ValidatorError;
use digest::DigestHashing;
pub(crate) use digest::{Digest, digest};
use fleet::Fleet;
pub(crate) use flight::Call;
use flight::{Gate, Role};
use stats::Counters;
pub(crate) use verdict::CachedVerdict;
use verdict::{KeptUntil, Lifetimes, ValidEntry};

/// The default lifetime of a valid verdict.
pub const DEFAULT_POSITIVE_TTL: Duration = Duration::from_secs(30);
/// The default lifetime of a definite "invalid" verdict.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// The default bound on the number of cached valid verdicts.
pub const DEFAULT_MAX_CAPACITY: u64 = 10_000;
/// The default bound on the number of cached "invalid" verdicts.
pub const DEFAULT_MAX_INVALID_CAPACITY: u64 = 1_000;

/// How a request's verdict was found, as recorded on its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheOutcome {
    /// Found in the cache.
    Hit,
    /// This request called the key service.
    Miss,
    /// This request waited for another request's call for the same key.
    Coalesced,
    /// The key service failed, and a previously valid verdict was served
    /// within the stale-if-error grace window.
    Stale,
}

impl CacheOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Stale => "stale",
        }
    }
}

/// Sizes and lifetimes of the cache.
#[derive(Debug, Clone)]
pub(crate) struct CacheConfig {
    pub(crate) positive_ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) max_capacity: u64,
    pub(crate) max_invalid_capacity: u64,
    /// Stale-if-error: how long past its freshness a valid verdict is kept,
    /// to be served only while the key service fails. `None`: never.
    pub(crate) grace: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            positive_ttl: DEFAULT_POSITIVE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_capacity: DEFAULT_MAX_CAPACITY,
            max_invalid_capacity: DEFAULT_MAX_INVALID_CAPACITY,
            grace: None,
        }
    }
}

/// A handle on the layer's verdict cache: cheap to clone, shared by the layer,
/// its services and whoever invalidates (a revocation listener, a webhook
/// receiver, an admin endpoint). Get it from [`ApiKeyAuth::cache`](crate::ApiKeyAuth::cache).
///
#[doc = include_str!("../../docs/cache.md")]
#[derive(Clone)]
pub struct VerdictCache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Valid verdicts, each kept until its [`ValidEntry::kept_until`].
    verdicts: Cache<Digest, ValidEntry, DigestHashing>,
    /// Definite "invalid" verdicts, for the negative TTL.
    refusals: Cache<Digest, (), DigestHashing>,
    gate: Mutex<Gate>,
    pub(crate) lifetimes: Lifetimes,
    counters: Counters,
    /// Fleet mode: where misses go before the key service, and
    /// invalidations before this process.
    fleet: Option<Fleet>,
    /// Where [`Invalidation::Session`] goes: the layer's token verifier's denylist.
    #[cfg(feature = "jwt")]
    pub(crate) sessions: std::sync::OnceLock<crate::jwt::SessionDenylist>,
}

impl Inner {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        // Nothing under the gate can panic half-way through a change that
        // matters: a poisoned gate is still consistent.
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Follower for Inner {
    fn apply(&self, invalidation: &Invalidation) {
        self.forget(invalidation);
    }

    fn flush(&self) {
        self.forget_all();
    }

    fn heard(&self, sent: Instant) {
        if let Some(fleet) = &self.fleet {
            fleet.heard(sent);
        }
    }

    fn denied_sessions(&self) -> Vec<Invalidation> {
        #[cfg(feature = "jwt")]
        if let Some(denylist) = self.sessions.get() {
            return denylist
                .live(self.lifetimes.clock.now())
                .into_iter()
                .map(|(sid, until)| Invalidation::Session { sid, until })
                .collect();
        }
        Vec::new()
    }

    fn lifetime(&self, key: Option<&ApiKey>) -> Option<Duration> {
        let Some(key) = key else {
            return Some(self.lifetimes.negative_ttl);
        };
        let ttl = self.lifetimes.ttl(key.expires_at);
        (!ttl.is_zero()).then_some(ttl)
    }
}

impl fmt::Debug for VerdictCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerdictCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl VerdictCache {
    pub(crate) fn new(
        config: &CacheConfig,
        clock: Arc<dyn Clock>,
        tier: Option<Arc<dyn SharedTier>>,
    ) -> Self {
        let fleet = tier.map(Fleet::new);
        let verdicts = Cache::builder()
            .name("keygate-verdicts")
            .max_capacity(config.max_capacity)
            .expire_after(KeptUntil)
            .build_with_hasher(DigestHashing::random());
        let refusals = Cache::builder()
            .name("keygate-refusals")
            .max_capacity(config.max_invalid_capacity)
            // moka refuses lifetimes over 1,000 years; a century is "forever".
            .time_to_live(config.negative_ttl.min(verdict::CENTURY))
            .build_with_hasher(DigestHashing::random());
        Self {
            inner: Arc::new(Inner {
                verdicts,
                refusals,
                gate: Mutex::default(),
                lifetimes: Lifetimes {
                    positive_ttl: config.positive_ttl,
                    negative_ttl: config.negative_ttl,
                    grace: config.grace,
                    clock,
                },
                counters: Counters::default(),
                fleet,
                #[cfg(feature = "jwt")]
                sessions: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The cache as a shared tier sees it, to follow the fleet's log.
    pub(crate) fn follower(&self) -> LocalCache {
        let weak: Weak<dyn Follower> = Arc::downgrade(&self.inner) as Weak<Inner>;
        LocalCache::new(weak)
    }

    /// Sends session revocations (here and from the fleet's log) to `denylist`.
    #[cfg(feature = "jwt")]
    pub(crate) fn follow_sessions(&self, denylist: crate::jwt::SessionDenylist) {
        let _ = self.inner.sessions.set(denylist);
    }

    /// The clock `expires_at` is checked against.
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.inner.lifetimes.clock
    }

    /// The shared tier misses go to, in fleet mode.
    pub(crate) fn tier(&self) -> Option<&Arc<dyn SharedTier>> {
        self.inner.fleet.as_ref().map(|fleet| &fleet.tier)
    }

    /// Whether this process has heard the fleet's log within the revocation
    /// bound (always, outside fleet mode): a session token is accepted only
    /// then, since its revocation reaches this process only through the log.
    #[cfg(feature = "jwt")]
    pub(crate) fn hears_fleet(&self) -> bool {
        self.inner
            .fleet
            .as_ref()
            .is_none_or(|fleet| fleet.hears(Instant::now()))
    }

    /// Whether stale-if-error is on.
    pub(crate) fn serves_stale(&self) -> bool {
        self.inner.lifetimes.grace.is_some()
    }

    /// The fresh verdict for `digest`, without waiting: the hot path. No
    /// lock of ours.
    pub(crate) fn lookup(&self, digest: &Digest) -> Option<CachedVerdict> {
        let verdict = self.fresh(digest)?;
        self.inner.counters.hit(digest);
        Some(verdict)
    }

    /// The fresh verdict moka holds for `digest`, if any.
    fn fresh(&self, digest: &Digest) -> Option<CachedVerdict> {
        let inner = &*self.inner;
        if let Some(entry) = inner.verdicts.get(digest) {
            // Without a grace window moka keeps an entry exactly while it is
            // fresh; with one, an entry past `fresh_until` is only a fallback.
            // Only fleet mode and the grace window need the time.
            // moka hands out a clone of the entry: its principal moves on.
            if inner.lifetimes.grace.is_none() && inner.fleet.is_none() {
                return Some(CachedVerdict::Valid(entry.principal));
            }
            let now = Instant::now();
            let fresh = inner.lifetimes.grace.is_none() || now < entry.fresh_until;
            let vouched = inner
                .fleet
                .as_ref()
                .is_none_or(|fleet| fleet.vouches(entry.fetched, now));
            return (fresh && vouched).then_some(CachedVerdict::Valid(entry.principal));
        }
        inner
            .refusals
            .contains_key(digest)
            .then_some(CachedVerdict::Invalid)
    }

    /// Gets the verdict for `digest` through `call` (to the key service or a
    /// shared tier), made at most once at a time per key: concurrent callers
    /// wait for the one call in flight and share its answer, which the call
    /// stores under the gate (`changes.rs`).
    pub(crate) async fn load(
        &self,
        digest: Digest,
        call: impl FnOnce() -> Call,
    ) -> Result<(CachedVerdict, CacheOutcome), Arc<ValidatorError>> {
        let inner = &self.inner;
        let (answer, role) = {
            let mut gate = inner.gate();
            // The call this request missed may have stored its answer (and
            // left the map) between the lookup and here: look again, under
            // the gate that stores, rather than make a second call.
            if let Some(verdict) = self.fresh(&digest) {
                drop(gate);
                inner.counters.hit(&digest);
                return Ok((verdict, CacheOutcome::Hit));
            }
            gate.join_or_start(inner, digest, call)
        };
        let answer = answer.await;
        let counters = &inner.counters;
        Counters::bump(match (&answer, role) {
            (_, Role::Follower) => &counters.coalesced,
            (Ok(_), Role::Leader) => &counters.misses,
            (Err(_), Role::Leader) => &counters.errors,
        });
        let outcome = match role {
            Role::Leader => CacheOutcome::Miss,
            Role::Follower => CacheOutcome::Coalesced,
        };
        answer.map(|verdict| (verdict, outcome))
    }

    /// The valid verdict kept for `digest` past its freshness, to serve
    /// while the key service fails (stale-if-error on, and in a fleet heard
    /// or young); counted as served stale.
    pub(crate) fn kept(&self, digest: &Digest) -> Option<crate::ApiKeyPrincipal> {
        if !self.serves_stale() {
            return None;
        }
        let entry = self.inner.verdicts.get(digest)?;
        let vouched = self
            .inner
            .fleet
            .as_ref()
            .is_none_or(|fleet| fleet.vouches(entry.fetched, Instant::now()));
        if !vouched {
            return None;
        }
        Counters::bump(&self.inner.counters.stale);
        Some(entry.principal)
    }

    /// Forgets the verdict for the key `key`, so its next use asks the key
    /// service again. Returns whether a valid verdict was cached here.
    ///
    /// In fleet mode the invalidation is first logged for every replica; the
    /// error says it could not be (it is still applied here, and this replica
    /// reads no shared verdict until it is logged).
    pub async fn invalidate_key(&self, key: &str) -> Result<bool, NotPassedOn> {
        let forgotten = self
            .invalidate(Invalidation::Key(KeyDigest::of(key)))
            .await?;
        Ok(forgotten > 0)
    }

    /// Forgets the verdict for the key with id `id`, for revocation by id.
    /// Returns whether one was cached here. In fleet mode, logged for every
    /// replica first, as [`invalidate_key`](Self::invalidate_key) says.
    pub async fn invalidate_id(&self, id: &ApiKeyId) -> Result<bool, NotPassedOn> {
        let forgotten = self.invalidate(Invalidation::Id(id.clone())).await?;
        Ok(forgotten > 0)
    }

    /// Forgets the verdicts of every key that `user` owns in `organization`,
    /// for a membership that was deactivated or deleted. Returns how many
    /// were cached here. In fleet mode, logged for every replica first, as
    /// [`invalidate_key`](Self::invalidate_key) says.
    pub async fn invalidate_membership(
        &self,
        user: &UserId,
        organization: &OrganizationId,
    ) -> Result<usize, NotPassedOn> {
        self.invalidate(Invalidation::Membership {
            user: user.clone(),
            organization: organization.clone(),
        })
        .await
    }

    /// Forgets every verdict, valid and invalid. In fleet mode, logged for
    /// every replica first, as [`invalidate_key`](Self::invalidate_key) says.
    pub async fn invalidate_all(&self) -> Result<(), NotPassedOn> {
        self.invalidate(Invalidation::All).await.map(drop)
    }

    /// Logs `invalidation` for the fleet (if any), then applies it here,
    /// whether or not it was logged: whatever this process fetched while it
    /// was being logged is forgotten with it (invariant 9). Returns how many
    /// valid verdicts were forgotten here (for everything: 0), or why the
    /// fleet has not heard of it.
    pub(crate) async fn invalidate(
        &self,
        invalidation: Invalidation,
    ) -> Result<usize, NotPassedOn> {
        let logged = match self.tier() {
            Some(tier) => tier.invalidate(invalidation.clone()).await,
            None => Ok(()),
        };
        let forgotten = self.inner.forget(&invalidation);
        logged.map(|()| forgotten)
    }

    /// The counters, and the number of entries.
    pub fn stats(&self) -> CacheStats {
        let inner = &*self.inner;
        inner
            .counters
            .snapshot(inner.verdicts.entry_count() + inner.refusals.entry_count())
    }

    /// Runs moka's pending housekeeping (expiries, evictions) now, so that
    /// [`stats`](Self::stats)' entry count is exact. Tests use it.
    pub fn run_pending_tasks(&self) {
        self.inner.verdicts.run_pending_tasks();
        self.inner.refusals.run_pending_tasks();
    }
}

#[cfg(test)]
pub(crate) mod tests;

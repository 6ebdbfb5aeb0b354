//! The fleet contract: a verdict tier shared by the replicas of a service,
//! and the ordered invalidation log they follow. Fleet mode (crate
//! `keygate-redis`) implements [`SharedTier`]; nothing here knows the cache.
//!
//! The layer's own cache stays the first tier: a hit never reaches a shared
//! tier. On a miss, the one call the cache makes for the key (at most one at
//! a time per key in this process) goes to [`SharedTier::verdict`] with the
//! layer's own call to the key service in hand; the tier answers from what
//! another replica stored, or makes that call and shares the answer.
//!
//! # What a tier promises the cache
//!
//! 1. **Logged before forgotten.** [`SharedTier::invalidate`] returns `Ok`
//!    only once the invalidation is in the fleet's log and no shared verdict
//!    it names can be read or written back; the cache forgets the key locally
//!    after that, and whatever it fetched meanwhile is forgotten with it.
//! 2. **The log, in order.** The tier applies every logged invalidation to
//!    this process through [`LocalCache::apply`], in log order; when it cannot
//!    prove it saw every entry since its position it calls
//!    [`LocalCache::flush`] instead, then applies every
//!    [`Invalidation::Session`] still in force (a flush forgets key verdicts,
//!    which are fetched again; nothing can fetch a session's denial again, so
//!    the tier keeps them apart from the log, and when its store lost them it
//!    logs again those of [`LocalCache::denied_sessions`]); after each read
//!    that left it caught up it calls [`LocalCache::heard`] with the instant
//!    that read was sent.
//! 3. **Heard or young.** In return, the cache serves a verdict only if it was
//!    fetched within the tier's [`revocation_bound`](SharedTier::revocation_bound),
//!    or the tier has heard the log within that bound; so a revoked key stops
//!    being served within the bound on every replica, whatever messages were
//!    lost. A session token is verified in this process alone: it is accepted
//!    only while the tier has heard the log within the bound, and refused
//!    with 503 otherwise.
//! 4. **Unshared when unlogged.** A tier that could not log an invalidation
//!    returns [`NotPassedOn`], and reads no shared verdict until it has logged
//!    it, so that this replica cannot read back what it is revoking.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use keygate_types::{ApiKey, ApiKeyId, OrganizationId, UserId};
use sha2::{Digest as _, Sha256};

use crate::validator::{ValidatorError, Verdict};

/// A future a shared tier returns.
pub type TierFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The layer's own call to the key service for the key a tier is asked
/// about: its timeout, concurrency cap, retries and circuit breaker
/// included. A tier awaits it at most once, or drops it unpolled.
pub type KeyServiceCall = Pin<Box<dyn Future<Output = Verdict> + Send>>;

/// The SHA-256 digest of a key: the only name a shared tier knows it by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest(pub(crate) [u8; 32]);

impl KeyDigest {
    /// The digest of `key`.
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hexadecimal, 64 characters: a name for storage keys.
    pub fn to_hex(&self) -> String {
        use std::fmt::Write as _;
        self.0
            .iter()
            .fold(String::with_capacity(64), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }

    /// Reads [`to_hex`](Self::to_hex)'s form back; `None` unless it is
    /// exactly 64 hexadecimal digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16);
            *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
        }
        Some(Self(bytes))
    }
}

/// A digest is not a secret, but it names one: printed short.
impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({}…)", &self.to_hex()[..12])
    }
}

/// A definite answer from a shared tier: `Some(key)` valid, `None` definitely
/// invalid. (A tier that cannot answer returns `Err(ValidatorError)`.)
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TierVerdict {
    /// The key, if it is valid.
    pub key: Option<ApiKey>,
    /// How much longer the verdict may be served as fresh, when the tier
    /// knows it is shorter than the layer's own TTL: the rest of another
    /// replica's TTL, or a short life while the tier cannot hear the fleet's
    /// invalidations. `None`: the layer's TTL.
    pub fresh_for: Option<Duration>,
}

impl TierVerdict {
    /// A verdict the key service gave just now.
    pub fn fresh(key: Option<ApiKey>) -> Self {
        Self {
            key,
            fresh_for: None,
        }
    }

    /// Cuts the verdict's freshness to at most `left`.
    pub fn fresh_for(mut self, left: Duration) -> Self {
        self.fresh_for = Some(self.fresh_for.map_or(left, |known| known.min(left)));
        self
    }
}

/// An invalidation was applied in this process but could not be logged for
/// the fleet.
#[derive(Debug, thiserror::Error)]
#[error("the invalidation could not be logged for the other replicas: {source}")]
pub struct NotPassedOn {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl NotPassedOn {
    /// Wraps the cause. Its `Display` may reach logs: it must not hold a key.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// One invalidation, as made in one process and applied in every other.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalidation {
    /// The verdict of one key, by its digest.
    Key(KeyDigest),
    /// The verdict of the key with this id.
    Id(ApiKeyId),
    /// The verdicts of every key `user` owns in `organization`.
    Membership {
        /// The member.
        user: UserId,
        /// The organization.
        organization: OrganizationId,
    },
    /// Every verdict.
    All,
    /// The access tokens of a revoked AuthKit session (`sid`), refused until
    /// `until`, when none of them can still be valid. Ends no key verdict.
    Session {
        /// The session, `session_…`.
        sid: String,
        /// When its last token has expired.
        until: keygate_types::Timestamp,
    },
}

/// A verdict tier shared by a service's replicas, consulted on a miss of
/// the layer's own cache, and the fleet's log of invalidations. Plug one in
/// with [`ApiKeyAuthBuilder::shared_tier`](crate::ApiKeyAuthBuilder::shared_tier);
/// `keygate_redis::RedisTier` is the implementation on Redis. The module
/// docs list what an implementation promises.
///
/// A tier must never turn a failure of its own into a verdict: when it
/// cannot reach its store it makes `call` itself, and returns the key
/// service's answer.
pub trait SharedTier: fmt::Debug + Send + Sync + 'static {
    /// The verdict for `digest`: from the tier, or from `call` (the layer's
    /// call to the key service), shared with the fleet when definite.
    fn verdict(
        &self,
        digest: KeyDigest,
        call: KeyServiceCall,
    ) -> TierFuture<'static, Result<TierVerdict, ValidatorError>>;

    /// Appends `invalidation` to the fleet's log, after which no shared
    /// verdict it names can be read or stored again. `Ok` only once it is
    /// logged; the cache forgets the key locally after this returns, either
    /// way. An error means the other replicas have not heard of it: the
    /// webhook receiver then answers 503 (so the delivery is retried), the
    /// listener reads the events again, and `invalidate_*` return the error.
    fn invalidate(
        &self,
        invalidation: Invalidation,
    ) -> TierFuture<'static, Result<(), NotPassedOn>>;

    /// The longest a replica may serve a verdict without having heard the
    /// log since: see the module docs' third promise.
    fn revocation_bound(&self) -> Duration;

    /// Called once, when the layer is built, with its cache: the tier
    /// applies the fleet's log to it.
    fn attach(&self, local: LocalCache);

    /// The lease that lets one replica of the fleet at a time follow the
    /// Events API, if the tier keeps one; see [`EventsLease`].
    fn events_lease(&self) -> Option<Arc<dyn EventsLease>> {
        None
    }
}

/// What the cache does for a tier that follows the log; implemented by the
/// cache, so that this module needs nothing from it.
pub(crate) trait Follower: Send + Sync + 'static {
    /// Forgets what `invalidation` names.
    fn apply(&self, invalidation: &Invalidation);
    /// Forgets everything, and stores nothing fetched before.
    fn flush(&self);
    /// Every invalidation logged before `sent` has been applied.
    fn heard(&self, sent: Instant);
    /// The sessions denied here, until when (see [`LocalCache::denied_sessions`]).
    fn denied_sessions(&self) -> Vec<Invalidation>;
    /// How long a verdict may be kept anywhere (see [`LocalCache::lifetime`]).
    fn lifetime(&self, key: Option<&ApiKey>) -> Option<Duration>;
}

/// A process's cache as a shared tier sees it: where the fleet's log is
/// applied. It does not keep the cache alive: once the layer is dropped, it
/// does nothing.
#[derive(Clone)]
pub struct LocalCache {
    follower: Weak<dyn Follower>,
}

impl fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCache")
            .field("attached", &self.is_attached())
            .finish_non_exhaustive()
    }
}

impl LocalCache {
    pub(crate) fn new(follower: Weak<dyn Follower>) -> Self {
        Self { follower }
    }

    fn with(&self, act: impl FnOnce(&dyn Follower)) -> bool {
        match self.follower.upgrade() {
            Some(follower) => {
                act(&*follower);
                true
            }
            None => false,
        }
    }

    /// Applies one logged invalidation to this process's cache: what it names
    /// is forgotten, and no call in flight stores its answer. Returns `false`
    /// once the layer is gone.
    pub fn apply(&self, invalidation: &Invalidation) -> bool {
        self.with(|follower| follower.apply(invalidation))
    }

    /// Forgets every verdict, and keeps every call in flight from storing
    /// its answer: for a tier that cannot prove it saw every logged
    /// invalidation. Returns `false` once the layer is gone.
    pub fn flush(&self) -> bool {
        self.with(Follower::flush)
    }

    /// Records that every invalidation logged before `sent` (the instant a
    /// read of the log was sent, which then left the tier caught up) has been
    /// applied. Only ever moves forward.
    pub fn heard(&self, sent: Instant) {
        self.with(|follower| follower.heard(sent));
    }

    /// Every session this process denies now, as the
    /// [`Invalidation::Session`] that would deny it elsewhere: what a tier
    /// logs again when its store lost the fleet's denials. Empty once the
    /// layer is gone, or when it verifies no session tokens.
    pub fn denied_sessions(&self) -> Vec<Invalidation> {
        self.follower
            .upgrade()
            .map_or_else(Vec::new, |follower| follower.denied_sessions())
    }

    /// Whether the layer still exists.
    pub fn is_attached(&self) -> bool {
        self.follower.strong_count() > 0
    }

    /// How long a definite verdict may be kept, by this layer or a shared
    /// store: the layer's positive TTL for a valid key, cut at its
    /// `expires_at` (`None`: already expired, keep it nowhere), its negative
    /// TTL for `None` ("invalid").
    pub fn lifetime(&self, key: Option<&ApiKey>) -> Option<Duration> {
        self.follower.upgrade()?.lifetime(key)
    }
}

/// A lease on following the Events API, held by one replica of a fleet at a
/// time, with the fleet's cursor. The revocation listener of every replica
/// polls only while [`hold`](Self::hold) says it holds the lease, resumes from
/// [`cursor`](Self::cursor) when it takes it over, and hands each new cursor
/// to [`advance`](Self::advance).
pub trait EventsLease: fmt::Debug + Send + Sync + 'static {
    /// Takes or renews the lease; `true` while this replica holds it.
    /// `interval` is the listener's poll interval.
    fn hold(&self, interval: Duration) -> TierFuture<'_, bool>;

    /// The fleet's cursor: the id of the last event acted on, if any.
    fn cursor(&self) -> TierFuture<'_, Option<String>>;

    /// Records the cursor after a poll, if this replica still holds the lease.
    fn advance(&self, cursor: &str) -> TierFuture<'_, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_reads_back_from_its_hex_form() {
        let digest = KeyDigest::of("sk_test_example");
        let hex = digest.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(KeyDigest::from_hex(&hex), Some(digest));
        assert_eq!(KeyDigest::from_hex(&hex[1..]), None);
        assert_eq!(KeyDigest::from_hex(&format!("g{}", &hex[1..])), None);
        assert!(!format!("{digest:?}").contains(&hex));
    }

    #[test]
    fn fresh_for_only_ever_shortens() {
        let verdict = TierVerdict::fresh(None)
            .fresh_for(Duration::from_secs(3))
            .fresh_for(Duration::from_secs(10));
        assert_eq!(verdict.fresh_for, Some(Duration::from_secs(3)));
    }
}

//! What the cache holds for a key, how long it holds it, and how a held
//! verdict is judged on each use.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

use super::Digest;
use crate::rejection::{AuthRejection, InvalidToken};
use crate::{ApiKeyPrincipal, Clock};

/// A definite answer of the key service. Errors are never verdicts.
#[derive(Debug, Clone)]
pub(crate) enum CachedVerdict {
    /// The key was valid.
    Valid(ApiKeyPrincipal),
    /// The key service said "not a valid key".
    Invalid,
}

impl CachedVerdict {
    /// The principal a request may proceed as, or why it may not. A valid
    /// verdict is checked against the clock's `expires_at` on **every** use,
    /// so a cached verdict never outlives its key.
    pub(crate) fn judge(self, clock: &dyn Clock) -> Result<ApiKeyPrincipal, AuthRejection> {
        match self {
            Self::Valid(principal) => {
                if principal.expires_at().is_some_and(|at| at <= clock.now()) {
                    Err(InvalidToken::Expired.into())
                } else {
                    Ok(principal)
                }
            }
            Self::Invalid => Err(InvalidToken::Rejected.into()),
        }
    }
}

/// A valid verdict as the cache holds it; a read clones it (one `Arc`).
#[derive(Debug, Clone)]
pub(crate) struct ValidEntry {
    pub(crate) principal: ApiKeyPrincipal,
    /// When the load that fetched it began (fleet mode's "heard or young").
    pub(crate) fetched: Instant,
    /// Served as a hit until then: the positive TTL, cut at `expires_at`.
    pub(crate) fresh_until: Instant,
    /// Kept until then (moka drops it): `fresh_until`, plus the
    /// stale-if-error grace when that is on.
    pub(crate) kept_until: Instant,
}

/// The cache's lifetimes.
#[derive(Debug)]
pub(crate) struct Lifetimes {
    pub(crate) positive_ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) grace: Option<Duration>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// A lifetime as good as never: longer ones are cut to it.
pub(crate) const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn after(at: Instant, ttl: Duration) -> Instant {
    at.checked_add(ttl.min(CENTURY))
        .unwrap_or_else(|| at + CENTURY)
}

impl Lifetimes {
    /// The one rule for how long a verdict may be kept, here or in a shared
    /// tier: a valid key for the positive TTL cut at its `expires_at`, an
    /// invalid one for the negative TTL.
    pub(crate) fn ttl(&self, expires_at: Option<keygate_types::Timestamp>) -> Duration {
        let mut ttl = self.positive_ttl;
        if let Some(at) = expires_at {
            // A negative remainder means "already expired": fresh for no time.
            let left = Duration::try_from(at.since(self.clock.now())).unwrap_or(Duration::ZERO);
            ttl = ttl.min(left);
        }
        ttl
    }

    /// The entry for a principal the key service (or a shared tier, with
    /// `fresh_for` left) vouched for in a load that began at `fetched`.
    pub(crate) fn entry(
        &self,
        principal: ApiKeyPrincipal,
        fresh_for: Option<Duration>,
        fetched: Instant,
    ) -> ValidEntry {
        let ttl = self
            .ttl(principal.expires_at())
            .min(fresh_for.unwrap_or(Duration::MAX));
        let fresh_until = after(Instant::now(), ttl);
        ValidEntry {
            principal,
            fetched,
            fresh_until,
            kept_until: after(fresh_until, self.grace.unwrap_or(Duration::ZERO)),
        }
    }
}

/// moka's view of [`ValidEntry::kept_until`].
pub(crate) struct KeptUntil;

impl Expiry<Digest, ValidEntry> for KeptUntil {
    fn expire_after_create(
        &self,
        _digest: &Digest,
        entry: &ValidEntry,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.kept_until.saturating_duration_since(created_at))
    }

    fn expire_after_update(
        &self,
        _digest: &Digest,
        entry: &ValidEntry,
        updated_at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.kept_until.saturating_duration_since(updated_at))
    }
}

//! [`KeyPolicy`]: the rules a service sets for the keys it lets people make.

use std::fmt;
use std::time::Duration;

use crate::{ApiKey, Timestamp};

/// What keys made for a service must look like: whether they must expire,
/// how long they may live, and how many one owner may hold at once.
///
/// One type, checked wherever keys are made (the console's create and roll,
/// or a service's own code with [`check_create`](Self::check_create) before
/// it calls the key service). The default has no rule: every expiry, any
/// lifetime, any number of keys.
///
/// A roll keeps the old key's lifetime (see
/// [`rolled_expiry`](Self::rolled_expiry)), so a key that was made to expire
/// never becomes a permanent one by being rolled.
///
/// ```
/// use std::time::Duration;
///
/// use keygate_types::{KeyPolicy, PolicyViolation, Timestamp};
///
/// let policy = KeyPolicy::new()
///     .require_expiry()
///     .max_lifetime(Duration::from_secs(366 * 24 * 60 * 60))
///     .max_active_keys(5);
/// let now: Timestamp = "2030-01-01T00:00:00Z".parse()?;
/// let in_a_year: Timestamp = "2030-12-31T00:00:00Z".parse()?;
/// let in_two_years: Timestamp = "2032-01-01T00:00:00Z".parse()?;
///
/// assert_eq!(policy.check_create(Some(in_a_year), 0, now), Ok(()));
/// assert_eq!(policy.check_create(None, 0, now), Err(PolicyViolation::ExpiryRequired));
/// assert!(matches!(
///     policy.check_create(Some(in_two_years), 0, now),
///     Err(PolicyViolation::LifetimeTooLong { .. })
/// ));
/// assert_eq!(
///     policy.check_create(Some(in_a_year), 5, now),
///     Err(PolicyViolation::TooManyActiveKeys { max: 5 })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyPolicy {
    require_expiry: bool,
    max_lifetime: Option<Duration>,
    max_active_keys: Option<usize>,
}

/// Why a key may not be made as asked. Its `Display` is a sentence for the
/// person asking; [`code`](Self::code) is stable, for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// The key has no expiry, and the policy requires one.
    ExpiryRequired,
    /// The key would live longer than the policy allows.
    LifetimeTooLong {
        /// The longest lifetime allowed.
        max: Duration,
    },
    /// The owner already holds as many unexpired keys as the policy allows.
    TooManyActiveKeys {
        /// The most unexpired keys one owner may hold.
        max: usize,
    },
}

impl PolicyViolation {
    /// `expiry_required`, `lifetime_too_long` or `too_many_active_keys`.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyViolation::ExpiryRequired => "expiry_required",
            PolicyViolation::LifetimeTooLong { .. } => "lifetime_too_long",
            PolicyViolation::TooManyActiveKeys { .. } => "too_many_active_keys",
        }
    }
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyViolation::ExpiryRequired => {
                f.write_str("Keys here must expire: give the key an expiry.")
            }
            PolicyViolation::LifetimeTooLong { max } => write!(
                f,
                "Keys here may live at most {}: choose an earlier expiry.",
                lifetime(*max)
            ),
            PolicyViolation::TooManyActiveKeys { max } => write!(
                f,
                "You already have {max} active key{}, the most allowed: revoke one first.",
                if *max == 1 { "" } else { "s" }
            ),
        }
    }
}

impl std::error::Error for PolicyViolation {}

/// `366 days`, `12 hours`, `90 seconds`: the largest whole unit.
fn lifetime(d: Duration) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let seconds = d.as_secs();
    if seconds >= DAY && seconds.is_multiple_of(DAY) {
        plural(seconds / DAY, "day")
    } else if seconds >= HOUR && seconds.is_multiple_of(HOUR) {
        plural(seconds / HOUR, "hour")
    } else {
        plural(seconds, "second")
    }
}

const HOUR: u64 = 60 * 60;
const DAY: u64 = 24 * HOUR;

/// `d` for timestamp arithmetic; beyond `time`'s range, its largest value.
fn span(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

impl KeyPolicy {
    /// No rule: any expiry or none, any lifetime, any number of keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key must have an expiry.
    pub fn require_expiry(mut self) -> Self {
        self.require_expiry = true;
        self
    }

    /// No key may expire later than `max` after it is made (GitHub's default
    /// for tokens is 366 days). Less than a second is taken as one second.
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(max.max(Duration::from_secs(1)));
        self
    }

    /// One owner (an organization, or a user in it) may hold at most `max`
    /// unexpired keys; a new one beyond that is refused.
    pub fn max_active_keys(mut self, max: usize) -> Self {
        self.max_active_keys = Some(max);
        self
    }

    /// Whether every key must have an expiry.
    pub fn expiry_required(&self) -> bool {
        self.require_expiry
    }

    /// The longest lifetime allowed, if capped.
    pub fn lifetime_cap(&self) -> Option<Duration> {
        self.max_lifetime
    }

    /// The most unexpired keys one owner may hold, if capped.
    pub fn active_keys_cap(&self) -> Option<usize> {
        self.max_active_keys
    }

    /// The latest expiry a key made at `now` may have, if capped.
    pub fn latest_expiry(&self, now: Timestamp) -> Option<Timestamp> {
        self.max_lifetime.map(|max| now.saturating_add(span(max)))
    }

    /// Whether a key made at `now` may have `expires_at`.
    pub fn check_expiry(
        &self,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), PolicyViolation> {
        match (expires_at, self.latest_expiry(now)) {
            (None, _) if self.require_expiry => Err(PolicyViolation::ExpiryRequired),
            // A cap on the lifetime is a requirement to expire.
            (None, Some(_)) => Err(PolicyViolation::ExpiryRequired),
            (Some(at), Some(latest)) if at > latest => Err(PolicyViolation::LifetimeTooLong {
                max: self.max_lifetime.unwrap_or_default(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether an owner who holds `active` unexpired keys may get another.
    pub fn check_active_keys(&self, active: usize) -> Result<(), PolicyViolation> {
        match self.max_active_keys {
            Some(max) if active >= max => Err(PolicyViolation::TooManyActiveKeys { max }),
            _ => Ok(()),
        }
    }

    /// Whether a new key expiring at `expires_at` may be made at `now` for an
    /// owner who holds `active` unexpired keys. The expiry is checked first.
    pub fn check_create(
        &self,
        expires_at: Option<Timestamp>,
        active: usize,
        now: Timestamp,
    ) -> Result<(), PolicyViolation> {
        self.check_expiry(expires_at, now)?;
        self.check_active_keys(active)
    }

    /// The expiry of the key that replaces `old` in a roll at `now`: the
    /// same lifetime as `old` was given (from its creation to its expiry),
    /// counted from `now`, and no expiry for a key that had none. A lifetime
    /// over the cap is cut to the cap; a key without an expiry under a policy
    /// that requires one gets the longest lifetime allowed, or, with no cap,
    /// is refused with [`PolicyViolation::ExpiryRequired`].
    ///
    /// ```
    /// use keygate_types::{ApiKey, KeyPolicy, Timestamp};
    ///
    /// let old: ApiKey = serde_json::from_value(serde_json::json!({
    ///     "object": "api_key", "id": "api_key_01HZY3K2J5QW8N7X6V4T3R2P1M", "name": "CI",
    ///     "owner": {"type": "organization", "id": "org_01HZY3K2J5QW8N7X6V4T3R2P1M"},
    ///     "obfuscated_value": "sk_…p1mq", "last_used_at": null, "permissions": [],
    ///     "expires_at": "2030-01-31T00:00:00.000Z",
    ///     "created_at": "2030-01-01T00:00:00.000Z", "updated_at": "2030-01-01T00:00:00.000Z"
    /// }))?;
    /// let now: Timestamp = "2030-01-20T00:00:00Z".parse()?;
    /// // 30 days, as the old key was given, from the roll.
    /// assert_eq!(
    ///     KeyPolicy::new().rolled_expiry(&old, now)?,
    ///     Some("2030-02-19T00:00:00Z".parse()?)
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rolled_expiry(
        &self,
        old: &ApiKey,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, PolicyViolation> {
        let kept = old
            .expires_at
            .map(|at| now.saturating_add(at.since(old.created_at).max(time::Duration::SECOND)));
        match (kept, self.latest_expiry(now)) {
            (Some(at), Some(latest)) => Ok(Some(at.min(latest))),
            (Some(at), None) => Ok(Some(at)),
            (None, Some(latest)) => Ok(Some(latest)),
            (None, None) if self.require_expiry => Err(PolicyViolation::ExpiryRequired),
            (None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn key(created: &str, expires: Option<&str>) -> ApiKey {
        serde_json::from_value(serde_json::json!({
            "object": "api_key", "id": "api_key_1", "name": "CI",
            "owner": {"type": "organization", "id": "org_1"},
            "obfuscated_value": "sk_…abcd", "last_used_at": null,
            "expires_at": expires, "permissions": [],
            "created_at": created, "updated_at": created,
        }))
        .unwrap()
    }

    #[test]
    fn the_default_policy_allows_everything() {
        let policy = KeyPolicy::new();
        assert_eq!(
            policy.check_create(None, usize::MAX, at("2030-01-01T00:00:00Z")),
            Ok(())
        );
    }

    #[test]
    fn a_lifetime_cap_requires_an_expiry_within_it() {
        let policy = KeyPolicy::new().max_lifetime(Duration::from_secs(30 * DAY));
        let now = at("2030-01-01T00:00:00Z");
        assert_eq!(
            policy.check_expiry(None, now),
            Err(PolicyViolation::ExpiryRequired)
        );
        assert_eq!(
            policy.check_expiry(Some(at("2030-01-31T00:00:00Z")), now),
            Ok(())
        );
        let refused = policy
            .check_expiry(Some(at("2030-01-31T00:00:01Z")), now)
            .unwrap_err();
        assert_eq!(refused.code(), "lifetime_too_long");
        assert_eq!(
            refused.to_string(),
            "Keys here may live at most 30 days: choose an earlier expiry."
        );
    }

    #[test]
    fn each_refusal_says_what_to_do() {
        assert_eq!(
            PolicyViolation::ExpiryRequired.to_string(),
            "Keys here must expire: give the key an expiry."
        );
        assert_eq!(
            PolicyViolation::TooManyActiveKeys { max: 1 }.to_string(),
            "You already have 1 active key, the most allowed: revoke one first."
        );
        assert_eq!(lifetime(Duration::from_secs(12 * HOUR)), "12 hours");
        assert_eq!(lifetime(Duration::from_secs(90)), "90 seconds");
    }

    #[test]
    fn a_roll_keeps_the_lifetime_cut_to_the_cap() {
        let now = at("2030-03-01T00:00:00Z");
        let ninety_days = key("2030-01-01T00:00:00Z", Some("2030-04-01T00:00:00Z"));
        assert_eq!(
            KeyPolicy::new().rolled_expiry(&ninety_days, now),
            Ok(Some(at("2030-05-30T00:00:00Z")))
        );
        let capped = KeyPolicy::new().max_lifetime(Duration::from_secs(30 * DAY));
        assert_eq!(
            capped.rolled_expiry(&ninety_days, now),
            Ok(Some(at("2030-03-31T00:00:00Z")))
        );
        let forever = key("2030-01-01T00:00:00Z", None);
        assert_eq!(KeyPolicy::new().rolled_expiry(&forever, now), Ok(None));
        assert_eq!(
            capped.rolled_expiry(&forever, now),
            Ok(Some(at("2030-03-31T00:00:00Z")))
        );
        assert_eq!(
            KeyPolicy::new()
                .require_expiry()
                .rolled_expiry(&forever, now),
            Err(PolicyViolation::ExpiryRequired)
        );
    }
}

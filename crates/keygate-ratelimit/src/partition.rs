//! [`Partition`]: whose budget a request spends.

use keygate_auth::ApiKeyPrincipal;

/// Whose budget a request spends: each partition has a budget of its own.
///
/// The partition is named by ids only (`api_key_…`, `user_…`, `org_…`),
/// never by a key's value: the ids are what the limiter keeps in memory and
/// what it gives a [`SharedBudget`](crate::SharedBudget) (names in Redis).
///
/// ```
/// use keygate_ratelimit::Partition;
///
/// assert_eq!(Partition::default(), Partition::Key);
/// assert_eq!(Partition::Organization.policy_name(), "per-organization");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Partition {
    /// One budget per API key (its id).
    #[default]
    Key,
    /// One budget per owner: the user of a user key, the organization of an
    /// organization key. A user's keys share one budget.
    Owner,
    /// One budget per organization, for its organization keys and its users'
    /// keys alike.
    Organization,
}

impl Partition {
    /// The id naming `principal`'s budget in this partition.
    pub fn id_of<'a>(&self, principal: &'a ApiKeyPrincipal) -> &'a str {
        match self {
            Self::Key => principal.id(),
            Self::Owner => principal.owner().id(),
            Self::Organization => principal.organization_id().as_str(),
        }
    }

    /// The default policy name in the `RateLimit` headers.
    pub fn policy_name(&self) -> &'static str {
        match self {
            Self::Key => "per-key",
            Self::Owner => "per-owner",
            Self::Organization => "per-organization",
        }
    }

    /// Whose limit it is, for the 429's message.
    pub(crate) fn whose(&self) -> &'static str {
        match self {
            Self::Key => "the API key's",
            Self::Owner => "the key owner's",
            Self::Organization => "the organization's",
        }
    }
}

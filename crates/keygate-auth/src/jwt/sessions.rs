//! Revoked AuthKit sessions, denied by `sid` until their tokens expire.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use keygate_types::Timestamp;

/// The sessions whose access tokens are refused before they expire: a
/// `session.revoked` event (from the [revocation listener](crate::RevocationListener)
/// or the [webhook receiver](crate::WebhookReceiver)) adds its session until
/// the latest moment a token of that session can still be valid.
///
/// Cloning it shares it. An entry is dropped once its time has passed.
///
/// ```
/// use keygate_auth::jwt::SessionDenylist;
/// use keygate_types::Timestamp;
///
/// let denied = SessionDenylist::default();
/// let now = Timestamp::now();
/// denied.deny("session_01HZY3K2J5QW8N7X6V4T3R2P1M", now.saturating_add(time::Duration::hours(1)));
/// assert!(denied.is_denied("session_01HZY3K2J5QW8N7X6V4T3R2P1M", now));
/// assert!(!denied.is_denied("session_01HZY3K2J5QW8N7X6V4T3R2P1N", now));
/// ```
#[derive(Clone, Default)]
pub struct SessionDenylist(Arc<Mutex<HashMap<String, Timestamp>>>);

impl SessionDenylist {
    /// Refuses the tokens of session `sid` until `until`. Denying a session
    /// twice keeps the later time.
    pub fn deny(&self, sid: impl Into<String>, until: Timestamp) {
        let mut denied = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = denied.entry(sid.into()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
        // Keep the table to what can still matter: drop the lapsed entries
        // when it has grown (amortised over inserts).
        if denied.len() >= 1024 && denied.len().is_power_of_two() {
            let now = Timestamp::now();
            denied.retain(|_, at| *at > now);
        }
    }

    /// Whether the tokens of session `sid` are refused at `now`.
    pub fn is_denied(&self, sid: &str, now: Timestamp) -> bool {
        let denied = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        denied.get(sid).is_some_and(|until| *until > now)
    }

    /// The sessions denied at `now`, each with the end of its denial.
    pub fn live(&self, now: Timestamp) -> Vec<(String, Timestamp)> {
        let denied = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        denied
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(sid, until)| (sid.clone(), *until))
            .collect()
    }

    /// How many sessions are denied (lapsed entries included until dropped).
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no session is denied.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for SessionDenylist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionDenylist")
            .field("sessions", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_session_is_refused_until_its_time_then_not() {
        let denied = SessionDenylist::default();
        let now = Timestamp::now();
        let later = now.saturating_add(time::Duration::minutes(5));
        denied.deny("session_a", later);
        assert!(denied.is_denied("session_a", now));
        assert!(!denied.is_denied("session_a", later));
        // A second, earlier revocation does not shorten the first.
        denied.deny("session_a", now.saturating_add(time::Duration::minutes(1)));
        assert!(denied.is_denied("session_a", now.saturating_add(time::Duration::minutes(2))));
        assert_eq!(denied.live(now), vec![("session_a".to_owned(), later)]);
        assert!(denied.live(later).is_empty());
    }
}

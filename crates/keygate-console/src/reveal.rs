//! New key values waiting to be shown, once, on the page after a plain
//! form post: the post redirects (so a reload never re-posts), and the
//! value waits here, keyed by a random id in an `HttpOnly` cookie, never in
//! a URL.
//!
//! The invariants, each tested:
//! 1. A value is handed out at most once: [`Reveals::take`] removes it.
//! 2. Only to the organization it was created in.
//! 3. It waits at most [`TTL`], and at most [`CAPACITY`] wait at once (the
//!    oldest go first); dropped values are zeroed (`SecretString`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use keygate_types::{OrganizationId, SecretString};

use crate::cookie::random_token;

/// How long a value waits for the page that shows it.
pub(crate) const TTL: Duration = Duration::from_secs(120);
/// How many values may wait at once.
pub(crate) const CAPACITY: usize = 1024;

/// A value to show once, with what the page says about it.
#[derive(Debug)]
pub(crate) struct Reveal {
    pub(crate) organization: OrganizationId,
    pub(crate) name: String,
    pub(crate) value: SecretString,
    /// What happened, e.g. "Rolled: the old key works until …".
    pub(crate) note: String,
}

/// The values waiting.
#[derive(Debug, Default)]
pub(crate) struct Reveals {
    waiting: Mutex<HashMap<String, (Instant, Reveal)>>,
}

impl Reveals {
    /// Keeps `reveal`; answers the id to put in the cookie.
    pub(crate) fn put(&self, reveal: Reveal) -> String {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        waiting.retain(|_, (at, _)| now.duration_since(*at) < TTL);
        while waiting.len() >= CAPACITY {
            let oldest = waiting
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => waiting.remove(&id),
                None => break,
            };
        }
        let id = random_token();
        waiting.insert(id.clone(), (now, reveal));
        id
    }

    /// The value under `id`, removed, if it is still fresh and belongs to
    /// `organization`.
    pub(crate) fn take(&self, id: &str, organization: &OrganizationId) -> Option<Reveal> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, reveal) = waiting.remove(id)?;
        (at.elapsed() < TTL && &reveal.organization == organization).then_some(reveal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reveal(org: &str) -> Reveal {
        Reveal {
            organization: OrganizationId::new_unchecked(org),
            name: "CI".into(),
            value: SecretString::from("sk_value"),
            note: String::new(),
        }
    }

    #[test]
    fn a_value_is_taken_once() {
        let reveals = Reveals::default();
        let id = reveals.put(reveal("org_a"));
        let org = OrganizationId::new_unchecked("org_a");
        assert!(reveals.take(&id, &org).is_some());
        assert!(reveals.take(&id, &org).is_none());
    }

    #[test]
    fn another_organization_never_sees_it() {
        let reveals = Reveals::default();
        let id = reveals.put(reveal("org_a"));
        assert!(
            reveals
                .take(&id, &OrganizationId::new_unchecked("org_b"))
                .is_none()
        );
        // And it is gone for the owner too: an id that leaked is spent.
        assert!(
            reveals
                .take(&id, &OrganizationId::new_unchecked("org_a"))
                .is_none()
        );
    }

    #[test]
    fn at_most_capacity_values_wait() {
        let reveals = Reveals::default();
        let first = reveals.put(reveal("org_a"));
        for _ in 0..CAPACITY {
            reveals.put(reveal("org_a"));
        }
        assert_eq!(reveals.waiting.lock().unwrap().len(), CAPACITY);
        assert!(
            reveals
                .take(&first, &OrganizationId::new_unchecked("org_a"))
                .is_none()
        );
    }
}

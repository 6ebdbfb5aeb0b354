//! New object ids: a type prefix and a monotonic ULID.
//!
//! ULIDs made in the same millisecond by a plain generator sort randomly; list
//! cursors compare ids by value, so the emulator needs ids that sort in
//! creation order. The generator increments the previous ULID when the clock
//! has not moved on (or was set back), which keeps that order. The previous
//! ULID is kept with the state, so the order holds across restarts too.

use std::time::{Duration, SystemTime};

use keygate_types::{
    ApiKeyId, EventId, MembershipId, OrganizationId, Timestamp, UserId, WebhookEndpointId,
};
use ulid::Ulid;

/// Makes ids that sort in the order they were made.
#[derive(Default)]
pub(crate) struct IdGenerator {
    last: Option<Ulid>,
}

impl std::fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdGenerator").finish_non_exhaustive()
    }
}

impl IdGenerator {
    fn next(&mut self, now: Timestamp) -> Ulid {
        let ms = u64::try_from(now.as_offset_date_time().unix_timestamp_nanos() / 1_000_000)
            .unwrap_or(0);
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let fresh = Ulid::from_datetime(at);
        let next = match self.last {
            // Overflow needs 2^80 ids in one millisecond; fall back rather than fail.
            Some(last) if fresh <= last => last.increment().unwrap_or(fresh),
            _ => fresh,
        };
        self.last = Some(next);
        next
    }

    /// The last ULID made, to keep with the state.
    pub(crate) fn last(&self) -> Option<Ulid> {
        self.last
    }

    /// Continues after `last` (read back from a state file).
    pub(crate) fn resume_after(&mut self, last: Ulid) {
        if self.last.is_none_or(|l| l < last) {
            self.last = Some(last);
        }
    }

    pub(crate) fn api_key(&mut self, now: Timestamp) -> ApiKeyId {
        ApiKeyId::new_unchecked(format!("{}{}", ApiKeyId::PREFIX, self.next(now)))
    }

    pub(crate) fn organization(&mut self, now: Timestamp) -> OrganizationId {
        OrganizationId::new_unchecked(format!("{}{}", OrganizationId::PREFIX, self.next(now)))
    }

    pub(crate) fn user(&mut self, now: Timestamp) -> UserId {
        UserId::new_unchecked(format!("{}{}", UserId::PREFIX, self.next(now)))
    }

    pub(crate) fn membership(&mut self, now: Timestamp) -> MembershipId {
        MembershipId::new_unchecked(format!("{}{}", MembershipId::PREFIX, self.next(now)))
    }

    pub(crate) fn event(&mut self, now: Timestamp) -> EventId {
        EventId::new_unchecked(format!("{}{}", EventId::PREFIX, self.next(now)))
    }

    /// `perm_` + ULID: a permission of the catalogue.
    pub(crate) fn permission(&mut self, now: Timestamp) -> String {
        format!("perm_{}", self.next(now))
    }

    pub(crate) fn webhook_endpoint(&mut self, now: Timestamp) -> WebhookEndpointId {
        WebhookEndpointId::new_unchecked(format!("{}{}", WebhookEndpointId::PREFIX, self.next(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_creation_order_within_a_millisecond_and_after_a_clock_step_back() {
        let mut ids = IdGenerator::default();
        let now = Timestamp::now();
        let mut made: Vec<ApiKeyId> = (0..1000).map(|_| ids.api_key(now)).collect();
        made.push(ids.api_key(Timestamp::UNIX_EPOCH));
        assert!(made.windows(2).all(|w| w[0] < w[1]));
        assert!(made.iter().all(|id| ApiKeyId::parse(id.as_str()).is_ok()));
    }

    #[test]
    fn a_resumed_generator_sorts_after_what_came_before() {
        let mut ids = IdGenerator::default();
        let now = Timestamp::now();
        let first = ids.api_key(now);
        let mut resumed = IdGenerator::default();
        resumed.resume_after(ids.last().unwrap());
        assert!(resumed.api_key(Timestamp::UNIX_EPOCH) > first);
    }
}

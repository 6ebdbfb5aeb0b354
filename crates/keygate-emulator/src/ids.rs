//! New object ids: a type prefix and a monotonic ULID.
//!
//! ULIDs made in the same millisecond by a plain generator sort randomly; list
//! cursors compare ids by value, so the emulator needs ids that sort in
//! creation order. The generator increments the previous ULID when the clock
//! has not moved on (or was set back), which keeps that order.

use std::time::{Duration, SystemTime};

use keygate_types::{
    ApiKeyId, EventId, MembershipId, OrganizationId, Timestamp, UserId, WebhookEndpointId,
};
use ulid::{Generator, Ulid};

/// Makes ids that sort in the order they were made.
#[derive(Default)]
pub(crate) struct IdGenerator {
    inner: Generator,
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
        // Overflow needs 2^80 ids in one millisecond; fall back rather than fail.
        self.inner
            .generate_from_datetime(at)
            .unwrap_or_else(|_| Ulid::from_datetime(at))
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
}

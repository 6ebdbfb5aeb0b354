//! `session.revoked`, recorded like the other events (webhooks included).

use keygate_types::{EventPayload, Timestamp};

use super::State;

impl State {
    /// Records a `session.revoked` event.
    pub(crate) fn record_session_revoked(&mut self, payload: EventPayload, now: Timestamp) {
        self.record(payload, now);
    }
}

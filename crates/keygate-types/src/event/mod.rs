//! Events, as served by `GET /events` and delivered to webhooks.

mod wire;

use serde_json::{Map, Value};

use crate::{
    ApiKey, EventId, MembershipStatus, Order, OrganizationId, OrganizationMembership, Session,
    Timestamp,
};

/// `api_key.created`: a key was created.
pub const API_KEY_CREATED: &str = "api_key.created";
/// `api_key.revoked`: a key was deleted, or revoked with its owner.
pub const API_KEY_REVOKED: &str = "api_key.revoked";
/// `api_key.updated`: a key's expiry changed.
pub const API_KEY_UPDATED: &str = "api_key.updated";
/// `organization_membership.created`: a user joined an organization.
pub const ORGANIZATION_MEMBERSHIP_CREATED: &str = "organization_membership.created";
/// `organization_membership.updated`: a membership changed, such as its
/// status (active ↔ inactive).
pub const ORGANIZATION_MEMBERSHIP_UPDATED: &str = "organization_membership.updated";
/// `organization_membership.deleted`: a membership was removed.
pub const ORGANIZATION_MEMBERSHIP_DELETED: &str = "organization_membership.deleted";
/// `session.revoked`: an AuthKit session was revoked; its access tokens
/// (`sid` = the session's id) must stop working before they expire.
pub const SESSION_REVOKED: &str = "session.revoked";

/// One event: `{"object":"event","id","event","data","created_at","context"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `event_…`; ULIDs, so ids sort in the order events happened.
    pub id: EventId,
    /// What happened, with its data.
    pub payload: EventPayload,
    /// When it happened.
    pub created_at: Timestamp,
    /// Extra context; `{}` from the emulator.
    pub context: Map<String, Value>,
}

/// What an event says happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventPayload {
    /// `api_key.created`.
    ApiKeyCreated(ApiKey),
    /// `api_key.revoked`.
    ApiKeyRevoked(ApiKey),
    /// `api_key.updated`.
    ApiKeyUpdated {
        /// The key as it is now.
        api_key: ApiKey,
        /// The changed attributes' previous values, e.g. `{"expires_at": null}`.
        previous_attributes: Map<String, Value>,
    },
    /// `organization_membership.created`.
    MembershipCreated(OrganizationMembership),
    /// `organization_membership.updated`: the membership as it is now.
    MembershipUpdated(OrganizationMembership),
    /// `organization_membership.deleted`: the membership as it was.
    MembershipDeleted(OrganizationMembership),
    /// `session.revoked`: the session as it is now.
    SessionRevoked(Session),
    /// An event of a kind named above whose `data` does not have that kind's
    /// shape, kept as it came with the reason, so that one bad event does
    /// not make a whole page unreadable.
    Malformed {
        /// The event's name.
        event: String,
        /// Its data.
        data: Value,
        /// Why `data` could not be read.
        error: String,
    },
    /// Any other event, kept as it came.
    Other {
        /// The event's name.
        event: String,
        /// Its data.
        data: Value,
    },
}

impl EventPayload {
    /// The event's name, such as `api_key.revoked`.
    pub fn name(&self) -> &str {
        match self {
            EventPayload::ApiKeyCreated(_) => API_KEY_CREATED,
            EventPayload::ApiKeyRevoked(_) => API_KEY_REVOKED,
            EventPayload::ApiKeyUpdated { .. } => API_KEY_UPDATED,
            EventPayload::MembershipCreated(_) => ORGANIZATION_MEMBERSHIP_CREATED,
            EventPayload::MembershipUpdated(_) => ORGANIZATION_MEMBERSHIP_UPDATED,
            EventPayload::MembershipDeleted(_) => ORGANIZATION_MEMBERSHIP_DELETED,
            EventPayload::SessionRevoked(_) => SESSION_REVOKED,
            EventPayload::Malformed { event, .. } | EventPayload::Other { event, .. } => event,
        }
    }

    /// The API key the event is about, for the `api_key.*` events.
    pub fn api_key(&self) -> Option<&ApiKey> {
        match self {
            EventPayload::ApiKeyCreated(k) | EventPayload::ApiKeyRevoked(k) => Some(k),
            EventPayload::ApiKeyUpdated { api_key, .. } => Some(api_key),
            _ => None,
        }
    }

    /// The membership the event is about, for the `organization_membership.*`
    /// events.
    pub fn membership(&self) -> Option<&OrganizationMembership> {
        match self {
            EventPayload::MembershipCreated(m)
            | EventPayload::MembershipUpdated(m)
            | EventPayload::MembershipDeleted(m) => Some(m),
            _ => None,
        }
    }

    /// The membership this event ends, if it ends one: a membership deleted,
    /// or updated to any status but active. Its user's keys in its
    /// organization stop validating with it, so a cache of verdicts must
    /// forget them.
    ///
    /// ```
    /// use keygate_types::{Event, MembershipStatus};
    ///
    /// let event: Event = serde_json::from_str(r#"{
    ///     "object": "event",
    ///     "id": "event_01HZY3K2J5QW8N7X6V4T3R2P1M",
    ///     "event": "organization_membership.updated",
    ///     "data": {
    ///         "object": "organization_membership",
    ///         "id": "om_01HZY3K2J5QW8N7X6V4T3R2P1M",
    ///         "user_id": "user_01HZY3K2J5QW8N7X6V4T3R2P1M",
    ///         "organization_id": "org_01HZY3K2J5QW8N7X6V4T3R2P1M",
    ///         "status": "inactive",
    ///         "role": {"slug": "member"},
    ///         "custom_attributes": {},
    ///         "directory_managed": false,
    ///         "created_at": "2026-01-15T12:00:00.000Z",
    ///         "updated_at": "2026-01-15T12:05:00.000Z"
    ///     },
    ///     "created_at": "2026-01-15T12:05:00.000Z",
    ///     "context": {}
    /// }"#)?;
    /// let ended = event.payload.ended_membership().unwrap();
    /// assert_eq!(ended.status, MembershipStatus::Inactive);
    /// assert_eq!(ended.user_id, "user_01HZY3K2J5QW8N7X6V4T3R2P1M");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn ended_membership(&self) -> Option<&OrganizationMembership> {
        match self {
            EventPayload::MembershipDeleted(m) => Some(m),
            EventPayload::MembershipUpdated(m) if m.status != MembershipStatus::Active => Some(m),
            _ => None,
        }
    }

    /// The session a `session.revoked` event ends.
    pub fn revoked_session(&self) -> Option<&Session> {
        match self {
            EventPayload::SessionRevoked(s) => Some(s),
            _ => None,
        }
    }

    /// The organization the event concerns: a key's (its owner's
    /// organization) or a membership's.
    pub fn organization_id(&self) -> Option<&OrganizationId> {
        if let Some(key) = self.api_key() {
            return Some(key.owner.organization_id());
        }
        if let Some(session) = self.revoked_session() {
            return session.organization_id.as_ref();
        }
        self.membership().map(|m| &m.organization_id)
    }
}

/// Query parameters of `GET /events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsParams {
    /// Only these event names; empty means all.
    pub events: Vec<String>,
    /// Only events after this event id (the poller's cursor).
    pub after: Option<String>,
    /// Page size, 1 to 100.
    pub limit: Option<u8>,
    /// The order; pollers want [`Order::Asc`].
    pub order: Option<Order>,
    /// Only events at or after this time.
    pub range_start: Option<Timestamp>,
    /// Only events before this time.
    pub range_end: Option<Timestamp>,
    /// Only events of this organization.
    pub organization_id: Option<OrganizationId>,
}

#[cfg(test)]
mod tests;

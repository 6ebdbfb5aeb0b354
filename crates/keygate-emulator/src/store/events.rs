//! The event log: what happened to keys and memberships, kept in order for
//! 30 days.

use std::collections::VecDeque;

use keygate_types::{ApiKey, Event, EventListMetadata, EventPayload, OrganizationId, Timestamp};
use serde_json::{Map, Value};
use time::Duration;

use super::{Page, PageRequest, Row, State};

/// How long events are kept, against the emulator's clock.
pub(crate) const RETENTION: Duration = Duration::days(30);

/// Events in the order they happened (their ids sort the same way).
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    events: VecDeque<Event>,
}

/// Which events a reader wants, and which page of them.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventFilter {
    /// Event names; empty means all.
    pub(crate) events: Vec<String>,
    pub(crate) range_start: Option<Timestamp>,
    pub(crate) range_end: Option<Timestamp>,
    pub(crate) organization_id: Option<OrganizationId>,
    pub(crate) page: PageRequest,
    /// `order=normal`: the page's cursors are swapped, so `after` names the
    /// newer side of a descending page.
    pub(crate) reversed_cursors: bool,
}

impl EventLog {
    /// Events recorded after the one with id `after` (all when `None`), oldest first.
    pub(crate) fn since(&self, after: Option<&str>) -> impl Iterator<Item = &Event> {
        let start = after.map_or(0, |a| self.events.partition_point(|e| e.id.as_str() <= a));
        self.events.range(start..)
    }

    /// A page of the events `filter` picks, within retention at `now`.
    pub(crate) fn list(
        &self,
        filter: &EventFilter,
        now: Timestamp,
    ) -> (Vec<Event>, EventListMetadata) {
        let oldest = now.saturating_add(-RETENTION);
        let page: Page<&Event> = filter.page.page(
            self.events
                .iter()
                .filter(|e| e.created_at >= oldest)
                .filter(|e| {
                    filter.events.is_empty() || filter.events.iter().any(|n| n == e.payload.name())
                })
                .filter(|e| filter.range_start.is_none_or(|s| e.created_at >= s))
                .filter(|e| filter.range_end.is_none_or(|end| e.created_at < end))
                .filter(|e| {
                    filter
                        .organization_id
                        .as_ref()
                        .is_none_or(|org| e.payload.organization_id() == Some(org))
                })
                .map(|e| (e.id.as_str(), e)),
        );
        let after = if filter.reversed_cursors {
            page.metadata.before
        } else {
            page.metadata.after
        };
        (
            page.data.into_iter().cloned().collect(),
            EventListMetadata { after },
        )
    }

    /// The event with id `id`, if it is kept.
    #[cfg(feature = "sqlite")]
    pub(crate) fn get(&self, id: &str) -> Option<&Event> {
        let i = self.events.partition_point(|e| e.id.as_str() < id);
        self.events.get(i).filter(|e| e.id.as_str() == id)
    }

    /// Adds an event read back from storage; they come oldest first.
    #[cfg(feature = "sqlite")]
    pub(crate) fn restore(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Adds `event`, dropping those past retention; names each as a changed row.
    fn push(&mut self, event: Event, now: Timestamp, changes: &mut super::Changes) {
        let oldest = now.saturating_add(-RETENTION);
        while let Some(old) = self.events.pop_front() {
            if old.created_at >= oldest {
                self.events.push_front(old);
                break;
            }
            changes.touch(Row::Event(old.id.to_string()));
        }
        changes.touch(Row::Event(event.id.to_string()));
        self.events.push_back(event);
    }
}

impl State {
    pub(super) fn record(&mut self, payload: EventPayload, now: Timestamp) {
        let event = Event {
            id: self.ids.event(now),
            payload,
            created_at: now,
            context: Map::new(),
        };
        // Delivered to webhooks once the write that made it is kept.
        self.unsent.push(event.clone());
        self.events.push(event, now, &mut self.changes);
    }

    pub(crate) fn record_created(&mut self, key: &ApiKey, now: Timestamp) {
        self.record(EventPayload::ApiKeyCreated(key.clone()), now);
    }

    pub(crate) fn record_revoked(&mut self, key: &ApiKey, now: Timestamp) {
        self.record(EventPayload::ApiKeyRevoked(key.clone()), now);
    }

    pub(crate) fn record_updated(
        &mut self,
        key: &ApiKey,
        previous_attributes: Map<String, Value>,
        now: Timestamp,
    ) {
        self.record(
            EventPayload::ApiKeyUpdated {
                api_key: key.clone(),
                previous_attributes,
            },
            now,
        );
    }
}

//! Events: list them, or follow them with a cursor.

use keygate_types::{Event, EventId, EventListMetadata, EventsParams, List, Order};

use crate::call::Call;
use crate::{Client, Error, ItemStream, Page};

/// What [`Client::events_after`] found: new events, oldest first, and the
/// cursor to pass next time.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch {
    /// The events after the cursor, oldest first.
    pub events: Vec<Event>,
    /// The id of the last event seen: the last of `events`, or the cursor
    /// that was passed in when there were none.
    pub cursor: Option<EventId>,
    /// Whether more events are waiting already (fetch again at once).
    pub has_more: bool,
}

impl Client {
    /// One page of events: `GET /events` with the filters of `params`
    /// (event names are sent comma-separated).
    pub async fn list_events(&self, params: &EventsParams) -> Result<Page<Event>, Error> {
        let names = (!params.events.is_empty()).then(|| params.events.join(","));
        let call = Call::get("/events", "/events".into())
            .query("events", names)
            .query("after", params.after.as_deref())
            .query("limit", params.limit)
            .query("order", params.order)
            .query("range_start", params.range_start)
            .query("range_end", params.range_end)
            .query("organization_id", params.organization_id.as_ref());
        Ok(self
            .execute::<List<Event, EventListMetadata>>(call)
            .await?
            .into())
    }

    /// All events matching `params`, page after page.
    pub fn stream_events(&self, params: EventsParams) -> ItemStream<Event> {
        let client = self.clone();
        let first = params.after.clone();
        ItemStream::new(first, move |cursor| {
            let client = client.clone();
            let params = EventsParams {
                after: cursor.or_else(|| params.after.clone()),
                ..params.clone()
            };
            async move { client.list_events(&params).await }
        })
    }

    /// The events after `cursor` (from the oldest kept, for `None`), oldest
    /// first, at most `limit` (1 to 100), only those named in `events` (all,
    /// when empty). Made for pollers: keep the returned
    /// [`cursor`](EventBatch::cursor) and pass it next time.
    ///
    /// ```
    /// use keygate_types::{API_KEY_REVOKED, API_KEY_UPDATED};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emu = keygate_emulator::Emulator::start().await?;
    /// # let org = emu.create_organization("Acme")?.id;
    /// # let client = keygate_client::Client::builder()
    /// #     .secret(emu.secret().clone()).base_url(emu.base_url()).build()?;
    /// let names = [API_KEY_REVOKED, API_KEY_UPDATED];
    /// let mut cursor = client.latest_event_id(&names).await?; // start from now
    /// # let key = emu.create_organization_key(&org, "k", &[])?;
    /// # client.delete_api_key(&key.id).await?;
    /// // A poller's loop body: fetch, act, keep the cursor, sleep when idle.
    /// let batch = client.events_after(cursor.as_ref(), &names, 100).await?;
    /// for event in &batch.events {
    ///     if let Some(key) = event.payload.api_key() {
    ///         println!("{}: {}", event.payload.name(), key.id); // invalidate caches here
    ///     }
    /// }
    /// cursor = batch.cursor;
    /// # assert_eq!(batch.events.len(), 1);
    /// # assert!(cursor.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn events_after(
        &self,
        cursor: Option<&EventId>,
        events: &[&str],
        limit: u8,
    ) -> Result<EventBatch, Error> {
        let params = EventsParams {
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            after: cursor.map(|c| c.as_str().to_owned()),
            limit: Some(limit),
            order: Some(Order::Asc),
            ..EventsParams::default()
        };
        let page = self.list_events(&params).await?;
        let has_more = page.has_next();
        let cursor = page
            .data
            .last()
            .map(|e| e.id.clone())
            .or_else(|| cursor.cloned());
        Ok(EventBatch {
            events: page.data,
            cursor,
            has_more,
        })
    }

    /// The id of the newest event named in `events` (any, when empty): where
    /// a poller that only cares about what happens from now on starts.
    pub async fn latest_event_id(&self, events: &[&str]) -> Result<Option<EventId>, Error> {
        let params = EventsParams {
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            limit: Some(1),
            order: Some(Order::Desc),
            ..EventsParams::default()
        };
        let page = self.list_events(&params).await?;
        Ok(page.data.into_iter().next().map(|e| e.id))
    }
}

//! `GET /events`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::StatusCode;
use keygate_types::List;

use super::query::Query;
use super::reply::{ApiError, json};
use crate::environment::Environment;
use crate::store::EventFilter;

/// `GET /events?events&after&limit&order&range_start&range_end&organization_id`.
///
/// Always oldest first, so that a poller passing the last id it saw as
/// `after` reads events in the order they happened. `order` is checked but
/// not applied: the real service ignores it too (it serves the same
/// oldest-first pages for `asc`, `desc` and `normal`), and the official SDKs
/// send `order=desc` by default, which would break such a poller.
pub(crate) async fn list(
    State(env): State<Arc<Environment>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref());
    let mut page = query.page(true)?;
    // `/events` pages forward only, oldest first.
    page.before = None;
    page.ascending = true;
    let filter = EventFilter {
        events: query
            .list("events")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        range_start: query.timestamp("range_start")?,
        range_end: query.timestamp("range_end")?,
        organization_id: query.organization_id(),
        page,
    };
    let now = env.clock.now();
    let (data, list_metadata) = env.store.read(|state| state.events.list(&filter, now));
    Ok(json(
        StatusCode::OK,
        &List {
            data,
            list_metadata,
        },
    ))
}

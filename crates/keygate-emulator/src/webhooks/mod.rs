//! Webhook endpoints: every event is POSTed as JSON to each registered
//! endpoint that wants it, signed as WorkOS signs (`WorkOS-Signature:
//! t=<unix ms>, v1=<hex HMAC-SHA256 of "{t}.{body}">`), and retried with
//! exponential backoff until it is answered with a 2xx or the attempts run out.
//! The signature is `keygate_types::webhook_signature`, the code keygate's
//! receiver verifies with.
//!
//! Deliveries run on their own tasks and are not ordered between events, as
//! with WorkOS. The signature's timestamp is the system time of the attempt,
//! not the emulator's settable clock, because receivers check it against
//! their own clocks.

mod delivery;

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use keygate_types::{Event, EventId, SecretString, Timestamp, WebhookEndpointId};

use crate::store::Row;
use serde::{Deserialize, Serialize};

pub(crate) use delivery::{Deliverer, Target};

/// How many delivery records are kept for [`Emulator::webhook_deliveries`](crate::Emulator::webhook_deliveries).
const KEPT_DELIVERIES: usize = 10_000;

/// A registered webhook endpoint. Its secret is never shown again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// `we_…`.
    pub id: WebhookEndpointId,
    /// Where events are POSTed (`http://` only: the emulator has no TLS).
    pub url: String,
    /// The event names delivered; empty means all.
    pub events: Vec<String>,
    /// When it was registered.
    pub created_at: Timestamp,
}

/// Where one event's delivery to one endpoint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Still being tried.
    Pending,
    /// Answered with a 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// The endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// The event.
    pub event_id: EventId,
    /// The event's name, e.g. `api_key.revoked`.
    pub event: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// The status of the last answer, if there was one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

/// How deliveries are retried.
///
/// The default: 5 attempts, 100 ms before the first retry, doubling up to
/// 5 s, and 5 s for each attempt to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookRetry {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// The wait before the first retry; it doubles after each failure.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for WebhookRetry {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A registered endpoint and its signing secret (kept with the state: the
/// emulator needs it to sign every delivery).
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub(crate) endpoint: WebhookEndpoint,
    pub(crate) secret: SecretString,
}

/// The record of deliveries (the endpoints are part of the state).
#[derive(Debug, Default)]
pub(crate) struct Webhooks {
    deliveries: Mutex<VecDeque<WebhookDelivery>>,
}

impl crate::store::State {
    /// Registers an endpoint.
    pub(crate) fn add_webhook_endpoint(&mut self, endpoint: WebhookEndpoint, secret: SecretString) {
        let id = endpoint.id.to_string();
        self.webhook_endpoints
            .insert(id.clone(), Registered { endpoint, secret });
        self.changes.touch(Row::WebhookEndpoint(id));
    }

    /// Removes an endpoint; `false` when there was none with that id.
    pub(crate) fn remove_webhook_endpoint(&mut self, id: &str) -> bool {
        let removed = self.webhook_endpoints.remove(id).is_some();
        if removed {
            self.changes.touch(Row::WebhookEndpoint(id.to_owned()));
        }
        removed
    }

    /// The registered endpoints, oldest first.
    pub(crate) fn webhook_endpoint_list(&self) -> Vec<WebhookEndpoint> {
        self.webhook_endpoints
            .values()
            .map(|r| r.endpoint.clone())
            .collect()
    }

    /// The endpoints that want `event`.
    pub(crate) fn webhook_targets(&self, event: &Event) -> Vec<Target> {
        let name = event.payload.name();
        self.webhook_endpoints
            .values()
            .filter(|r| r.endpoint.events.is_empty() || r.endpoint.events.iter().any(|e| e == name))
            .map(|r| Target {
                endpoint_id: r.endpoint.id.clone(),
                url: r.endpoint.url.clone(),
                secret: r.secret.clone(),
            })
            .collect()
    }
}

impl Webhooks {
    pub(crate) fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    pub(crate) fn forget_deliveries(&self) {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Records a pending delivery of `event` to each of `targets`.
    fn record_pending(&self, event: &Event, targets: &[Target]) {
        let name = event.payload.name();
        let mut deliveries = self
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for t in targets {
            if deliveries.len() == KEPT_DELIVERIES {
                deliveries.pop_front();
            }
            deliveries.push_back(WebhookDelivery {
                endpoint_id: t.endpoint_id.clone(),
                event_id: event.id.clone(),
                event: name.to_owned(),
                state: DeliveryState::Pending,
                attempts: 0,
                last_status: None,
                last_error: None,
            });
        }
    }

    /// Records an attempt's outcome.
    fn record_attempt(
        &self,
        endpoint: &WebhookEndpointId,
        event: &EventId,
        state: DeliveryState,
        status: Option<u16>,
        error: Option<String>,
    ) {
        let mut deliveries = self
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = deliveries
            .iter_mut()
            .rev()
            .find(|d| d.endpoint_id == *endpoint && d.event_id == *event)
        {
            d.attempts += 1;
            d.state = state;
            d.last_status = status;
            d.last_error = error;
        }
    }
}

/// Checks and registers an endpoint.
pub(crate) fn register(
    env: &crate::environment::Environment,
    url: &str,
    secret: SecretString,
    events: Vec<String>,
) -> Result<WebhookEndpoint, crate::Error> {
    use crate::Error;
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        Error::invalid_field("url", "invalid_url", format!("`{url}` is not a URL: {e}."))
    })?;
    if parsed.scheme() != "http" {
        return Err(Error::invalid_field(
            "url",
            "invalid_url",
            format!("`{url}` must be an http:// URL: the emulator delivers without TLS."),
        ));
    }
    if secret.is_empty() {
        return Err(Error::invalid_field(
            "secret",
            "secret_required",
            "secret must not be empty.",
        ));
    }
    if let Some(i) = events.iter().position(|e| e.trim().is_empty()) {
        return Err(Error::invalid_field(
            &format!("events[{i}]"),
            "invalid_event",
            "event names must not be empty.",
        ));
    }
    let now = env.clock.now();
    let endpoint = env.store.write(|state| {
        let endpoint = WebhookEndpoint {
            id: state.ids.webhook_endpoint(now),
            url: url.to_owned(),
            events,
            created_at: now,
        };
        state.add_webhook_endpoint(endpoint.clone(), secret);
        Ok(endpoint)
    })?;
    tracing::debug!(endpoint_id = %endpoint.id, url, "webhook endpoint registered");
    Ok(endpoint)
}

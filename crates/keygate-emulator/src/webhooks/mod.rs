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
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::store::{Store, WebhookEndpoint};

pub(crate) use delivery::{Deliverer, Target};

/// How many delivery records are kept for [`Emulator::webhook_deliveries`](crate::Emulator::webhook_deliveries).
const KEPT_DELIVERIES: usize = 10_000;

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

/// How deliveries are retried, and the record of them (the endpoints are
/// part of the state).
#[derive(Debug)]
pub(crate) struct Webhooks {
    retry: WebhookRetry,
    deliveries: Mutex<VecDeque<WebhookDelivery>>,
}

impl Webhooks {
    pub(crate) fn new(retry: WebhookRetry) -> Self {
        Self {
            retry,
            deliveries: Mutex::default(),
        }
    }

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
/// The one way endpoints are registered: by the `/_emulator/webhooks`
/// control, [`Emulator::add_webhook_endpoint`](crate::Emulator::add_webhook_endpoint)
/// and so `keygate serve --webhook`.
pub(crate) fn register(
    store: &Store,
    now: Timestamp,
    url: &str,
    secret: SecretString,
    events: Vec<String>,
) -> Result<WebhookEndpoint, Error> {
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
    let endpoint = store.write(|state| {
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

//! The delivery worker: takes each new event, POSTs it to every endpoint
//! that wants it, and retries failures with exponential backoff.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use keygate_types::{Event, EventId, SecretString, WebhookEndpointId};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::{JoinHandle, JoinSet};

use keygate_types::webhook_signature;

use super::{DeliveryState, WebhookRetry, Webhooks};
use crate::store::{State, Store};

/// One endpoint an event goes to.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) endpoint_id: WebhookEndpointId,
    pub(crate) url: String,
    pub(crate) secret: SecretString,
}

/// The running worker; stopping it (or dropping it) abandons deliveries in flight.
#[derive(Debug)]
pub(crate) struct Deliverer {
    task: JoinHandle<()>,
}

impl Target {
    /// The endpoints in `state` that want `event`.
    fn all_for(state: &State, event: &Event) -> Vec<Self> {
        let name = event.payload.name();
        state
            .webhook_endpoints
            .values()
            .filter(|r| r.endpoint.wants(name))
            .map(|r| Target {
                endpoint_id: r.endpoint.id.clone(),
                url: r.endpoint.url.clone(),
                secret: r.secret.clone(),
            })
            .collect()
    }
}

impl Deliverer {
    /// Starts delivering the events that arrive on `events` to the endpoints
    /// registered in `store`, recording each attempt in `webhooks`.
    pub(crate) fn spawn(
        store: Arc<Store>,
        webhooks: Arc<Webhooks>,
        events: UnboundedReceiver<Event>,
    ) -> Self {
        Self {
            task: tokio::spawn(run(store, webhooks, events)),
        }
    }
}

impl Drop for Deliverer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(store: Arc<Store>, webhooks: Arc<Webhooks>, mut events: UnboundedReceiver<Event>) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; webhooks are off");
            return;
        }
    };
    let mut in_flight = JoinSet::new();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let targets = store.read(|state| Target::all_for(state, &event));
                if targets.is_empty() {
                    continue;
                }
                webhooks.record_pending(&event, &targets);
                let body = match serde_json::to_vec(&event) {
                    Ok(body) => Bytes::from(body),
                    Err(e) => {
                        tracing::error!(event_id = %event.id, error = %e, "cannot encode event");
                        continue;
                    }
                };
                for target in targets {
                    in_flight.spawn(deliver(
                        webhooks.clone(),
                        client.clone(),
                        target,
                        event.id.clone(),
                        body.clone(),
                    ));
                }
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
}

async fn deliver(
    webhooks: Arc<Webhooks>,
    client: reqwest::Client,
    target: Target,
    event_id: EventId,
    body: Bytes,
) {
    let retry: WebhookRetry = webhooks.retry;
    let attempts = retry.attempts.max(1);
    let mut backoff = retry.first_backoff;
    for attempt in 1..=attempts {
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let signature =
            webhook_signature::sign(target.secret.expose_secret().as_bytes(), now_ms, &body);
        let sent = client
            .post(&target.url)
            .header(CONTENT_TYPE, "application/json")
            .header(webhook_signature::HEADER, signature)
            .timeout(retry.timeout)
            .body(body.clone())
            .send()
            .await;
        let (status, error) = match sent {
            Ok(res) => (Some(res.status().as_u16()), None),
            Err(e) => (None, Some(without_url(&e))),
        };
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let state = if delivered {
            DeliveryState::Delivered
        } else if attempt == attempts {
            DeliveryState::Failed
        } else {
            DeliveryState::Pending
        };
        webhooks.record_attempt(&target.endpoint_id, &event_id, state, status, error.clone());
        if delivered {
            tracing::debug!(endpoint_id = %target.endpoint_id, %event_id, attempt, "webhook delivered");
            return;
        }
        tracing::debug!(
            endpoint_id = %target.endpoint_id, %event_id, attempt, ?status, error,
            "webhook attempt failed"
        );
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff = backoff
                .saturating_mul(2)
                .min(retry.max_backoff.max(Duration::from_millis(1)));
        }
    }
    tracing::warn!(endpoint_id = %target.endpoint_id, %event_id, attempts, "webhook delivery failed");
}

/// The error's text without its URL, which the delivery record already names.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    kind.to_owned()
}

//! The registered webhook endpoints, part of the state: each with the
//! secret its deliveries are signed with, kept like the rest of the state.
//! Delivering to them is the `webhooks` module's work.

use keygate_types::{SecretString, Timestamp, WebhookEndpointId};
use serde::{Deserialize, Serialize};

use super::{Row, State};

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

impl WebhookEndpoint {
    /// Whether this endpoint wants events named `name`.
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == name)
    }
}

/// A registered endpoint and its signing secret (kept with the state: the
/// emulator needs it to sign every delivery).
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub(crate) endpoint: WebhookEndpoint,
    pub(crate) secret: SecretString,
}

impl State {
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
}

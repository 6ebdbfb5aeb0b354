//! Revocation: the Events API listener and the webhook receiver (see the
//! crate docs' "Revocation" section).

#[cfg(any(feature = "client", feature = "webhooks"))]
mod effect;
#[cfg(feature = "client")]
mod listener;
#[cfg(any(feature = "client", feature = "webhooks"))]
mod sessions;
#[cfg(feature = "webhooks")]
mod webhook;

#[cfg(feature = "client")]
pub(crate) use listener::ListenerConfig;
#[cfg(feature = "client")]
pub use listener::{DEFAULT_POLL_INTERVAL, ListenerHandle, ListenerStats, RevocationListener};
#[cfg(feature = "webhooks")]
pub use webhook::{
    DEFAULT_TOLERANCE, Delivery, SIGNATURE_HEADER, WebhookError, WebhookReceiver, webhook_signature,
};

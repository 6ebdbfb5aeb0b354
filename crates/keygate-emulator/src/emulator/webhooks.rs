//! Registering webhook endpoints and watching deliveries.

use keygate_types::SecretString;

use super::Emulator;
use crate::Error;
use crate::store::WebhookEndpoint;
use crate::webhooks::WebhookDelivery;

impl Emulator {
    /// Registers an endpoint that receives every event, signed with `secret`.
    ///
    /// ```
    /// use keygate_emulator::Emulator;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), keygate_emulator::Error> {
    /// let emu = Emulator::start().await?;
    /// let endpoint = emu.add_webhook_endpoint("http://127.0.0.1:9/hooks", "whsec_test")?;
    /// assert!(endpoint.id.as_str().starts_with("we_"));
    /// assert_eq!(emu.webhook_endpoints().len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_webhook_endpoint(
        &self,
        url: &str,
        secret: impl Into<SecretString>,
    ) -> Result<WebhookEndpoint, Error> {
        self.add_webhook_endpoint_for(url, secret, &[])
    }

    /// Registers an endpoint that receives only the named events (all when
    /// `events` is empty).
    pub fn add_webhook_endpoint_for(
        &self,
        url: &str,
        secret: impl Into<SecretString>,
        events: &[&str],
    ) -> Result<WebhookEndpoint, Error> {
        crate::webhooks::register(
            &self.env.store,
            self.env.clock.now(),
            url,
            secret.into(),
            events.iter().map(|e| (*e).to_owned()).collect(),
        )
    }

    /// Removes an endpoint; deliveries already under way still finish.
    pub fn remove_webhook_endpoint(&self, id: &str) -> Result<(), Error> {
        self.env.store.write(|state| {
            if state.remove_webhook_endpoint(id) {
                Ok(())
            } else {
                Err(Error::not_found("webhook_endpoint", id))
            }
        })
    }

    /// The registered endpoints, oldest first.
    pub fn webhook_endpoints(&self) -> Vec<WebhookEndpoint> {
        self.env.store.read(|state| state.webhook_endpoint_list())
    }

    /// Every delivery (one per event and endpoint), oldest first; the last
    /// 10,000 are kept.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.env.webhooks.deliveries()
    }
}

//! The library API: start an emulator, set it up, control it, stop it.

mod builder;
mod setup;
mod tokens;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use keygate_types::{SecretString, Timestamp};

pub use builder::{EmulatorBuilder, STATE_DIR_ENV};

use crate::environment::Environment;
use crate::server::Server;
use crate::webhooks::Deliverer;
use crate::{Error, Fault};

/// The default cap on request bodies: 64 KiB, far above any real request.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// A running key-service emulator, serving WorkOS's API-keys endpoints on a
/// local port. It shuts down when dropped.
///
/// ```
/// use keygate_emulator::{Emulator, Fault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let emu = Emulator::builder()
///     .organization_permissions(["posts:read", "posts:write"])
///     .start()
///     .await?;
/// let org = emu.create_organization("Acme")?;
/// let key = emu.create_organization_key(&org.id, "ci", &["posts:read"])?;
///
/// // Point the code under test at `emu.base_url()` with `emu.secret()`, then:
/// assert!(key.value.expose_secret().starts_with("sk_"));
/// assert_eq!(emu.request_count("POST", "/api_keys/validations"), 0);
///
/// // Make the next validation fail, to test the unhappy path.
/// emu.inject_fault(Fault::new("POST", "/api_keys/validations").status(503).times(1));
/// emu.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Emulator {
    env: Arc<Environment>,
    server: Server,
    base_url: String,
    // Held only to stop webhook deliveries with the emulator.
    _deliverer: Deliverer,
}

impl Emulator {
    /// Starts an emulator with the defaults: `127.0.0.1` on a free port, a
    /// generated `sk_test_…` secret, no allow-lists, no data.
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// A builder, to configure secrets, allow-lists, seeds and the address.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr
    }

    /// The first accepted environment secret: send it as `Authorization: Bearer …`.
    pub fn secret(&self) -> &SecretString {
        self.env.secrets.first()
    }

    /// How many requests the service got for `method` on `route`: a route
    /// template such as `/api_keys/{id}` (as the router writes it), or a path
    /// for requests no route matched. Faulted and unauthorized requests count.
    pub fn request_count(&self, method: &str, route: &str) -> u64 {
        self.env.counters.get(method, route)
    }

    /// Adds a fault; faults are tried in the order added.
    pub fn inject_fault(&self, fault: Fault) {
        self.env.faults.inject(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.env.faults.clear();
    }

    /// Sets the emulator's clock to `at`; it ticks on from there.
    pub fn set_time(&self, at: Timestamp) {
        if let Err(e) = self.env.set_time(at) {
            tracing::error!(error = %e, "the clock was set but its offset could not be kept");
        }
    }

    /// Moves the emulator's clock forward.
    pub fn advance_time(&self, by: std::time::Duration) {
        let by = time::Duration::try_from(by).unwrap_or(time::Duration::MAX);
        if let Err(e) = self.env.advance_time(by) {
            tracing::error!(error = %e, "the clock moved but its offset could not be kept");
        }
    }

    /// The emulator's current time.
    pub fn now(&self) -> Timestamp {
        self.env.clock.now()
    }

    /// Empties the store, counters and faults, and puts the clock back on
    /// system time. Secrets and allow-lists stay.
    pub fn reset(&self) {
        if let Err(e) = self.env.reset() {
            tracing::error!(error = %e, "the reset could not be kept");
        }
    }

    /// Stops serving, waiting a few seconds at most for requests in flight,
    /// then keeps what is not kept yet (keys' `last_used_at`).
    pub async fn shutdown(mut self) {
        self.server.shutdown().await;
        self.env.store.close();
    }
}

impl Drop for Emulator {
    /// Closes a state file, so that another emulator can open it at once.
    fn drop(&mut self) {
        self.env.store.close();
    }
}

#[cfg(test)]
impl Emulator {
    /// The whole store, as its `Debug` form: what a memory dump would show.
    pub(crate) fn dump_state(&self) -> String {
        self.env.store.read(|state| format!("{state:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_types::Expiry;

    /// No created value may be found anywhere in the store, whichever way the
    /// key was made or changed.
    #[tokio::test]
    async fn the_store_never_holds_a_value_in_plaintext() {
        let emu = Emulator::start().await.unwrap();
        let org = emu.create_organization("Acme").unwrap();
        let user = emu.create_user("ada@example.com").unwrap();
        emu.create_membership(&user.id, &org.id).unwrap();
        let mut values = Vec::new();
        let a = emu
            .create_organization_key(&org.id, "a", &["posts:read"])
            .unwrap();
        let b = emu.create_user_key(&user.id, &org.id, "b", &[]).unwrap();
        emu.expire_api_key(b.id.as_str(), Expiry::Clear).unwrap();
        let http = reqwest::Client::new();
        let created: serde_json::Value = http
            .post(format!(
                "{}/organizations/{}/api_keys",
                emu.base_url(),
                org.id
            ))
            .bearer_auth(emu.secret().expose_secret())
            .json(&serde_json::json!({"name": "c"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        values.push(created["value"].as_str().unwrap().to_owned());
        for key in [&a, &b] {
            values.push(key.value.expose_secret().to_owned());
            let answer: serde_json::Value = http
                .post(format!("{}/api_keys/validations", emu.base_url()))
                .bearer_auth(emu.secret().expose_secret())
                .json(&serde_json::json!({"value": key.value.expose_secret()}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(answer["api_key"].is_object());
        }
        let state = emu.dump_state();
        assert!(state.contains(a.id.as_str()), "the dump shows the store");
        for value in &values {
            // The whole value, and its secret part without the `sk_` prefix.
            assert!(!state.contains(value.as_str()));
            assert!(!state.contains(&value[3..]));
            assert!(!format!("{:?}", emu.events()).contains(&value[3..]));
        }
    }
}

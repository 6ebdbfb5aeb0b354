//! The client handle.

use std::fmt;
use std::sync::Arc;

use keygate_types::SecretString;

use crate::{ClientBuilder, Config, Error};

/// A typed client for the key service: cheap to clone (an `Arc` inside),
/// `Send + Sync`, and its `Debug`/`Display` never show the secret.
///
/// Build one with [`Client::builder`] or [`Client::from_env`]; the calls are
/// grouped by resource: API keys (create, list, expire, delete,
/// [`validate_api_key`](Client::validate_api_key)), events, organizations,
/// users and memberships.
///
/// ```no_run
/// # async fn run() -> Result<(), keygate_client::Error> {
/// use keygate_client::Client;
///
/// let client = Client::from_env()?; // WORKOS_API_KEY, WORKOS_BASE_URL
/// match client.validate_api_key("sk_presented_value").await? {
///     Some(key) => println!("valid: {} ({})", key.id, key.name),
///     None => println!("unknown, revoked or expired"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) secret: SecretString,
    pub(crate) config: Config,
}

impl Client {
    /// A builder with the defaults: [`DEFAULT_BASE_URL`](crate::DEFAULT_BASE_URL),
    /// a 10 s timeout per attempt, 2 retries.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from `WORKOS_API_KEY` (required, not empty) and
    /// `WORKOS_BASE_URL` (default `https://api.workos.com`).
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::default().with_env()?.build()
    }

    /// The client's settings (without the secret).
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("secret", &"[REDACTED]")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "keygate client for {}", self.inner.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_its_futures_are_send() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Client>();
        fn send<T: Send>(_: T) {}
        let c = Client::builder()
            .secret("sk")
            .base_url("http://127.0.0.1:4100")
            .build()
            .unwrap();
        // Never polled: this only checks, at compile time, that they can be spawned.
        send(c.validate_api_key("x"));
        send(c.list_events(&Default::default()));
        send(c.stream_users(None, Default::default()));
    }

    #[test]
    fn debug_and_display_hide_the_secret() {
        let c = Client::builder()
            .secret("sk_test_TOPSECRET")
            .base_url("http://127.0.0.1:4100")
            .build()
            .unwrap();
        for shown in [format!("{c:?}"), format!("{c:#?}"), c.to_string()] {
            assert!(!shown.contains("TOPSECRET"), "{shown}");
        }
        assert!(c.to_string().contains("http://127.0.0.1:4100"));
    }
}

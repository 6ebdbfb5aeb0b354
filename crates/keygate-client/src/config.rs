//! The client's settings and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use keygate_types::SecretString;

use crate::client::{Client, Inner};
use crate::{Error, RetryPolicy};

/// The real service's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.workos.com";
/// The environment variable holding the environment secret.
pub const API_KEY_ENV: &str = "WORKOS_API_KEY";
/// The environment variable holding the base URL.
pub const BASE_URL_ENV: &str = "WORKOS_BASE_URL";
/// The default per-attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default timeout to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client's settings, without its secret: safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The base URL, without a trailing `/`.
    pub base_url: String,
    /// The time one attempt may take, from connecting to reading the whole body.
    pub timeout: Duration,
    /// The time to open a connection (only for a client this crate builds).
    pub connect_timeout: Duration,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            user_agent: concat!("keygate-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (timeout {:?}, {} retries)",
            self.base_url, self.timeout, self.retry.max_retries
        )
    }
}

/// Builds a [`Client`]. Start with [`Client::builder`].
///
/// ```
/// use std::time::Duration;
/// use keygate_client::Client;
///
/// let client = Client::builder()
///     .secret("sk_test_123")
///     .base_url("http://127.0.0.1:4100")
///     .timeout(Duration::from_secs(5))
///     .max_retries(2)
///     .build()?;
/// assert_eq!(client.config().base_url, "http://127.0.0.1:4100");
/// assert!(!format!("{client:?}").contains("sk_test_123"));
/// # Ok::<(), keygate_client::Error>(())
/// ```
#[derive(Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClientBuilder {
    secret: Option<SecretString>,
    config: Config,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("config", &self.config)
            .field("custom_http_client", &self.http.is_some())
            .finish()
    }
}

impl ClientBuilder {
    /// The environment secret (`sk_test_…`/`sk_live_…`). Required.
    pub fn secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// The service's base URL; [`DEFAULT_BASE_URL`] when not set.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.config.base_url = url.into();
        self
    }

    /// The time one attempt may take, from connecting to reading the whole
    /// answer; [`DEFAULT_TIMEOUT`] when not set.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The time to open a connection; ignored with [`http_client`](Self::http_client).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Retries after the first attempt; `0` disables them. Default 2.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.retry.max_retries = retries;
        self
    }

    /// The whole retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.config.user_agent = user_agent.into();
        self
    }

    /// Sends through this `reqwest` client (for its proxy, TLS roots or
    /// connection pool) instead of one built here. The timeout, user agent and
    /// secret are still applied to every request.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Reads [`API_KEY_ENV`] (required, not empty) and [`BASE_URL_ENV`]
    /// (optional) into this builder.
    pub fn with_env(self) -> Result<Self, Error> {
        self.with_lookup(|name| std::env::var(name).ok())
    }

    /// [`with_env`](Self::with_env) with the variables read through `lookup`.
    pub(crate) fn with_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        match lookup(API_KEY_ENV) {
            Some(secret) if !secret.trim().is_empty() => {
                self.secret = Some(SecretString::from(secret.trim()));
            }
            Some(_) => return Err(Error::Config(format!("{API_KEY_ENV} is empty"))),
            None => return Err(Error::Config(format!("{API_KEY_ENV} is not set"))),
        }
        if let Some(url) = lookup(BASE_URL_ENV).filter(|u| !u.trim().is_empty()) {
            self.config.base_url = url.trim().to_owned();
        }
        Ok(self)
    }

    /// Checks the settings and builds the client.
    ///
    /// Fails with [`Error::Config`] on a missing secret, a bad base URL, a zero
    /// timeout, or an `https://` base URL in a build without a TLS provider
    /// (neither feature `aws-lc-rs` nor `ring`; see the [crate docs](crate#tls-the-crypto-provider)).
    pub fn build(self) -> Result<Client, Error> {
        let secret = match self.secret {
            Some(s) if !s.expose_secret().trim().is_empty() => s,
            Some(_) => return Err(Error::Config("the environment secret is empty".into())),
            None => return Err(Error::Config("no environment secret was given".into())),
        };
        if secret.expose_secret().chars().any(|c| c.is_control()) {
            return Err(Error::Config(
                "the environment secret contains control characters".into(),
            ));
        }
        let mut config = self.config;
        config.base_url = check_base_url(&config.base_url)?;
        if config.timeout.is_zero() {
            return Err(Error::Config("the timeout must be above zero".into()));
        }
        if http::HeaderValue::from_str(&config.user_agent).is_err() {
            return Err(Error::Config(
                "the user agent is not a valid header value".into(),
            ));
        }
        let http = match self.http {
            Some(http) => http,
            None => {
                let builder = reqwest::Client::builder()
                    .connect_timeout(config.connect_timeout)
                    // An API answers where it was asked: a redirect is an error
                    // to see, not a place to send the secret.
                    .redirect(reqwest::redirect::Policy::none());
                crate::tls::configure(builder, &config.base_url)?
                    .build()
                    .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                secret,
                config,
            }),
        })
    }
}

/// Checks that `url` is an absolute http(s) URL without query or fragment,
/// and returns it without a trailing `/`.
fn check_base_url(url: &str) -> Result<String, Error> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| Error::Config(format!("the base URL `{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "the base URL `{url}` must start with http:// or https://"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::Config(format!(
            "the base URL `{url}` must not have a query or a fragment"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::Config(
            "the base URL must not carry credentials; use the secret".into(),
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn from_env_requires_a_non_empty_secret() {
        let err = ClientBuilder::default().with_lookup(env(&[])).unwrap_err();
        assert!(
            err.to_string().contains("WORKOS_API_KEY is not set"),
            "{err}"
        );
        let err = ClientBuilder::default()
            .with_lookup(env(&[("WORKOS_API_KEY", "  ")]))
            .unwrap_err();
        assert!(err.to_string().contains("WORKOS_API_KEY is empty"), "{err}");
    }

    // An https base URL needs a TLS provider (feature `aws-lc-rs` or `ring`).
    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    #[test]
    fn from_env_reads_the_base_url_or_defaults() {
        let client = ClientBuilder::default()
            .with_lookup(env(&[("WORKOS_API_KEY", "sk_test_abc")]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(client.config().base_url, DEFAULT_BASE_URL);
        let client = ClientBuilder::default()
            .with_lookup(env(&[
                ("WORKOS_API_KEY", "sk_test_abc"),
                ("WORKOS_BASE_URL", "http://127.0.0.1:4100/"),
            ]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(client.config().base_url, "http://127.0.0.1:4100");
    }

    #[test]
    fn build_rejects_bad_settings() {
        let no_secret = Client::builder().build().unwrap_err();
        assert!(matches!(no_secret, Error::Config(_)));
        for url in [
            "not a url",
            "ftp://x",
            "http://h/?q=1",
            "http://u:p@h",
            "http://h/#f",
        ] {
            let err = Client::builder().secret("sk").base_url(url).build();
            assert!(matches!(err, Err(Error::Config(_))), "{url}");
        }
        let err = Client::builder()
            .secret("sk")
            .timeout(Duration::ZERO)
            .build();
        assert!(matches!(err, Err(Error::Config(_))));
        let err = Client::builder().secret("sk\nx").build();
        assert!(matches!(err, Err(Error::Config(_))));
    }

    // An https base URL needs a TLS provider (feature `aws-lc-rs` or `ring`).
    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    #[test]
    fn base_url_keeps_a_path_prefix() {
        let c = Client::builder()
            .secret("sk")
            .base_url("https://proxy.example/workos/")
            .build()
            .unwrap();
        assert_eq!(c.config().base_url, "https://proxy.example/workos");
    }

    #[test]
    fn builder_debug_hides_the_secret() {
        let b = Client::builder().secret("sk_test_TOPSECRET");
        let shown = format!("{b:?}");
        assert!(!shown.contains("TOPSECRET"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }
}

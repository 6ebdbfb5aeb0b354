//! Create calls, which are retried only with an idempotency key.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;

use serde::de::DeserializeOwned;

use crate::call::Call;
use crate::{Client, Error};

/// An `Idempotency-Key` for a create call: the service treats repeated
/// creates with the same key as one, so the client may retry them.
///
/// ```
/// use keygate_client::IdempotencyKey;
///
/// let random = IdempotencyKey::random();
/// assert_eq!(random.as_str().len(), 32);
/// let mine = IdempotencyKey::new("order-1234-key")?;
/// assert!(IdempotencyKey::new("bad\nkey").is_err());
/// # Ok::<(), keygate_client::InvalidIdempotencyKey>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a string cannot be an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an idempotency key must be 1 to 255 visible ASCII characters")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// A key of 1 to 255 visible ASCII characters (a header value).
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidIdempotencyKey> {
        let value = value.into();
        let visible = value.bytes().all(|b| b.is_ascii_graphic());
        if value.is_empty() || value.len() > Self::MAX_LEN || !visible {
            return Err(InvalidIdempotencyKey);
        }
        Ok(Self(value))
    }

    /// 128 random bits as 32 hex digits.
    pub fn random() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for IdempotencyKey {
    type Err = InvalidIdempotencyKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A create call, ready to be awaited.
///
/// Awaiting it sends it once: a create is not retried after a failure that
/// may have happened after the service received it (a timeout, a 5xx), since
/// that could create two objects. Give it an
/// [`idempotency_key`](Create::idempotency_key) to make it retryable.
///
/// ```
/// use keygate_client::IdempotencyKey;
/// use keygate_types::CreateOrganizationApiKey;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let emu = keygate_emulator::Emulator::start().await?;
/// # let org = emu.create_organization("Acme")?.id;
/// # let client = keygate_client::Client::builder()
/// #     .secret(emu.secret().clone()).base_url(emu.base_url()).build()?;
/// let created = client
///     .create_organization_api_key(&org, CreateOrganizationApiKey {
///         name: "CI deploys".into(),
///         permissions: vec!["deploys:write".into()],
///         expires_at: None,
///     })
///     .idempotency_key(IdempotencyKey::random())
///     .await?;
/// // The value is shown this once; `Debug` redacts it.
/// assert!(!format!("{created:?}").contains(created.value.expose_secret()));
/// # Ok(())
/// # }
/// ```
#[must_use = "a create call does nothing until awaited"]
pub struct Create<T> {
    client: Client,
    call: Call,
    output: PhantomData<fn() -> T>,
}

impl<T> Create<T> {
    pub(crate) fn new(client: &Client, call: Call) -> Self {
        Self {
            client: client.clone(),
            call,
            output: PhantomData,
        }
    }

    /// Sends the `Idempotency-Key` header, so that the call is retried like a
    /// read. Reuse the same key when you repeat the call yourself.
    pub fn idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.call.idempotency_key = Some(key.0);
        self
    }
}

impl<T> fmt::Debug for Create<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the body: a create body is harmless today, but stays out of logs.
        f.debug_struct("Create")
            .field("method", &self.call.method)
            .field("path", &self.call.template)
            .field("idempotency_key", &self.call.idempotency_key)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send + 'static> IntoFuture for Create<T> {
    type Output = Result<T, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.client.execute(self.call).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("a b").is_err());
        assert!(IdempotencyKey::new("x".repeat(256)).is_err());
        assert!(IdempotencyKey::new("x".repeat(255)).is_ok());
        assert_ne!(IdempotencyKey::random(), IdempotencyKey::random());
    }
}

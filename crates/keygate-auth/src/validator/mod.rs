//! Where verdicts come from: the [`KeyValidator`] trait and its implementations.
//!
//! A validator answers one question for a presented key: valid (`Ok(Some(key))`),
//! definitely invalid (`Ok(None)`: unknown, revoked, expired), or "cannot say
//! now" (`Err`). Only `Ok(None)` may turn into a 401; an `Err` becomes a 503
//! and is never cached. Implementations:
//!
//! - `keygate_client::Client`, behind the default `client` feature;
//! - `InMemoryValidator`, a key table for tests (feature `test-util`);
//! - any async closure, through [`validator_fn`].

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "test-util")]
mod memory;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use keygate_types::{ApiKey, SecretString};

#[cfg(feature = "test-util")]
pub use memory::InMemoryValidator;

/// What a validator answers: `Ok(Some(key))` valid, `Ok(None)` definitely
/// invalid, `Err` unknown.
pub type Verdict = Result<Option<ApiKey>, ValidatorError>;

/// Asks the key service (or anything standing in for it) whether a key is valid.
///
/// The middleware calls it only on a cache miss, at most once at a time per
/// key. Implementations must answer `Ok(None)` **only** for a definite "this
/// key is not valid"; timeouts, rate limits, 5xx answers and unreadable
/// bodies are `Err`, which the middleware answers with 503 and never caches.
///
/// ```
/// use keygate_auth::{KeyValidator, ValidatorError};
/// use keygate_types::ApiKey;
///
/// struct AlwaysDown;
///
/// impl KeyValidator for AlwaysDown {
///     async fn validate(&self, _key: &str) -> Result<Option<ApiKey>, ValidatorError> {
///         Err(ValidatorError::new("maintenance"))
///     }
/// }
/// ```
pub trait KeyValidator: Send + Sync + 'static {
    /// Validates `key`. The key is a secret: never log it.
    fn validate(&self, key: &str) -> impl Future<Output = Verdict> + Send;
}

impl<V: KeyValidator> KeyValidator for Arc<V> {
    fn validate(&self, key: &str) -> impl Future<Output = Verdict> + Send {
        (**self).validate(key)
    }
}

/// The validator could not give a verdict: the key service is unreachable,
/// slow, rate limiting, failing, or answered something unreadable.
///
/// The middleware answers it with 503 and a `Retry-After` (the hint carried
/// here, or the layer's default); it is never cached and never becomes a 401.
#[derive(Debug, thiserror::Error)]
#[error("the key service could not give a verdict: {source}")]
pub struct ValidatorError {
    source: Box<dyn StdError + Send + Sync>,
    retry_after: Option<Duration>,
    cause: Cause,
}

/// Who failed: the key service, or this process before asking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The key service failed, or is known to be failing.
    KeyService,
    /// This process had no capacity left to ask (the key service may be fine).
    Saturated,
}

impl ValidatorError {
    /// Wraps the cause. Its `Display` may reach logs: it must not hold the key.
    pub fn new(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
            retry_after: None,
            cause: Cause::KeyService,
        }
    }

    /// This process had no capacity left to ask the key service: not a
    /// failure of the key service, so never answered from a stale verdict.
    pub(crate) fn saturated(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            cause: Cause::Saturated,
            ..Self::new(source)
        }
    }

    /// Adds a hint for the `Retry-After` of the 503, such as the key service's
    /// own `Retry-After` on a 429.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The hint for `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the key service failed (or is known to be failing), as
    /// opposed to this process having no capacity left to ask it. Only the
    /// former may be answered from a stale verdict.
    pub(crate) fn is_key_service_failure(&self) -> bool {
        self.cause == Cause::KeyService
    }
}

/// A [`KeyValidator`] from an async closure; see [`validator_fn`].
#[derive(Clone)]
pub struct FnValidator<F>(F);

impl<F> fmt::Debug for FnValidator<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnValidator(..)")
    }
}

/// Makes a [`KeyValidator`] from an async closure that receives the key as a
/// [`SecretString`] (so it stays redacted if it ends up in a `Debug`).
///
/// ```
/// use keygate_auth::{validator_fn, KeyValidator, ValidatorError};
/// use keygate_types::{ApiKey, SecretString};
///
/// let validator = validator_fn(|key: SecretString| async move {
///     // Ask your own store; `Ok(None)` means "definitely not a key".
///     let _ = key.expose_secret();
///     Ok::<Option<ApiKey>, ValidatorError>(None)
/// });
/// # futures_util::FutureExt::now_or_never(async {
/// assert!(validator.validate("sk_anything").await.unwrap().is_none());
/// # });
/// ```
pub fn validator_fn<F, Fut>(f: F) -> FnValidator<F>
where
    F: Fn(SecretString) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Verdict> + Send,
{
    FnValidator(f)
}

impl<F, Fut> KeyValidator for FnValidator<F>
where
    F: Fn(SecretString) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Verdict> + Send,
{
    fn validate(&self, key: &str) -> impl Future<Output = Verdict> + Send {
        (self.0)(SecretString::from(key))
    }
}

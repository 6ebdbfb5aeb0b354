//! [`KeyValidator`] for the key service's typed client.

use super::{KeyValidator, ValidatorError, Verdict};

/// Validates through `POST /api_keys/validations`. Only the service's
/// `{"api_key": null}` is "invalid"; every client error (timeout, transport,
/// 401/429/5xx, an unreadable body) is a [`ValidatorError`], carrying the
/// service's `Retry-After` when it sent one.
impl KeyValidator for keygate_client::Client {
    async fn validate(&self, key: &str) -> Verdict {
        self.validate_api_key(key).await.map_err(|error| {
            let retry_after = error.retry_after();
            let error = ValidatorError::new(error);
            match retry_after {
                Some(after) => error.with_retry_after(after),
                None => error,
            }
        })
    }
}

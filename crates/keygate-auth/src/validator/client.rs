//! [`KeyValidator`] for the key service's typed client.

use super::{KeyValidator, ValidatorError, Verdict};

/// Validates through `POST /api_keys/validations`. Only the service's
/// `{"api_key": null}` is "invalid"; every client error (timeout, transport,
/// 401/429/5xx, an unreadable body) is a [`ValidatorError`], carrying the
/// service's `Retry-After` when it sent one. The answer's
/// `agent_registration_id` goes with the key, onto the principal.
impl KeyValidator for keygate_client::Client {
    async fn validate(&self, key: &str) -> Verdict {
        let answer = self.validation(key).await.map_err(|error| {
            let retry_after = error.retry_after();
            let error = ValidatorError::new(error);
            match retry_after {
                Some(after) => error.with_retry_after(after),
                None => error,
            }
        })?;
        Ok(answer.api_key.map(|mut key| {
            key.agent_registration_id = answer.agent_registration_id;
            key
        }))
    }
}

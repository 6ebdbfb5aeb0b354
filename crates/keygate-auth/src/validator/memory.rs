//! A key table in memory, for tests and examples.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use keygate_types::{ApiKey, ApiKeyId, Owner, SecretString, Timestamp};

use super::{KeyValidator, ValidatorError, Verdict};
use crate::cache::digest;

/// A [`KeyValidator`] backed by a table in memory (feature `test-util`).
///
/// Clones share the table. It counts its calls, so a test can see whether the
/// cache answered, and it can simulate an outage.
///
/// ```
/// use keygate_auth::{InMemoryValidator, KeyValidator};
/// use keygate_types::{OrganizationId, Owner};
///
/// # futures_util::FutureExt::now_or_never(async {
/// let validator = InMemoryValidator::new();
/// let org = OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M");
/// let (value, key) = validator.issue("ci", Owner::Organization { id: org }, ["posts:read"]);
///
/// assert_eq!(validator.validate(value.expose_secret()).await.unwrap(), Some(key));
/// assert_eq!(validator.validate("sk_unknown").await.unwrap(), None);
/// validator.set_unavailable(true);
/// assert!(validator.validate(value.expose_secret()).await.is_err());
/// assert_eq!(validator.calls(), 3);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryValidator {
    state: Arc<Mutex<State>>,
    calls: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<[u8; 32], ApiKey>,
    unavailable: bool,
    issued: u64,
}

impl InMemoryValidator {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking test thread must not wedge the others.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `value` valid, describing `key`.
    pub fn insert(&self, value: &SecretString, key: ApiKey) {
        self.state().keys.insert(digest(value.expose_secret()), key);
    }

    /// Creates a key with a fresh id and value, and makes it valid.
    pub fn issue<P: Into<String>>(
        &self,
        name: &str,
        owner: Owner,
        permissions: impl IntoIterator<Item = P>,
    ) -> (SecretString, ApiKey) {
        let n = {
            let mut state = self.state();
            state.issued += 1;
            state.issued
        };
        let now = Timestamp::now();
        // Digits are Crockford base32 too, so this is a well-formed id.
        let id = ApiKeyId::new_unchecked(format!("api_key_{n:026}"));
        let value = SecretString::new(format!("sk_test_inmemory_{n:08}_{}", now.unix_timestamp()));
        let key = ApiKey {
            id,
            owner,
            name: name.to_owned(),
            obfuscated_value: format!("sk_…{n:04}"),
            last_used_at: None,
            expires_at: None,
            permissions: permissions.into_iter().map(Into::into).collect(),
            created_at: now,
            updated_at: now,
            agent_registration_id: None,
        };
        self.insert(&value, key.clone());
        (value, key)
    }

    /// Makes `value` invalid; returns the key it described.
    pub fn remove(&self, value: &SecretString) -> Option<ApiKey> {
        self.state().keys.remove(&digest(value.expose_secret()))
    }

    /// While `true`, every validation fails with [`ValidatorError`].
    pub fn set_unavailable(&self, unavailable: bool) {
        self.state().unavailable = unavailable;
    }

    /// How many validations were asked for.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl KeyValidator for InMemoryValidator {
    fn validate(&self, key: &str) -> impl Future<Output = Verdict> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let state = self.state();
        let verdict = if state.unavailable {
            Err(ValidatorError::new(
                "the in-memory key service is switched off",
            ))
        } else {
            let now = Timestamp::now();
            Ok(state
                .keys
                .get(&digest(key))
                .filter(|k| !k.is_expired_at(now))
                .cloned())
        };
        std::future::ready(verdict)
    }
}

//! `Idempotency-Key`: a create retried with the same key and body within 24
//! hours gets the first answer instead of creating again.
//!
//! A record keeps the first answer without any key value: an API key's value
//! is kept beside it in memory only, never in storage. So a retry answered
//! by the same process shows the value again, and a retry after a restart
//! gets the same key without its `value` (the emulator cannot show a value it
//! does not have; see `docs/COMPATIBILITY.md`).

use std::collections::HashMap;

use keygate_types::{ErrorBody, SecretString, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Duration;

use super::{Row, State};
use crate::Error;

/// How long a key is remembered, against the emulator's clock.
pub(crate) const WINDOW: Duration = Duration::hours(24);

/// The longest `Idempotency-Key` accepted.
pub(crate) const MAX_KEY_LEN: usize = 255;

/// The first answer to a request with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IdempotencyRecord {
    /// The `Idempotency-Key` header's value.
    pub(crate) key: String,
    /// SHA-256 (hex) of the method, path and body of the first request.
    pub(crate) fingerprint: String,
    pub(crate) status: u16,
    /// The answer's body, without `value`.
    pub(crate) body: Value,
    pub(crate) created_at: Timestamp,
}

/// The records, by key, and the created values still in memory.
#[derive(Debug, Default)]
pub(crate) struct Idempotency {
    records: HashMap<String, IdempotencyRecord>,
    values: HashMap<String, SecretString>,
}

/// A retried request's first answer.
#[derive(Debug)]
pub(crate) struct Replay {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Idempotency {
    #[cfg(any(test, feature = "sqlite"))]
    pub(crate) fn get(&self, key: &str) -> Option<&IdempotencyRecord> {
        self.records.get(key)
    }

    #[cfg(feature = "sqlite")]
    pub(crate) fn restore(&mut self, record: IdempotencyRecord) {
        self.records.insert(record.key.clone(), record);
    }
}

impl State {
    /// The first answer for `key`, when it was seen within the window with
    /// the same request; a 422 when it was seen with a different one.
    pub(crate) fn replay(
        &mut self,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<Option<Replay>, Error> {
        let Some(record) = self.idempotency.records.get(key) else {
            return Ok(None);
        };
        if record.created_at < now.saturating_add(-WINDOW) {
            self.idempotency.records.remove(key);
            self.idempotency.values.remove(key);
            self.changes.touch(Row::Idempotency(key.to_owned()));
            return Ok(None);
        }
        if record.fingerprint != fingerprint {
            return Err(Error::Unprocessable(
                ErrorBody::new(
                    "idempotency_key_reused",
                    format!(
                        "Idempotency-Key '{key}' was used for a different request in the last 24 hours; use a new key for a new request."
                    ),
                )
                .with_field_error("Idempotency-Key", "idempotency_key_reused"),
            ));
        }
        let mut body = record.body.clone();
        if let (Some(value), Some(object)) =
            (self.idempotency.values.get(key), body.as_object_mut())
        {
            object.insert(
                "value".to_owned(),
                Value::String(value.expose_secret().to_owned()),
            );
        }
        Ok(Some(Replay {
            status: record.status,
            body,
        }))
    }

    /// Remembers the first answer for `key`; a `value` in `body` is moved
    /// out of it into memory. Records past the window are dropped.
    pub(crate) fn remember(
        &mut self,
        key: &str,
        fingerprint: String,
        status: u16,
        mut body: Value,
        now: Timestamp,
    ) {
        let oldest = now.saturating_add(-WINDOW);
        let expired: Vec<String> = self
            .idempotency
            .records
            .values()
            .filter(|r| r.created_at < oldest)
            .map(|r| r.key.clone())
            .collect();
        for old in expired {
            self.idempotency.records.remove(&old);
            self.idempotency.values.remove(&old);
            self.changes.touch(Row::Idempotency(old));
        }
        let value = body
            .as_object_mut()
            .and_then(|o| o.remove("value"))
            .and_then(|v| v.as_str().map(|s| SecretString::new(s.to_owned())));
        if let Some(value) = value {
            self.idempotency.values.insert(key.to_owned(), value);
        }
        self.idempotency.records.insert(
            key.to_owned(),
            IdempotencyRecord {
                key: key.to_owned(),
                fingerprint,
                status,
                body,
                created_at: now,
            },
        );
        self.changes.touch(Row::Idempotency(key.to_owned()));
    }
}

//! `Idempotency-Key` on the create routes: a retry of a create answered in
//! the last 24 hours gets the first answer (with `Idempotent-Replayed: true`)
//! instead of creating again; the same key on a different request is a 422.
//!
//! The lookup, the create and the record happen under the store's one lock
//! and in one transaction, so two requests racing with the same key create
//! one object.

use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::reply::{ApiError, json};
use crate::Error;
use crate::environment::Environment;
use crate::store::{Replay, State};

/// The request header.
static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer that repeats an earlier one.
static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A create request's `Idempotency-Key` and what it asked for.
#[derive(Debug)]
pub(crate) struct Retry {
    key: String,
    fingerprint: String,
}

impl Retry {
    /// The request's key, if it sent one: a 400 when it is empty, too long or
    /// not text.
    pub(crate) fn of(
        headers: &HeaderMap,
        path: &str,
        body: &[u8],
    ) -> Result<Option<Self>, ApiError> {
        let Some(raw) = headers.get(&IDEMPOTENCY_KEY) else {
            return Ok(None);
        };
        let key = raw
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= crate::store::MAX_IDEMPOTENCY_KEY_LEN)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    keygate_types::ErrorBody::new(
                        "invalid_idempotency_key",
                        format!(
                            "Idempotency-Key must be 1 to {} visible ASCII characters.",
                            crate::store::MAX_IDEMPOTENCY_KEY_LEN
                        ),
                    ),
                )
            })?;
        let mut hash = Sha256::new();
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update(body);
        let fingerprint = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Some(Self {
            key: key.to_owned(),
            fingerprint,
        }))
    }
}

/// Runs `create` and answers 201 with what it made, unless `retry` repeats
/// a request answered before.
pub(crate) fn create<T: Serialize>(
    env: &Environment,
    retry: Option<Retry>,
    create: impl FnOnce(&mut State) -> Result<T, Error>,
) -> Result<Response, ApiError> {
    let Some(retry) = retry else {
        let created = env.store.write(create)?;
        return Ok(json(StatusCode::CREATED, &created));
    };
    let now = env.clock.now();
    let answer = env.store.write(|state| {
        if let Some(replay) = state.replay(&retry.key, &retry.fingerprint, now)? {
            return Ok(Err(replay));
        }
        let created = create(state)?;
        let body = serde_json::to_value(&created)
            .map_err(|e| Error::Storage(format!("cannot encode the answer: {e}")))?;
        state.remember(
            &retry.key,
            retry.fingerprint,
            StatusCode::CREATED.as_u16(),
            body.clone(),
            now,
        );
        Ok(Ok(body))
    })?;
    Ok(match answer {
        Ok(body) => json(StatusCode::CREATED, &body),
        Err(Replay { status, body }) => {
            tracing::debug!(idempotency_key = %retry.key, "create replayed");
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
            let mut response = json(status, &body);
            response
                .headers_mut()
                .insert(REPLAYED.clone(), HeaderValue::from_static("true"));
            response
        }
    })
}

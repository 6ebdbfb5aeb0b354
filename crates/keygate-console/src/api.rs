//! The JSON API: list, create, roll, revoke, schedule or clear an expiry.
//! Every call but the list needs the `X-CSRF-Token` header.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use keygate_types::{CreatedApiKey, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Shared;
use crate::caller::Caller;
use crate::csrf;
use crate::error::{ConsoleError, FieldProblem};
use crate::input::{self, NewKeyInput};
use crate::scope::Action;
use crate::view::{KeyJson, matches};

/// `?q=` on the list: a search by name.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Search {
    #[serde(default)]
    pub(crate) q: String,
}

/// A created key with its value: the only answer that ever holds one.
#[derive(Serialize)]
struct WithValue<'a> {
    key: KeyJson<'a>,
    value: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<KeyJson<'a>>,
}

fn created(created: &CreatedApiKey, previous: Option<&keygate_types::ApiKey>) -> Response {
    let now = Timestamp::now();
    let body = WithValue {
        key: KeyJson::new(&created.api_key, now),
        value: created.value.expose_secret(),
        previous: previous.map(|p| KeyJson::new(p, now)),
    };
    (StatusCode::CREATED, Json(body)).into_response()
}

fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ConsoleError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ConsoleError::bad_request(format!("The body is not the expected JSON: {e}.")))
}

/// `GET /api/keys?q=`.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(search): Query<Search>,
) -> Result<Response, ConsoleError> {
    let (found, owners) = shared.keys(&caller.scope).list_with_owners().await?;
    let now = Timestamp::now();
    let data: Vec<KeyJson<'_>> = found
        .iter()
        .filter(|k| matches(&k.name, &search.q))
        .map(|k| KeyJson::new(k, now).owned(&owners))
        .collect();
    Ok(Json(serde_json::json!({ "data": data })).into_response())
}

/// A permission the caller may grant, with its label.
#[derive(Serialize)]
struct Grantable<'a> {
    slug: &'a str,
    name: &'a str,
    description: &'a str,
}

/// `GET /api/permissions`: the permissions the caller may grant, each with
/// the catalogue's name and description (the slug when it has none).
pub(crate) async fn permissions(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> Result<Response, ConsoleError> {
    shared.keys(&caller.scope).require(Action::View, "view")?;
    let labels = crate::catalogue::labels(&shared.client).await;
    let data: Vec<Grantable<'_>> = caller
        .scope
        .grantable
        .iter()
        .map(|slug| {
            let label = labels.get(slug);
            Grantable {
                slug,
                name: label.map_or(slug, |l| l.name.as_str()),
                description: label.map_or("", |l| l.description.as_str()),
            }
        })
        .collect();
    Ok(Json(serde_json::json!({ "data": data })).into_response())
}

/// `POST /api/keys` `{"name", "permissions", "expires_at"}`: 201 with the value.
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    csrf::check(shared.cookies, &headers, csrf::from_header(&headers))?;
    let keys = shared.keys(&caller.scope);
    keys.require(Action::Create, "create")?;
    let new = json::<NewKeyInput>(&body)?.check(&caller.scope, Timestamp::now())?;
    let key = keys.create(new).await?;
    Ok(created(&key, None))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollInput {
    grace_seconds: Option<Value>,
}

/// `POST /api/keys/{id}/roll` `{"grace_seconds": 3600}`: 201 with the new
/// value and the old key, now expiring.
pub(crate) async fn roll(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    csrf::check(shared.cookies, &headers, csrf::from_header(&headers))?;
    let keys = shared.keys(&caller.scope);
    keys.require(Action::Roll, "roll")?;
    let grace = match json::<RollInput>(&body)?.grace_seconds {
        Some(Value::Number(n)) => input::grace(&n.to_string())?,
        _ => input::grace("")?,
    };
    let rolled = keys.roll(&id, grace).await?;
    Ok(created(&rolled.created, Some(&rolled.previous)))
}

/// `DELETE /api/keys/{id}`: 204.
pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    csrf::check(shared.cookies, &headers, csrf::from_header(&headers))?;
    shared.keys(&caller.scope).revoke(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /api/keys/{id}/expiry` `{"expires_at": "2030-01-31T12:00:00Z"}`
/// schedules; `{"expires_at": null}` clears. 200 with the key.
pub(crate) async fn expiry(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    csrf::check(shared.cookies, &headers, csrf::from_header(&headers))?;
    let keys = shared.keys(&caller.scope);
    keys.require(Action::Revoke, "change the expiry of")?;
    let body: serde_json::Map<String, Value> = json(&body)?;
    let at = match body.get("expires_at") {
        Some(Value::Null) => None,
        Some(Value::String(text)) => Some(
            input::expiry(text, Timestamp::now())
                .map_err(|problem| ConsoleError::invalid(vec![problem]))?,
        ),
        _ => {
            return Err(ConsoleError::invalid(vec![FieldProblem::new(
                "expires_at",
                "required",
                "Send `expires_at`: a future RFC 3339 time to schedule, or null to clear.",
            )]));
        }
    };
    let key = keys.set_expiry(&id, at).await?;
    Ok(Json(KeyJson::new(&key, Timestamp::now())).into_response())
}

//! The seven API-key endpoints.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};
use keygate_types::{
    ApiKey, CreateOrganizationApiKey, CreateUserApiKey, ExpireApiKey, OrganizationId, Owner,
    UserId, ValidateApiKey,
};
use serde::Serialize;

use super::body::{JsonBody, RawBody, parse};
use super::idempotent::{self, Retry};
use super::path::PathId;
use super::query::Query;
use super::reply::{ApiError, json, list_page};
use crate::environment::Environment;
use crate::store::{NewKey, digest};

type Env = State<Arc<Environment>>;

/// `POST /organizations/{org_id}/api_keys`.
pub(crate) async fn create_for_organization(
    State(env): Env,
    PathId(org): PathId,
    uri: Uri,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let body: CreateOrganizationApiKey = parse(&bytes, StatusCode::UNPROCESSABLE_ENTITY)?;
    let retry = Retry::of(&headers, uri.path(), &bytes)?;
    let new = NewKey {
        owner: Owner::Organization {
            id: OrganizationId::new_unchecked(org),
        },
        name: body.name,
        permissions: body.permissions,
        expires_at: body.expires_at,
        value: None,
        agent_registration_id: None,
    };
    let now = env.clock.now();
    idempotent::create(&env, retry, |state| state.create_key(new, now))
}

/// `GET /organizations/{org_id}/api_keys`.
pub(crate) async fn list_for_organization(
    State(env): Env,
    PathId(org): PathId,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let req = Query::parse(raw.as_deref()).page(false)?;
    let org = OrganizationId::new_unchecked(org);
    let page = env
        .store
        .read(|state| state.list_organization_keys(&org, &req))?;
    Ok(list_page(page))
}

/// `POST /user_management/users/{user_id}/api_keys`: missing fields are a 400 here.
pub(crate) async fn create_for_user(
    State(env): Env,
    PathId(user): PathId,
    uri: Uri,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let body: CreateUserApiKey = parse(&bytes, StatusCode::BAD_REQUEST)?;
    let retry = Retry::of(&headers, uri.path(), &bytes)?;
    let new = NewKey {
        owner: Owner::User {
            id: UserId::new_unchecked(user),
            organization_id: body.organization_id,
        },
        name: body.name,
        permissions: body.permissions,
        expires_at: body.expires_at,
        value: None,
        agent_registration_id: None,
    };
    let now = env.clock.now();
    idempotent::create(&env, retry, |state| state.create_key(new, now))
}

/// `GET /user_management/users/{user_id}/api_keys`.
pub(crate) async fn list_for_user(
    State(env): Env,
    PathId(user): PathId,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref());
    let req = query.page(false)?;
    let org = query.organization_id();
    let user = UserId::new_unchecked(user);
    let page = env
        .store
        .read(|state| state.list_user_keys(&user, org.as_ref(), &req))?;
    Ok(list_page(page))
}

/// `DELETE /api_keys/{id}`.
pub(crate) async fn delete(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let now = env.clock.now();
    env.store.write(|state| state.delete_key(&id, now))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api_keys/{id}/expire`: no body or `{}` expires now.
pub(crate) async fn expire(
    State(env): Env,
    PathId(id): PathId,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let body: ExpireApiKey = if bytes.iter().all(u8::is_ascii_whitespace) {
        ExpireApiKey::default()
    } else {
        parse(&bytes, StatusCode::UNPROCESSABLE_ENTITY)?
    };
    let now = env.clock.now();
    let key = env
        .store
        .write(|state| state.expire_key(&id, body.expiry, now))?;
    Ok(json(StatusCode::OK, &key))
}

/// `POST /api_keys/validations`: `{"api_key": null}` for any bad value.
pub(crate) async fn validate(
    State(env): Env,
    JsonBody(body): JsonBody<ValidateApiKey>,
) -> Response {
    // Hash outside the lock: every validation contends for it.
    let digest = digest(body.value.expose_secret());
    let now = env.clock.now();
    // Encoded under the lock, from the stored key: no copy of it per request.
    env.store.validate(&digest, now, |record| {
        let reply = ValidationReply {
            api_key: record.map(|r| &r.api_key),
            agent_registration_id: record.and_then(|r| r.agent_registration_id.as_deref()),
        };
        json(StatusCode::OK, &reply)
    })
}

/// [`keygate_types::ValidationResponse`] with the key borrowed: the same JSON.
#[derive(Serialize)]
struct ValidationReply<'a> {
    api_key: Option<&'a ApiKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_registration_id: Option<&'a str>,
}

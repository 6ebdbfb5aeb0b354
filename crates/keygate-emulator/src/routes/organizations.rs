//! `POST/GET /organizations`, `GET/DELETE /organizations/{id}`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};
use keygate_types::CreateOrganization;

use super::body::{RawBody, parse};
use super::idempotent::{self, Retry};
use super::path::PathId;
use super::query::Query;
use super::reply::{ApiError, json, list_page};
use crate::environment::Environment;

type Env = State<Arc<Environment>>;

pub(crate) async fn create(
    State(env): Env,
    uri: Uri,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let body: CreateOrganization = parse(&bytes, StatusCode::UNPROCESSABLE_ENTITY)?;
    let retry = Retry::of(&headers, uri.path(), &bytes)?;
    let now = env.clock.now();
    idempotent::create(&env, retry, |state| state.create_organization(body, now))
}

pub(crate) async fn list(State(env): Env, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let req = Query::parse(raw.as_deref()).page(false)?;
    let page = env.store.read(|state| state.list_organizations(&req));
    Ok(list_page(page))
}

pub(crate) async fn get(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let org = env
        .store
        .read(|state| state.directory.organization(&id).cloned())?;
    Ok(json(StatusCode::OK, &org))
}

/// Deleting an organization revokes all its keys.
pub(crate) async fn delete(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let now = env.clock.now();
    env.store
        .write(|state| state.delete_organization(&id, now))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

//! `POST/GET /organizations`, `GET/DELETE /organizations/{id}`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use keygate_types::CreateOrganization;

use super::body::JsonBody;
use super::path::PathId;
use super::query::Query;
use super::reply::{ApiError, json, list_page};
use crate::environment::Environment;

type Env = State<Arc<Environment>>;

pub(crate) async fn create(
    State(env): Env,
    JsonBody(body): JsonBody<CreateOrganization>,
) -> Result<Response, ApiError> {
    let now = env.clock.now();
    let org = env.store.lock().create_organization(body, now)?;
    Ok(json(StatusCode::CREATED, &org))
}

pub(crate) async fn list(State(env): Env, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let req = Query::parse(raw.as_deref()).page(false)?;
    let page = env.store.lock().list_organizations(&req);
    Ok(list_page(page))
}

pub(crate) async fn get(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let org = env.store.lock().directory.organization(&id)?.clone();
    Ok(json(StatusCode::OK, &org))
}

/// Deleting an organization revokes all its keys.
pub(crate) async fn delete(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let now = env.clock.now();
    env.store.lock().delete_organization(&id, now)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

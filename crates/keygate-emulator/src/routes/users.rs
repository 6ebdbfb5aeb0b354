//! `POST/GET /user_management/users`, `GET/DELETE /user_management/users/{id}`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};
use keygate_types::CreateUser;

use super::body::{RawBody, parse};
use super::idempotent::{self, Retry};
use super::path::PathId;
use super::query::Query;
use super::reply::{ApiError, json, list_page};
use crate::environment::Environment;
use crate::store::UserFilter;

type Env = State<Arc<Environment>>;

pub(crate) async fn create(
    State(env): Env,
    uri: Uri,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let body: CreateUser = parse(&bytes, StatusCode::UNPROCESSABLE_ENTITY)?;
    let retry = Retry::of(&headers, uri.path(), &bytes)?;
    let now = env.clock.now();
    idempotent::create(&env, retry, |state| state.create_user(body, now))
}

pub(crate) async fn list(State(env): Env, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref());
    let req = query.page(false)?;
    let filter = UserFilter {
        email: query
            .get("email")
            .filter(|e| !e.is_empty())
            .map(str::to_owned),
        organization_id: query.organization_id(),
    };
    let page = env.store.read(|state| state.list_users(&filter, &req));
    Ok(list_page(page))
}

pub(crate) async fn get(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let user = env.store.read(|state| state.directory.user(&id).cloned())?;
    Ok(json(StatusCode::OK, &user))
}

/// Deleting a user revokes their keys.
pub(crate) async fn delete(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let now = env.clock.now();
    env.store.write(|state| state.delete_user(&id, now))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

//! The permission catalogue (`/authorization/permissions`) and widget tokens
//! (`POST /widgets/token`), as WorkOS's spec describes them.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::StatusCode;
use keygate_types::{
    CreateAuthorizationPermission, CreateWidgetToken, ErrorBody, WIDGET_SCOPES, codes,
};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::json;

use super::body::{RawBody, parse};
use super::query::Query;
use super::reply::{ApiError, json, list_page};
use crate::environment::Environment;

type Env = State<Arc<Environment>>;

/// The spec documents a 400 on these routes as `{"code": "bad_request", …}`:
/// a body that is not JSON is answered with that code.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse(bytes, StatusCode::UNPROCESSABLE_ENTITY).map_err(|mut e| {
        if e.status == StatusCode::BAD_REQUEST {
            e.body.code = "bad_request".to_owned();
        }
        e
    })
}

/// `GET /authorization/permissions?before&after&limit&order`: newest first
/// unless `order=asc`, as the spec's `PaginationOrder` defaults.
pub(crate) async fn list_permissions(
    State(env): Env,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let req = Query::parse(raw.as_deref()).page(false)?;
    let page = env.store.read(|state| state.list_permissions(&req));
    Ok(list_page(page))
}

/// `POST /authorization/permissions` `{slug, name, description?,
/// resource_type_slug?}`: 201; 409 `permission_slug_conflict` for a slug
/// already defined; 422 for a bad field.
pub(crate) async fn create_permission(
    State(env): Env,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let new: CreateAuthorizationPermission = body(&bytes)?;
    let now = env.clock.now();
    let permission = env.store.write(|state| state.create_permission(new, now))?;
    Ok(json(StatusCode::CREATED, &permission))
}

/// `POST /widgets/token` `{user_id, organization_id?, scopes?}`: 201
/// `{"token"}`.
///
/// **decision**: `user_id` is required (a widget acts for a user; the spec
/// marks no field required); `organization_id`, when given, must be an
/// organization the user is an active member of; `scopes` need an
/// organization and must come from the spec's list. The token is an opaque
/// random string (`wt_…`): the emulator serves no widgets, so nothing reads
/// it back, and nothing keeps it.
pub(crate) async fn widget_token(
    State(env): Env,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let request: CreateWidgetToken = body(&bytes)?;
    let Some(user) = request.user_id else {
        return Err(ApiError::invalid_field(
            "user_id",
            "user_id_required",
            "user_id is required: a widget token is for a user.",
        ));
    };
    if let Some(unknown) = request
        .scopes
        .iter()
        .find(|s| !WIDGET_SCOPES.contains(&s.as_str()))
    {
        return Err(ApiError::invalid_field(
            "scopes",
            "invalid_scope",
            format!("'{unknown}' is not a widget scope."),
        ));
    }
    if !request.scopes.is_empty() && request.organization_id.is_none() {
        return Err(ApiError::invalid_field(
            "organization_id",
            "organization_id_required",
            "organization_id is required when scopes are given.",
        ));
    }
    env.store.read(|state| -> Result<(), ApiError> {
        state.directory.user(user.as_str())?;
        if let Some(org) = &request.organization_id {
            state.directory.organization(org.as_str())?;
            if !state.directory.has_active_membership(&user, org) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorBody::new(
                        codes::INVALID_REQUEST_PARAMETERS,
                        format!("User '{user}' has no active membership in organization '{org}'."),
                    ),
                ));
            }
        }
        Ok(())
    })?;
    let token: String = std::iter::once("wt_".to_owned())
        .chain(std::iter::once(
            rand::rng()
                .sample_iter(Alphanumeric)
                .take(43)
                .map(char::from)
                .collect::<String>(),
        ))
        .collect();
    tracing::debug!(user_id = %user, "widget token issued");
    Ok(json(StatusCode::CREATED, &json!({ "token": token })))
}

//! `/user_management/organization_memberships`: create, list, get, delete,
//! deactivate and reactivate.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};
use keygate_types::{CreateMembership, MembershipStatus, UserId};

use serde::Deserialize;

use super::body::{RawBody, parse};
use super::idempotent::{self, Retry};
use super::path::PathId;
use super::query::Query;
use super::reply::{ApiError, json, list_page};
use crate::environment::Environment;
use crate::store::MembershipFilter;

type Env = State<Arc<Environment>>;

/// The create body: WorkOS's, which names one role (`role_slug`) or several
/// (`role_slugs`).
#[derive(Debug, Deserialize)]
pub(crate) struct CreateBody {
    #[serde(flatten)]
    membership: CreateMembership,
    #[serde(default)]
    role_slugs: Option<Vec<String>>,
}

pub(crate) async fn create(
    State(env): Env,
    uri: Uri,
    headers: HeaderMap,
    RawBody(bytes): RawBody,
) -> Result<Response, ApiError> {
    let body: CreateBody = parse(&bytes, StatusCode::UNPROCESSABLE_ENTITY)?;
    let retry = Retry::of(&headers, uri.path(), &bytes)?;
    let CreateBody {
        membership,
        role_slugs,
    } = body;
    let roles = match (membership.role_slug, role_slugs) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "role_slugs",
                "role_slug_conflict",
                "give `role_slug` or `role_slugs`, not both.",
            ));
        }
        (Some(one), None) => vec![one],
        (None, Some(many)) => many,
        (None, None) => Vec::new(),
    };
    let now = env.clock.now();
    idempotent::create(&env, retry, |state| {
        state.create_membership(membership.user_id, membership.organization_id, roles, now)
    })
}

pub(crate) async fn list(State(env): Env, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref());
    let req = query.page(false)?;
    let mut statuses = Vec::new();
    for s in query.list("statuses") {
        statuses.push(match s {
            "active" => MembershipStatus::Active,
            "inactive" => MembershipStatus::Inactive,
            "pending" => MembershipStatus::Pending,
            other => {
                return Err(ApiError::invalid_field(
                    "statuses",
                    "invalid_status",
                    format!("statuses must be `active`, `inactive` or `pending`; got `{other}`."),
                ));
            }
        });
    }
    // As WorkOS: only active memberships unless `statuses` says otherwise.
    if statuses.is_empty() {
        statuses.push(MembershipStatus::Active);
    }
    let filter = MembershipFilter {
        user_id: query
            .get("user_id")
            .filter(|v| !v.is_empty())
            .map(UserId::new_unchecked),
        organization_id: query.organization_id(),
        statuses,
    };
    let page = env
        .store
        .read(|state| state.list_memberships(&filter, &req));
    Ok(list_page(page))
}

pub(crate) async fn get(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let m = env.store.read(|state| state.directory.membership(&id))?;
    Ok(json(StatusCode::OK, &m))
}

/// Deleting a membership revokes the user's keys in that organization.
pub(crate) async fn delete(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let now = env.clock.now();
    env.store.write(|state| state.delete_membership(&id, now))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// While deactivated, the user's keys in that organization validate as `null`.
pub(crate) async fn deactivate(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let now = env.clock.now();
    let m = env
        .store
        .write(|state| state.set_membership_status(&id, MembershipStatus::Inactive, now))?;
    Ok(json(StatusCode::OK, &m))
}

pub(crate) async fn reactivate(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    let now = env.clock.now();
    let m = env
        .store
        .write(|state| state.set_membership_status(&id, MembershipStatus::Active, now))?;
    Ok(json(StatusCode::OK, &m))
}

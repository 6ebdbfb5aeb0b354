//! The HTTP surface: WorkOS's routes, the test controls, and the layers
//! every request passes (request id, counters, faults, the secret check).

mod api_keys;
mod authorization;
mod body;
mod controls;
mod events;
mod gate;
mod idempotent;
mod memberships;
mod organizations;
mod path;
mod query;
mod reply;
mod tokens;
mod users;
mod webhooks;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::StatusCode;
use http::header::AUTHORIZATION;
use keygate_types::ErrorBody;
use tower::{Layer, Service};

use crate::auth::bearer_token;
use crate::environment::Environment;
use crate::request_id::RequestIds;
pub(crate) use reply::ApiError;

/// The whole service.
pub(crate) fn router(
    env: Arc<Environment>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync
{
    let api = Router::new()
        .route(
            "/organizations/{id}/api_keys",
            post(api_keys::create_for_organization).get(api_keys::list_for_organization),
        )
        .route(
            "/user_management/users/{id}/api_keys",
            post(api_keys::create_for_user).get(api_keys::list_for_user),
        )
        .route("/api_keys/validations", post(api_keys::validate))
        .route("/api_keys/{id}", axum::routing::delete(api_keys::delete))
        .route("/api_keys/{id}/expire", post(api_keys::expire))
        .route("/events", get(events::list))
        .route(
            "/authorization/permissions",
            get(authorization::list_permissions).post(authorization::create_permission),
        )
        .route("/widgets/token", post(authorization::widget_token))
        .route(
            "/organizations",
            post(organizations::create).get(organizations::list),
        )
        .route(
            "/organizations/{id}",
            get(organizations::get).delete(organizations::delete),
        )
        .route(
            "/user_management/users",
            post(users::create).get(users::list),
        )
        .route(
            "/user_management/users/{id}",
            get(users::get).delete(users::delete),
        )
        .route(
            "/user_management/organization_memberships",
            post(memberships::create).get(memberships::list),
        )
        .route(
            "/user_management/organization_memberships/{id}",
            get(memberships::get).delete(memberships::delete),
        )
        .route(
            "/user_management/organization_memberships/{id}/deactivate",
            put(memberships::deactivate),
        )
        .route(
            "/user_management/organization_memberships/{id}/reactivate",
            put(memberships::reactivate),
        )
        .route(
            "/user_management/sessions/revoke",
            post(tokens::revoke_session),
        )
        .layer(gate::Gate(env.clone()));

    // Served without an environment secret, as WorkOS serves them.
    let public = Router::new()
        .route("/oauth2/token", post(tokens::token))
        .route("/oauth2/jwks", get(tokens::m2m_key_set))
        .route("/sso/jwks/{client_id}", get(tokens::session_key_set))
        .layer(from_fn_with_state(env.clone(), tokens::public_gate));

    let controls = Router::new()
        .route("/_emulator/reset", post(controls::reset))
        .route(
            "/_emulator/faults",
            get(controls::list_faults)
                .post(controls::inject_fault)
                .delete(controls::clear_faults),
        )
        .route(
            "/_emulator/requests",
            get(controls::requests).delete(controls::reset_requests),
        )
        .route(
            "/_emulator/clock",
            get(controls::clock).put(controls::set_clock),
        )
        .route("/_emulator/clock/advance", post(controls::advance_clock))
        .route(
            "/_emulator/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/_emulator/webhooks/deliveries", get(webhooks::deliveries))
        .route(
            "/_emulator/webhooks/{id}",
            axum::routing::delete(webhooks::delete),
        )
        .route(
            "/_emulator/m2m_applications",
            get(tokens::list_applications).post(tokens::create_application),
        )
        .route("/_emulator/sessions", post(tokens::create_session))
        .route("/_emulator/signing_keys/rotate", post(tokens::rotate))
        .layer(from_fn_with_state(env.clone(), require_secret));

    let body_limit = env.body_limit;
    let routes = Router::new()
        .merge(api)
        .merge(public)
        .merge(controls)
        .route("/health", get(controls::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(env);
    // Request ids and the body cap wrap the router once, rather than each
    // route (which `Router::layer` does): axum clones a route's whole stack
    // of layers on every call, allocations per layer per request, while the
    // router itself clones as an `Arc`.
    RequestIds(DefaultBodyLimit::max(body_limit).layer(routes))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorBody::new(
            "not_found",
            format!(
                "No route for {} {}.",
                request.method(),
                request.uri().path()
            ),
        ),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorBody::new(
            "method_not_allowed",
            format!(
                "{} is not allowed on {}.",
                request.method(),
                request.uri().path()
            ),
        ),
    )
}

/// Which environment secret the request carries, if any.
fn presented_secret(env: &Environment, request: &Request) -> Option<usize> {
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| bearer_token(v.as_bytes()))
        .and_then(|token| env.secrets.matching(token))
}

fn unauthorized(request: &Request) -> Response {
    tracing::debug!(
        path = request.uri().path(),
        "request without a valid environment secret"
    );
    ApiError::unauthorized(
        "Missing or unknown environment secret: send `Authorization: Bearer sk_…`.",
    )
    .into_response()
}

/// 401 unless the request carries one of the environment's secrets (for
/// the test controls, which are never rate-limited).
async fn require_secret(
    State(env): State<Arc<Environment>>,
    request: Request,
    next: Next,
) -> Response {
    match presented_secret(&env, &request) {
        Some(_) => next.run(request).await,
        None => unauthorized(&request),
    }
}

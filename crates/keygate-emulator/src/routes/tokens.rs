//! The token routes: `POST /oauth2/token` (client credentials), the key sets
//! `GET /oauth2/jwks` and `GET /sso/jwks/{client_id}` (no secret, as WorkOS),
//! `POST /user_management/sessions/revoke`, and the test controls
//! `GET|POST /_emulator/m2m_applications`, `POST /_emulator/sessions`,
//! `POST /_emulator/signing_keys/rotate`.

use std::sync::Arc;

use axum::extract::{RawQuery, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CACHE_CONTROL};
use http::{HeaderMap, HeaderValue, StatusCode};
use keygate_types::{ErrorBody, OrganizationId, UserId};
use serde::Deserialize;
use serde_json::json;

use super::body::{JsonBody, RawBody};
use super::gate::{count_and_find_fault, fault_response};
use super::path::PathId;
use super::query::Query;
use super::reply::{ApiError, json};
use crate::environment::Environment;
use crate::tokens::TokenError;

type Env = State<Arc<Environment>>;

/// Counts a request on a route without a secret and lets a matching fault
/// take it (for key-set outage tests).
pub(crate) async fn public_gate(State(env): Env, request: Request, next: Next) -> Response {
    match count_and_find_fault(&env, &request) {
        None => next.run(request).await,
        Some(fault) => {
            if let Some(delay) = fault.delay {
                tokio::time::sleep(delay).await;
            }
            match fault.status {
                Some(status) => fault_response(fault, status),
                None => next.run(request).await,
            }
        }
    }
}

/// An OAuth error answer (RFC 6749 § 5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// `POST /oauth2/token`: `grant_type=client_credentials` with `client_id`
/// and `client_secret` in the form (or HTTP Basic), optional `scope`.
pub(crate) async fn token(State(env): Env, headers: HeaderMap, RawBody(body): RawBody) -> Response {
    let mut grant_type = None;
    let mut client_id = None;
    let mut client_secret = None;
    let mut scope = None;
    for (name, value) in form_urlencoded::parse(&body) {
        match &*name {
            "grant_type" => grant_type = Some(value.into_owned()),
            "client_id" => client_id = Some(value.into_owned()),
            "client_secret" => client_secret = Some(value.into_owned()),
            "scope" => scope = Some(value.into_owned()),
            _ => {}
        }
    }
    if let Some((id, secret)) = basic_credentials(&headers) {
        client_id.get_or_insert(id);
        client_secret.get_or_insert(secret);
    }
    match grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only grant_type=client_credentials is supported.",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required.",
            );
        }
    }
    let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id and client_secret are required.",
        );
    };
    match env.tokens.client_credentials(
        &client_id,
        &client_secret,
        scope.as_deref(),
        env.clock.now(),
    ) {
        Ok((access_token, expires_in)) => {
            let mut response = json(
                StatusCode::OK,
                &json!({"access_token": access_token, "expires_in": expires_in, "token_type": "bearer"}),
            );
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(TokenError::InvalidClient) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Unknown client or wrong client secret.",
        ),
        Err(TokenError::InvalidScope) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The application was not granted a requested scope.",
        ),
        Err(TokenError::Store(e)) => ApiError::from(e).into_response(),
    }
}

/// `Authorization: Basic base64(client_id:client_secret)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// `GET /oauth2/jwks`.
pub(crate) async fn m2m_key_set(State(env): Env) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &env.tokens.key_set()?))
}

/// `GET /sso/jwks/{client_id}`: 404 for another client id.
pub(crate) async fn session_key_set(
    State(env): Env,
    PathId(client_id): PathId,
) -> Result<Response, ApiError> {
    if client_id != env.tokens.client_id() {
        return Ok(json(
            StatusCode::NOT_FOUND,
            &json!({"message": format!("Client not found: '{client_id}'.")}),
        ));
    }
    Ok(json(StatusCode::OK, &env.tokens.key_set()?))
}

#[derive(Deserialize)]
pub(crate) struct RevokeSession {
    session_id: String,
}

/// `POST /user_management/sessions/revoke {"session_id"}`: emits
/// `session.revoked` (events and webhooks); 400 `session_not_found` for an
/// unknown session, `session_already_revoked` for a revoked one.
pub(crate) async fn revoke_session(
    State(env): Env,
    JsonBody(body): JsonBody<RevokeSession>,
) -> Result<Response, ApiError> {
    env.tokens
        .revoke_session(&body.session_id, env.clock.now())?;
    Ok(StatusCode::OK.into_response())
}

#[derive(Deserialize)]
pub(crate) struct NewApplication {
    organization_id: String,
    name: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

/// `POST /_emulator/m2m_applications {"organization_id", "name", "scopes"}`:
/// 201 with `client_id` and `client_secret` (shown once); 404 for an unknown
/// organization, 422 for a blank name or a scope that is not an OAuth scope
/// token.
pub(crate) async fn create_application(
    State(env): Env,
    JsonBody(body): JsonBody<NewApplication>,
) -> Result<Response, ApiError> {
    let app = env.tokens.create_application(
        &body.organization_id,
        body.name,
        body.scopes,
        env.clock.now(),
    )?;
    Ok(json(StatusCode::CREATED, &app))
}

/// `GET /_emulator/m2m_applications[?organization_id=…]`: `{"object":
/// "list", "data": [...]}`, oldest first, without client secrets; 404 for
/// an unknown organization.
pub(crate) async fn list_applications(
    State(env): Env,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let organization = Query::parse(raw.as_deref()).organization_id();
    let list = env
        .store
        .read(|state| state.applications(organization.as_ref().map(|o| o.as_str())))?;
    Ok(json(
        StatusCode::OK,
        &json!({"object": "list", "data": list}),
    ))
}

#[derive(Deserialize)]
pub(crate) struct NewSession {
    user_id: String,
    organization_id: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
    role: Option<String>,
    expires_in: Option<i64>,
}

/// `POST /_emulator/sessions {"user_id", "organization_id", "permissions",
/// "role", "expires_in"}`: a session of a seeded user and its access token.
/// With an organization, the user needs an active membership in it.
pub(crate) async fn create_session(
    State(env): Env,
    JsonBody(body): JsonBody<NewSession>,
) -> Result<Response, ApiError> {
    let (user, organization) = env.store.read(|state| {
        let user: UserId = state.directory.user(&body.user_id)?.id.clone();
        let organization: Option<OrganizationId> = match &body.organization_id {
            None => None,
            Some(org) => {
                let org = state.directory.organization(org)?.id.clone();
                if !state.directory.has_active_membership(&user, &org) {
                    return Ok((user, Err(org)));
                }
                Some(org)
            }
        };
        Ok::<_, crate::Error>((user, Ok(organization)))
    })?;
    let organization = organization.map_err(|org| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody::new(
                "organization_membership_not_found",
                format!("{} has no active membership in {org}.", body.user_id),
            ),
        )
    })?;
    let token = env.tokens.start_session(
        user,
        organization,
        body.role.as_deref().unwrap_or("member"),
        &body.permissions,
        body.expires_in,
        env.clock.now(),
    )?;
    Ok(json(StatusCode::CREATED, &token))
}

/// `POST /_emulator/signing_keys/rotate`: a new signing key; `{"kid"}`.
pub(crate) async fn rotate(State(env): Env) -> Result<Response, ApiError> {
    let kid = env.tokens.rotate()?;
    Ok(json(StatusCode::CREATED, &json!({"kid": kid})))
}

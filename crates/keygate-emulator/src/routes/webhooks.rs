//! `/_emulator/webhooks`: register, list and remove webhook endpoints, and
//! read the record of deliveries.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use keygate_types::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::body::JsonBody;
use super::path::PathId;
use super::reply::{ApiError, json};
use crate::environment::Environment;

type Env = State<Arc<Environment>>;

/// The body of `POST /_emulator/webhooks`.
#[derive(Debug, Deserialize)]
pub(crate) struct NewEndpoint {
    url: String,
    secret: SecretString,
    #[serde(default)]
    events: Vec<String>,
}

pub(crate) async fn create(
    State(env): Env,
    JsonBody(body): JsonBody<NewEndpoint>,
) -> Result<Response, ApiError> {
    let endpoint = crate::webhooks::register(
        &env.store,
        env.clock.now(),
        &body.url,
        body.secret,
        body.events,
    )?;
    Ok(json(StatusCode::CREATED, &endpoint))
}

pub(crate) async fn list(State(env): Env) -> Response {
    json(
        StatusCode::OK,
        &json!({"object": "list", "data": env.store.read(|state| state.webhook_endpoint_list())}),
    )
}

pub(crate) async fn delete(State(env): Env, PathId(id): PathId) -> Result<Response, ApiError> {
    env.store.write(|state| {
        if state.remove_webhook_endpoint(&id) {
            Ok(())
        } else {
            Err(crate::Error::not_found("webhook_endpoint", id.clone()))
        }
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn deliveries(State(env): Env) -> Response {
    json(
        StatusCode::OK,
        &json!({"object": "list", "data": env.webhooks.deliveries()}),
    )
}

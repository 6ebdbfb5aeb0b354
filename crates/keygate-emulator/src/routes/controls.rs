//! Test controls under `/_emulator/` (an environment secret is required):
//! reset, faults, request counters and the clock. And `GET /health`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use keygate_types::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json as json_value;

use super::body::JsonBody;
use super::query::Query;
use super::reply::{ApiError, json};
use crate::Fault;
use crate::environment::Environment;

type Env = State<Arc<Environment>>;

/// `GET /health`: no secret needed.
pub(crate) async fn health() -> Response {
    json(StatusCode::OK, &json_value!({"status": "ok"}))
}

/// `POST /_emulator/reset`: empty store, counters, faults; clock back to system time.
pub(crate) async fn reset(State(env): Env) -> Result<Response, ApiError> {
    env.reset()?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /_emulator/faults`.
pub(crate) async fn list_faults(State(env): Env) -> Response {
    json(StatusCode::OK, &env.faults.list())
}

/// `POST /_emulator/faults` with a [`Fault`] as JSON.
pub(crate) async fn inject_fault(
    State(env): Env,
    JsonBody(fault): JsonBody<Fault>,
) -> Result<Response, ApiError> {
    if let Some(status) = fault.status
        && http::StatusCode::from_u16(status).is_err()
    {
        return Err(ApiError::invalid_field(
            "status",
            "invalid_status",
            format!("status must be an HTTP status from 100 to 999; got {status}."),
        ));
    }
    for (i, (name, value)) in fault.headers.iter().enumerate() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::HeaderValue::from_str(value).is_err()
        {
            return Err(ApiError::invalid_field(
                &format!("headers[{i}]"),
                "invalid_header",
                format!("`{name}` is not a valid header name and value."),
            ));
        }
    }
    env.faults.inject(fault.clone());
    Ok(json(StatusCode::CREATED, &fault))
}

/// `DELETE /_emulator/faults`.
pub(crate) async fn clear_faults(State(env): Env) -> Response {
    env.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Serialize)]
struct RouteCount {
    method: String,
    route: String,
    count: u64,
}

/// `GET /_emulator/requests?method=POST&path=/api_keys/validations` gives
/// `{"count": n}`; without parameters, every route's count.
pub(crate) async fn requests(State(env): Env, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw.as_deref());
    match (query.get("method"), query.get("path")) {
        (Some(method), Some(path)) => json(
            StatusCode::OK,
            &json_value!({"method": method, "route": path, "count": env.counters.get(method, path)}),
        ),
        _ => {
            let all: Vec<RouteCount> = env
                .counters
                .all()
                .into_iter()
                .map(|(method, route, count)| RouteCount {
                    method,
                    route,
                    count,
                })
                .collect();
            json(StatusCode::OK, &json_value!({"data": all}))
        }
    }
}

/// `DELETE /_emulator/requests`: zero the counters.
pub(crate) async fn reset_requests(State(env): Env) -> Response {
    env.counters.reset();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ClockBody {
    now: Timestamp,
}

/// `GET /_emulator/clock`.
pub(crate) async fn clock(State(env): Env) -> Response {
    json(
        StatusCode::OK,
        &ClockBody {
            now: env.clock.now(),
        },
    )
}

/// `PUT /_emulator/clock` with `{"now": "2030-01-01T00:00:00.000Z"}`.
pub(crate) async fn set_clock(
    State(env): Env,
    JsonBody(body): JsonBody<ClockBody>,
) -> Result<Response, ApiError> {
    env.set_time(body.now)?;
    Ok(json(
        StatusCode::OK,
        &ClockBody {
            now: env.clock.now(),
        },
    ))
}

#[derive(Deserialize)]
pub(crate) struct AdvanceBody {
    milliseconds: i64,
}

/// `POST /_emulator/clock/advance` with `{"milliseconds": 86400000}`.
pub(crate) async fn advance_clock(
    State(env): Env,
    JsonBody(body): JsonBody<AdvanceBody>,
) -> Result<Response, ApiError> {
    env.advance_time(time::Duration::milliseconds(body.milliseconds))?;
    Ok(json(
        StatusCode::OK,
        &ClockBody {
            now: env.clock.now(),
        },
    ))
}

//! The gate in front of every WorkOS route: answers 401 without an
//! environment secret, then counts the request under its route, lets a
//! matching fault take it, and answers 429 (with `Retry-After`) over the
//! rate limit, if one is set.
//!
//! The secret comes first so that a stranger's request can neither take a
//! test's injected fault nor move its request counts.
//!
//! A hand-written tower service rather than `axum::middleware::from_fn`,
//! whose every call clones the route below it, boxes a `Next` and boxes its
//! future: on the validation route that was a third of the allocations.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, StatusCode};
use keygate_types::ErrorBody;
use tower::{Layer, Service};

use super::reply::{self, ApiError};
use super::{presented_secret, unauthorized};
use crate::environment::Environment;
use crate::faults::{Fault, FaultBody};

/// The gate, as a layer for the WorkOS routes.
#[derive(Debug, Clone)]
pub(crate) struct Gate(pub(crate) Arc<Environment>);

impl<S> Layer<S> for Gate {
    type Service = Gated<S>;

    fn layer(&self, inner: S) -> Gated<S> {
        Gated {
            env: self.0.clone(),
            inner,
        }
    }
}

/// A route behind the [`Gate`].
#[derive(Debug, Clone)]
pub(crate) struct Gated<S> {
    env: Arc<Environment>,
    inner: S,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for Gated<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Answer {
        let Some(secret) = presented_secret(&self.env, &request) else {
            return Box::pin(std::future::ready(Ok(unauthorized(&request))));
        };
        let Some(fault) = count_and_find_fault(&self.env, &request) else {
            return match rate_limited(&self.env, secret) {
                None => Box::pin(self.inner.call(request)),
                Some(refused) => Box::pin(std::future::ready(Ok(refused))),
            };
        };
        // The inner service made ready by `poll_ready` serves the request
        // after the delay; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let env = self.env.clone();
        Box::pin(async move {
            if let Some(delay) = fault.delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(status) = fault.status {
                return Ok(fault_response(fault, status));
            }
            match rate_limited(&env, secret) {
                None => inner.call(request).await,
                Some(refused) => Ok(refused),
            }
        })
    }
}

/// Counts the request under its route, and takes the fault that matches
/// it, if any.
pub(super) fn count_and_find_fault(env: &Environment, request: &Request) -> Option<Fault> {
    let template = request.extensions().get::<MatchedPath>();
    let method = request.method().as_str();
    let path = request.uri().path();
    let route = template.map_or(path, MatchedPath::as_str);
    env.counters.hit(method, route);
    let fault = env
        .faults
        .take(method, template.map(MatchedPath::as_str), path)?;
    tracing::debug!(method, route, status = ?fault.status, "injected fault");
    Some(fault)
}

/// The rate limit's refusal for the environment secret `secret`, if it
/// refuses.
fn rate_limited(env: &Environment, secret: usize) -> Option<Response> {
    match env.limiter.as_ref().map(|l| l.admit(secret)) {
        Some(Err(wait)) => Some(too_many_requests(wait)),
        _ => None,
    }
}

fn too_many_requests(wait: u64) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorBody::new(
            "rate_limit_exceeded",
            format!("Too many requests for this environment secret; retry in {wait} s."),
        ),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

pub(super) fn fault_response(fault: Fault, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match fault.body {
        None => reply::json(
            status,
            &ErrorBody::new(
                "emulator_fault",
                format!("Injected fault: {} {}.", fault.method, fault.path),
            ),
        ),
        Some(FaultBody::Json(value)) => reply::json(status, &value),
        Some(FaultBody::Text(text)) => {
            let mut r = (status, text).into_response();
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
    };
    for (name, value) in &fault.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    if status == StatusCode::TOO_MANY_REQUESTS && !response.headers().contains_key(RETRY_AFTER) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

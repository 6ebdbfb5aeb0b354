//! JSON answers and WorkOS-shaped error answers.

use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use keygate_types::{ErrorBody, List, codes};
use serde::Serialize;

use crate::store::Page;

static APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// `value` as a JSON answer with `status`.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    // Room for a key or an error body at once, instead of growing by doubling.
    let mut bytes = Vec::with_capacity(512);
    match serde_json::to_writer(&mut bytes, value) {
        Ok(()) => {
            let mut response = (status, bytes).into_response();
            response
                .headers_mut()
                .insert(CONTENT_TYPE, APPLICATION_JSON.clone());
            response
        }
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorBody::new(
                "internal_error",
                format!("could not encode the answer: {e}"),
            ),
        )
        .into_response(),
    }
}

/// A page as a 200 answer in WorkOS's list envelope.
pub(crate) fn list_page<T: Serialize>(page: Page<T>) -> Response {
    json(
        StatusCode::OK,
        &List {
            data: page.data,
            list_metadata: page.metadata,
        },
    )
}

/// An error answer: a status and a WorkOS error body.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorBody,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, body: ErrorBody) -> Self {
        Self { status, body }
    }

    /// A 422 about one field.
    pub(crate) fn invalid_field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody::new(codes::INVALID_REQUEST_PARAMETERS, message)
                .with_field_error(field, code),
        )
    }

    pub(crate) fn unauthorized(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorBody::new(codes::UNAUTHORIZED, message),
        )
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, e.body())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json(self.status, &self.body);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

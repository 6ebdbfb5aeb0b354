//! The `{id}` path segment, with a WorkOS error body when it cannot be read.

use axum::extract::{FromRequestParts, Path};
use http::StatusCode;
use http::request::Parts;
use keygate_types::ErrorBody;

use super::reply::ApiError;

/// The route's single `{id}` segment, percent-decoded.
#[derive(Debug)]
pub(crate) struct PathId(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| PathId(id))
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorBody::new("invalid_request", format!("bad id in the path: {e}")),
                )
            })
    }
}

//! What went wrong, said once for both faces: a JSON body on the API, a
//! message beside the form on the page.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

/// A refusal or failure of a console request.
///
/// On the JSON API it is the status and a body
/// `{"code": "…", "message": "…", "errors": [{"field", "code", "message"}]}`
/// (`errors` only for field problems):
///
/// | status | code | when |
/// |---|---|---|
/// | 400 | `invalid_request` | a body that is not the expected JSON or form |
/// | 403 | `csrf_token_invalid` | the CSRF token is missing or wrong |
/// | 403 | `action_not_allowed` | the scope does not allow the action |
/// | 403 | `permission_not_grantable` | a permission outside the scope's grantable set |
/// | 404 | `not_found` | no such key in scope: absent, or another organization's |
/// | 409 | `api_key_already_expired` | rolling, or changing the expiry of, an expired key |
/// | 409 | `too_many_active_keys` | the owner holds as many unexpired keys as the [`KeyPolicy`](keygate_types::KeyPolicy) allows |
/// | 422 | `validation_failed` | empty name, malformed permission, expiry in the past, grace out of range |
/// | 422 | `expiry_required`, `lifetime_too_long` | the [`KeyPolicy`](keygate_types::KeyPolicy) refuses the expiry (the field problem names `expires_at`) |
/// | 502 | `key_service_unavailable` | the key service failed or could not be reached |
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsoleError {
    #[serde(skip)]
    status: StatusCode,
    code: String,
    message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldProblem>,
}

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// The field: `name`, `permissions`, `expires_at` or `grace_seconds`.
    pub field: String,
    /// A stable code, such as `required` or `in_the_past`.
    pub code: String,
    /// What was wrong, for people.
    pub message: String,
}

impl FieldProblem {
    pub(crate) fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl ConsoleError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message, for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field problems, for a 422.
    pub fn field_problems(&self) -> &[FieldProblem] {
        &self.errors
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(crate) fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "The CSRF token is missing or does not match: reload the page and try again.",
        )
    }

    pub(crate) fn action_not_allowed(action: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "action_not_allowed",
            format!("You may not {action} keys here."),
        )
    }

    pub(crate) fn not_grantable(permissions: &[String]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_not_grantable",
            format!("You may not grant: {}.", permissions.join(", ")),
        )
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such key.")
    }

    pub(crate) fn expired() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "api_key_already_expired",
            "This key has already expired.",
        )
    }

    /// The key policy's refusal: a 409 for too many keys, else a 422 on
    /// `expires_at`, each with the policy's own sentence.
    pub(crate) fn policy(violation: keygate_types::PolicyViolation) -> Self {
        let message = violation.to_string();
        match violation {
            keygate_types::PolicyViolation::TooManyActiveKeys { .. } => {
                Self::new(StatusCode::CONFLICT, violation.code(), message)
            }
            _ => Self {
                errors: vec![FieldProblem::new(
                    "expires_at",
                    violation.code(),
                    message.clone(),
                )],
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, violation.code(), message)
            },
        }
    }

    pub(crate) fn invalid(errors: Vec<FieldProblem>) -> Self {
        let message = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
            )
        }
    }

    /// Maps a key-service failure: its 404 is ours, its validation errors
    /// are the caller's, anything else is a 502 logged with the endpoint.
    pub(crate) fn from_client(error: keygate_client::Error) -> Self {
        if error.is_not_found() {
            return Self::not_found();
        }
        match (error.status(), error.api_error()) {
            (Some(status), Some(api)) if status == StatusCode::CONFLICT => {
                Self::new(StatusCode::CONFLICT, api.code(), api.message())
            }
            (Some(status), Some(api))
                if status == StatusCode::UNPROCESSABLE_ENTITY
                    || status == StatusCode::BAD_REQUEST =>
            {
                let mut errors: Vec<FieldProblem> = api
                    .field_errors()
                    .iter()
                    .map(|e| FieldProblem::new(&e.field, &e.code, api.message()))
                    .collect();
                if errors.is_empty() {
                    errors.push(FieldProblem::new("request", api.code(), api.message()));
                }
                Self::invalid(errors)
            }
            _ => {
                tracing::warn!(error = %error, "the key service failed a console request");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "key_service_unavailable",
                    "The key service did not answer; try again in a moment.",
                )
            }
        }
    }

    /// The message for `field`, if it has a problem.
    pub(crate) fn problem_with(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field || e.field.starts_with(&format!("{field}[")))
            .map(|e| e.message.as_str())
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ConsoleError {}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_error_lists_its_fields_in_the_body() {
        let error = ConsoleError::invalid(vec![FieldProblem::new(
            "name",
            "required",
            "Give the key a name.",
        )]);
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({
                "code": "validation_failed",
                "message": "Give the key a name.",
                "errors": [{"field": "name", "code": "required", "message": "Give the key a name."}],
            })
        );
        assert_eq!(error.problem_with("name"), Some("Give the key a name."));
        assert_eq!(error.problem_with("expires_at"), None);
    }

    #[test]
    fn other_errors_have_no_errors_array() {
        let body = serde_json::to_value(ConsoleError::not_found()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"code": "not_found", "message": "No such key."})
        );
    }
}

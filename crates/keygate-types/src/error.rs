//! Error bodies of the key service.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An error answer: `{"code","message"}`, with `errors[]` for field
/// validation and `entity_id` on 404.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `entity_not_found`.
    #[serde(default)]
    pub code: String,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
    /// Per-field problems, for validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The id that was not found, on 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
}

impl ErrorBody {
    /// An error with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            errors: Vec::new(),
            entity_id: None,
        }
    }

    /// Adds a field error.
    pub fn with_field_error(mut self, field: impl Into<String>, code: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            code: code.into(),
        });
        self
    }

    /// Sets the id that was not found.
    pub fn with_entity_id(mut self, id: impl Into<String>) -> Self {
        self.entity_id = Some(id.into());
        self
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        for e in &self.errors {
            write!(f, "; {} ({})", e.field, e.code)?;
        }
        Ok(())
    }
}

/// One field's problem in a validation error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// A stable code, e.g. `name_required`.
    pub code: String,
    /// The field, e.g. `name` or `permissions[0]`.
    pub field: String,
}

/// Well-known error codes.
pub mod codes {
    /// A missing or unknown environment secret.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// An id that names nothing.
    pub const ENTITY_NOT_FOUND: &str = "entity_not_found";
    /// Parameters or body fields that fail validation.
    pub const INVALID_REQUEST_PARAMETERS: &str = "invalid_request_parameters";
    /// Expiring a key that has already expired.
    pub const API_KEY_ALREADY_EXPIRED: &str = "api_key_already_expired";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minimal_and_full_shapes() {
        let e = ErrorBody::new("unauthorized", "no");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"code":"unauthorized","message":"no"})
        );
        let e = ErrorBody::new("entity_not_found", "gone").with_entity_id("org_x");
        assert_eq!(serde_json::to_value(&e).unwrap()["entity_id"], "org_x");
        let e = ErrorBody::new("invalid_request_parameters", "bad")
            .with_field_error("name", "name_required");
        assert_eq!(
            serde_json::to_value(&e).unwrap()["errors"],
            json!([{"code":"name_required","field":"name"}])
        );
    }
}

//! Request bodies: size-capped, parsed as JSON, and every failure answered
//! with a WorkOS error body saying what was wrong.
//!
//! Malformed JSON is a 400 `invalid_json`. An empty body, or one missing a
//! field, gets the route's status for a missing field (422, or 400 where
//! WorkOS's OpenAPI spec documents it); JSON of the wrong shape (a string
//! where a list belongs) is a 422. Every error body has `errors[]` naming
//! the field (`body` for the whole of it), as the spec documents.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::StatusCode;
use keygate_types::{ErrorBody, codes};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::reply::ApiError;

/// A request body as bytes, within the body-size cap.
#[derive(Debug)]
pub(crate) struct RawBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorBody::new(
                    "request_entity_too_large",
                    "The request body is larger than this service accepts.",
                ),
            )),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorBody::new(
                    "invalid_request",
                    format!("could not read the request body: {e}"),
                ),
            )),
        }
    }
}

/// A JSON body of type `T`; missing or mistyped fields are a 422.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse(&bytes, StatusCode::UNPROCESSABLE_ENTITY).map(JsonBody)
    }
}

/// Parses `bytes` as JSON of type `T`. Syntax errors are a 400; an empty
/// body or a missing field gets `missing_status`; other shape errors a 422.
pub(crate) fn parse<T: DeserializeOwned>(
    bytes: &[u8],
    missing_status: StatusCode,
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            missing_status,
            ErrorBody::new(
                codes::INVALID_REQUEST_PARAMETERS,
                "The request body is empty; expected a JSON object.",
            )
            .with_field_error("body", "body_required"),
        ));
    }
    if !is_object(bytes) {
        // serde reads a struct from a JSON array too, field by field in order,
        // so the shape is checked first: malformed JSON is still a 400, any
        // other well-formed value a 422.
        let mut de = serde_json::Deserializer::from_slice(bytes);
        serde::de::IgnoredAny::deserialize(&mut de)
            .and_then(|_| de.end())
            .map_err(|e| syntax_error(&e))?;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody::new(
                codes::INVALID_REQUEST_PARAMETERS,
                "The request body must be a JSON object.",
            )
            .with_field_error("body", "invalid_type"),
        ));
    }
    // The common case, a good body, parses without tracking the path; only a
    // failed parse is repeated with it, to name the field in the answer.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => shape_error(&path, &inner, missing_status),
            _ => syntax_error(&inner),
        }
    })?;
    de.end().map_err(|e| syntax_error(&e))?;
    Ok(value)
}

fn is_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn syntax_error(e: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorBody::new(
            "invalid_json",
            format!("The request body is not valid JSON: {e}."),
        )
        .with_field_error("body", "invalid_json"),
    )
}

/// A 422 (or `missing_status`) naming the field at `path`.
fn shape_error(path: &str, e: &serde_json::Error, missing_status: StatusCode) -> ApiError {
    let message = e.to_string();
    // serde reports a missing field at its parent, naming it in the message.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let (field, code, status) = match missing {
        Some(name) => {
            let field = if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            let code = format!("{name}_required");
            (field, code, missing_status)
        }
        None => (
            if path == "." {
                "body".to_owned()
            } else {
                path.to_owned()
            },
            "invalid_type".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    // Drop serde's " at line 1 column 9" tail: the field says where.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    ApiError::new(
        status,
        ErrorBody::new(
            codes::INVALID_REQUEST_PARAMETERS,
            format!("Validation failed for `{field}`: {message}."),
        )
        .with_field_error(field, code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_types::CreateOrganizationApiKey;

    fn err(body: &str) -> ApiError {
        parse::<CreateOrganizationApiKey>(body.as_bytes(), StatusCode::UNPROCESSABLE_ENTITY)
            .unwrap_err()
    }

    #[test]
    fn malformed_json_is_400_with_a_position() {
        let e = err(r#"{"name": "#);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.body.code, "invalid_json");
        assert!(e.body.message.contains("line 1"), "{}", e.body.message);
        assert_eq!(e.body.errors[0].field, "body");
        assert_eq!(
            err(r#"{"name":"a"} trailing"#).status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn wrong_types_are_422_naming_the_field() {
        let e = err(r#"{"name": "ci", "permissions": "posts:read"}"#);
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body.errors[0].field, "permissions");
        let e = err(r#"{"name": "ci", "permissions": ["a", 5]}"#);
        assert_eq!(e.body.errors[0].field, "permissions[1]");
        let e = err(r#"{"name": 5}"#);
        assert_eq!(e.body.errors[0].field, "name");
        let e = err(r#"{"name": "x", "expires_at": "tomorrow"}"#);
        assert_eq!(e.body.errors[0].field, "expires_at");
        assert!(e.body.message.contains("RFC 3339"), "{}", e.body.message);
    }

    #[test]
    fn only_an_object_is_a_body() {
        for body in [
            r#"["ci"]"#,
            r#"["ci", ["posts:read"], null]"#,
            "[]",
            "5",
            r#""ci""#,
            "null",
        ] {
            let e = err(body);
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(e.body.errors[0].field, "body", "{body}");
        }
        assert_eq!(err("[1,").status, StatusCode::BAD_REQUEST);
        assert_eq!(err("[] []").status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn an_empty_body_is_a_missing_body_with_the_routes_status() {
        for body in ["", "  \n"] {
            let e = err(body);
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(e.body.errors[0].field, "body");
            assert_eq!(e.body.errors[0].code, "body_required");
        }
        let e = parse::<CreateOrganizationApiKey>(b"", StatusCode::BAD_REQUEST).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.body.errors.len(), 1);
    }

    #[test]
    fn missing_fields_get_the_chosen_status() {
        let e = err("{}");
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body.errors[0].field, "name");
        assert_eq!(e.body.errors[0].code, "name_required");
        let e = parse::<CreateOrganizationApiKey>(b"{}", StatusCode::BAD_REQUEST).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    proptest::proptest! {
        /// Any bytes at all get an answer: a parsed body, or a 400 or 422
        /// with a message; never a panic.
        #[test]
        fn any_bytes_get_a_clear_answer(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            if let Err(e) = parse::<CreateOrganizationApiKey>(&bytes, StatusCode::UNPROCESSABLE_ENTITY) {
                proptest::prop_assert!(matches!(e.status.as_u16(), 400 | 422));
                proptest::prop_assert!(!e.body.message.is_empty());
            }
        }

        /// JSON-looking text (objects with odd fields and values) too.
        #[test]
        fn json_like_text_gets_a_clear_answer(text in r#"\{("[a-z_]{1,12}":(null|true|[0-9]{1,5}|"[ -~]{0,20}"|\[\]|\{\}),?){0,4}\}"#) {
            if let Err(e) = parse::<CreateOrganizationApiKey>(text.as_bytes(), StatusCode::UNPROCESSABLE_ENTITY) {
                proptest::prop_assert!(matches!(e.status.as_u16(), 400 | 422));
                if e.status.as_u16() == 422 {
                    proptest::prop_assert_eq!(e.body.errors.len(), 1);
                }
            }
        }
    }
}

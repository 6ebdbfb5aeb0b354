//! The library's error type.

use std::io;
use std::net::SocketAddr;

use keygate_types::{ErrorBody, codes};

/// What went wrong in a call to the emulator's library API.
///
/// The setup helpers ([`Emulator::create_organization`](crate::Emulator::create_organization)
/// and friends) apply the same rules as the HTTP endpoints, so they fail the
/// same ways; each variant names the HTTP status the server answers with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server could not listen on the address: pick another one, or port 0.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the operating system refused.
        #[source]
        source: io::Error,
    },
    /// The seed could not be read or applied; the message says which entry is wrong.
    #[error("seed: {0}")]
    Seed(String),
    /// An id names nothing (HTTP 404).
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// What kind of object was looked up, e.g. `organization`.
        entity: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// Required fields are missing (HTTP 400); fix the request.
    #[error("bad request: {0}")]
    BadRequest(ErrorBody),
    /// The request is well formed but breaks a rule (HTTP 422); the body says which.
    #[error("unprocessable: {0}")]
    Unprocessable(ErrorBody),
    /// The request conflicts with the object's state (HTTP 409).
    #[error("conflict: {0}")]
    Conflict(ErrorBody),
    /// The state file cannot be opened, read or written (HTTP 500 for a
    /// write that could not be kept); the message names the file and why.
    #[error("{0}")]
    Storage(String),
}

impl Error {
    pub(crate) fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            entity,
            id: id.into(),
        }
    }

    /// A 422 `invalid_request_parameters` error about one field.
    pub(crate) fn invalid_field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Error::Unprocessable(
            ErrorBody::new(codes::INVALID_REQUEST_PARAMETERS, message)
                .with_field_error(field, code),
        )
    }

    /// The HTTP status the server answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            Error::Bind { .. } | Error::Seed(_) | Error::Storage(_) => 500,
            Error::NotFound { .. } => 404,
            Error::BadRequest(_) => 400,
            Error::Unprocessable(_) => 422,
            Error::Conflict(_) => 409,
        }
    }

    /// The error body the server answers this error with.
    pub fn body(&self) -> ErrorBody {
        match self {
            Error::NotFound { entity, id } => ErrorBody::new(
                codes::ENTITY_NOT_FOUND,
                format!("Could not find {entity} with id '{id}'."),
            )
            .with_entity_id(id.clone()),
            Error::BadRequest(body) | Error::Unprocessable(body) | Error::Conflict(body) => {
                body.clone()
            }
            Error::Bind { .. } | Error::Seed(_) => {
                ErrorBody::new("internal_error", self.to_string())
            }
            Error::Storage(_) => ErrorBody::new("storage_error", self.to_string()),
        }
    }
}

//! keygate: accept WorkOS-style API keys in axum services.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use keygate_types as types;

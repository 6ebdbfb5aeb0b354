//! The authentication middleware, laid out as tower-http lays out one: the
//! layer and its builder, the service, its response future, and the span
//! each request gets.

mod builder;
mod future;
mod layer;
mod service;
mod shared;
mod span;

pub use builder::ApiKeyAuthBuilder;
pub use future::ResponseFuture;
pub use layer::{ApiKeyAuth, DEFAULT_RETRY_AFTER};
pub use service::ApiKeyAuthService;

#[cfg(test)]
mod tests;

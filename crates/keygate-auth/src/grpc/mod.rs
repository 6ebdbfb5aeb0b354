//! gRPC: the same layer, guards and principal in front of tonic services
//! (feature `tonic`).
//!
//! gRPC clients send the key in the `authorization` metadata, which is the
//! HTTP/2 header [`ApiKeyAuth`](crate::ApiKeyAuth) already reads; what
//! differs is how a refusal is said. A gRPC client reads `grpc-status`, not
//! the HTTP status, so every refusal of a gRPC request is a trailers-only
//! response (HTTP 200, the status in the headers, no body):
//!
//! | refusal | HTTP (RFC 6750) | gRPC |
//! |---|---|---|
//! | no key, malformed key, unknown, revoked or expired key | 401 / 400 | 16 `UNAUTHENTICATED` |
//! | permission missing; method not declared under [`deny_undeclared`](GrpcGate::deny_undeclared) | 403 | 7 `PERMISSION_DENIED` |
//! | key service unavailable | 503, `Retry-After` | 14 `UNAVAILABLE`, `google.rpc.RetryInfo` and `grpc-retry-pushback-ms` |
//! | rate limited (keygate-ratelimit, feature `tonic`) | 429, `Retry-After` | 8 `RESOURCE_EXHAUSTED`, the same retry info |
//! | guard or extractor without the layer | 500 | 13 `INTERNAL` |
//!
//! The message (`grpc-message`) is the refusal's [`Display`](std::fmt::Display),
//! never the key. A refused call, unary or streaming, never reaches its handler.
//!
//! # Two ways to mount it
//!
//! **tonic alone** (`Server::builder()`): build the layer with
//! [`GrpcRejection`], since tonic's body cannot hold the default JSON refusal,
//! and put it in a [`GrpcGate`] to declare each method's permissions and the
//! open services:
//!
//! ```
//! use keygate_auth::grpc::{GrpcGate, GrpcRejection};
//! use keygate_auth::{ApiKeyAuth, InMemoryValidator, RequirePermission};
//!
//! let auth = ApiKeyAuth::builder(InMemoryValidator::new())
//!     .on_rejection(GrpcRejection)
//!     .build();
//! let gate = GrpcGate::new(auth)
//!     .open("grpc.health.v1.Health")
//!     .require("/keygate.echo.v1.Echo/Say", RequirePermission("echo:say"))
//!     .deny_undeclared();
//! // Server::builder().layer(gate).add_service(health).add_service(EchoServer::new(echo))
//! # let _ = gate;
//! ```
//!
//! **REST and gRPC on one port** (tonic's `Routes::into_axum_router` merged
//! into an axum `Router`): keep the default RFC 6750 rendering and wrap the
//! router in a [`GrpcGate`]; it renders the refusals of gRPC requests
//! (`content-type: application/grpc…`) as gRPC, the others as HTTP. See
//! [`GrpcGate`] for an example, and `examples/grpc.rs` in the repository for
//! both servers with a tonic client.
//!
//! A single tonic service can also take a guard of its own:
//! [`GuardService`](crate::GuardService) and
//! [`ApiKeyAuthService`](crate::ApiKeyAuthService) are `NamedService`s, so
//! `add_service(RequirePermission("echo:say").layer(EchoServer::new(echo)))`
//! works behind the layer. Guards need only a body that is `Default`.
//!
//! # The principal in a handler
//!
//! [`RequestPrincipal`] on `tonic::Request`: `request.principal()?` is the
//! [`ApiKeyPrincipal`](crate::ApiKeyPrincipal), with the extractors' refusals
//! as statuses.

mod gate;
mod methods;
mod named;
mod principal;
mod status;

pub use gate::{GateFuture, GrpcGate, GrpcGateService, MethodGuard};
pub use methods::MethodRequirement;
pub use principal::RequestPrincipal;
pub use status::{GrpcRejection, RETRY_PUSHBACK_MS, status_with_retry_info};

#[cfg(test)]
mod tests;

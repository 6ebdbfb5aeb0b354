//! keygate's API keys in a [utoipa](https://docs.rs/utoipa) OpenAPI document:
//! the bearer security scheme, and each route's required permissions taken
//! from the same guards that enforce them.
//!
//! (Through the `keygate` facade, with its feature `utoipa`: `keygate::utoipa`.)
//!
//! With utoipa-axum's router, one call both guards a route and documents it:
//!
//! ```
//! use axum::Router;
//! use keygate_auth::{ApiKeyAuth, InMemoryValidator, RequireAnyPermission, RequirePermission};
//! use keygate_utoipa::{ApiKeySecurity, GuardedRoutes};
//! use utoipa::Modify;
//! use utoipa_axum::{router::OpenApiRouter, routes};
//!
//! #[utoipa::path(get, path = "/me", responses((status = 200, description = "the caller")))]
//! async fn me() {}
//!
//! #[utoipa::path(get, path = "/posts", responses((status = 200, description = "the posts")))]
//! async fn list_posts() {}
//!
//! #[utoipa::path(delete, path = "/posts/{id}", params(("id" = u64, Path)),
//!     responses((status = 204, description = "deleted")))]
//! async fn delete_post() {}
//!
//! let (app, mut openapi): (Router, _) = OpenApiRouter::new()
//!     .routes(routes!(me).authenticated())
//!     .routes(routes!(list_posts).require(RequirePermission("posts:read")))
//!     .routes(routes!(delete_post).require(RequireAnyPermission(&["posts:write", "posts:admin"])))
//!     .layer(ApiKeyAuth::new(InMemoryValidator::new()))
//!     .split_for_parts();
//! ApiKeySecurity.modify(&mut openapi);
//!
//! let document = serde_json::to_value(&openapi).unwrap();
//! assert_eq!(
//!     document["components"]["securitySchemes"]["api_key"]["type"],
//!     "http"
//! );
//! assert_eq!(document["paths"]["/me"]["get"]["security"], serde_json::json!([{"api_key": []}]));
//! assert_eq!(
//!     document["paths"]["/posts"]["get"]["security"],
//!     serde_json::json!([{"api_key": ["posts:read"]}])
//! );
//! assert_eq!(
//!     document["paths"]["/posts/{id}"]["delete"]["security"],
//!     serde_json::json!([{"api_key": ["posts:write"]}, {"api_key": ["posts:admin"]}])
//! );
//! # let _: Router = app;
//! ```
//!
//! - [`ApiKeySecurity`] adds the scheme, an `http` `bearer` scheme named
//!   [`api_key`](SCHEME_NAME): call it as above, or name it in a derived
//!   document's `#[openapi(modifiers(&ApiKeySecurity))]`.
//! - [`GuardedRoutes`] puts a guard on utoipa-axum's
//!   [`routes!`](utoipa_axum::routes) and its requirements in their
//!   operations; `.authenticated()` documents a route that needs a key and no
//!   permission.
//! - Without utoipa-axum, declare each guard once as a constant, layer it on
//!   the route and pass it to [`ApiKeySecurity::require`] for the document.
//! - [`RouteSecurity`] is the mapping itself: one permission is one requirement
//!   object with one scope, all-of is one object listing every permission,
//!   any-of is one object per permission (OpenAPI accepts any one object).
//!
//! Your crate depends on `utoipa` (for `#[utoipa::path]`) and, for
//! [`GuardedRoutes`], `utoipa-axum`, in the versions this crate uses (6 and
//! 0.3).
//!
//! The scheme describes the `Authorization: Bearer` header only; a key that
//! [`ApiKeyAuthBuilder::header`](keygate_auth::ApiKeyAuthBuilder::header) or
//! `query_parameter` also accepts is not described.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod operation;
mod requirement;
mod routes;
mod scheme;

pub use requirement::{Authenticated, RouteSecurity};
pub use routes::GuardedRoutes;
pub use scheme::{ApiKeySecurity, BEARER_FORMAT, SCHEME_NAME, UnknownOperation};

// Compiles (and runs) the README's example, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

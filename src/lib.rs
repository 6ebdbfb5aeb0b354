//! keygate: accept WorkOS-style API keys in axum services.
//!
//! Put [`ApiKeyAuth`] on a router and a guard on each route that needs a
//! permission; handlers read the caller as an [`ApiKeyPrincipal`]:
//!
//! ```no_run
//! use axum::{Router, routing::{get, post}};
//! use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client, RequirePermission};
//!
//! async fn list_posts(principal: ApiKeyPrincipal) -> String {
//!     format!("posts of {}", principal.organization_id())
//! }
//! async fn create_post() -> &'static str { "created" }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::from_env()?; // WORKOS_API_KEY, WORKOS_BASE_URL
//! let app: Router = Router::new()
//!     .route("/posts", get(list_posts))
//!     .route("/posts/new", post(create_post).route_layer(RequirePermission("posts:write")))
//!     .layer(ApiKeyAuth::new(client));
//! # Ok(()) }
//! ```
//!
//! This crate is a facade over the workspace's parts:
//!
//! | part | what it is |
//! |---|---|
//! | [`keygate_auth`] (re-exported at the root) | the tower layer, its verdict cache, the principal, guards and extractors |
//! | [`client`] (feature `client`, on by default) | the typed HTTP client of the key service |
//! | [`types`] | the wire model: keys, owners, lists, events, errors |
//! | [`emulator`] (feature `emulator`) | the in-process, WorkOS-compatible key service for tests |
//!
//! Features: `client` (default), `emulator` (turn it on in `[dev-dependencies]`
//! to test your service against a real key service in-process), `test-util`
//! (the [`InMemoryValidator`], for unit tests without any server).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use keygate_auth::*;
pub use keygate_types as types;

/// The typed client of the key service (crate `keygate-client`).
#[cfg(feature = "client")]
pub use keygate_client as client;
#[cfg(feature = "client")]
pub use keygate_client::Client;

/// The in-process emulator of the key service (crate `keygate-emulator`).
#[cfg(feature = "emulator")]
pub use keygate_emulator as emulator;

// Compiles (and runs) the README's Rust examples, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

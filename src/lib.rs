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
//! This crate is a facade over the workspace's parts, each behind a feature:
//!
//! | part | feature | what it is |
//! |---|---|---|
//! | `keygate-auth` | – | at the root: the tower layer, the principal, guards, extractors and refusals; in [`validator`], [`cache`], [`upstream`], [`revocation`], [`tier`]: what you configure or implement once |
//! | [`client`] | `client` (default) | the typed HTTP client of the key service, the layer's validator, and the Events API revocation listener |
//! | [`types`] | – | the wire model: keys, owners, lists, events, errors |
//! | [`emulator`] | `emulator` | the in-process, WorkOS-compatible key service, for your tests |
//! | [`validator::InMemoryValidator`] | `test-util` | a key table for unit tests, no server at all |
//! | [`revocation::WebhookReceiver`] | `webhooks` | signed WorkOS webhooks invalidate revoked keys at once |
//! | [`console`] | `console` | the self-service key console, an axum `Router` mounted behind your login |
//! | `redis` | `redis` | fleet mode: a verdict tier shared by replicas on Redis; with `ratelimit`, a shared rate-limit budget |
//! | [`utoipa`] | `utoipa` | the API-key scheme and each route's permissions in a utoipa OpenAPI document |
//! | [`ratelimit`] | `ratelimit` | per-key quotas behind the layer, 429 with the IETF `RateLimit` headers |
//! | – | `metrics` | the layer's counters through the `metrics` facade (see [`keygate_auth`'s table](keygate_auth#metrics) and `examples/metrics.rs`) |
//!
//! In `[dev-dependencies]`, turn on `emulator` to test your service against
//! a real key service in-process. The README lists the examples and links
//! each part's manual.
//!
//! TLS (rustls, to the key service and, in fleet mode, to Redis) takes its
//! crypto provider from one of two features: `aws-lc-rs` (default) or `ring`,
//! which leaves aws-lc-sys (C code) out of the build once the default is off:
//! `keygate = { version = "0.1", default-features = false, features = ["client", "ring"] }`.
//! With both on, aws-lc-rs is used; with neither, the client speaks plain HTTP
//! only. See [`keygate-client`'s TLS section](https://docs.rs/keygate-client/latest/keygate_client/#tls-the-crypto-provider).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// What a service's code touches daily: the layer, the guards and
// extractors, the principal, and the refusals.
pub use keygate_auth::{
    Anonymous, ApiKeyAuth, ApiKeyAuthBuilder, ApiKeyAuthService, ApiKeyPrincipal, AuthRejection,
    Authorized, CredentialError, DefaultRejection, GuardFuture, GuardService, InsufficientScope,
    InvalidToken, OnRejection, PermissionSlug, Precheck, Principal, PrincipalKind,
    RequireAllPermissions, RequireAnyPermission, RequirePermission, ResponseFuture, permission,
};

/// M2M and AuthKit session access tokens beside API keys, through the same
/// layer: the verifier, its key-set cache and the session denylist.
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use keygate_auth::jwt;

/// gRPC through the same layer: refusals as gRPC statuses, each method's
/// permissions, REST and gRPC on one port.
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub use keygate_auth::grpc;

/// Requests per API key, counted by the layer for the key's holder to see.
pub use keygate_auth::usage;

/// Where verdicts come from: the [`KeyValidator`](validator::KeyValidator)
/// trait for your own key store, and the validators that ship.
pub mod validator {
    #[cfg(feature = "test-util")]
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub use keygate_auth::InMemoryValidator;
    pub use keygate_auth::{FnValidator, KeyValidator, ValidatorError, Verdict, validator_fn};
}

/// The layer's verdict cache: its handle (for invalidation and counters),
/// its default sizes and lifetimes, and the clock `expires_at` is checked
/// against.
pub mod cache {
    pub use keygate_auth::{
        CacheStats, Clock, DEFAULT_MAX_CAPACITY, DEFAULT_MAX_INVALID_CAPACITY,
        DEFAULT_MAX_KEY_LENGTH, DEFAULT_NEGATIVE_TTL, DEFAULT_POSITIVE_TTL, SystemClock,
        VerdictCache,
    };
}

/// What stands between a cache miss and the key service: the timeout, the
/// cap on calls in flight, the circuit breaker and the 503's `Retry-After`.
pub mod upstream {
    pub use keygate_auth::{
        BreakerState, CircuitBreaker, DEFAULT_MAX_CONCURRENT_VALIDATIONS, DEFAULT_RETRY_AFTER,
        DEFAULT_UPSTREAM_TIMEOUT, UpstreamError,
    };
}

/// Revocation before the cache's TTL runs out: the Events API listener
/// (`client`) and the signed-webhook receiver (`webhooks`).
#[cfg(any(feature = "client", feature = "webhooks"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "client", feature = "webhooks"))))]
pub mod revocation {
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    pub use keygate_auth::{
        DEFAULT_POLL_INTERVAL, ListenerHandle, ListenerStats, RevocationListener,
    };
    #[cfg(feature = "webhooks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "webhooks")))]
    pub use keygate_auth::{
        DEFAULT_WEBHOOK_TOLERANCE, Delivery, SIGNATURE_HEADER, WebhookError, WebhookReceiver,
        webhook_signature,
    };
}

/// The layer's metrics through the `metrics` facade (see
/// [`keygate_auth`'s table](keygate_auth#metrics)).
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics {
    pub use keygate_auth::DEFAULT_ORGANIZATION_LABELS;
}

/// The fleet contract: a verdict tier shared by replicas and the invalidation
/// log they follow, for implementors of a tier (fleet mode on Redis is
/// `keygate::redis`, with the `redis` feature).
pub use keygate_auth::tier;

/// The wire model of the key service (crate `keygate-types`).
pub use keygate_types as types;

/// The typed client of the key service (crate `keygate-client`).
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use keygate_client as client;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use keygate_client::Client;

/// The in-process emulator of the key service (crate `keygate-emulator`).
#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub use keygate_emulator as emulator;

/// Fleet mode: a verdict tier shared by replicas on Redis (crate `keygate-redis`).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use keygate_redis as redis;

/// The self-service key console: an axum `Router` you mount behind your login (crate `keygate-console`).
#[cfg(feature = "console")]
#[cfg_attr(docsrs, doc(cfg(feature = "console")))]
pub use keygate_console as console;

/// The API-key security scheme and each route's permissions in a utoipa OpenAPI document (crate `keygate-utoipa`).
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub use keygate_utoipa as utoipa;

/// Per-key rate limits behind [`ApiKeyAuth`]: 429 with the IETF `RateLimit` headers (crate `keygate-ratelimit`).
#[cfg(feature = "ratelimit")]
#[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
pub use keygate_ratelimit as ratelimit;

// Compiles (and runs) the README's Rust examples, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

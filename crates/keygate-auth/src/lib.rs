#![doc = include_str!("../docs/middleware.md")]
#![doc = "\n"]
#![doc = include_str!("../docs/revocation.md")]
#![doc = "\n"]
#![doc = include_str!("../docs/resilience.md")]
#![doc = "\n"]
#![doc = include_str!("../docs/metrics.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authenticate;
mod cache;
mod clock;
mod credential;
mod extract;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod grpc;
mod guard;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
mod metrics;
mod principal;
mod rejection;
mod revocation;
pub mod tier;
mod upstream;
pub mod usage;
mod validator;
mod verdicts;

pub use authenticate::{
    ApiKeyAuth, ApiKeyAuthBuilder, ApiKeyAuthService, DEFAULT_RETRY_AFTER, ResponseFuture,
};
pub use cache::{
    CacheStats, DEFAULT_MAX_CAPACITY, DEFAULT_MAX_INVALID_CAPACITY, DEFAULT_NEGATIVE_TTL,
    DEFAULT_POSITIVE_TTL, VerdictCache,
};
pub use clock::{Clock, SystemClock};
pub use credential::{CredentialError, DEFAULT_MAX_KEY_LENGTH, Precheck};
pub use extract::{Authorized, PermissionSlug};
pub use guard::{
    GuardFuture, GuardService, RequireAllPermissions, RequireAnyPermission, RequirePermission,
};
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use metrics::DEFAULT_ORGANIZATION_LABELS;
pub use principal::{Anonymous, ApiKeyPrincipal, Principal, PrincipalKind};
pub use rejection::{
    AuthRejection, DefaultRejection, InsufficientScope, InvalidToken, OnRejection, TokenRefusal,
};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use revocation::{DEFAULT_POLL_INTERVAL, ListenerHandle, ListenerStats, RevocationListener};
#[cfg(feature = "webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhooks")))]
pub use revocation::{
    DEFAULT_TOLERANCE as DEFAULT_WEBHOOK_TOLERANCE, Delivery, SIGNATURE_HEADER, WebhookError,
    WebhookReceiver, webhook_signature,
};
pub use upstream::{
    BreakerState, CircuitBreaker, DEFAULT_MAX_CONCURRENT_VALIDATIONS, DEFAULT_UPSTREAM_TIMEOUT,
    UpstreamError,
};
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use validator::InMemoryValidator;
pub use validator::{FnValidator, KeyValidator, ValidatorError, Verdict, validator_fn};

/// What [`permission!`] expands to; not an API.
#[doc(hidden)]
pub mod __private {
    pub use keygate_types::is_valid_permission;
}

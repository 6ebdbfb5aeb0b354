#![doc = include_str!("../docs/middleware.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cache;
mod clock;
mod credential;
mod extract;
mod future;
mod guard;
mod layer;
mod principal;
mod rejection;
pub mod revocation;
mod service;
pub mod upstream;
mod validator;

pub use cache::{CacheOutcome, CacheStats, VerdictCache};
pub use clock::{Clock, SystemClock};
pub use credential::{CredentialError, CredentialSource, DEFAULT_MAX_KEY_LENGTH, Precheck};
pub use extract::{Authorized, PermissionSlug, is_valid_permission};
pub use future::ResponseFuture;
pub use guard::{
    GuardFuture, GuardService, RequireAllPermissions, RequireAnyPermission, RequirePermission,
};
pub use layer::{ApiKeyAuth, ApiKeyAuthBuilder, DEFAULT_RETRY_AFTER};
pub use principal::{Anonymous, ApiKeyPrincipal};
pub use rejection::{
    AuthRejection, DefaultRejection, InsufficientScope, InvalidToken, OnRejection,
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
pub use service::ApiKeyAuthService;
pub use upstream::{
    BreakerState, CircuitBreaker, DEFAULT_MAX_CONCURRENT_VALIDATIONS, DEFAULT_UPSTREAM_TIMEOUT,
    UpstreamError,
};
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use validator::InMemoryValidator;
pub use validator::{FnValidator, KeyValidator, ValidatorError, Verdict, validator_fn};

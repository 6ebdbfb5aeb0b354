//! A typed async client for the WorkOS API Keys service, and for keygate's
//! emulator of it.
//!
//! It covers every endpoint keygate uses (see `WIRE.md`): creating, listing,
//! expiring, deleting and validating API keys; listing events, with a call for
//! cursor-following pollers; and the organization, user and membership calls
//! needed to set up key owners. Lists come as one [`Page`] or as an
//! auto-paging [`ItemStream`].
//!
//! It is built to sit on a request path:
//! - **Typed errors**: an API error ([`ApiError`]: status, WorkOS `code`,
//!   `message`, field `errors[]`, request id, `Retry-After`) is kept apart from
//!   timeouts, transport errors and unreadable bodies; [`Error::is_retryable`]
//!   says which may pass.
//! - **Retries** with exponential backoff and full jitter, honouring
//!   `Retry-After` up to a cap ([`RetryPolicy`]); creates are retried only with
//!   an [`IdempotencyKey`].
//! - **Secrets stay secret**: the environment secret and created keys' values
//!   live in [`SecretString`](keygate_types::SecretString); no `Debug` or
//!   `Display` here shows them, and the `tracing` spans (one per attempt, with
//!   method, path template, attempt, status and request id) never carry a body.
//!
//! ## TLS: the crypto provider
//!
//! TLS is rustls, never OpenSSL; the certificates are checked against the
//! OS's trust store. Its crypto provider is chosen by feature:
//! - `aws-lc-rs` (default): reqwest's own rustls set-up on aws-lc-rs, which
//!   builds aws-lc-sys (C code).
//! - `ring`: rustls on ring, no aws-lc-sys in the build; turn the default
//!   off: `keygate-client = { version = "0.1", default-features = false,
//!   features = ["ring"] }`. With both features on, aws-lc-rs is used.
//! - neither: plain HTTP only, for the emulator and tests; [`ClientBuilder::build`]
//!   refuses an `https://` base URL with [`Error::Config`].
//!
//! A provider the application installed as rustls's process default is used
//! before the feature's, and a client given to [`ClientBuilder::http_client`]
//! keeps its own TLS. Through the `keygate` facade the features have the same
//! names and also choose the provider of fleet mode's TLS to Redis.
//!
//! Where it sits: `keygate-auth` validates presented keys through
//! [`Client::validate_api_key`]; the `keygate` CLI manages keys with it;
//! `keygate-emulator` is the server its tests run against.
//!
//! ```
//! use keygate_client::Client;
//! use keygate_types::{CreateOrganization, CreateOrganizationApiKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In tests, an in-process emulator; in production, `Client::from_env()`.
//! let emu = keygate_emulator::Emulator::start().await?;
//! let client = Client::builder()
//!     .secret(emu.secret().clone())
//!     .base_url(emu.base_url())
//!     .build()?;
//!
//! let org = client
//!     .create_organization(CreateOrganization { name: "Acme".into(), ..Default::default() })
//!     .await?;
//! let key = client
//!     .create_organization_api_key(&org.id, CreateOrganizationApiKey {
//!         name: "CI".into(),
//!         permissions: vec!["posts:read".into()],
//!         expires_at: None,
//!     })
//!     .await?;
//! let valid = client.validate_api_key(key.value.expose_secret()).await?;
//! assert_eq!(valid.map(|k| k.id), Some(key.id.clone()));
//!
//! client.delete_api_key(&key.id).await?;
//! assert!(client.validate_api_key(key.value.expose_secret()).await?.is_none());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod answer;
mod api_keys;
mod authorization;
mod call;
mod client;
mod config;
mod create;
mod error;
mod events;
mod memberships;
mod organizations;
mod page;
mod policy;
mod retry;
mod tls;
mod users;

pub use client::Client;
pub use config::{
    API_KEY_ENV, BASE_URL_ENV, ClientBuilder, Config, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
};
pub use create::{Create, IdempotencyKey, InvalidIdempotencyKey};
pub use error::{ApiError, Endpoint, Error};
pub use events::EventBatch;
pub use page::{ItemStream, Page};
pub use retry::RetryPolicy;

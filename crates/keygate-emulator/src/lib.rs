//! A stateful, WorkOS-compatible API-keys service, for tests and local
//! development.
//!
//! The emulator serves the WorkOS API Keys endpoints (create, list, expire,
//! delete, validate), `GET /events`, and the organization, user and
//! membership endpoints keys depend on, with WorkOS's shapes, status codes
//! and error bodies, so that the official WorkOS SDKs and keygate's own
//! client work against it unchanged. It keeps keys only as SHA-256 digests,
//! applies every rule of keygate's `WIRE.md` (permission allow-lists, user
//! keys needing an active membership, revocation on membership or
//! organization deletion, expiry), and offers test controls: fault
//! injection, per-route request counters, a settable clock and reset.
//!
//! Start it in-process in one line, set up what the test needs, and point
//! the code under test at [`Emulator::base_url`] with [`Emulator::secret`]:
//!
//! ```
//! use keygate_emulator::Emulator;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), keygate_emulator::Error> {
//! let emu = Emulator::start().await?;
//! let org = emu.create_organization("Acme")?;
//! let key = emu.create_organization_key(&org.id, "ci", &["posts:read"])?;
//! println!("POST {}/api_keys/validations with {:?}", emu.base_url(), key.id);
//! # Ok(())
//! # }
//! ```
//!
//! The same server runs standalone as `keygate serve` (crate `keygate-cli`).
//! Its test controls are also served over HTTP under `/_emulator/`, with an
//! environment secret: `POST /_emulator/reset`, `GET|POST|DELETE
//! /_emulator/faults`, `GET|DELETE /_emulator/requests`, `GET|PUT
//! /_emulator/clock`, `POST /_emulator/clock/advance`, `GET|POST
//! /_emulator/webhooks`, `DELETE /_emulator/webhooks/{id}`, `GET
//! /_emulator/webhooks/deliveries`, `GET|POST /_emulator/m2m_applications`,
//! `POST /_emulator/sessions`, `POST /_emulator/signing_keys/rotate`; and
//! `GET /health` without one.
//!
//! State: in memory by default. With the `sqlite` feature (off by default:
//! it compiles SQLite, a C build), `EmulatorBuilder::state_file` (`keygate
//! serve --state FILE`) keeps it in a SQLite file, so that every
//! acknowledged write survives a restart, even `kill -9`: token signing keys
//! (private halves included), M2M applications and sessions among it. Create
//! routes honour `Idempotency-Key` (a retry within 24 hours gets the first
//! answer).
//!
//! # Features
//!
//! - `sqlite`: `EmulatorBuilder::state_file`, the state kept in a SQLite
//!   file (rusqlite with SQLite bundled). On in `keygate-cli`; not turned on
//!   by the facade's `keygate/emulator` feature.
//!
//! Webhooks: registered endpoints receive every event as WorkOS delivers
//! it, a JSON POST signed with `WorkOS-Signature: t=<unix ms>, v1=<hex
//! HMAC-SHA256 of "{t}.{body}">`, retried with exponential backoff (see
//! [`WebhookRetry`]).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

mod auth;
mod clock;
mod counters;
mod emulator;
mod environment;
mod error;
mod faults;
mod ids;
mod rate_limit;
mod request_id;
mod routes;
mod seed;
mod server;
mod store;
mod tokens;
mod webhooks;

pub use emulator::{DEFAULT_BODY_LIMIT, Emulator, EmulatorBuilder, STATE_DIR_ENV};
pub use error::Error;
pub use faults::{Fault, FaultBody};
pub use rate_limit::SecretRateLimit;
pub use seed::{Seed, SeedApiKey, SeedMembership, SeedOrganization, SeedUser};
pub use store::WebhookEndpoint;
pub use tokens::{
    M2M_TOKEN_LIFETIME_SECS, M2mApplication, SESSION_TOKEN_LIFETIME_SECS, SessionToken,
};
pub use webhooks::{DeliveryState, WebhookDelivery, WebhookRetry};

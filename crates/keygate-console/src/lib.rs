//! A self-service API-key console for axum apps: the page where your
//! customers list, create, roll and revoke the keys your API accepts.
//!
//! [`Console`] is an axum [`Router`] you mount behind your own login. For
//! each request, your [`ResolveScope`] says whose keys are in view (an
//! organization, or one user's keys in it), what the caller may do
//! ([`Action`]) and which permissions they may grant. The console talks to
//! the key service (WorkOS, or keygate's emulator) through
//! [`keygate_client::Client`] and offers two faces:
//!
//! - a server-rendered page: a list with name, masked value, permissions,
//!   created, last used, expiry and status (`active`, `expiring` within 7
//!   days, `expired`); search by name; a create form whose value is shown
//!   once with a copy button; roll with a chosen grace; a revoke
//!   confirmation. Plain forms that work with JavaScript off, made smoother
//!   by the console's own small script. Every asset is served by the
//!   console itself.
//! - a JSON API under `api/keys`: see [`ConsoleError`] for its refusals.
//!
//! | method and path (under the mount point) | what |
//! |---|---|
//! | `GET /` `?q=` | the page |
//! | `POST /keys` | create (form) |
//! | `POST /keys/{id}/roll` | roll (form, `grace_seconds`) |
//! | `GET`, `POST /keys/{id}/revoke` | confirm, then revoke (form) |
//! | `POST /keys/{id}/expiry` | schedule (`change=schedule`, `expires_at`) or clear (`change=clear`) |
//! | `POST /organization` | switch organization (form) |
//! | `GET /api/keys` `?q=` | list, `{"data": [...]}` (in a [`Scope::members`] scope each key has `owner_email`) |
//! | `GET /api/permissions` | what the caller may grant: `{"data": [{"slug", "name", "description"}]}`, named from the key service's catalogue |
//! | `POST /api/keys` | create `{"name", "permissions", "expires_at"}`: 201 `{"key", "value"}` |
//! | `POST /api/keys/{id}/roll` | `{"grace_seconds"}`: 201 `{"key", "value", "previous"}` |
//! | `DELETE /api/keys/{id}` | revoke: 204 |
//! | `PUT /api/keys/{id}/expiry` | `{"expires_at": "…"}` schedules, `{"expires_at": null}` clears |
//! | `GET /assets/console.js`, `/assets/console.css`, `/assets/favicon.svg` | the page's own script, styles and icon |
//!
//! # Security rules
//! - **CSRF**: every state-changing request carries a double-submit token
//!   (form field `csrf_token`, or header `X-CSRF-Token` on the JSON API)
//!   equal to an `HttpOnly; SameSite=Strict` cookie, checked on the server
//!   in constant time; cross-site fetches are refused too. See [`csrf`].
//! - **Scope on the server**: an id outside the caller's scope answers 404,
//!   exactly as an absent one; the key's owner is read from the key service
//!   before any action. An action the scope does not allow answers 403.
//! - **Grants**: a key gets only permissions from the scope's grantable set,
//!   by create or by roll (a key with other permissions cannot be rolled).
//!   The catalogue (`GET /authorization/permissions`) only names them.
//! - **Others' keys**: a [`Scope::members`] scope views, revokes and changes
//!   the expiry of members' keys, and never creates or rolls one.
//! - **Policy**: every new key passes the [`KeyPolicy`]
//!   given to [`Console::key_policy`]; a roll keeps the old key's lifetime.
//! - **The value**: shown once, in the create (or roll) answer or on the
//!   single page view after a form post; never in a URL, a log line or a
//!   cached response: every response has `Cache-Control: no-store`.
//! - **Headers**: a strict `Content-Security-Policy` (no inline script or
//!   style, `frame-ancestors 'none'`, `form-action 'self'`),
//!   `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`,
//!   `X-Content-Type-Options: nosniff`.
//! - **Cookies** are `Secure` with the `__Host-` prefix unless
//!   [`Console::secure_cookies(false)`](Console::secure_cookies), for plain
//!   HTTP on localhost only.
//!
//! ```
//! use axum::Router;
//! use axum::response::{IntoResponse, Redirect};
//! use http::request::Parts;
//! use keygate_client::Client;
//! use keygate_console::{Console, Scope};
//! use keygate_types::OrganizationId;
//!
//! # fn run(client: Client) {
//! let console = Console::new(client, |parts: &Parts| {
//!     // Your login: read the session from the parts, then say what it may do.
//!     let org = parts.headers.get("x-org").and_then(|v| v.to_str().ok()).map(str::to_owned);
//!     async move {
//!         let Some(org) = org else { return Err(Redirect::to("/login").into_response()) };
//!         Ok(Scope::organization(OrganizationId::new_unchecked(org))
//!             .allow_all()
//!             .grantable(["posts:read", "posts:write"]))
//!     }
//! });
//! let app: Router = Router::new().nest("/settings/api-keys", console.router());
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api;
mod assets;
mod caller;
mod catalogue;
mod cookie;
pub mod csrf;
mod error;
mod form;
mod headers;
mod input;
mod keys;
pub mod local;
pub mod login;
mod page;
mod reveal;
mod scope;
mod view;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};
use http::request::Parts;
use keygate_client::Client;
use keygate_types::{KeyPolicy, OrganizationId};

pub use error::{ConsoleError, FieldProblem};
pub use headers::CONTENT_SECURITY_POLICY_VALUE;
pub use input::{MAX_GRACE, MAX_NAME_CHARS};
pub use scope::{Action, OrganizationChoice, ResolveScope, Scope, ScopeFuture};
pub use view::{EXPIRING_WITHIN, Status};

use cookie::CookiePolicy;
use reveal::Reveals;

/// What every handler shares.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) resolver: Box<dyn ResolveScope>,
    pub(crate) cookies: CookiePolicy,
    pub(crate) reveals: Reveals,
    pub(crate) policy: KeyPolicy,
}

impl Shared {
    /// The key service as a caller with `scope` may use it.
    pub(crate) fn keys<'a>(&'a self, scope: &'a Scope) -> keys::ScopedKeys<'a> {
        keys::ScopedKeys {
            client: &self.client,
            scope,
            policy: &self.policy,
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("cookies", &self.cookies)
            .finish_non_exhaustive()
    }
}

/// The key console: configure it, then mount [`router`](Self::router).
#[derive(Debug)]
pub struct Console {
    shared: Shared,
}

impl Console {
    /// A console managing keys through `client`, scoped per request by
    /// `resolver`. Cookies are `Secure` (HTTPS only) by default.
    pub fn new(client: Client, resolver: impl ResolveScope) -> Self {
        Self {
            shared: Shared {
                client,
                resolver: Box::new(resolver),
                cookies: CookiePolicy { secure: true },
                reveals: Reveals::default(),
                policy: KeyPolicy::default(),
            },
        }
    }

    /// The rules every key made here must follow, by create or by roll:
    /// required expiry, maximum lifetime, maximum unexpired keys per owner.
    /// Each refusal has its own code and sentence (see [`ConsoleError`]).
    /// The default has no rule.
    pub fn key_policy(mut self, policy: KeyPolicy) -> Self {
        self.shared.policy = policy;
        self
    }

    /// Whether cookies are `Secure` with the `__Host-` prefix (the
    /// default). Turn it off only for plain HTTP on localhost: a browser
    /// does not send a `Secure` cookie over plain HTTP to other hosts.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.shared.cookies = CookiePolicy { secure };
        self
    }

    /// The routes, to mount with `Router::nest` (or `merge` at the root).
    /// Every response carries the security headers and `no-store`.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(page::show))
            .route("/keys", post(page::create))
            .route("/keys/{id}/roll", post(page::roll))
            .route(
                "/keys/{id}/revoke",
                get(page::confirm_revoke).post(page::revoke),
            )
            .route("/keys/{id}/expiry", post(page::expiry))
            .route("/organization", post(page::switch))
            .route("/api/keys", get(api::list).post(api::create))
            .route("/api/permissions", get(api::permissions))
            .route("/api/keys/{id}", axum::routing::delete(api::revoke))
            .route("/api/keys/{id}/roll", post(api::roll))
            .route("/api/keys/{id}/expiry", put(api::expiry))
            .route("/assets/console.js", get(assets::script))
            .route("/assets/console.css", get(assets::style))
            .route("/assets/favicon.svg", get(assets::icon))
            .with_state(Arc::new(self.shared))
            .layer(axum::middleware::map_response(headers::secure))
    }
}

/// The organization last picked in the console's switcher, for your
/// resolver to use when it is among the caller's organizations (the
/// console itself only switches to a [`Scope::switcher`] choice, but a
/// cookie is the browser's to change: check it again).
pub fn selected_organization(parts: &Parts) -> Option<OrganizationId> {
    let secure = CookiePolicy { secure: true };
    let plain = CookiePolicy { secure: false };
    secure
        .read(&parts.headers, page::ORGANIZATION_COOKIE)
        .or_else(|| plain.read(&parts.headers, page::ORGANIZATION_COOKIE))
        .and_then(|id| OrganizationId::parse(id).ok())
}

// Compiles the README's example, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! The console as `keygate serve` runs it for local development: every
//! organization of the key service, with a switcher, behind a
//! [`SecretLogin`] with the environment secret.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::TryStreamExt;
use http::StatusCode;
use http::header::ACCEPT;
use http::request::Parts;

use keygate_auth::usage::UsageSource;
use keygate_client::Client;
use keygate_types::{ListParams, MAX_LIMIT, Organization, SecretString};

use crate::login::SecretLogin;
use crate::{Console, OrganizationChoice, Scope, selected_organization};

/// Every organization's keys, every action, behind a login with one
/// secret, on plain HTTP: for a developer's own machine only.
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let emulator = keygate_emulator::Emulator::start().await?;
/// let client = keygate_client::Client::builder()
///     .secret(emulator.secret().clone())
///     .base_url(emulator.base_url())
///     .build()?;
/// let app: axum::Router = keygate_console::local::LocalConsole::new(client, emulator.secret().clone())
///     .grantable(["posts:read", "posts:write"])
///     .router(); // the console at `/`, the login at `/login`
/// # let _ = app; Ok(()) }
/// ```
pub struct LocalConsole {
    client: Client,
    login: SecretLogin,
    grantable: Vec<String>,
    usage: Option<Arc<dyn UsageSource>>,
}

impl std::fmt::Debug for LocalConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalConsole")
            .field("client", &self.client)
            .field("login", &self.login)
            .field("grantable", &self.grantable)
            .field("usage", &self.usage.is_some())
            .finish()
    }
}

impl LocalConsole {
    /// The console over `client`, behind a login with `secret`.
    pub fn new(client: Client, secret: SecretString) -> Self {
        Self {
            client,
            login: SecretLogin::new(secret).secure_cookies(false),
            grantable: Vec::new(),
            usage: None,
        }
    }

    /// Shows each key's requests from `source`; see [`Console::usage`].
    pub fn usage(mut self, source: impl UsageSource) -> Self {
        self.usage = Some(Arc::new(source));
        self
    }

    /// The permissions the create form offers. Without any, it offers the
    /// permissions already on the organization's keys.
    pub fn grantable<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grantable = permissions.into_iter().map(Into::into).collect();
        self
    }

    /// The login at `/login` and `/logout`, the console at `/`.
    pub fn router(self) -> Router {
        let login = self.login.clone();
        let (client, grantable) = (self.client.clone(), self.grantable);
        let resolver = move |parts: &Parts| {
            let signed_in = login.is_signed_in(parts);
            let wants_html = parts
                .headers
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"));
            let selected = selected_organization(parts);
            let (client, grantable) = (client.clone(), grantable.clone());
            async move {
                if !signed_in {
                    return Err(if wants_html {
                        Redirect::to("/login").into_response()
                    } else {
                        refusal(
                            StatusCode::UNAUTHORIZED,
                            "unauthorized",
                            "Sign in at /login first.",
                        )
                    });
                }
                scope(&client, selected, grantable).await
            }
        };
        let mut console = Console::new(self.client, resolver).secure_cookies(false);
        if let Some(usage) = self.usage {
            console = console.usage(usage);
        }
        console.router().merge(self.login.router())
    }
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"code": code, "message": message})),
    )
        .into_response()
}

async fn scope(
    client: &Client,
    selected: Option<keygate_types::OrganizationId>,
    mut grantable: Vec<String>,
) -> Result<Scope, Response> {
    let unavailable = |_| {
        refusal(
            StatusCode::BAD_GATEWAY,
            "key_service_unavailable",
            "The key service did not answer.",
        )
    };
    let params = ListParams {
        limit: Some(MAX_LIMIT),
        ..ListParams::default()
    };
    let mut organizations: Vec<Organization> = client
        .stream_organizations(params.clone())
        .try_collect()
        .await
        .map_err(unavailable)?;
    organizations.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let current = selected
        .and_then(|id| organizations.iter().find(|o| o.id == id))
        .or(organizations.first())
        .ok_or_else(|| {
            refusal(
                StatusCode::NOT_FOUND,
                "no_organization",
                "No organization yet: create one with `keygate orgs create --name Acme`.",
            )
        })?;
    if grantable.is_empty() {
        let keys: Vec<keygate_types::ApiKey> = client
            .stream_organization_api_keys(&current.id, params)
            .try_collect()
            .await
            .map_err(unavailable)?;
        grantable = keys.into_iter().flat_map(|k| k.permissions).collect();
        grantable.sort();
    }
    let choices = organizations
        .iter()
        .map(|o| OrganizationChoice {
            id: o.id.clone(),
            name: o.name.clone(),
        })
        .collect();
    Ok(Scope::organization(current.id.clone())
        .organization_name(current.name.clone())
        .allow_all()
        .grantable(grantable)
        .switcher(choices))
}

//! `keygate m2m`: M2M applications (OAuth client credentials) of the
//! emulator. Create one for an organization (its client secret shown once),
//! list them, and get an access token with one, to call a service that
//! accepts WorkOS M2M tokens:
//!
//! ```text
//! keygate m2m create --org org_… --name "billing sync" --scope posts:read
//! export WORKOS_CLIENT_SECRET=…   # from the create
//! curl -H "Authorization: Bearer $(keygate m2m token --client-id client_…)" localhost:3000/posts
//! ```
//!
//! `create` and `list` are emulator controls (`/_emulator/m2m_applications`,
//! with the environment secret from `WORKOS_API_KEY`): WorkOS makes M2M
//! applications in its dashboard. `token` is OAuth's client credentials
//! grant (`POST {authkit_domain}/oauth2/token`), which needs no environment
//! secret; the emulator is its own AuthKit domain.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use http::Method;
use keygate_client::{API_KEY_ENV, ApiError, Endpoint};
use keygate_types::{ErrorBody, OrganizationId, SecretString, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::output::{m2m_application_details, m2m_applications_table, write_json};
use crate::remote::{self, CommandError, ServiceArgs, print};

/// The controls' path, as errors name it.
const APPLICATIONS: &str = "/_emulator/m2m_applications";
/// The token endpoint's path, below the AuthKit domain.
const TOKEN: &str = "/oauth2/token";
/// The time one call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `keygate m2m`.
#[derive(Debug, Args)]
pub(crate) struct M2mArgs {
    #[command(flatten)]
    service: ServiceArgs,
    #[command(subcommand)]
    command: M2mCommand,
}

#[derive(Debug, Subcommand)]
enum M2mCommand {
    /// Create an M2M application for an organization (an emulator control).
    /// Its client secret is shown this once.
    Create(CreateArgs),
    /// List M2M applications, or only an organization's (an emulator control).
    List(ListArgs),
    /// Get an access token with an application's client credentials
    /// (`POST /oauth2/token`). Prints the token alone, for `$(…)`; with
    /// --json, the whole answer (`access_token`, `expires_in`, `token_type`).
    Token(TokenArgs),
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The organization the application acts for (a token's `org_id`).
    #[arg(long = "org", value_name = "ORG_ID")]
    organization: OrganizationId,
    /// Its name.
    #[arg(long)]
    name: String,
    /// A scope it may be granted (repeatable or comma-separated): printable
    /// ASCII without spaces, quotes or backslashes, such as `posts:read`.
    #[arg(long = "scope", value_delimiter = ',', value_name = "SCOPE")]
    scopes: Vec<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only this organization's applications.
    #[arg(long = "org", value_name = "ORG_ID")]
    organization: Option<OrganizationId>,
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// The application's client id (`client_…`).
    #[arg(long, value_name = "CLIENT_ID")]
    client_id: String,
    /// The application's client secret; `-` reads it from standard input.
    /// Read from WORKOS_CLIENT_SECRET when absent: on the command line it is
    /// visible in the process list.
    #[arg(
        long,
        value_name = "SECRET",
        env = "WORKOS_CLIENT_SECRET",
        hide_env_values = true
    )]
    client_secret: SecretString,
    /// Ask for these scopes only (repeatable or comma-separated); every scope
    /// of the application when absent.
    #[arg(long = "scope", value_delimiter = ',', value_name = "SCOPE")]
    scopes: Vec<String>,
    /// The AuthKit domain that issues the token [default: the base URL: the
    /// emulator is its own AuthKit domain].
    #[arg(long, value_name = "URL")]
    authkit_domain: Option<String>,
}

/// An application as the controls answer it (the secret only from a create).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct M2mApplication {
    pub(crate) client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_secret: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    pub(crate) organization_id: OrganizationId,
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    pub(crate) created_at: Timestamp,
}

#[derive(Debug, Deserialize)]
struct ApplicationList {
    data: Vec<M2mApplication>,
}

/// OAuth's error answer (RFC 6749 § 5.2).
#[derive(Debug, Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

pub(crate) fn run(args: M2mArgs) -> ExitCode {
    let json = args.service.json;
    let base_url = args.service.base_url();
    remote::run_without_client(json, async move {
        match args.command {
            M2mCommand::Create(a) => create(&base_url, a, json).await,
            M2mCommand::List(a) => list(&base_url, a, json).await,
            M2mCommand::Token(a) => token(&base_url, a, json).await,
        }
    })
}

async fn create(base_url: &str, a: CreateArgs, json: bool) -> Result<(), CommandError> {
    let body = serde_json::json!({
        "organization_id": a.organization,
        "name": a.name,
        "scopes": a.scopes,
    });
    let secret = environment_secret()?;
    let request = http()?
        .post(url(base_url, APPLICATIONS)?)
        .bearer_auth(secret.expose_secret())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    let answer = send(request, Method::POST, APPLICATIONS).await?;
    let created: M2mApplication = decode(&answer, Method::POST, APPLICATIONS)?;
    // The secret is printed on purpose: this is the one time it exists
    // outside the service, and the person or script that asked must store it.
    print(|out| {
        if json {
            return write_json(out, &created);
        }
        m2m_application_details(&created).write(out)?;
        writeln!(out)?;
        writeln!(out, "Store the client secret now: it is not shown again.")
    })
}

async fn list(base_url: &str, a: ListArgs, json: bool) -> Result<(), CommandError> {
    let mut url = url(base_url, APPLICATIONS)?;
    if let Some(org) = &a.organization {
        url.query_pairs_mut()
            .append_pair("organization_id", org.as_str());
    }
    let secret = environment_secret()?;
    let request = http()?.get(url).bearer_auth(secret.expose_secret());
    let answer = send(request, Method::GET, APPLICATIONS).await?;
    let list: ApplicationList = decode(&answer, Method::GET, APPLICATIONS)?;
    print(|out| {
        if json {
            write_json(out, &list.data)
        } else {
            m2m_applications_table(&list.data).write(out)
        }
    })
}

async fn token(base_url: &str, a: TokenArgs, json: bool) -> Result<(), CommandError> {
    let secret = remote::secret_or_stdin(a.client_secret)?;
    if secret.expose_secret().trim().is_empty() {
        return Err(CommandError::Input("the client secret is empty".into()));
    }
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &a.client_id)
        .append_pair("client_secret", secret.expose_secret());
    if !a.scopes.is_empty() {
        form.append_pair("scope", &a.scopes.join(" "));
    }
    let domain = a
        .authkit_domain
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(base_url);
    let request = http()?
        .post(url(domain, TOKEN)?)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form.finish());
    let answer = send(request, Method::POST, TOKEN).await?;
    let Some(access_token) = answer.body.get("access_token").and_then(Value::as_str) else {
        return Err(unreadable(
            &answer,
            Method::POST,
            TOKEN,
            "no `access_token`",
        ));
    };
    print(|out| {
        if json {
            write_json(out, &answer.body)
        } else {
            writeln!(out, "{access_token}")
        }
    })
}

/// The environment secret, as `keygate keys` reads it.
fn environment_secret() -> Result<SecretString, CommandError> {
    match std::env::var(API_KEY_ENV) {
        Ok(secret) if !secret.trim().is_empty() => Ok(SecretString::from(secret.trim())),
        Ok(_) => Err(CommandError::Input(format!("{API_KEY_ENV} is empty"))),
        Err(_) => Err(CommandError::Input(format!(
            "{API_KEY_ENV} is not set: the emulator's controls need its environment secret"
        ))),
    }
}

/// An HTTP client that follows no redirect (a secret is sent where asked,
/// nowhere else).
fn http() -> Result<reqwest::Client, CommandError> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CommandError::Input(format!("could not build the HTTP client: {e}")))
}

/// `base` (an `http(s)://` URL) with `path` appended.
fn url(base: &str, path: &str) -> Result<reqwest::Url, CommandError> {
    let bad = |why: String| CommandError::Input(format!("the URL `{base}` {why}"));
    let parsed = reqwest::Url::parse(base.trim()).map_err(|e| bad(format!("is not a URL: {e}")))?;
    match parsed.scheme() {
        "http" => {}
        // TLS comes with the `aws-lc-rs` feature (reqwest's rustls set-up).
        "https" if cfg!(feature = "aws-lc-rs") => {}
        "https" => {
            return Err(bad(
                "needs TLS, which `keygate m2m` has only in the default build \
                 (feature `aws-lc-rs`)"
                    .into(),
            ));
        }
        _ => return Err(bad("must start with http:// or https://".into())),
    }
    let joined = format!("{}{path}", parsed.as_str().trim_end_matches('/'));
    reqwest::Url::parse(&joined).map_err(|e| bad(format!("is not a URL: {e}")))
}

/// A successful answer: its status, request id and JSON body.
#[derive(Debug)]
struct Answer {
    status: http::StatusCode,
    request_id: Option<String>,
    body: Value,
}

/// Sends `request` (the call `method path`); an error status becomes the
/// service's refusal, printed as the other commands print theirs.
async fn send(
    request: reqwest::RequestBuilder,
    method: Method,
    path: &'static str,
) -> Result<Answer, CommandError> {
    let endpoint = Endpoint {
        method: method.clone(),
        path,
    };
    let response = request
        .send()
        .await
        .map_err(|e| keygate_client::Error::Transport {
            endpoint: endpoint.clone(),
            source: e.without_url(),
        })?;
    let status = response.status();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| keygate_client::Error::Transport {
            endpoint: endpoint.clone(),
            source: e.without_url(),
        })?;
    if status.is_success() {
        let answer = Answer {
            status,
            request_id,
            body: Value::Null,
        };
        // The reason never quotes the body: it may hold a secret or a token.
        let body = serde_json::from_slice(&bytes)
            .map_err(|_| unreadable(&answer, method, path, "not JSON"))?;
        return Ok(Answer { body, ..answer });
    }
    Err(keygate_client::Error::from(ApiError {
        endpoint,
        status,
        body: refusal(status, &bytes, path),
        request_id,
        retry_after: None,
    })
    .into())
}

/// The error body of a refusal: WorkOS's `{code, message}`, or OAuth's
/// `{error, error_description}` as code and message. Anything else keeps
/// an empty code (so `--json` does not pass it on) and a message saying so:
/// a 404 without a code is most likely a base URL that is not an emulator.
fn refusal(status: http::StatusCode, bytes: &[u8], path: &str) -> ErrorBody {
    if let Ok(oauth) = serde_json::from_slice::<OAuthError>(bytes) {
        return ErrorBody::new(oauth.error, oauth.error_description);
    }
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) if !body.code.is_empty() => body,
        _ if status == http::StatusCode::NOT_FOUND && path == APPLICATIONS => ErrorBody::new(
            "",
            "not found: is the base URL (--base-url, WORKOS_BASE_URL) a keygate emulator? \
             WorkOS makes M2M applications in its dashboard",
        ),
        _ => ErrorBody::new("", "the answer is not a JSON error body"),
    }
}

fn unreadable(answer: &Answer, method: Method, path: &'static str, reason: &str) -> CommandError {
    keygate_client::Error::Decode {
        endpoint: Endpoint { method, path },
        status: answer.status,
        request_id: answer.request_id.clone(),
        reason: reason.to_owned(),
    }
    .into()
}

fn decode<T: serde::de::DeserializeOwned>(
    answer: &Answer,
    method: Method,
    path: &'static str,
) -> Result<T, CommandError> {
    T::deserialize(&answer.body)
        .map_err(|_| unreadable(answer, method, path, "not the expected fields"))
}

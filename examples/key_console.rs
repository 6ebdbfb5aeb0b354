//! The quickstart's posts API plus the key console: create a key in the
//! page, then use it with curl.
//!
//! ```sh
//! cargo run --example key_console --features console,emulator
//! ```
//!
//! It starts the emulator in-process with one organization (Acme), then
//! serves on `127.0.0.1:3000` (`KEYGATE_ADDR=127.0.0.1:0` picks a free port):
//!
//! | route | what |
//! |---|---|
//! | `GET /posts` | Acme's posts, with a key that has `posts:read` |
//! | `POST /posts` `{"title","body"}` | a new post, with `posts:write`; answers 201 |
//! | `/console` | the key console, behind this app's login |
//! | `/login` | the login: here, a password printed at start |
//!
//! The console is mounted the way your app would mount it: behind your own
//! login, with a resolver that says whose keys the signed-in person
//! manages (Acme's) and what they may grant (`posts:read`, `posts:write`).
//! The permissions carry names and descriptions from the key service's
//! catalogue, and keys follow a policy: each expires within 366 days
//! (GitHub's default for tokens), and Acme holds at most 10 active keys.
//! Cookies are not `Secure` because this runs on plain HTTP on localhost;
//! keep the default in production.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::{Json, Router};
use keygate::console::login::SecretLogin;
use keygate::console::{Console, Scope};
use keygate::emulator::Emulator;
use keygate::types::{KeyPolicy, OrganizationId};
use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client, RequirePermission};
use serde::{Deserialize, Serialize};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// The two permissions the posts API checks, and the console may grant.
const PERMISSIONS: [&str; 2] = ["posts:read", "posts:write"];

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let addr: SocketAddr = std::env::var("KEYGATE_ADDR")
        .unwrap_or_else(|_| DEFAULT_ADDR.into())
        .parse()
        .map_err(|e| format!("KEYGATE_ADDR must be host:port, such as 127.0.0.1:3000: {e}"))?;

    let demo = Demo::start().await?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr}: {e} (set KEYGATE_ADDR, e.g. KEYGATE_ADDR=127.0.0.1:0)")
    })?;
    let base = format!("http://{}", listener.local_addr()?);
    println!(
        "open {base}/console and sign in with the password: {}",
        demo.password
    );
    println!("create a key with posts:read and posts:write, copy it, then:");
    println!("  export KEY=sk_…");
    println!("  curl -i -H \"Authorization: Bearer $KEY\" {base}/posts");
    println!(
        "  curl -i -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' -d '{{\"title\":\"Hello\",\"body\":\"from the console\"}}' {base}/posts"
    );
    axum::serve(listener, demo.app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The running pieces: the emulator (kept alive), the app, the password.
struct Demo {
    app: Router,
    password: String,
    _emulator: Emulator,
}

impl Demo {
    async fn start() -> Result<Self, BoxError> {
        let emulator = Emulator::builder()
            .organization_permissions(PERMISSIONS)
            .permission(
                "posts:read",
                "Read posts",
                Some("List the organization's posts."),
            )
            .permission("posts:write", "Write posts", Some("Publish new posts."))
            .start()
            .await?;
        let acme = emulator.create_organization("Acme")?;
        let client = Client::builder()
            .secret(emulator.secret().clone())
            .base_url(emulator.base_url())
            .build()?;
        // This demo's password is the emulator's secret; yours is your login.
        let password = emulator.secret().expose_secret().to_owned();
        let app = app(client, acme.id, &password);
        Ok(Self {
            app,
            password,
            _emulator: emulator,
        })
    }
}

/// The posts API behind keygate, and the console behind the app's login.
fn app(client: Client, acme: OrganizationId, password: &str) -> Router {
    let login = SecretLogin::new(password)
        .console_path("/console")
        .secure_cookies(false);
    let signed_in = login.clone();
    let console = Console::new(client.clone(), move |parts: &Parts| {
        // Your resolver reads your session; this one knows a single account.
        let scope = signed_in.is_signed_in(parts).then(|| {
            Scope::organization(acme.clone())
                .organization_name("Acme")
                .allow_all()
                .grantable(PERMISSIONS)
        });
        async move { scope.ok_or_else(|| Redirect::to("/login").into_response()) }
    })
    .key_policy(
        KeyPolicy::new()
            .max_lifetime(std::time::Duration::from_secs(366 * 24 * 60 * 60))
            .max_active_keys(10),
    )
    .secure_cookies(false);

    let posts = Router::new()
        .route(
            "/posts",
            get(list_posts)
                .route_layer(RequirePermission("posts:read"))
                .merge(
                    axum::routing::post(create_post).route_layer(RequirePermission("posts:write")),
                ),
        )
        .with_state(Posts::default())
        .layer(ApiKeyAuth::new(client));
    Router::new()
        .merge(posts)
        .nest("/console", console.router())
        .merge(login.router())
        .route("/", get(|| async { Redirect::to("/console") }))
}

#[derive(Debug, Clone, Serialize)]
struct Post {
    organization: String,
    title: String,
    body: String,
}

#[derive(Debug, Deserialize)]
struct NewPost {
    title: String,
    body: String,
}

type Posts = Arc<Mutex<Vec<Post>>>;

async fn list_posts(principal: ApiKeyPrincipal, State(posts): State<Posts>) -> Json<Vec<Post>> {
    let posts = posts.lock().unwrap_or_else(PoisonError::into_inner);
    let org = principal.organization_id().as_str();
    Json(
        posts
            .iter()
            .filter(|p| p.organization == org)
            .cloned()
            .collect(),
    )
}

async fn create_post(
    principal: ApiKeyPrincipal,
    State(posts): State<Posts>,
    Json(new): Json<NewPost>,
) -> (StatusCode, Json<Post>) {
    let post = Post {
        organization: principal.organization_id().to_string(),
        title: new.title,
        body: new.body,
    };
    posts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(post.clone());
    (StatusCode::CREATED, Json(post))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader's path, by HTTP: sign in, create a key in the console,
    /// use it on the posts API.
    #[tokio::test]
    async fn a_key_created_in_the_console_works_on_the_posts_api() -> Result<(), BoxError> {
        let demo = Demo::start().await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(axum::serve(listener, demo.app).into_future());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;

        // Without a login the console sends you to it.
        let page = http.get(format!("{base}/console")).send().await?;
        assert_eq!(page.status(), StatusCode::SEE_OTHER);
        assert_eq!(page.headers()["location"], "/login");

        // The login form sets the CSRF cookie; posting it signs in.
        let form = http.get(format!("{base}/login")).send().await?;
        let csrf = cookie(&form, "keygate_csrf");
        let signed = http
            .post(format!("{base}/login"))
            .header("cookie", format!("keygate_csrf={csrf}"))
            .header("content-type", "application/x-www-form-urlencoded")
            // Hex token and a base62 secret: nothing to percent-encode.
            .body(format!("csrf_token={csrf}&secret={}", demo.password))
            .send()
            .await?;
        assert_eq!(signed.status(), StatusCode::SEE_OTHER);
        let session = cookie(&signed, "keygate_session");
        let cookies = format!("keygate_csrf={csrf}; keygate_session={session}");

        let created = http
            .post(format!("{base}/console/api/keys"))
            .header("cookie", &cookies)
            .header("x-csrf-token", &csrf)
            .json(&serde_json::json!({
                "name": "curl",
                "permissions": PERMISSIONS,
                "expires_at": in_thirty_days(),
            }))
            .send()
            .await?;
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: serde_json::Value = created.json().await?;
        let key = created["value"].as_str().ok_or("a value")?;

        let post = http
            .post(format!("{base}/posts"))
            .bearer_auth(key)
            .json(&serde_json::json!({"title": "Hello", "body": "from the console"}))
            .send()
            .await?;
        assert_eq!(post.status(), StatusCode::CREATED);
        let list = http
            .get(format!("{base}/posts"))
            .bearer_auth(key)
            .send()
            .await?;
        assert_eq!(list.status(), StatusCode::OK);
        assert_eq!(list.json::<serde_json::Value>().await?[0]["title"], "Hello");
        let anonymous = http.get(format!("{base}/posts")).send().await?;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        Ok(())
    }

    fn cookie(response: &reqwest::Response, name: &str) -> String {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// An expiry within the demo's policy.
    fn in_thirty_days() -> String {
        let now = keygate::types::Timestamp::now().unix_timestamp();
        keygate::types::Timestamp::from_unix_timestamp(now + 30 * 24 * 60 * 60)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }
}

//! A small posts API behind keygate, on the embedded key-service emulator.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! It starts the emulator in-process (no account, no network), seeds two
//! organizations, a user with a membership and three keys, and has it issue
//! the two other WorkOS credentials: an M2M access token of a partner's
//! application and an AuthKit session token of the user. Then it serves:
//!
//! | route | needs |
//! |---|---|
//! | `GET /me` | any valid credential: the caller as JSON, with its `kind` |
//! | `GET /posts` | `posts:read` |
//! | `POST /posts` `{"title","body"}` | `posts:write`; answers 201 |
//! | `DELETE /posts/{id}` | `posts:write`; answers 204 |
//!
//! One layer takes all three credentials, told apart by shape, and the
//! guards read one principal's permissions: an API key's `permissions`, a
//! session token's `permissions` claim, an M2M token's `scope` split on
//! spaces. Posts are kept per organization: a caller only ever sees its own
//! organization's posts. It prints the credentials as `export` lines and a
//! tour of `curl` lines, each with the status it gets.
//!
//! `KEYGATE_ADDR` changes the address (`127.0.0.1:0` picks a free port).
//! With `WORKOS_API_KEY` set it validates against the real WorkOS instead
//! (`WORKOS_BASE_URL` to point elsewhere) and seeds nothing: mint keys in the
//! WorkOS dashboard or with `keygate keys create`. There, `WORKOS_CLIENT_ID`
//! adds your users' session tokens, and `WORKOS_AUTHKIT_DOMAIN` (such as
//! `https://acme.authkit.app`) M2M tokens too.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use keygate::emulator::Emulator;
use keygate::jwt::{JwtVerifier, M2mTokens, SessionTokens};
use keygate::types::OrganizationId;
use keygate::{ApiKeyAuth, Client, Principal, RequirePermission};
use serde::{Deserialize, Serialize};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the quickstart listens unless `KEYGATE_ADDR` says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:3000";

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

    // Keep the emulator alive for as long as the server runs.
    let (auth, keys, _emulator) = if std::env::var_os("WORKOS_API_KEY").is_some() {
        let client = Client::from_env()?;
        println!("using the real WorkOS at {}", client.config().base_url);
        (workos_auth(client)?, None, None)
    } else {
        let (emulator, keys) = seeded_emulator().await?;
        println!(
            "using keygate's embedded emulator at {}",
            emulator.base_url()
        );
        (emulator_auth(&emulator)?, Some(keys), Some(emulator))
    };

    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr}: {e} (set KEYGATE_ADDR, e.g. KEYGATE_ADDR=127.0.0.1:0)")
    })?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("listening on {base}");
    match &keys {
        Some(keys) => print_tour(&base, keys),
        None => println!(
            "send `Authorization: Bearer <key>` with a key minted in WorkOS (or an access token, with WORKOS_CLIENT_ID), e.g. curl -i -H \"Authorization: Bearer $KEY\" {base}/me"
        ),
    }

    axum::serve(listener, app(auth))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The layer for the emulator: its API keys through the key service, its
/// M2M and session tokens verified locally against its key sets.
fn emulator_auth(emulator: &Emulator) -> Result<ApiKeyAuth<Client>, BoxError> {
    let client = Client::builder()
        .secret(emulator.secret().clone())
        .base_url(emulator.base_url())
        .build()?;
    let tokens = JwtVerifier::builder()
        .m2m(M2mTokens::new(
            emulator.authkit_domain(),
            emulator.client_id(),
        ))
        .sessions(SessionTokens::new(emulator.client_id()).api_base(emulator.base_url()))
        .build()?;
    Ok(ApiKeyAuth::builder(client).access_tokens(tokens).build())
}

/// The layer for the real WorkOS: API keys, and access tokens when the
/// environment names your client id (and AuthKit domain, for M2M tokens).
fn workos_auth(client: Client) -> Result<ApiKeyAuth<Client>, BoxError> {
    let Ok(client_id) = std::env::var("WORKOS_CLIENT_ID") else {
        return Ok(ApiKeyAuth::new(client));
    };
    // Session key sets are served by the same API as the keys.
    let sessions = SessionTokens::new(&client_id).api_base(&client.config().base_url);
    let mut tokens = JwtVerifier::builder().sessions(sessions);
    if let Ok(domain) = std::env::var("WORKOS_AUTHKIT_DOMAIN") {
        tokens = tokens.m2m(M2mTokens::new(domain, &client_id));
    }
    Ok(ApiKeyAuth::builder(client)
        .access_tokens(tokens.build()?)
        .build())
}

/// The credentials the tour uses: three API keys and two access tokens.
#[derive(Debug)]
struct TourKeys {
    read: String,
    write: String,
    user: String,
    m2m: String,
    session: String,
}

/// Starts the emulator and seeds it: Acme with a read key, a write key and
/// a partner's M2M application; Globex with a user whose key and session act
/// there.
async fn seeded_emulator() -> Result<(Emulator, TourKeys), BoxError> {
    let emulator = Emulator::builder()
        .organization_permissions(["posts:read", "posts:write"])
        .user_permissions(["posts:read", "posts:write"])
        .start()
        .await?;
    let acme = emulator.create_organization("Acme")?;
    let globex = emulator.create_organization("Globex")?;
    let ada = emulator.create_user("ada@globex.example")?;
    emulator.create_membership(&ada.id, &globex.id)?;

    let read = emulator.create_organization_key(&acme.id, "reader", &["posts:read"])?;
    let write =
        emulator.create_organization_key(&acme.id, "writer", &["posts:read", "posts:write"])?;
    let user = emulator.create_user_key(
        &ada.id,
        &globex.id,
        "ada's laptop",
        &["posts:read", "posts:write"],
    )?;
    // What `POST /oauth2/token` gives a partner's M2M application (an hour),
    // and what AuthKit gives ada when she signs in (five minutes, as WorkOS's).
    let m2m = emulator.m2m_access_token(&acme.id, &["posts:read"])?;
    let session =
        emulator.session_access_token(&ada.id, &globex.id, &["posts:read", "posts:write"])?;
    let keys = TourKeys {
        read: read.value.expose_secret().to_owned(),
        write: write.value.expose_secret().to_owned(),
        user: user.value.expose_secret().to_owned(),
        m2m,
        session: session.access_token,
    };
    Ok((emulator, keys))
}

// ---------------------------------------------------------------------------
// The posts API.

#[derive(Debug, Clone, Serialize)]
struct Post {
    id: u64,
    title: String,
    body: String,
}

#[derive(Debug, Deserialize)]
struct NewPost {
    title: String,
    body: String,
}

/// Posts per organization; ids are global so that one organization can
/// never reach another's post by guessing a number.
#[derive(Debug, Default)]
struct Posts {
    next_id: u64,
    by_organization: HashMap<OrganizationId, Vec<Post>>,
}

type Db = Arc<Mutex<Posts>>;

/// The API, with authentication on every route and a permission on some.
fn app(auth: ApiKeyAuth<Client>) -> Router {
    Router::new()
        .route("/me", get(me))
        .route(
            "/posts",
            get(list_posts)
                .route_layer(RequirePermission("posts:read"))
                .merge(
                    axum::routing::post(create_post).route_layer(RequirePermission("posts:write")),
                ),
        )
        .route(
            "/posts/{id}",
            delete(delete_post).route_layer(RequirePermission("posts:write")),
        )
        .with_state(Db::default())
        .layer(auth)
}

async fn me(principal: Principal) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        // `api_key`, `m2m` or `session`.
        "kind": principal.kind().as_str(),
        // The key id, the M2M application's client id, or the user id.
        "id": principal.id(),
        "name": principal.name(),
        "organization_id": principal.organization_id(),
        "user_id": principal.user_id(),
        "session_id": principal.session_id(),
        "permissions": principal.permissions(),
        "expires_at": principal.expires_at(),
    }))
}

async fn list_posts(principal: Principal, State(db): State<Db>) -> Json<Vec<Post>> {
    let posts = lock(&db);
    let mine = posts
        .by_organization
        .get(principal.organization_id())
        .cloned()
        .unwrap_or_default();
    Json(mine)
}

async fn create_post(
    principal: Principal,
    State(db): State<Db>,
    Json(new): Json<NewPost>,
) -> (StatusCode, Json<Post>) {
    let mut posts = lock(&db);
    posts.next_id += 1;
    let post = Post {
        id: posts.next_id,
        title: new.title,
        body: new.body,
    };
    posts
        .by_organization
        .entry(principal.organization_id().clone())
        .or_default()
        .push(post.clone());
    (StatusCode::CREATED, Json(post))
}

async fn delete_post(
    principal: Principal,
    State(db): State<Db>,
    Path(id): Path<u64>,
) -> StatusCode {
    let mut posts = lock(&db);
    let Some(mine) = posts.by_organization.get_mut(principal.organization_id()) else {
        return StatusCode::NOT_FOUND;
    };
    match mine.iter().position(|p| p.id == id) {
        Some(at) => {
            mine.remove(at);
            StatusCode::NO_CONTENT
        }
        // Another organization's post is as absent as one never written.
        None => StatusCode::NOT_FOUND,
    }
}

/// A poisoned lock only means a handler panicked mid-update; the map itself
/// is still consistent, so keep serving.
fn lock(db: &Db) -> std::sync::MutexGuard<'_, Posts> {
    db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// The tour: printed as curl lines, and run as a test so the two never drift.

/// Which credential a tour step sends.
#[derive(Debug, Clone, Copy)]
enum KeyRef {
    None,
    Read,
    Write,
    User,
    M2m,
    Session,
    Literal(&'static str),
}

#[derive(Debug)]
struct Step {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    key: KeyRef,
    body: Option<&'static str>,
    status: u16,
}

const NEW_POST: &str = r#"{"title":"Hello","body":"First post"}"#;

/// The tour, in the order it must run (post 1 is created, then deleted).
const TOUR: &[Step] = &[
    Step {
        what: "no key",
        method: "GET",
        path: "/me",
        key: KeyRef::None,
        body: None,
        status: 401,
    },
    Step {
        what: "who am I: an API key (kind api_key)",
        method: "GET",
        path: "/me",
        key: KeyRef::Read,
        body: None,
        status: 200,
    },
    Step {
        what: "who am I: a partner's M2M token (kind m2m)",
        method: "GET",
        path: "/me",
        key: KeyRef::M2m,
        body: None,
        status: 200,
    },
    Step {
        what: "who am I: ada's session token (kind session)",
        method: "GET",
        path: "/me",
        key: KeyRef::Session,
        body: None,
        status: 200,
    },
    Step {
        what: "an unknown key",
        method: "GET",
        path: "/me",
        key: KeyRef::Literal("sk_not_a_real_key"),
        body: None,
        status: 401,
    },
    Step {
        what: "a malformed Authorization header",
        method: "GET",
        path: "/me",
        key: KeyRef::Literal("two tokens"),
        body: None,
        status: 400,
    },
    Step {
        what: "read key lists Acme's posts",
        method: "GET",
        path: "/posts",
        key: KeyRef::Read,
        body: None,
        status: 200,
    },
    Step {
        what: "read key may not write",
        method: "POST",
        path: "/posts",
        key: KeyRef::Read,
        body: Some(NEW_POST),
        status: 403,
    },
    Step {
        what: "write key creates post 1 in Acme",
        method: "POST",
        path: "/posts",
        key: KeyRef::Write,
        body: Some(NEW_POST),
        status: 201,
    },
    Step {
        what: "M2M token (scope posts:read) lists Acme's posts",
        method: "GET",
        path: "/posts",
        key: KeyRef::M2m,
        body: None,
        status: 200,
    },
    Step {
        what: "M2M token may not write: no posts:write in its scope",
        method: "POST",
        path: "/posts",
        key: KeyRef::M2m,
        body: Some(NEW_POST),
        status: 403,
    },
    Step {
        what: "user key (Globex) sees none of Acme's posts",
        method: "GET",
        path: "/posts",
        key: KeyRef::User,
        body: None,
        status: 200,
    },
    Step {
        what: "ada's session token (Globex) lists Globex's posts",
        method: "GET",
        path: "/posts",
        key: KeyRef::Session,
        body: None,
        status: 200,
    },
    Step {
        what: "user key cannot delete Acme's post",
        method: "DELETE",
        path: "/posts/1",
        key: KeyRef::User,
        body: None,
        status: 404,
    },
    Step {
        what: "write key deletes post 1",
        method: "DELETE",
        path: "/posts/1",
        key: KeyRef::Write,
        body: None,
        status: 204,
    },
];

impl KeyRef {
    /// The shell form of the credential, for the printed curl line.
    fn shell(self) -> Option<&'static str> {
        match self {
            KeyRef::None => None,
            KeyRef::Read => Some("$KEYGATE_READ_KEY"),
            KeyRef::Write => Some("$KEYGATE_WRITE_KEY"),
            KeyRef::User => Some("$KEYGATE_USER_KEY"),
            KeyRef::M2m => Some("$KEYGATE_M2M_TOKEN"),
            KeyRef::Session => Some("$KEYGATE_SESSION_TOKEN"),
            KeyRef::Literal(s) => Some(s),
        }
    }

    /// The credential itself, for the test.
    #[cfg_attr(not(test), allow(dead_code))]
    fn value(self, keys: &TourKeys) -> Option<&str> {
        match self {
            KeyRef::None => None,
            KeyRef::Read => Some(&keys.read),
            KeyRef::Write => Some(&keys.write),
            KeyRef::User => Some(&keys.user),
            KeyRef::M2m => Some(&keys.m2m),
            KeyRef::Session => Some(&keys.session),
            KeyRef::Literal(s) => Some(s),
        }
    }

    /// The `kind` that `GET /me` answers for the credential, for the test.
    #[cfg_attr(not(test), allow(dead_code))]
    fn kind(self) -> Option<&'static str> {
        match self {
            KeyRef::Read | KeyRef::Write | KeyRef::User => Some("api_key"),
            KeyRef::M2m => Some("m2m"),
            KeyRef::Session => Some("session"),
            KeyRef::None | KeyRef::Literal(_) => None,
        }
    }
}

fn print_tour(base: &str, keys: &TourKeys) {
    println!();
    println!("# the keys (shown once; the emulator keeps only their SHA-256 digests):");
    println!("export KEYGATE_READ_KEY={}   # Acme: posts:read", keys.read);
    println!(
        "export KEYGATE_WRITE_KEY={}  # Acme: posts:read posts:write",
        keys.write
    );
    println!(
        "export KEYGATE_USER_KEY={}   # ada in Globex: posts:read posts:write",
        keys.user
    );
    println!("# and the two other WorkOS credentials, on the same layer:");
    println!(
        "export KEYGATE_M2M_TOKEN={}  # a partner's M2M app in Acme: scope posts:read (1 hour)",
        keys.m2m
    );
    println!(
        "export KEYGATE_SESSION_TOKEN={}  # ada's session in Globex: posts:read posts:write (5 minutes, as WorkOS's; restart for new ones)",
        keys.session
    );
    println!();
    println!("# a five-minute tour; run these in order, in another terminal:");
    for step in TOUR {
        let mut line = String::from("curl -s -o /dev/null -w '%{http_code}\\n'");
        if step.method != "GET" {
            line.push_str(&format!(" -X {}", step.method));
        }
        if let Some(key) = step.key.shell() {
            line.push_str(&format!(" -H \"Authorization: Bearer {key}\""));
        }
        if let Some(body) = step.body {
            line.push_str(&format!(" -H 'content-type: application/json' -d '{body}'"));
        }
        line.push_str(&format!(" {base}{}", step.path));
        println!("{line}   # {} -> {}", step.what, step.status);
    }
    println!();
    println!(
        "# drop `-s -o /dev/null -w ...` to see bodies and WWW-Authenticate headers; Ctrl-C stops."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the printed tour against the real app and emulator, over sockets.
    #[tokio::test]
    async fn the_printed_tour_gets_the_printed_statuses() -> Result<(), BoxError> {
        let (emulator, keys) = seeded_emulator().await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(axum::serve(listener, app(emulator_auth(&emulator)?)).into_future());

        let http = reqwest::Client::new();
        for step in TOUR {
            let method = step.method.parse::<reqwest::Method>()?;
            let mut request = http.request(method, format!("{base}{}", step.path));
            if let Some(key) = step.key.value(&keys) {
                request = request.header("authorization", format!("Bearer {key}"));
            }
            if let Some(body) = step.body {
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let response = request.send().await?;
            assert_eq!(response.status().as_u16(), step.status, "{}", step.what);
            if step.path == "/me" && step.status == 200 {
                let me: serde_json::Value = response.json().await?;
                assert_eq!(me["kind"].as_str(), step.key.kind(), "{}", step.what);
            } else if step.what.starts_with("user key (Globex)")
                || step.what.starts_with("ada's session token (Globex)")
            {
                assert_eq!(
                    response.text().await?,
                    "[]",
                    "Globex must not see Acme's posts"
                );
            }
        }
        Ok(())
    }
}

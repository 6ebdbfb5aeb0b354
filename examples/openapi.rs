//! A posts API whose OpenAPI document shows keygate's security scheme and
//! each route's permissions, taken from the guards that enforce them.
//!
//! ```sh
//! cargo run --example openapi --features utoipa,emulator
//! ```
//!
//! It starts the emulator in-process, mints a key with `posts:read`, serves
//! the API on `127.0.0.1:3000` (`KEYGATE_ADDR=127.0.0.1:0` picks a free
//! port) with its document at `/openapi.json` (public, and not in the
//! document), and prints the document's security scheme and each route's
//! `security`:
//!
//! | route | guard | `security` |
//! |---|---|---|
//! | `GET /me` | the layer alone | `[{"api_key": []}]` |
//! | `GET /posts` | `RequirePermission("posts:read")` | `[{"api_key": ["posts:read"]}]` |
//! | `POST /posts` | `RequirePermission("posts:write")` | `[{"api_key": ["posts:write"]}]` |
//! | `DELETE /posts/{id}` | `RequireAnyPermission(&["posts:write", "posts:admin"])` | `[{"api_key": ["posts:write"]}, {"api_key": ["posts:admin"]}]` |
//! | `POST /posts/{id}/publish` | `RequireAllPermissions(&["posts:write", "posts:publish"])` | `[{"api_key": ["posts:write", "posts:publish"]}]` |
//!
//! Each guard is written once, in `.require(…)` on utoipa-axum's `routes!`:
//! that call layers it on the route and writes it in the document. The
//! example runs as a test (`cargo test --example openapi --features
//! utoipa,emulator`) that reads the served JSON.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use keygate::emulator::Emulator;
use keygate::types::{OrganizationId, SecretString};
use keygate::utoipa::{ApiKeySecurity, GuardedRoutes};
use keygate::{
    ApiKeyAuth, ApiKeyPrincipal, Client, RequireAllPermissions, RequireAnyPermission,
    RequirePermission,
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the example listens unless `KEYGATE_ADDR` says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// The document's title and the scheme, from a derived document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Posts API", version = "1.0.0", description = "Posts, behind WorkOS-style API keys."),
    modifiers(&ApiKeySecurity)
)]
struct ApiDoc;

/// The API behind `auth`, with its document served at `/openapi.json`.
fn app<V: keygate::validator::KeyValidator>(auth: ApiKeyAuth<V>) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(me).authenticated())
        .routes(routes!(list_posts).require(RequirePermission("posts:read")))
        .routes(routes!(create_post).require(RequirePermission("posts:write")))
        .routes(routes!(delete_post).require(RequireAnyPermission(&["posts:write", "posts:admin"])))
        .routes(
            routes!(publish_post).require(RequireAllPermissions(&["posts:write", "posts:publish"])),
        )
        .with_state(Db::default())
        .layer(auth)
        .split_for_parts();
    // Outside the layer: the document is public.
    api.route("/openapi.json", get(move || async move { Json(openapi) }))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
struct Post {
    id: u64,
    title: String,
    published: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
struct NewPost {
    title: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct Caller {
    api_key_id: String,
    organization_id: String,
}

/// Posts by organization: a key only ever sees its own organization's.
#[derive(Debug, Default)]
struct Posts {
    next_id: u64,
    by_organization: HashMap<OrganizationId, Vec<Post>>,
}

type Db = Arc<Mutex<Posts>>;

/// A poisoned lock only means a handler panicked mid-update; the map is still consistent.
fn lock(db: &Db) -> std::sync::MutexGuard<'_, Posts> {
    db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The caller's key and organization.
#[utoipa::path(get, path = "/me", responses((status = 200, description = "the caller", body = Caller)))]
async fn me(principal: ApiKeyPrincipal) -> Json<Caller> {
    Json(Caller {
        api_key_id: principal.id().to_string(),
        organization_id: principal.organization_id().to_string(),
    })
}

/// The organization's posts.
#[utoipa::path(get, path = "/posts", responses((status = 200, description = "the posts", body = Vec<Post>)))]
async fn list_posts(principal: ApiKeyPrincipal, State(db): State<Db>) -> Json<Vec<Post>> {
    let posts = lock(&db);
    let mine = posts.by_organization.get(principal.organization_id());
    Json(mine.cloned().unwrap_or_default())
}

/// Writes a post, unpublished.
#[utoipa::path(post, path = "/posts", request_body = NewPost,
    responses((status = 201, description = "created", body = Post)))]
async fn create_post(
    principal: ApiKeyPrincipal,
    State(db): State<Db>,
    Json(new): Json<NewPost>,
) -> (StatusCode, Json<Post>) {
    let mut posts = lock(&db);
    posts.next_id += 1;
    let post = Post {
        id: posts.next_id,
        title: new.title,
        published: false,
    };
    let organization = principal.organization_id().clone();
    posts
        .by_organization
        .entry(organization)
        .or_default()
        .push(post.clone());
    (StatusCode::CREATED, Json(post))
}

/// Deletes a post.
#[utoipa::path(delete, path = "/posts/{id}", params(("id" = u64, Path)),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such post")))]
async fn delete_post(
    principal: ApiKeyPrincipal,
    State(db): State<Db>,
    Path(id): Path<u64>,
) -> StatusCode {
    let mut posts = lock(&db);
    let mine = posts.by_organization.get_mut(principal.organization_id());
    match mine.and_then(|mine| Some((mine.iter().position(|p| p.id == id)?, mine))) {
        Some((at, mine)) => {
            mine.remove(at);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// Publishes a post.
#[utoipa::path(post, path = "/posts/{id}/publish", params(("id" = u64, Path)),
    responses((status = 200, description = "published", body = Post), (status = 404, description = "no such post")))]
async fn publish_post(
    principal: ApiKeyPrincipal,
    State(db): State<Db>,
    Path(id): Path<u64>,
) -> Result<Json<Post>, StatusCode> {
    let mut posts = lock(&db);
    let mine = posts.by_organization.get_mut(principal.organization_id());
    let post = mine
        .and_then(|mine| mine.iter_mut().find(|p| p.id == id))
        .ok_or(StatusCode::NOT_FOUND)?;
    post.published = true;
    Ok(Json(post.clone()))
}

/// The running example: the emulator, the API's address and a `posts:read` key.
struct Served {
    _emulator: Emulator,
    base: String,
    read_key: SecretString,
}

async fn serve(addr: SocketAddr) -> Result<Served, BoxError> {
    let emulator = Emulator::start().await?;
    let org = emulator.create_organization("Acme")?;
    let read_key = emulator
        .create_organization_key(&org.id, "reader", &["posts:read"])?
        .value;
    let client = Client::builder()
        .secret(emulator.secret().clone())
        .base_url(emulator.base_url())
        .build()?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr}: {e} (set KEYGATE_ADDR, e.g. KEYGATE_ADDR=127.0.0.1:0)")
    })?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app(ApiKeyAuth::new(client))).into_future());
    Ok(Served {
        _emulator: emulator,
        base,
        read_key,
    })
}

/// The served document, as a client reads it.
async fn fetch_document(base: &str) -> Result<serde_json::Value, BoxError> {
    let response = reqwest::get(format!("{base}/openapi.json")).await?;
    Ok(response.error_for_status()?.json().await?)
}

/// Each operation with its `security`, one line each, in the document's order.
fn security_lines(document: &serde_json::Value) -> Vec<String> {
    let mut lines = Vec::new();
    let paths = document["paths"].as_object().into_iter().flatten();
    for (path, item) in paths {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let security = match &operation["security"] {
                serde_json::Value::Null => "none".to_owned(),
                security => security.to_string(),
            };
            lines.push(format!("{} {path}: {security}", method.to_uppercase()));
        }
    }
    lines
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let addr: SocketAddr = std::env::var("KEYGATE_ADDR")
        .unwrap_or_else(|_| DEFAULT_ADDR.into())
        .parse()
        .map_err(|e| format!("KEYGATE_ADDR must be host:port, such as 127.0.0.1:3000: {e}"))?;
    let served = serve(addr).await?;
    let document = fetch_document(&served.base).await?;

    println!(
        "security scheme api_key: {}",
        document["components"]["securitySchemes"]["api_key"]
    );
    for line in security_lines(&document) {
        println!("{line}");
    }
    println!("\nthe whole document: curl {}/openapi.json", served.base);
    println!(
        "a posts:read key: export KEYGATE_READ_KEY={}",
        served.read_key.expose_secret()
    );
    println!("serving until Ctrl-C");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_document_shows_the_scheme_and_each_routes_permissions() -> Result<(), BoxError> {
        let served = serve("127.0.0.1:0".parse()?).await?;
        let document = fetch_document(&served.base).await?;

        assert_eq!(
            document["components"]["securitySchemes"]["api_key"]["type"],
            "http"
        );
        assert_eq!(
            document["components"]["securitySchemes"]["api_key"]["scheme"],
            "bearer"
        );
        assert_eq!(
            document["components"]["securitySchemes"]["api_key"]["bearerFormat"],
            "WorkOS API key"
        );
        assert_eq!(
            security_lines(&document),
            [
                r#"GET /me: [{"api_key":[]}]"#,
                r#"GET /posts: [{"api_key":["posts:read"]}]"#,
                r#"POST /posts: [{"api_key":["posts:write"]}]"#,
                r#"DELETE /posts/{id}: [{"api_key":["posts:write"]},{"api_key":["posts:admin"]}]"#,
                r#"POST /posts/{id}/publish: [{"api_key":["posts:write","posts:publish"]}]"#,
            ]
        );
        assert_eq!(document["info"]["title"], "Posts API");
        assert_eq!(
            document["paths"]["/posts"]["post"]["requestBody"]["content"]["application/json"]["schema"],
            json!({"$ref": "#/components/schemas/NewPost"})
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_read_key_gets_what_the_document_promises() -> Result<(), BoxError> {
        let served = serve("127.0.0.1:0".parse()?).await?;
        let http = reqwest::Client::new();
        let key = served.read_key.expose_secret();
        let posts = format!("{}/posts", served.base);

        let listed = http.get(&posts).bearer_auth(key).send().await?;
        assert_eq!(listed.status(), 200, "posts:read is listed for GET /posts");
        let written = http
            .post(&posts)
            .bearer_auth(key)
            .json(&json!({"title": "hello"}))
            .send()
            .await?;
        assert_eq!(written.status(), 403, "POST /posts lists posts:write");
        let anonymous = http.get(&posts).send().await?;
        assert_eq!(anonymous.status(), 401);
        Ok(())
    }
}

//! End to end over real sockets, against the emulator: the served OpenAPI
//! document names the scheme and each route's permissions exactly, and what it
//! says is what the guards enforce, for every set of permissions a key can hold.

use axum::routing::get;
use axum::{Json, Router};
use keygate_auth::{ApiKeyAuth, RequireAllPermissions, RequireAnyPermission, RequirePermission};
use keygate_client::Client;
use keygate_emulator::Emulator;
use keygate_utoipa::{ApiKeySecurity, GuardedRoutes};
use serde_json::{Value, json};
use utoipa::Modify;
use utoipa_axum::{router::OpenApiRouter, routes};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every permission a route below asks for: the test mints a key for each subset.
const UNIVERSE: [&str; 4] = ["posts:read", "posts:write", "posts:admin", "posts:publish"];

const POSTS_READ: RequirePermission = RequirePermission("posts:read");
const POSTS_WRITE: RequirePermission = RequirePermission("posts:write");
const WRITE_OR_ADMIN: RequireAnyPermission = RequireAnyPermission(&["posts:write", "posts:admin"]);
const WRITE_AND_PUBLISH: RequireAllPermissions =
    RequireAllPermissions(&["posts:write", "posts:publish"]);

#[utoipa::path(get, path = "/health", responses((status = 200, description = "up")))]
async fn health() {}

#[utoipa::path(get, path = "/me", responses((status = 200, description = "the caller")))]
async fn me() {}

#[utoipa::path(get, path = "/posts", responses((status = 200, description = "the posts")))]
async fn list_posts() {}

#[utoipa::path(post, path = "/posts", responses((status = 200, description = "created")))]
async fn create_post() {}

#[utoipa::path(put, path = "/posts/{id}", params(("id" = u64, Path)),
    responses((status = 200, description = "replaced")))]
async fn replace_post() {}

#[utoipa::path(delete, path = "/posts/{id}", params(("id" = u64, Path)),
    responses((status = 200, description = "deleted")))]
async fn delete_post() {}

#[utoipa::path(post, path = "/posts/{id}/publish", params(("id" = u64, Path)),
    responses((status = 200, description = "published")))]
async fn publish_post() {}

/// The app under test, serving its own document at `/openapi.json`.
fn app(client: Client) -> Router {
    let (app, mut openapi) = OpenApiRouter::new()
        .routes(routes!(me).authenticated())
        .routes(routes!(list_posts).require(POSTS_READ))
        .routes(routes!(create_post).require(POSTS_WRITE))
        // Two stacked guards: both must pass.
        .routes(
            routes!(replace_post)
                .require(POSTS_READ)
                .require(WRITE_OR_ADMIN),
        )
        .routes(routes!(delete_post).require(WRITE_OR_ADMIN))
        .routes(routes!(publish_post).require(WRITE_AND_PUBLISH))
        .layer(ApiKeyAuth::new(client))
        .routes(routes!(health))
        .split_for_parts();
    ApiKeySecurity.modify(&mut openapi);
    app.route("/openapi.json", get(move || async move { Json(openapi) }))
}

struct Served {
    base: String,
    emulator: Emulator,
    http: reqwest::Client,
}

async fn serve() -> Result<Served, BoxError> {
    let emulator = Emulator::start().await?;
    let client = Client::builder()
        .secret(emulator.secret().clone())
        .base_url(emulator.base_url())
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app(client)).into_future());
    Ok(Served {
        base,
        emulator,
        http: reqwest::Client::new(),
    })
}

async fn document(served: &Served) -> Result<Value, BoxError> {
    let response = served
        .http
        .get(format!("{}/openapi.json", served.base))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    Ok(response.json().await?)
}

#[tokio::test]
async fn the_served_document_names_the_scheme_and_each_routes_permissions() -> Result<(), BoxError>
{
    let served = serve().await?;
    let doc = document(&served).await?;

    assert_eq!(
        doc["components"]["securitySchemes"],
        json!({"api_key": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "WorkOS API key",
            "description": "A WorkOS-style API key, sent as `Authorization: Bearer <key>`. \
                An operation's scopes for this scheme are the permissions the key must grant; \
                a request without a valid key is answered 401, one whose key lacks a permission 403.",
        }})
    );
    let security = |path: &str, method: &str| doc["paths"][path][method]["security"].clone();
    assert_eq!(security("/health", "get"), Value::Null, "a public route");
    assert_eq!(security("/me", "get"), json!([{"api_key": []}]));
    assert_eq!(
        security("/posts", "get"),
        json!([{"api_key": ["posts:read"]}])
    );
    assert_eq!(
        security("/posts", "post"),
        json!([{"api_key": ["posts:write"]}])
    );
    assert_eq!(
        security("/posts/{id}", "put"),
        json!([
            {"api_key": ["posts:read", "posts:write"]},
            {"api_key": ["posts:read", "posts:admin"]},
        ])
    );
    assert_eq!(
        security("/posts/{id}", "delete"),
        json!([{"api_key": ["posts:write"]}, {"api_key": ["posts:admin"]}])
    );
    assert_eq!(
        security("/posts/{id}/publish", "post"),
        json!([{"api_key": ["posts:write", "posts:publish"]}])
    );
    Ok(())
}

/// Whether a key granting `granted` meets one of the operation's requirement objects.
fn documented_as_allowed(security: &[Value], granted: &[&str]) -> bool {
    security.iter().any(|requirement| {
        let object = requirement.as_object().expect("a requirement object");
        assert_eq!(object.len(), 1, "only keygate's scheme: {requirement}");
        object["api_key"]
            .as_array()
            .expect("scopes")
            .iter()
            .all(|scope| granted.contains(&scope.as_str().expect("a scope")))
    })
}

#[tokio::test]
async fn every_key_is_let_through_exactly_where_the_document_says() -> Result<(), BoxError> {
    let served = serve().await?;
    let doc = document(&served).await?;
    let org = served.emulator.create_organization("Acme")?;

    // Each operation the document secures, as a request to send.
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if let Some(security) = operation["security"].as_array() {
                let url = format!("{}{}", served.base, path.replace("{id}", "1"));
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
                operations.push((method, url, security.clone()));
            }
        }
    }
    assert_eq!(operations.len(), 6, "every guarded route is documented");

    for (method, url, _) in &operations {
        let status = served
            .http
            .request(method.clone(), url)
            .send()
            .await?
            .status();
        assert_eq!(status, 401, "{method} {url} without a key");
    }

    let mut checked = 0;
    for subset in 0..1 << UNIVERSE.len() {
        let granted: Vec<&str> = (0..UNIVERSE.len())
            .filter(|bit| subset & (1 << bit) != 0)
            .map(|bit| UNIVERSE[bit])
            .collect();
        let key = served
            .emulator
            .create_organization_key(&org.id, "subset", &granted)?;
        for (method, url, security) in &operations {
            let status = served
                .http
                .request(method.clone(), url)
                .bearer_auth(key.value.expose_secret())
                .send()
                .await?
                .status();
            let expected = if documented_as_allowed(security, &granted) {
                200
            } else {
                403
            };
            assert_eq!(status, expected, "{method} {url} with {granted:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 16 * 6);

    let public = served
        .http
        .get(format!("{}/health", served.base))
        .send()
        .await?;
    assert_eq!(public.status(), 200, "the public route needs no key");
    Ok(())
}

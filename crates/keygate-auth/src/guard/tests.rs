use std::convert::Infallible;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use keygate_types::{OrganizationId, Owner, SecretString};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::*;
use crate::{ApiKeyAuth, AuthRejection, InMemoryValidator};

/// Answers 200 with the principal's id, so a test sees the guard left it in place.
async fn whoami(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let id = request
        .extensions()
        .get::<ApiKeyPrincipal>()
        .map(|p| p.id().to_string())
        .unwrap_or_default();
    Ok(Response::new(Body::from(id)))
}

fn org() -> Owner {
    Owner::Organization {
        id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
    }
}

fn request(key: Option<&SecretString>) -> Request<Body> {
    let mut builder = Request::get("/");
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {}", key.expose_secret()));
    }
    builder.body(Body::empty()).unwrap()
}

async fn through<G, R>(
    auth: &ApiKeyAuth<InMemoryValidator, R>,
    guard: G,
    key: Option<&SecretString>,
) -> Response<Body>
where
    R: crate::OnRejection<Body>,
    G: tower::Layer<tower::util::ServiceFn<fn(Request<Body>) -> WhoAmI>>,
    G::Service: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    <G::Service as tower::Service<Request<Body>>>::Future: Send,
{
    let inner = service_fn(whoami_boxed as fn(Request<Body>) -> WhoAmI);
    ServiceBuilder::new()
        .layer(auth.clone())
        .layer(guard)
        .service(inner)
        .oneshot(request(key))
        .await
        .unwrap()
}

type WhoAmI = std::pin::Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

fn whoami_boxed(request: Request<Body>) -> WhoAmI {
    Box::pin(whoami(request))
}

fn scope_of(response: &Response<Body>) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .split(", scope=")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn require_permission_lets_holders_through_and_keeps_the_principal() {
    let validator = InMemoryValidator::new();
    let (reader, reader_key) = validator.issue("r", org(), ["posts:read"]);
    let (writer, _) = validator.issue("w", org(), ["posts:read", "posts:write"]);
    let auth = ApiKeyAuth::new(validator);

    let response = through(&auth, RequirePermission("posts:write"), Some(&writer)).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = through(&auth, RequirePermission("posts:write"), Some(&reader)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(scope_of(&response), "\"posts:write\"");
    let rejection = response.extensions().get::<AuthRejection>().unwrap();
    assert!(
        matches!(rejection, AuthRejection::InsufficientScope(s) if s.required() == ["posts:write"])
    );

    let response = through(&auth, RequirePermission("posts:read"), Some(&reader)).await;
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, reader_key.id.as_str().as_bytes());
}

#[tokio::test]
async fn all_of_and_any_of() {
    let validator = InMemoryValidator::new();
    let (reader, _) = validator.issue("r", org(), ["posts:read"]);
    let (both, _) = validator.issue("b", org(), ["posts:read", "posts:write"]);
    let auth = ApiKeyAuth::new(validator);
    let all = || RequireAllPermissions(&["posts:read", "posts:write"]);
    let any = || RequireAnyPermission(&["posts:admin", "posts:read"]);

    assert_eq!(
        through(&auth, all(), Some(&both)).await.status(),
        StatusCode::OK
    );
    let refused = through(&auth, all(), Some(&reader)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(scope_of(&refused), "\"posts:read posts:write\"");

    assert_eq!(
        through(&auth, any(), Some(&reader)).await.status(),
        StatusCode::OK
    );
    let none = RequireAnyPermission(&["posts:admin", "posts:delete"]);
    assert_eq!(
        through(&auth, none, Some(&both)).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn without_the_layer_a_guard_answers_500() {
    let service = ServiceBuilder::new()
        .layer(RequirePermission("posts:read"))
        .service(service_fn(whoami));
    let response = service.oneshot(request(None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(matches!(
        response.extensions().get::<AuthRejection>(),
        Some(AuthRejection::Misconfigured(_))
    ));
}

#[tokio::test]
async fn behind_the_optional_mode_an_anonymous_request_gets_401() {
    let auth = ApiKeyAuth::builder(InMemoryValidator::new())
        .optional()
        .build();
    let response = through(&auth, RequirePermission("posts:read"), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_guard_refusal_is_rendered_by_the_layer_with_its_realm_and_handler() {
    let validator = InMemoryValidator::new();
    let (reader, _) = validator.issue("r", org(), ["posts:read"]);
    let realm = ApiKeyAuth::builder(validator.clone())
        .realm("billing")
        .build();
    let response = through(&realm, RequirePermission("posts:write"), Some(&reader)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(r#"Bearer realm="billing", error="insufficient_scope""#),
        "{challenge}"
    );

    let custom = ApiKeyAuth::builder(validator)
        .on_rejection(|r: &AuthRejection| {
            let mut response = Response::new(Body::from("custom"));
            *response.status_mut() = r.status();
            response
        })
        .build();
    let response = through(&custom, RequirePermission("posts:write"), Some(&reader)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(matches!(
        response.extensions().get::<AuthRejection>(),
        Some(AuthRejection::InsufficientScope(_))
    ));
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"custom");
}

#[test]
fn guards_check_their_slugs_when_they_wrap_a_service() {
    let inner = || service_fn(whoami);
    let wrap = |guard: RequirePermission| {
        std::panic::catch_unwind(|| {
            let _service = tower::Layer::layer(&guard, inner());
        })
    };
    assert!(wrap(RequirePermission("Posts/Write")).is_err());
    assert!(wrap(RequirePermission("posts:write")).is_ok());
    let any = RequireAnyPermission(&[]);
    assert!(
        std::panic::catch_unwind(|| {
            let _service = tower::Layer::layer(&any, inner());
        })
        .is_err()
    );
}

// ---- Review tests ----

/// A middleware between the layer and the guard (CORS, request ids,
/// `Cache-Control`...) adds a header to every response: the guard's 403,
/// re-rendered by the layer, must keep it.
#[tokio::test]
async fn rendering_a_guards_refusal_keeps_what_inner_layers_added() {
    let validator = InMemoryValidator::new();
    let (reader, _) = validator.issue("reader", org(), ["posts:read"]);
    let auth = ApiKeyAuth::new(validator);
    let response = ServiceBuilder::new()
        .layer(auth.clone())
        .map_response(|mut response: Response<Body>| {
            response
                .headers_mut()
                .insert("x-request-id", http::HeaderValue::from_static("req-42"));
            response
        })
        .layer(RequirePermission("posts:write"))
        .service(service_fn(whoami))
        .oneshot(request(Some(&reader)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers().get("x-request-id"),
        Some(&http::HeaderValue::from_static("req-42")),
        "the inner layer's header was dropped when the refusal was re-rendered"
    );
}

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use keygate_types::{OrganizationId, Owner, SecretString};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::*;
use crate::OnRejection;
use crate::{
    Anonymous, ApiKeyAuth, ApiKeyPrincipal, AuthRejection, InMemoryValidator, RequirePermission,
};

fn org() -> Owner {
    Owner::Organization {
        id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
    }
}

/// Answers 200 with who called: a key id, "anonymous" or "nobody".
async fn whoami(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let who = match (
        request.extensions().get::<ApiKeyPrincipal>(),
        request.extensions().get::<Anonymous>(),
    ) {
        (Some(p), _) => p.id().to_string(),
        (None, Some(_)) => "anonymous".to_owned(),
        (None, None) => "nobody".to_owned(),
    };
    Ok(Response::new(Body::from(who)))
}

fn grpc(path: &str, key: Option<&SecretString>) -> Request<Body> {
    let mut builder = Request::post(path).header("content-type", "application/grpc");
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {}", key.expose_secret()));
    }
    builder.body(Body::empty()).unwrap()
}

fn rest(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

async fn call<V: crate::KeyValidator, R: crate::OnRejection<Body>>(
    gate: &GrpcGate<V, R>,
    request: Request<Body>,
) -> (Response<Body>, String) {
    let response = ServiceBuilder::new()
        .layer(gate.clone())
        .service(service_fn(whoami))
        .oneshot(request)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    (
        Response::from_parts(parts, Body::empty()),
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// The status of a trailers-only response, read as a gRPC client reads it.
fn status_of(response: &Response<Body>) -> Status {
    assert_eq!(response.status(), StatusCode::OK, "{response:?}");
    assert_eq!(response.headers()["content-type"], "application/grpc");
    Status::from_header_map(response.headers()).expect("a grpc-status header")
}

#[test]
fn each_refusal_has_its_grpc_code_and_unavailable_says_when_to_retry() {
    let cases = [
        (AuthRejection::MissingCredential, Code::Unauthenticated),
        (
            AuthRejection::InvalidToken(crate::InvalidToken::Rejected),
            Code::Unauthenticated,
        ),
        (
            AuthRejection::Credential(crate::CredentialError::SeveralAuthorizationHeaders),
            Code::Unauthenticated,
        ),
        (
            AuthRejection::InsufficientScope(crate::rejection::InsufficientScope::new(
                &["echo:say"],
                false,
            )),
            Code::PermissionDenied,
        ),
        (AuthRejection::UndeclaredMethod, Code::PermissionDenied),
        (AuthRejection::Misconfigured("no layer"), Code::Internal),
    ];
    for (rejection, code) in cases {
        let response: Response<Body> = GrpcRejection.on_rejection(&rejection);
        let status = status_of(&response);
        assert_eq!(status.code(), code, "{rejection:?}");
        assert_eq!(status.message(), rejection.to_string());
        assert!(status.get_details_retry_info().is_none());
    }

    let unavailable = AuthRejection::Unavailable {
        retry_after: Duration::from_millis(2_500),
    };
    let response: Response<Body> = GrpcRejection.on_rejection(&unavailable);
    let status = status_of(&response);
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        status.get_details_retry_info().unwrap().retry_delay,
        Some(Duration::from_millis(2_500))
    );
    assert_eq!(response.headers()[RETRY_PUSHBACK_MS], "2500");
}

#[tokio::test]
async fn one_gate_answers_grpc_calls_in_grpc_and_rest_requests_in_rfc_6750() {
    let validator = InMemoryValidator::new();
    let (key, _) = validator.issue("ci", org(), ["echo:say"]);
    let gate = GrpcGate::new(ApiKeyAuth::new(validator));

    let (response, body) = call(&gate, grpc("/keygate.echo.v1.Echo/Say", None)).await;
    assert_eq!(status_of(&response).code(), Code::Unauthenticated);
    assert!(body.is_empty(), "a trailers-only response has no body");
    assert!(response.headers().get("www-authenticate").is_none());
    assert_eq!(
        response.extensions().get::<AuthRejection>(),
        Some(&AuthRejection::MissingCredential)
    );

    let (response, _) = call(&gate, rest("/posts")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="api""#
    );

    let (response, body) = call(&gate, grpc("/keygate.echo.v1.Echo/Say", Some(&key))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body.starts_with("api_key_"), "{body}");
}

#[tokio::test]
async fn open_paths_skip_authentication_and_are_marked_anonymous() {
    let validator = InMemoryValidator::new();
    let gate = GrpcGate::new(ApiKeyAuth::new(validator.clone()))
        .open("grpc.health.v1.Health")
        .open("/healthz")
        .deny_undeclared();
    let (response, body) = call(&gate, grpc("/grpc.health.v1.Health/Check", None)).await;
    assert_eq!(
        (response.status(), body.as_str()),
        (StatusCode::OK, "anonymous")
    );
    let (_, body) = call(&gate, rest("/healthz")).await;
    assert_eq!(body, "anonymous");
    // A key sent to an open path is not even looked at.
    let (_, body) = call(
        &gate,
        grpc("/grpc.health.v1.Health/Watch", Some(&"sk_nope".into())),
    )
    .await;
    assert_eq!(body, "anonymous");
    assert_eq!(validator.calls(), 0);
    // Only the open names are open.
    let (response, _) = call(&gate, grpc("/grpc.health.v1.Healthy/Check", None)).await;
    assert_eq!(status_of(&response).code(), Code::Unauthenticated);
}

#[tokio::test]
async fn method_rules_are_checked_behind_authentication() {
    let validator = InMemoryValidator::new();
    let (sayer, _) = validator.issue("sayer", org(), ["echo:say"]);
    let gate = GrpcGate::new(ApiKeyAuth::builder(validator).realm("echo").build())
        .require("/keygate.echo.v1.Echo/Say", RequirePermission("echo:say"))
        .require("keygate.echo.v1.Echo", RequirePermission("echo:admin"))
        .authenticated("/keygate.echo.v1.Echo/Ping");

    let (response, _) = call(&gate, grpc("/keygate.echo.v1.Echo/Say", Some(&sayer))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (response, _) = call(&gate, grpc("/keygate.echo.v1.Echo/Ping", Some(&sayer))).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The service's rule for the methods without one of their own.
    let (response, _) = call(&gate, grpc("/keygate.echo.v1.Echo/Count", Some(&sayer))).await;
    let status = status_of(&response);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("echo:admin"),
        "{}",
        status.message()
    );
    // A REST request under the same path is refused in RFC 6750, realm and all.
    let rest = Request::get("/keygate.echo.v1.Echo/Count")
        .header("authorization", format!("Bearer {}", sayer.expose_secret()))
        .body(Body::empty())
        .unwrap();
    let (response, _) = call(&gate, rest).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with(r#"Bearer realm="echo", error="insufficient_scope""#)
    );
}

#[tokio::test]
async fn undeclared_methods_are_denied_when_asked_and_only_for_grpc() {
    let validator = InMemoryValidator::new();
    let (key, _) = validator.issue("ci", org(), ["echo:say"]);
    let open = GrpcGate::new(ApiKeyAuth::new(validator.clone()));
    let (response, _) = call(&open, grpc("/other.v1.Svc/Do", Some(&key))).await;
    assert_eq!(response.status(), StatusCode::OK);

    let closed = GrpcGate::new(ApiKeyAuth::new(validator))
        .require("/keygate.echo.v1.Echo/Say", RequirePermission("echo:say"))
        .deny_undeclared();
    let (response, _) = call(&closed, grpc("/keygate.echo.v1.Echo/Say", Some(&key))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (response, _) = call(&closed, grpc("/other.v1.Svc/Do", Some(&key))).await;
    assert_eq!(status_of(&response).code(), Code::PermissionDenied);
    assert_eq!(
        response.extensions().get::<AuthRejection>(),
        Some(&AuthRejection::UndeclaredMethod)
    );
    // REST routes have their own guards: no rule is not a refusal.
    let rest = Request::get("/posts")
        .header("authorization", format!("Bearer {}", key.expose_secret()))
        .body(Body::empty())
        .unwrap();
    let (response, _) = call(&closed, rest).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_inner_layers_refusal_of_a_grpc_call_is_rendered_as_its_status() {
    let validator = InMemoryValidator::new();
    let (key, _) = validator.issue("ci", org(), ["echo:say"]);
    let gate = GrpcGate::new(ApiKeyAuth::new(validator));
    // What the rate limit does: a 429 with its gRPC form in the extensions.
    let limited = service_fn(|_: Request<Body>| async {
        let mut response = Response::new(Body::from("{\"error\":\"rate_limited\"}"));
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response.headers_mut().insert("retry-after", 1.into());
        response.headers_mut().insert(
            "ratelimit",
            http::HeaderValue::from_static("\"per-key\";r=0;t=1"),
        );
        response.extensions_mut().insert(status_with_retry_info(
            Code::ResourceExhausted,
            "slow down",
            Duration::from_secs(1),
        ));
        Ok::<_, Infallible>(response)
    });
    let response = ServiceBuilder::new()
        .layer(gate)
        .service(limited)
        .oneshot(grpc("/keygate.echo.v1.Echo/Say", Some(&key)))
        .await
        .unwrap();
    let status = status_of(&response);
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.get_details_retry_info().unwrap().retry_delay,
        Some(Duration::from_secs(1))
    );
    assert_eq!(response.headers()["ratelimit"], "\"per-key\";r=0;t=1");
    assert!(response.headers().get("retry-after").is_none());
}

#[tokio::test]
async fn a_guard_works_with_a_body_that_is_only_default() {
    // tonic's body: `Default`, not `From<Bytes>`.
    let validator = InMemoryValidator::new();
    let (key, _) = validator.issue("ci", org(), ["echo:read"]);
    let auth = ApiKeyAuth::builder(validator)
        .on_rejection(GrpcRejection)
        .build();
    let service = ServiceBuilder::new()
        .layer(auth)
        .layer(RequirePermission("echo:say"))
        .service(service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(tonic::body::Body::empty()))
        }));
    let response = service
        .oneshot(grpc("/keygate.echo.v1.Echo/Say", Some(&key)))
        .await
        .unwrap();
    let status = Status::from_header_map(response.headers()).unwrap();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[test]
fn the_principal_in_a_tonic_request() {
    let mut request = tonic::Request::new(());
    assert_eq!(request.principal().unwrap_err().code(), Code::Internal);
    request.extensions_mut().insert(Anonymous);
    assert_eq!(
        request.principal().unwrap_err().code(),
        Code::Unauthenticated
    );
    assert!(request.optional_principal().unwrap().is_none());
}

#[test]
fn a_guarded_or_authenticated_service_keeps_its_grpc_name() {
    use tonic::server::NamedService;

    #[derive(Clone)]
    struct Echo;
    impl NamedService for Echo {
        const NAME: &'static str = "keygate.echo.v1.Echo";
    }
    fn name_of<S: NamedService>(_: &S) -> &'static str {
        S::NAME
    }
    let guarded = tower::Layer::layer(&RequirePermission("echo:say"), Echo);
    assert_eq!(name_of(&guarded), "keygate.echo.v1.Echo");
    let auth = ApiKeyAuth::builder(InMemoryValidator::new())
        .on_rejection(GrpcRejection)
        .build();
    let authenticated = tower::Layer::layer(&auth, guarded);
    assert_eq!(name_of(&authenticated), "keygate.echo.v1.Echo");
    let gated = tower::Layer::layer(&GrpcGate::new(auth), Echo);
    assert_eq!(name_of(&gated), "keygate.echo.v1.Echo");
}

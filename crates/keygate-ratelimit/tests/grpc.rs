//! gRPC refusals (feature `tonic`): in front of tonic services alone, the
//! rate limit answers with a trailers-only 8 `RESOURCE_EXHAUSTED` in
//! tonic's own body type; behind a `GrpcGate` on a REST + gRPC router, its
//! 429 carries that status for the gate to answer gRPC calls with. The
//! end-to-end tests over HTTP/2 with a tonic client are the facade's
//! `tests/grpc.rs`.

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use keygate_auth::grpc::{GrpcRejection, RETRY_PUSHBACK_MS};
use keygate_auth::{ApiKeyAuth, InMemoryValidator};
use keygate_ratelimit::{Quota, RateLimit, RateLimited};
use keygate_types::{OrganizationId, Owner, SecretString};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use tower::{ServiceBuilder, ServiceExt, service_fn};

fn org() -> Owner {
    Owner::Organization {
        id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
    }
}

fn call(key: &SecretString) -> Request<tonic::body::Body> {
    Request::post("/keygate.echo.v1.Echo/Say")
        .header("content-type", "application/grpc")
        .header("authorization", format!("Bearer {}", key.expose_secret()))
        .body(tonic::body::Body::empty())
        .unwrap()
}

#[tokio::test]
async fn in_front_of_tonic_the_refusal_is_resource_exhausted_with_retry_info() {
    let keys = InMemoryValidator::new();
    let (key, _) = keys.issue("ci", org(), ["echo:say"]);
    let auth = ApiKeyAuth::builder(keys)
        .on_rejection(GrpcRejection)
        .build();
    let limit = RateLimit::per_key(Quota::per_minute(2));
    // tonic's body: `Default`, not `From<Bytes>`.
    let service = ServiceBuilder::new()
        .layer(auth)
        .layer(limit.grpc())
        .service(service_fn(|_: Request<tonic::body::Body>| async {
            Ok::<_, Infallible>(Response::new(tonic::body::Body::empty()))
        }));
    for _ in 0..2 {
        let response = service.clone().oneshot(call(&key)).await.unwrap();
        assert!(response.headers().get("grpc-status").is_none());
    }
    let refused = service.clone().oneshot(call(&key)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::OK, "trailers-only: HTTP 200");
    assert_eq!(refused.headers()["content-type"], "application/grpc");
    let status = Status::from_header_map(refused.headers()).unwrap();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status
            .message()
            .contains("rate limit (2 requests per 60 s)"),
        "{}",
        status.message()
    );
    let delay = status
        .get_details_retry_info()
        .unwrap()
        .retry_delay
        .unwrap();
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(30),
        "{delay:?}"
    );
    assert!(refused.headers().get(RETRY_PUSHBACK_MS).is_some());
    assert_eq!(refused.headers()["ratelimit"], "\"per-key\";r=0;t=30");
    assert!(refused.extensions().get::<RateLimited>().is_some());
}

#[tokio::test]
async fn the_http_429_carries_its_grpc_status_for_a_gate() {
    let keys = InMemoryValidator::new();
    let (key, _) = keys.issue("ci", org(), ["echo:say"]);
    let service = ServiceBuilder::new()
        .layer(ApiKeyAuth::new(keys))
        .layer(RateLimit::per_key(Quota::per_minute(1)))
        .service(service_fn(|_: Request<axum::body::Body>| async {
            Ok::<_, Infallible>(Response::new(axum::body::Body::empty()))
        }));
    let request = || {
        Request::get("/posts")
            .header("authorization", format!("Bearer {}", key.expose_secret()))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    service.clone().oneshot(request()).await.unwrap();
    let refused = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let status = refused.extensions().get::<Status>().unwrap();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.get_details_retry_info().is_some());
}

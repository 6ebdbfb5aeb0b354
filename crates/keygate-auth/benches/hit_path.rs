//! What a cache hit costs: the same request through a bare service and
//! through `ApiKeyAuth` with a warm cache. Plain timing, no harness:
//! `cargo bench -p keygate-auth --bench hit_path`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{Request, Response};
use keygate_auth::{ApiKeyAuth, InMemoryValidator, RequirePermission};
use keygate_types::{OrganizationId, Owner};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const ROUNDS: u32 = 200_000;

async fn ok(_request: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

async fn time<S>(mut service: S, header: &str) -> Duration
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let request = Request::get("/posts")
            .header("authorization", header)
            .body(Body::empty())
            .unwrap();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(response.status(), 200);
        black_box(response);
    }
    started.elapsed() / ROUNDS
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let validator = InMemoryValidator::new();
    let org = Owner::Organization {
        id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
    };
    let (value, _) = validator.issue("bench", org, ["posts:read"]);
    let header = format!("Bearer {}", value.expose_secret());
    let auth = ApiKeyAuth::new(validator.clone());

    let bare = time(service_fn(ok), &header).await;
    let layered = time(
        ServiceBuilder::new().layer(auth.clone()).service_fn(ok),
        &header,
    )
    .await;
    let guarded = time(
        ServiceBuilder::new()
            .layer(auth.clone())
            .layer(RequirePermission("posts:read"))
            .service_fn(ok),
        &header,
    )
    .await;
    let stats = auth.stats();
    println!("bare service:              {bare:>9.2?} per request");
    println!(
        "ApiKeyAuth, cache hit:     {layered:>9.2?} per request (+{:?})",
        layered.saturating_sub(bare)
    );
    println!(
        "ApiKeyAuth + guard, hit:   {guarded:>9.2?} per request (+{:?})",
        guarded.saturating_sub(bare)
    );
    println!(
        "validator calls: {} for {} authenticated requests ({} hits)",
        validator.calls(),
        2 * ROUNDS,
        stats.hits
    );
}

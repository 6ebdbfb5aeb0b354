//! The three credentials on one layer, per request into a trivial handler:
//! an API key on a cache hit, a session token seen before (its verdict kept
//! by digest), and a session token's first verification (RS256 signature
//! and claims, its key set already held).
//!
//! `cargo bench -p keygate-auth --features jwt,test-util --bench credentials`

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::Criterion;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use keygate_auth::jwt::{JwtVerifier, SessionTokens};
use keygate_auth::{ApiKeyAuth, InMemoryValidator};
use keygate_emulator::Emulator;
use keygate_types::{OrganizationId, Owner};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

async fn ok(_request: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

/// Times `iters` requests carrying `authorization` through `service`.
fn measure<S>(runtime: &Runtime, service: &S, authorization: &HeaderValue, iters: u64) -> Duration
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let mut service = service.clone();
    runtime.block_on(async move {
        let started = Instant::now();
        for _ in 0..iters {
            let mut request = Request::new(Body::empty());
            request
                .headers_mut()
                .insert(AUTHORIZATION, authorization.clone());
            let response = match service.ready().await {
                Ok(ready) => match ready.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                Err(never) => match never {},
            };
            assert_eq!(response.status(), StatusCode::OK);
            black_box(response);
        }
        started.elapsed()
    })
}

fn main() {
    let runtime = Runtime::new().unwrap();
    let (emu, verifier, tokens) = runtime.block_on(async {
        let emu = Emulator::start().await.unwrap();
        let org = emu.create_organization("Acme").unwrap();
        let user = emu.create_user("ada@example.com").unwrap();
        emu.create_membership(&user.id, &org.id).unwrap();
        let verifier = JwtVerifier::builder()
            .sessions(SessionTokens::new(emu.client_id()).api_base(emu.base_url()))
            .build()
            .unwrap();
        verifier.prefetch().await;
        let tokens: Vec<String> = (0..2_000)
            .map(|_| {
                emu.session_access_token(&user.id, &org.id, &["posts:read"])
                    .unwrap()
                    .access_token
            })
            .collect();
        (emu, verifier, tokens)
    });
    let validator = InMemoryValidator::new();
    let (key, _) = validator.issue(
        "bench key",
        Owner::Organization {
            id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
        },
        ["posts:read"],
    );
    let auth = ApiKeyAuth::builder(validator)
        .access_tokens(verifier.clone())
        .build();
    let service = auth.layer(ServiceBuilder::new().service_fn(ok));
    let key = HeaderValue::try_from(format!("Bearer {}", key.expose_secret())).unwrap();
    let token = HeaderValue::try_from(format!("Bearer {}", tokens[0])).unwrap();

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .configure_from_args();
    c.bench_function("api_key_hit", |b| {
        b.iter_custom(|iters| measure(&runtime, &service, &key, iters));
    });
    c.bench_function("session_token_seen_before", |b| {
        b.iter_custom(|iters| measure(&runtime, &service, &token, iters));
    });
    // Where a seen token's time goes: the verifier alone, and the digest.
    c.bench_function("verifier_seen_token", |b| {
        b.iter(|| black_box(runtime.block_on(verifier.verify(black_box(&tokens[0])))).is_ok());
    });
    c.bench_function("sha256_of_the_token", |b| {
        use sha2::Digest as _;
        b.iter(|| black_box(sha2::Sha256::digest(black_box(tokens[0].as_bytes()))));
    });
    // Each iteration verifies a token this verifier has not seen: a fresh
    // verifier (key set fetched outside the timing) per 2,000 tokens.
    c.bench_function("session_token_first_verification", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut fresh: Option<JwtVerifier> = None;
            for i in 0..iters {
                let n = (i % tokens.len() as u64) as usize;
                if n == 0 || fresh.is_none() {
                    let v = JwtVerifier::builder()
                        .sessions(SessionTokens::new(emu.client_id()).api_base(emu.base_url()))
                        .build()
                        .unwrap();
                    runtime.block_on(v.prefetch());
                    fresh = Some(v);
                }
                let v = fresh.as_ref().unwrap();
                let started = Instant::now();
                let verdict = runtime.block_on(v.verify(&tokens[n]));
                total += started.elapsed();
                assert!(verdict.is_ok());
                black_box(verdict.ok());
            }
            total
        });
    });
    c.final_summary();
}

//! What the rate limit adds to an accepted request, in process: one request
//! through a tower stack into a trivial handler, in one run, for
//!
//! - (a) `ApiKeyAuth` alone, on a cache hit: the baseline;
//! - (b) the same with `RateLimit` behind it, accepted, with the `RateLimit`
//!   headers on the response (the default);
//! - (c) the same without those headers;
//! - (b) and (a) again with 1,000 keys taking turns (1,000 partitions);
//! - (d) a refused request (the 429), for scale.
//!
//! `cargo bench -p keygate-ratelimit --bench limiter_cost`; after criterion's
//! own report it prints the median cost per request and what the limiter
//! adds over (a). On a shared machine the separate benches drift apart by
//! more than the difference they measure, so it then runs (a), (b) and (c)
//! paired: 31 rounds of 20,000 requests each, taking turns, and prints the
//! median of the per-round differences.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::Criterion;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use keygate_auth::{ApiKeyAuth, InMemoryValidator};
use keygate_ratelimit::{Quota, RateLimit};
use keygate_types::{OrganizationId, Owner};
use tokio::runtime::Runtime;
use tower::{Service, ServiceBuilder, ServiceExt};

/// A quota no bench reaches: a request's worth comes back every 100 ns,
/// sooner than the next request arrives, so every request is accepted. Its
/// burst is an ordinary one (up to 256, the `RateLimit` values are ready-made).
const UNREACHED: Quota = Quota::per_second(10_000_000).with_burst(100);

/// The trivial handler every stack ends in. Its response has a header, as
/// any real response does (a content type), so the rate limit's headers are
/// added to a header map that exists, not to the first one.
async fn ok(_request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let mut response = Response::new(Body::empty());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

/// Per-iteration times of each bench, in nanoseconds, one per sample.
#[derive(Default)]
struct Registry(Mutex<BTreeMap<String, Vec<f64>>>);

impl Registry {
    fn record(&self, id: &str, elapsed: Duration, iters: u64) -> Duration {
        let per_iter = elapsed.as_nanos() as f64 / iters.max(1) as f64;
        self.0
            .lock()
            .unwrap()
            .entry(id.to_owned())
            .or_default()
            .push(per_iter);
        elapsed
    }

    fn median(&self, id: &str) -> Option<f64> {
        let mut samples = self.0.lock().unwrap().get(id)?.clone();
        samples.sort_by(f64::total_cmp);
        Some(samples[samples.len() / 2])
    }
}

/// Times `iters` requests through `service`, cycling over `headers`, each
/// answered with `expected`.
fn measure<S>(
    runtime: &Runtime,
    service: &S,
    headers: &[HeaderValue],
    iters: u64,
    expected: StatusCode,
) -> Duration
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let mut service = service.clone();
    runtime.block_on(async move {
        let mut next = 0;
        let started = Instant::now();
        for _ in 0..iters {
            let mut request = Request::new(Body::empty());
            *request.uri_mut() = http::Uri::from_static("/posts");
            request
                .headers_mut()
                .insert(AUTHORIZATION, headers[next].clone());
            let response = match service.ready().await {
                Ok(ready) => match ready.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                Err(never) => match never {},
            };
            assert_eq!(response.status(), expected);
            black_box(response);
            next = (next + 1) % headers.len();
        }
        started.elapsed()
    })
}

/// `count` keys of one organization, and their `Authorization` headers.
fn keys(count: usize) -> (InMemoryValidator, Vec<HeaderValue>) {
    let validator = InMemoryValidator::new();
    let org = OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M");
    let headers = (0..count)
        .map(|n| {
            let (value, _) = validator.issue(
                &format!("bench key {n}"),
                Owner::Organization { id: org.clone() },
                ["posts:read"],
            );
            HeaderValue::try_from(format!("Bearer {}", value.expose_secret())).unwrap()
        })
        .collect();
    (validator, headers)
}

fn auth(validator: &InMemoryValidator, count: usize) -> ApiKeyAuth<InMemoryValidator> {
    ApiKeyAuth::builder(validator.clone())
        .max_capacity(2 * count as u64)
        .positive_ttl(Duration::from_secs(3_600))
        .build()
}

fn bench<S>(
    c: &mut Criterion,
    runtime: &Runtime,
    registry: &Registry,
    id: &str,
    service: S,
    headers: &[HeaderValue],
    expected: StatusCode,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    c.bench_function(id, |b| {
        b.iter_custom(|iters| {
            registry.record(
                id,
                measure(runtime, &service, headers, iters, expected),
                iters,
            )
        })
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let registry = Registry::default();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .configure_from_args();

    let mut paired = None;
    for count in [1, 1_000] {
        let (validator, headers) = keys(count);
        let auth = auth(&validator, count);
        // Every key validated once and cached: the benches see hits only.
        let warm = ServiceBuilder::new().layer(auth.clone()).service_fn(ok);
        measure(&runtime, &warm, &headers, count as u64, StatusCode::OK);

        let baseline = ServiceBuilder::new().layer(auth.clone()).service_fn(ok);
        bench(
            &mut c,
            &runtime,
            &registry,
            &format!("a_auth_only/{count}"),
            baseline,
            &headers,
            StatusCode::OK,
        );

        let limited = ServiceBuilder::new()
            .layer(auth.clone())
            .layer(RateLimit::per_key(UNREACHED))
            .service_fn(ok);
        bench(
            &mut c,
            &runtime,
            &registry,
            &format!("b_auth_ratelimit/{count}"),
            limited,
            &headers,
            StatusCode::OK,
        );

        if count == 1 {
            let quiet = ServiceBuilder::new()
                .layer(auth.clone())
                .layer(
                    RateLimit::builder(UNREACHED)
                        .headers_on_success(false)
                        .build(),
                )
                .service_fn(ok);
            bench(
                &mut c,
                &runtime,
                &registry,
                "c_auth_ratelimit_no_headers/1",
                quiet.clone(),
                &headers,
                StatusCode::OK,
            );
            let baseline = ServiceBuilder::new().layer(auth.clone()).service_fn(ok);
            let limited = ServiceBuilder::new()
                .layer(auth.clone())
                .layer(RateLimit::per_key(UNREACHED))
                .service_fn(ok);
            paired = Some(pair(&runtime, &baseline, &limited, &quiet, &headers));

            // A quota spent at once, and a refill too slow to matter.
            let spent = RateLimit::per_key(Quota::per_hour(1));
            let refusing = ServiceBuilder::new()
                .layer(auth.clone())
                .layer(spent)
                .service_fn(ok);
            measure(&runtime, &refusing, &headers, 1, StatusCode::OK);
            bench(
                &mut c,
                &runtime,
                &registry,
                "d_refused/1",
                refusing,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        assert_eq!(
            validator.calls(),
            count as u64,
            "a cache miss during the benches"
        );
    }
    c.final_summary();

    println!("\nmedian cost per request (ns), and what the rate limit adds over auth alone:");
    let rows = [
        ("a_auth_only/1", "a_auth_only/1"),
        ("b_auth_ratelimit/1", "a_auth_only/1"),
        ("c_auth_ratelimit_no_headers/1", "a_auth_only/1"),
        ("d_refused/1", "a_auth_only/1"),
        ("a_auth_only/1000", "a_auth_only/1000"),
        ("b_auth_ratelimit/1000", "a_auth_only/1000"),
    ];
    for (id, base) in rows {
        if let (Some(cost), Some(base)) = (registry.median(id), registry.median(base)) {
            println!("{id:<32} {cost:>8.0} ns   {:>+8.0} ns", cost - base);
        }
    }
    if let Some(paired) = paired {
        println!(
            "\npaired, 1 key, {ROUNDS} rounds of {ROUND} requests each (median ns a request):"
        );
        println!(
            "auth alone                        {:>8.0} ns",
            paired.baseline
        );
        println!(
            "auth + rate limit, headers        {:>8.0} ns   {:>+8.0} ns",
            paired.baseline + paired.limited,
            paired.limited
        );
        println!(
            "auth + rate limit, no headers     {:>8.0} ns   {:>+8.0} ns",
            paired.baseline + paired.quiet,
            paired.quiet
        );
    }
}

const ROUNDS: usize = 31;
const ROUND: u64 = 20_000;

/// Medians of the paired runs: the baseline, and the per-round differences.
struct Paired {
    baseline: f64,
    limited: f64,
    quiet: f64,
}

/// (a), (b) and (c) taking turns, `ROUNDS` times: drift on the machine hits
/// all three alike, and cancels out of each round's differences.
fn pair<A, B, C>(
    runtime: &Runtime,
    baseline: &A,
    limited: &B,
    quiet: &C,
    headers: &[HeaderValue],
) -> Paired
where
    A: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
    B: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
    C: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let per_request = |elapsed: Duration| elapsed.as_nanos() as f64 / ROUND as f64;
    let (mut bases, mut limits, mut quiets) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = per_request(measure(runtime, baseline, headers, ROUND, StatusCode::OK));
        let b = per_request(measure(runtime, limited, headers, ROUND, StatusCode::OK));
        let c = per_request(measure(runtime, quiet, headers, ROUND, StatusCode::OK));
        bases.push(a);
        limits.push(b - a);
        quiets.push(c - a);
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Paired {
        baseline: median(bases),
        limited: median(limits),
        quiet: median(quiets),
    }
}

//! What authentication adds to a request, side by side: one request through a
//! tower stack into a trivial handler, for
//!
//! - (a) no authentication;
//! - (b) keygate on a cache hit, behind a `RequirePermission` guard, with 1,
//!   1,000 and 100,000 distinct hot keys (and without the guard, for scale);
//! - (c) the floor: the least work any key check can do (parse the header,
//!   SHA-256 the key, look it up in a `HashMap` behind a lock, insert an
//!   `Arc` principal), with the same key counts;
//! - (d) a JWT access token verified by `jsonwebtoken`, HS256 and RS256;
//! - (e) tower-http's static bearer check;
//! - (f) an invalidation by id, a pass over 1,000 and 100,000 cached verdicts;
//! - (g) with the `metrics` feature: (b) at 1,000 keys again, with a
//!   Prometheus recorder installed (without one, (b) itself measures the
//!   feature's cost when nothing records).
//!
//! `cargo bench -p keygate-auth --bench request_cost`; after criterion's own
//! report it prints a table of per-request costs, the cost added over (a), and
//! the issue's targets as met or missed. `scripts/bench` runs it with the
//! load test and the memory figures; `docs/BENCHMARKS.md` explains the numbers.

mod floor;
mod jwt;
mod summary;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::{BenchmarkId, Criterion};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use keygate_auth::{ApiKeyAuth, ApiKeyAuthBuilder, InMemoryValidator, RequirePermission};
use keygate_types::{OrganizationId, Owner};
use tokio::runtime::Runtime;
use tower::{Service, ServiceBuilder, ServiceExt};

use summary::Registry;

/// The key counts of (b) and (c).
const HOT_KEYS: [usize; 3] = [1, 1_000, 100_000];

/// The trivial handler every stack ends in.
async fn ok(_request: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

/// One request, as a server would hand it over: built here, in every bench
/// alike, so its cost cancels out of the "added" column.
async fn one_request<S>(service: &mut S, authorization: &HeaderValue) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let mut request = Request::new(Body::empty());
    *request.uri_mut() = http::Uri::from_static("/posts");
    request
        .headers_mut()
        .insert(AUTHORIZATION, authorization.clone());
    match service.ready().await {
        Ok(ready) => match ready.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(never) => match never {},
    }
}

/// Times `iters` requests through `service`, cycling over `headers`.
fn measure<S>(runtime: &Runtime, service: &S, headers: &[HeaderValue], iters: u64) -> Duration
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let mut service = service.clone();
    runtime.block_on(async move {
        let mut next = 0;
        let started = Instant::now();
        for _ in 0..iters {
            let response = one_request(&mut service, &headers[next]).await;
            // Every bench must really authenticate: a refusal is cheaper and
            // would flatter it.
            assert_eq!(response.status(), StatusCode::OK);
            black_box(response);
            next += 1;
            if next == headers.len() {
                next = 0;
            }
        }
        started.elapsed()
    })
}

/// `Bearer <value>` header values.
fn bearer_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<HeaderValue> {
    values
        .into_iter()
        .map(|value| HeaderValue::try_from(format!("Bearer {value}")).expect("a valid header"))
        .collect()
}

/// An in-memory key table with `count` keys for one organization, each with
/// the permission the guard asks for, and their `Authorization` headers.
fn issue_keys(
    count: usize,
) -> (
    InMemoryValidator,
    Vec<keygate_types::ApiKey>,
    Vec<HeaderValue>,
) {
    let validator = InMemoryValidator::new();
    let org = OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M");
    let mut keys = Vec::with_capacity(count);
    let mut values = Vec::with_capacity(count);
    for n in 0..count {
        let (value, key) = validator.issue(
            &format!("bench key {n}"),
            Owner::Organization { id: org.clone() },
            ["posts:read", "posts:write"],
        );
        values.push(value.expose_secret().to_owned());
        keys.push(key);
    }
    let headers = bearer_headers(values.iter().map(String::as_str));
    (validator, keys, headers)
}

fn tuned(criterion: Criterion) -> Criterion {
    // Two shared cores: modest times, enough samples for a stable median.
    criterion
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
}

fn no_auth(c: &mut Criterion, runtime: &Runtime, registry: &Registry) {
    let headers = bearer_headers(["sk_test_not_checked_by_anyone"]);
    let service = ServiceBuilder::new().service_fn(ok);
    c.bench_function("a_no_auth", |b| {
        b.iter_custom(|iters| {
            registry.record(
                "a_no_auth",
                measure(runtime, &service, &headers, iters),
                iters,
            )
        })
    });
}

/// (b)'s layer for `count` hot keys: room for all of them, and no expiry
/// during the run, so that (b) measures hits only.
fn keygate_layer(
    count: usize,
) -> (
    InMemoryValidator,
    ApiKeyAuth<InMemoryValidator>,
    Vec<HeaderValue>,
) {
    keygate_layer_with(count, |builder| builder)
}

/// [`keygate_layer`], with more settings.
fn keygate_layer_with(
    count: usize,
    more: impl FnOnce(ApiKeyAuthBuilder<InMemoryValidator>) -> ApiKeyAuthBuilder<InMemoryValidator>,
) -> (
    InMemoryValidator,
    ApiKeyAuth<InMemoryValidator>,
    Vec<HeaderValue>,
) {
    let (validator, _, headers) = issue_keys(count);
    let builder = ApiKeyAuth::builder(validator.clone())
        .max_capacity(2 * count as u64)
        .positive_ttl(Duration::from_secs(3_600));
    (validator, more(builder).build(), headers)
}

/// Sends each key once (a miss each), then runs moka's housekeeping.
fn warm<S>(
    runtime: &Runtime,
    auth: &ApiKeyAuth<InMemoryValidator>,
    service: &S,
    headers: &[HeaderValue],
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    measure(runtime, service, headers, headers.len() as u64);
    auth.cache().run_pending_tasks();
    assert_eq!(
        auth.stats().entries,
        headers.len() as u64,
        "every hot key cached"
    );
}

fn keygate(c: &mut Criterion, runtime: &Runtime, registry: &Registry) {
    let mut group = c.benchmark_group("b_keygate_hit_guarded");
    for count in HOT_KEYS {
        // Set up only if criterion's filter selects the bench.
        let mut setup = None;
        let id = format!("b_keygate_hit_guarded/{count}");
        group.bench_with_input(BenchmarkId::from_parameter(count), &count, |b, _| {
            let (_, service, headers) = setup.get_or_insert_with(|| {
                let (validator, auth, headers) = keygate_layer(count);
                let service = ServiceBuilder::new()
                    .layer(auth.clone())
                    .layer(RequirePermission("posts:read"))
                    .service_fn(ok);
                warm(runtime, &auth, &service, &headers);
                (validator, service, headers)
            });
            b.iter_custom(|iters| {
                registry.record(&id, measure(runtime, service, headers, iters), iters)
            })
        });
        if let Some((validator, _, headers)) = setup {
            assert_eq!(
                validator.calls(),
                headers.len() as u64,
                "a validator call during the measurement: it was not all hits"
            );
        }
    }
    group.finish();

    // With 1,000 keys again, under a tracing subscriber at INFO (writing
    // nowhere), as in a service that logs: keygate's per-request span is
    // then really created and filled.
    let mut setup = None;
    c.bench_function("b_keygate_hit_guarded_traced/1000", |b| {
        let (_, service, headers) = setup.get_or_insert_with(|| {
            let (validator, auth, headers) = keygate_layer(1_000);
            let service = ServiceBuilder::new()
                .layer(auth.clone())
                .layer(RequirePermission("posts:read"))
                .service_fn(ok);
            warm(runtime, &auth, &service, &headers);
            (validator, service, headers)
        });
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            b.iter_custom(|iters| {
                registry.record(
                    "b_keygate_hit_guarded_traced/1000",
                    measure(runtime, service, headers, iters),
                    iters,
                )
            })
        })
    });

    #[cfg(feature = "metrics")]
    recorded(c, runtime, registry);

    // The same without the guard, to show what the guard itself costs.
    let mut setup = None;
    c.bench_function("b_keygate_hit_unguarded", |b| {
        let (_, service, headers) = setup.get_or_insert_with(|| {
            let (validator, auth, headers) = keygate_layer(1);
            let service = ServiceBuilder::new().layer(auth.clone()).service_fn(ok);
            warm(runtime, &auth, &service, &headers);
            (validator, service, headers)
        });
        b.iter_custom(|iters| {
            registry.record(
                "b_keygate_hit_unguarded",
                measure(runtime, service, headers, iters),
                iters,
            )
        })
    });
    if let Some((validator, ..)) = setup {
        assert_eq!(validator.calls(), 1, "not all hits");
    }
}

/// (g) (b) at 1,000 keys under a Prometheus recorder (not serving: the
/// bench measures recording, not scraping).
#[cfg(feature = "metrics")]
fn recorded(c: &mut Criterion, runtime: &Runtime, registry: &Registry) {
    let id = "g_keygate_hit_guarded_recorded/1000";
    let mut setup = None;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    c.bench_function(id, |b| {
        metrics::with_local_recorder(&recorder, || {
            let (_, service, headers) = setup.get_or_insert_with(|| {
                let (validator, auth, headers) = keygate_layer(1_000);
                let service = ServiceBuilder::new()
                    .layer(auth.clone())
                    .layer(RequirePermission("posts:read"))
                    .service_fn(ok);
                warm(runtime, &auth, &service, &headers);
                (validator, service, headers)
            });
            b.iter_custom(|iters| {
                registry.record(id, measure(runtime, service, headers, iters), iters)
            })
        })
    });
    if setup.is_some() {
        let rendered = recorder.handle().render();
        assert!(
            rendered.contains("keygate_auth_requests_total{outcome=\"accepted\"}"),
            "the recorder saw the requests"
        );
    }
}

fn floor(c: &mut Criterion, runtime: &Runtime, registry: &Registry) {
    let mut group = c.benchmark_group("c_floor");
    for count in HOT_KEYS {
        let mut setup = None;
        let id = format!("c_floor/{count}");
        group.bench_with_input(BenchmarkId::from_parameter(count), &count, |b, _| {
            let (service, headers) = setup.get_or_insert_with(|| {
                let (_, keys, headers) = issue_keys(count);
                let values = headers
                    .iter()
                    .map(|header| &header.as_bytes()["Bearer ".len()..]);
                let layer = floor::FloorLayer::new(values.zip(keys));
                (ServiceBuilder::new().layer(layer).service_fn(ok), headers)
            });
            b.iter_custom(|iters| {
                registry.record(&id, measure(runtime, service, headers, iters), iters)
            })
        });
    }
    group.finish();
}

fn jwt(c: &mut Criterion, runtime: &Runtime, registry: &Registry) {
    let mut group = c.benchmark_group("d_jwt");
    for algorithm in [jwt::Signing::Hs256, jwt::Signing::Rs256] {
        let (layer, token) = jwt::layer_and_token(algorithm);
        let headers = bearer_headers([token.as_str()]);
        let service = ServiceBuilder::new().layer(layer).service_fn(ok);
        let id = format!("d_jwt/{}", algorithm.name());
        group.bench_function(algorithm.name(), |b| {
            b.iter_custom(|iters| {
                registry.record(&id, measure(runtime, &service, &headers, iters), iters)
            })
        });
    }
    group.finish();
}

#[allow(deprecated)] // tower-http calls it "too basic": the issue asks how it compares.
fn static_bearer(c: &mut Criterion, runtime: &Runtime, registry: &Registry) {
    use tower_http::validate_request::ValidateRequestHeaderLayer;

    let token = "sk_test_the_one_shared_static_token_0000000000";
    let headers = bearer_headers([token]);
    let service = ServiceBuilder::new()
        .layer(ValidateRequestHeaderLayer::bearer(token))
        .service_fn(ok);
    c.bench_function("e_tower_http_bearer", |b| {
        b.iter_custom(|iters| {
            registry.record(
                "e_tower_http_bearer",
                measure(runtime, &service, &headers, iters),
                iters,
            )
        })
    });
}

/// (f) What an invalidation by id costs: a pass over the cache (no index),
/// with `count` valid verdicts held and none matching (the whole pass).
fn invalidation(c: &mut Criterion, runtime: &Runtime) {
    let mut group = c.benchmark_group("f_invalidate_id");
    for count in [1_000, 100_000] {
        let mut setup = None;
        group.bench_with_input(BenchmarkId::from_parameter(count), &count, |b, &count| {
            let auth = setup.get_or_insert_with(|| {
                let (_, auth, headers) = keygate_layer(count);
                let service = ServiceBuilder::new().layer(auth.clone()).service_fn(ok);
                warm(runtime, &auth, &service, &headers);
                auth
            });
            let absent =
                keygate_types::ApiKeyId::new_unchecked("api_key_01HZY3K2J5QW8N7X6V4T3R2P9Z");
            b.iter(|| runtime.block_on(auth.invalidate_id(&absent)))
        });
    }
    group.finish();
}

/// (h) (b) at 1,000 keys with a usage meter: what counting each request per
/// key adds to a hit (compare with `b_keygate_hit_guarded/1000`).
fn usage(c: &mut Criterion, runtime: &Runtime, registry: &Registry) {
    let mut setup = None;
    c.bench_function("h_keygate_hit_guarded_usage/1000", |b| {
        let (_, service, headers) = setup.get_or_insert_with(|| {
            let (validator, auth, headers) = keygate_layer_with(1_000, |builder| {
                builder.usage(keygate_auth::usage::UsageMeter::new())
            });
            let service = ServiceBuilder::new()
                .layer(auth.clone())
                .layer(RequirePermission("posts:read"))
                .service_fn(ok);
            warm(runtime, &auth, &service, &headers);
            (validator, service, headers)
        });
        b.iter_custom(|iters| {
            registry.record(
                "h_keygate_hit_guarded_usage/1000",
                measure(runtime, service, headers, iters),
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
    let mut criterion = tuned(Criterion::default()).configure_from_args();

    no_auth(&mut criterion, &runtime, &registry);
    keygate(&mut criterion, &runtime, &registry);
    floor(&mut criterion, &runtime, &registry);
    jwt(&mut criterion, &runtime, &registry);
    static_bearer(&mut criterion, &runtime, &registry);
    invalidation(&mut criterion, &runtime);
    usage(&mut criterion, &runtime, &registry);

    criterion.final_summary();
    summary::print(&registry);
}

//! What fleet mode costs, against a real `redis-server` on loopback:
//!
//! - (a) a hit in the layer's own cache, without and with the shared tier,
//!   side by side in one criterion run (a hit must not touch Redis);
//! - (b) the latency of a request whose key misses the layer's cache and is
//!   found in Redis (p50, p99), beside a local hit and a miss answered by an
//!   in-process validator (no network at all);
//! - (c) Redis commands per request (a local hit, a miss found in Redis, a
//!   miss that calls the key service), and Redis memory per cached verdict.
//!
//! `cargo bench -p keygate-redis --bench fleet`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::Criterion;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use keygate_auth::{ApiKeyAuth, InMemoryValidator};
use keygate_redis::RedisTier;
use keygate_test_support::redis_server::RedisServer;
use keygate_types::{OrganizationId, Owner, SecretString};
use tokio::runtime::Runtime;
use tower::{Service, ServiceBuilder, ServiceExt};

const HOT_KEYS: usize = 1_000;
const SAMPLES: usize = 2_000;

async fn ok(_request: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

async fn one_request<S>(service: &mut S, authorization: &HeaderValue) -> StatusCode
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let mut request = Request::new(Body::empty());
    request
        .headers_mut()
        .insert(AUTHORIZATION, authorization.clone());
    match service.ready().await {
        Ok(ready) => match ready.call(request).await {
            Ok(response) => response.status(),
            Err(never) => match never {},
        },
        Err(never) => match never {},
    }
}

fn bearer(value: &SecretString) -> HeaderValue {
    HeaderValue::try_from(format!("Bearer {}", value.expose_secret())).unwrap()
}

/// A layer on `validator`, with a shared tier on `redis` or without.
fn stack(
    validator: &std::sync::Arc<InMemoryValidator>,
    redis: Option<&RedisServer>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let mut builder = ApiKeyAuth::builder(std::sync::Arc::clone(validator));
    if let Some(redis) = redis {
        builder = builder.shared_tier(
            RedisTier::builder(redis.url())
                .prefix("bench")
                .secret("the fleet secret of keygate's benches")
                .build()
                .unwrap(),
        );
    }
    ServiceBuilder::new().layer(builder.build()).service_fn(ok)
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    (micros(at(0.50)), micros(at(0.99)))
}

async fn time_each<S>(service: &S, headers: &[HeaderValue]) -> Vec<Duration>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let mut service = service.clone();
    let mut samples = Vec::with_capacity(headers.len());
    for header in headers {
        let started = Instant::now();
        let status = one_request(&mut service, header).await;
        samples.push(started.elapsed());
        assert_eq!(status, StatusCode::OK);
    }
    samples
}

async fn redis_info(conn: &mut redis::aio::MultiplexedConnection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("everything")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Round trips to Redis so far: scripts run (`EVALSHA`, or `EVAL` when
/// Redis did not have the script), and commands (all of them, those run
/// inside the scripts included).
async fn redis_work(conn: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    let calls = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let commands = redis_info(conn, "total_commands_processed").await;
    (calls("evalsha") + calls("eval"), commands)
}

fn main() {
    let runtime = Runtime::new().unwrap();
    let redis = RedisServer::start();
    let validator = std::sync::Arc::new(InMemoryValidator::new());
    let owner = Owner::Organization {
        id: OrganizationId::new_unchecked("org_01HZY2K8M6W9Q3T5V7X9Z1B3D5"),
    };
    let issue = |n: usize| -> Vec<HeaderValue> {
        (0..n)
            .map(|_| bearer(&validator.issue("bench", owner.clone(), ["posts:read"]).0))
            .collect()
    };
    let hot = issue(HOT_KEYS);
    let cold = issue(SAMPLES);
    let cold_alone = issue(SAMPLES);

    let _guard = runtime.enter();
    let alone = stack(&validator, None);
    let fleet = stack(&validator, Some(&redis));
    let writer = stack(&validator, Some(&redis));
    let reader = stack(&validator, Some(&redis));
    runtime.block_on(async {
        // Let the tiers subscribe, then warm the hot keys in both layers.
        tokio::time::sleep(Duration::from_millis(300)).await;
        time_each(&alone, &hot).await;
        time_each(&fleet, &hot).await;
    });

    // (a) A local hit, without and with the shared tier.
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = criterion.benchmark_group("local hit, 1,000 hot keys");
    for (name, service) in [
        ("without the shared tier", &alone),
        ("with the shared tier", &fleet),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let (mut service, hot) = (service.clone(), hot.clone());
                async move {
                    let started = Instant::now();
                    for i in 0..iters as usize {
                        black_box(one_request(&mut service, &hot[i % hot.len()]).await);
                    }
                    started.elapsed()
                }
            });
        });
    }
    group.finish();

    // (b) and (c).
    runtime.block_on(async {
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        // Per request: (scripts, commands), less this probe's own INFO calls.
        let per_request = |before: (u64, u64), after: (u64, u64)| {
            let n = SAMPLES as f64;
            ((after.0 - before.0) as f64 / n, (after.1 - before.1 - 2) as f64 / n)
        };

        // Misses that call the key service: the writer stores every verdict.
        let memory_before = redis_info(&mut conn, "used_memory").await;
        let before = redis_work(&mut conn).await;
        let written = time_each(&writer, &cold).await;
        let per_write = per_request(before, redis_work(&mut conn).await);
        let per_verdict = (redis_info(&mut conn, "used_memory").await - memory_before) as f64
            / SAMPLES as f64;

        // The same keys on another replica: misses found in Redis.
        let before = redis_work(&mut conn).await;
        let found = time_each(&reader, &cold).await;
        let per_found = per_request(before, redis_work(&mut conn).await);

        // Local hits of those keys, and misses answered in process.
        let before = redis_work(&mut conn).await;
        let hits = time_each(&reader, &cold).await;
        let per_hit = per_request(before, redis_work(&mut conn).await);
        let in_process = time_each(&alone, &cold_alone).await;

        let row = |name: &str, samples: Vec<Duration>| {
            let (p50, p99) = percentiles(samples);
            println!("  {name:<52} p50 {p50:>7.1} µs   p99 {p99:>7.1} µs");
            p50
        };
        println!("\nFIGURE fleet latency, one request in process ({SAMPLES} samples each):");
        let hit = row("local hit", hits);
        let miss = row("miss answered by an in-process validator", in_process);
        let l2 = row("miss found in redis (L1 miss, L2 hit)", found);
        row("miss that calls the validator and writes redis", written);
        println!("  added by the redis round trip on an L2 hit: p50 {:.1} µs over the in-process miss, {:.1} µs over a local hit", l2 - miss, l2 - hit);
        println!(
            "FIGURE fleet redis work per request, round trips (scripts) / commands inside them, log reads included: \
             local hit {:.3} / {:.3}, L2 hit {:.3} / {:.3}, miss with write {:.3} / {:.3}",
            per_hit.0, per_hit.1, per_found.0, per_found.1, per_write.0, per_write.1
        );
        let sampled = async |conn: &mut redis::aio::MultiplexedConnection, pattern: &str| {
            let (_, names): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(0)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(10_000)
                .query_async(conn)
                .await
                .unwrap();
            let mut total = 0u64;
            for name in &names {
                let bytes: u64 = redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(name)
                    .query_async(conn)
                    .await
                    .unwrap();
                total += bytes;
            }
            total as f64 / names.len().max(1) as f64
        };
        let verdict = sampled(&mut conn, "{bench:*}:v:*").await;
        let index = sampled(&mut conn, "{bench:*}:id:*").await;
        println!(
            "FIGURE fleet redis memory per valid verdict: MEMORY USAGE {verdict:.0} B (verdict) + {index:.0} B (id index) = {:.0} B; \
             used_memory grew {per_verdict:.0} B per verdict over {SAMPLES}",
            verdict + index
        );
    });
}

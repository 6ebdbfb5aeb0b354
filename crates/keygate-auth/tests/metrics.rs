//! The layer's metrics over real sockets (feature `metrics`): a scripted
//! sequence of requests against the emulator, under a capturing recorder of
//! the test's own, then every counter checked against its exact value.
//!
//! The recorder is local to the test's thread (`metrics::with_local_recorder`)
//! and everything runs on one current-thread runtime on that thread: the
//! emulator, the app, its revocation listener and the HTTP client. No other
//! test can add to these counters, and none of these reaches theirs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use futures_util::future::join_all;
use keygate_auth::{ApiKeyAuth, CircuitBreaker, RequirePermission, WebhookReceiver};
use keygate_client::Client;
use keygate_emulator::{Emulator, Fault};
use keygate_types::{ApiKey, OrganizationId};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const WEBHOOK_PATH: &str = "/webhooks/workos";
const WEBHOOK_SECRET: &str = "whsec_metrics_test";
const VALIDATIONS: (&str, &str) = ("POST", "/api_keys/validations");

/// What the recorder holds: counters and gauges as `name{label=value}` →
/// value, histograms as `name{label=value}` → number of samples.
#[derive(Debug, Default)]
struct Recorded {
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, f64>,
    samples: BTreeMap<String, usize>,
}

fn recorded(snapshotter: &Snapshotter) -> Recorded {
    let mut recorded = Recorded::default();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match value {
            DebugValue::Counter(n) => {
                recorded.counters.insert(name, n);
            }
            DebugValue::Gauge(v) => {
                recorded.gauges.insert(name, v.into_inner());
            }
            DebugValue::Histogram(samples) => {
                recorded.samples.insert(name, samples.len());
            }
        }
    }
    recorded
}

/// A key for a new organization: its organization's id and its value.
fn org_key(emu: &Emulator, permissions: &[&str]) -> (OrganizationId, ApiKey, String) {
    let org = emu.create_organization("Acme").unwrap();
    let key = emu
        .create_organization_key(&org.id, "metrics test key", permissions)
        .unwrap();
    (
        org.id,
        key.api_key.clone(),
        key.value.expose_secret().to_owned(),
    )
}

async fn rate_limited() -> StatusCode {
    StatusCode::TOO_MANY_REQUESTS
}

struct App {
    base: String,
    http: reqwest::Client,
}

impl App {
    async fn get(&self, path: &str, authorization: Option<&str>) -> StatusCode {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap().status()
    }

    async fn post(&self, path: &str, authorization: &str) -> StatusCode {
        let request = self.http.post(format!("{}{path}", self.base));
        let request = request.header("authorization", authorization);
        request.send().await.unwrap().status()
    }
}

fn bearer(value: &str) -> String {
    format!("Bearer {value}")
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The scripted sequence; returns the organization ids that got labels.
async fn script() -> (OrganizationId, OrganizationId) {
    let emu = Emulator::builder()
        .organization_permissions(["posts:read", "posts:write"])
        .start()
        .await
        .unwrap();
    let client = Client::builder()
        .secret(emu.secret().clone())
        .base_url(emu.base_url())
        .timeout(Duration::from_secs(5))
        .max_retries(0)
        .build()
        .unwrap();
    let auth = ApiKeyAuth::builder(client.clone())
        .positive_ttl(Duration::from_secs(60))
        .negative_ttl(Duration::from_secs(60))
        .organization_metrics(2)
        .circuit_breaker(CircuitBreaker::new(1, Duration::from_millis(300)))
        .revocation_listener(client, Duration::from_millis(50))
        .build();
    let receiver = WebhookReceiver::new(WEBHOOK_SECRET, auth.cache().clone());
    let router = Router::new()
        .route("/whoami", get(|| async { "ok" }))
        .route(
            "/posts/new",
            post(|| async { "ok" }).route_layer(RequirePermission("posts:write")),
        )
        .route("/limited", get(rate_limited))
        .route_layer(auth.clone())
        .merge(receiver.router(WEBHOOK_PATH));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let app = App {
        base,
        http: reqwest::Client::new(),
    };
    // The listener starts by forgetting every verdict: let it do so before
    // anything is cached.
    let listening = auth.revocation_listener().unwrap();
    wait_until("the listener's start", || listening.stats().polls >= 1).await;

    let (org_a, key_a, a) = org_key(&emu, &["posts:read"]);
    let (org_b, key_b, b) = org_key(&emu, &["posts:read"]);
    let (_, _, c) = org_key(&emu, &["posts:read"]);
    let (_, _, d) = org_key(&emu, &["posts:read"]);
    let invalid = "sk_this_key_was_never_issued_0123456789";

    // Accepted: a miss, then two hits.
    for _ in 0..3 {
        assert_eq!(app.get("/whoami", Some(&bearer(&a))).await, StatusCode::OK);
    }
    // 401 without a key; 401 for an unknown key (a miss, then a hit on the
    // refusal); 400 for a credential that cannot be read.
    assert_eq!(app.get("/whoami", None).await, StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        let status = app.get("/whoami", Some(&bearer(invalid))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = app.get("/whoami", Some("Bearer two words")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // 403 from the guard (a hit); 429 from the handler (a miss).
    let status = app.post("/posts/new", &bearer(&a)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let status = app.get("/limited", Some(&bearer(&b))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Four requests with a new key while its one validation is slow: one
    // miss, three coalesced.
    emu.inject_fault(
        Fault::new(VALIDATIONS.0, VALIDATIONS.1)
            .delay(Duration::from_secs(1))
            .pass_through()
            .times(1),
    );
    let c = bearer(&c);
    let concurrent = join_all((0..4).map(|_| app.get("/whoami", Some(&c)))).await;
    assert_eq!(concurrent, [StatusCode::OK; 4]);

    // The key service fails once: 503, and the breaker (threshold 1) opens;
    // while open, a miss is refused at once without a call; after it, the
    // probe succeeds and closes it.
    emu.inject_fault(
        Fault::new(VALIDATIONS.0, VALIDATIONS.1)
            .status(500)
            .times(1),
    );
    for _ in 0..2 {
        let status = app.get("/whoami", Some(&bearer(&d))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.get("/whoami", Some(&bearer(&d))).await, StatusCode::OK);

    // Invalidations: one through the layer's API, one webhook delivery and
    // the listener's event for the same revocation.
    auth.invalidate_id(&key_a.id).await.unwrap();
    emu.delete_api_key(key_b.id.as_str()).unwrap();
    let event = emu.events().into_iter().last().unwrap();
    let body = serde_json::to_vec(&event).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let signature = keygate_auth::webhook_signature(WEBHOOK_SECRET.as_bytes(), now as i64, &body);
    let delivered = app
        .http
        .post(format!("{}{WEBHOOK_PATH}", app.base))
        .header("workos-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), StatusCode::OK);
    wait_until("the listener's event", || listening.stats().events >= 1).await;
    // The revoked key: a miss, and the key service's "invalid".
    let status = app.get("/whoami", Some(&bearer(&b))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    (org_a, org_b)
}

#[test]
fn after_a_scripted_sequence_every_counter_holds_its_exact_value() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (org_a, org_b) = metrics::with_local_recorder(&recorder, || runtime.block_on(script()));
    let recorded = recorded(&snapshotter);

    let requests = |outcome: &str| format!("keygate_auth_requests_total{{outcome={outcome}}}");
    let cache = |outcome: &str| format!("keygate_auth_cache_total{{outcome={outcome}}}");
    let calls = |result: &str| format!("keygate_auth_key_service_calls_total{{result={result}}}");
    let transitions = |to: &str| format!("keygate_auth_breaker_transitions_total{{to={to}}}");
    let invalidations =
        |source: &str| format!("keygate_auth_invalidations_total{{source={source}}}");
    let organization =
        |org: &str| format!("keygate_auth_organization_requests_total{{organization={org}}}");
    let credentials = |kind: &str| format!("keygate_auth_credentials_total{{credential={kind}}}");
    let expected: BTreeMap<String, u64> = [
        // a ×3, c ×4, d once the breaker closed.
        (requests("accepted"), 8),
        (requests("missing_credential"), 1),
        // The unknown key twice, the revoked key once.
        (requests("invalid_credential"), 3),
        (requests("malformed_credential"), 1),
        (requests("forbidden"), 1),
        (requests("rate_limited"), 1),
        (requests("unavailable"), 2),
        // a twice, the unknown key's refusal, a at the guard.
        (cache("hit"), 4),
        // a, the unknown key, b, c, d, the revoked b.
        (cache("miss"), 6),
        (cache("coalesced"), 3),
        (calls("valid"), 4),
        (calls("invalid"), 2),
        (calls("error"), 1),
        (transitions("open"), 1),
        (transitions("half_open"), 1),
        (transitions("closed"), 1),
        (invalidations("api"), 1),
        (invalidations("webhook"), 1),
        (invalidations("listener"), 1),
        // The first two organizations get labels; c's and d's are `other`.
        (organization(org_a.as_str()), 4),
        (organization(org_b.as_str()), 1),
        (organization("other"), 5),
        // Every authenticated request came with an API key.
        (credentials("api_key"), 10),
    ]
    .into_iter()
    .collect();
    assert_eq!(recorded.counters, expected);

    let samples: BTreeMap<String, usize> = [("valid", 4), ("invalid", 2), ("error", 1)]
        .into_iter()
        .map(|(result, n)| {
            (
                format!("keygate_auth_key_service_call_duration_seconds{{result={result}}}"),
                n,
            )
        })
        .collect();
    assert_eq!(recorded.samples, samples, "one latency sample per call");
    let closed: BTreeMap<String, f64> = [("keygate_auth_breaker_state{}".to_owned(), 0.0)].into();
    assert_eq!(recorded.gauges, closed, "the breaker ended closed");
}

//! The circuit breaker over real sockets: once open, cold keys are refused
//! at once without calling the key service; it closes when the service is back.
//!
//! A test binary of its own, so that its timings are not taken while the
//! rest of the end-to-end suite runs beside it, and without the suite's
//! TRACE capture (whose formatting would dominate a microsecond path). Its
//! keys are made up: no secret can reach a log here.

#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use keygate_auth::{ApiKeyAuth, BreakerState, CircuitBreaker};
use keygate_emulator::{Emulator, Fault};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use crate::support::{App, VALIDATIONS, client, org_key, routes, validations};

/// Long enough that the breaker stays open through the 1,000 requests of a
/// debug build on a busy machine.
/// The tests of this binary take turns, so the timings are not shared.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const OPEN_FOR: Duration = Duration::from_secs(60);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test]
async fn an_open_breaker_answers_503_at_once_without_calling() {
    let _alone = ALONE.lock().await;
    let emu = Emulator::start().await.unwrap();
    let auth = ApiKeyAuth::builder(client(emu.base_url(), emu.secret()))
        .circuit_breaker(CircuitBreaker::new(3, OPEN_FOR))
        .build();
    // Server-side time of each request through the layer.
    let timings: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let recorded = Arc::clone(&timings);
    let router =
        routes()
            .route_layer(auth.clone())
            .layer(from_fn(move |request: Request, next: Next| {
                let recorded = Arc::clone(&recorded);
                async move {
                    let started = Instant::now();
                    let response: Response = next.run(request).await;
                    recorded.lock().unwrap().push(started.elapsed());
                    response
                }
            }));
    let app = App::serve(router).await;

    emu.inject_fault(Fault::new(VALIDATIONS.0, VALIDATIONS.1).status(500));
    for n in 0..3 {
        let response = app
            .get("/whoami", Some(&format!("sk_cold_opening_{n:040}")))
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(auth.breaker_state(), BreakerState::Open);
    let calls = validations(&emu);
    timings.lock().unwrap().clear();

    let mut client_side = Vec::with_capacity(1000);
    for n in 0..1000 {
        let key = format!("sk_cold_while_open_{n:040}");
        let started = Instant::now();
        let response = app.get("/whoami", Some(&key)).await;
        client_side.push(started.elapsed());
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let retry_after: u64 = response.headers()[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1..=60).contains(&retry_after),
            "the time left open: {retry_after}"
        );
    }
    assert_eq!(validations(&emu), calls, "no call reached the key service");

    let mut server_side = timings.lock().unwrap().clone();
    server_side.sort();
    client_side.sort();
    println!(
        "FIGURE breaker open, 1,000 cold keys: server-side p50 {:?} p99 {:?} max {:?}; \
         round trip p50 {:?} p99 {:?} max {:?}; emulator calls {}",
        percentile(&server_side, 0.5),
        percentile(&server_side, 0.99),
        server_side[server_side.len() - 1],
        percentile(&client_side, 0.5),
        percentile(&client_side, 0.99),
        client_side[client_side.len() - 1],
        validations(&emu) - calls,
    );
    assert_eq!(server_side.len(), 1000);
    // On a shared 2-core machine running the whole suite in parallel, the
    // OS preempts a few requests; the layer's own work is microseconds.
    let within = server_side
        .iter()
        .filter(|t| **t < Duration::from_millis(1))
        .count();
    println!("FIGURE breaker open: {within} of 1,000 refusals within 1 ms in the server");
    assert!(within >= 950, "{within} of 1,000 within 1 ms");
}

#[tokio::test]
async fn the_breaker_closes_once_the_service_recovers() {
    let open_for = Duration::from_millis(300);
    let _alone = ALONE.lock().await;
    let emu = Emulator::start().await.unwrap();
    let auth = ApiKeyAuth::builder(client(emu.base_url(), emu.secret()))
        .circuit_breaker(CircuitBreaker::new(3, open_for))
        .build();
    let app = App::with_auth(auth.clone()).await;
    emu.inject_fault(Fault::new(VALIDATIONS.0, VALIDATIONS.1).status(500));
    for n in 0..3 {
        let response = app
            .get("/whoami", Some(&format!("sk_cold_opening_{n:040}")))
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(auth.breaker_state(), BreakerState::Open);

    // Still failing when the probe goes: open again.
    let started = Instant::now();
    while auth.breaker_state() == BreakerState::Open {
        assert!(started.elapsed() < open_for * 10, "never half-open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = validations(&emu);
    let probe = app
        .get("/whoami", Some("sk_cold_probe_0000000000000000000000"))
        .await;
    assert_eq!(probe.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(validations(&emu), calls + 1, "one probe went through");
    assert_eq!(
        auth.breaker_state(),
        BreakerState::Open,
        "a failed probe opens it again"
    );

    // The service recovers; after `open_for` one probe closes the breaker.
    emu.clear_faults();
    let (_, value) = org_key(&emu, &["posts:read"]);
    let started = Instant::now();
    loop {
        let status = app.get("/whoami", Some(&value)).await.status();
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < open_for * 10,
            "the breaker never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "FIGURE breaker closed {:?} after the service recovered (open for {open_for:?})",
        started.elapsed()
    );
    assert_eq!(auth.breaker_state(), BreakerState::Closed);
}

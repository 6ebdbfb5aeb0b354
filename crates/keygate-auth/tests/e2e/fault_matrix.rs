//! The fault matrix: seven ways the key service fails × four states of the
//! cache. The expected cell values are the table in `docs/resilience.md`;
//! no cell may answer 401 for a valid key or 200 for a key never validated.

use std::time::Duration;

use keygate_auth::{ApiKeyAuth, CircuitBreaker};
use keygate_client::Client;
use keygate_emulator::{Emulator, Fault};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::json;

use crate::support::{
    App, VALIDATIONS, assert_no_key_logged, client, emulator, org_key, validations,
};

/// How the key service fails.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Failure {
    ConnectionRefused,
    DelayPastTimeout,
    Status500,
    Status503,
    Status429RetryAfter,
    NotJson,
    Unauthorized401,
}

const FAILURES: [Failure; 7] = [
    Failure::ConnectionRefused,
    Failure::DelayPastTimeout,
    Failure::Status500,
    Failure::Status503,
    Failure::Status429RetryAfter,
    Failure::NotJson,
    Failure::Unauthorized401,
];

/// What the cache holds for the key when the failure starts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cached {
    Cold,
    Fresh,
    StaleGraceOn,
    StaleGraceOff,
}

const TTL: Duration = Duration::from_millis(150);
/// Long enough that a healthy emulator answers in time on a busy CI machine;
/// the delayed cells wait four times it.
const TIMEOUT: Duration = Duration::from_secs(1);

impl Failure {
    /// Makes the emulator fail this way (consuming it for connection refused).
    async fn inject(self, emu: Emulator) -> Option<Emulator> {
        let fault = Fault::new(VALIDATIONS.0, VALIDATIONS.1);
        let fault = match self {
            Failure::ConnectionRefused => {
                emu.shutdown().await;
                return None;
            }
            Failure::DelayPastTimeout => fault.delay(TIMEOUT * 4).pass_through(),
            Failure::Status500 => fault.status(500),
            Failure::Status503 => fault.status(503),
            Failure::Status429RetryAfter => fault.status(429).header("Retry-After", "7"),
            Failure::NotJson => fault.status(200).body("<html>not json</html>"),
            Failure::Unauthorized401 => fault.status(401).body(json!({
                "code": "unauthorized",
                "message": "Missing or unknown environment secret."
            })),
        };
        emu.inject_fault(fault);
        Some(emu)
    }
}

/// The expected status of a request with a valid key, in each cell.
fn expected(cached: Cached) -> StatusCode {
    match cached {
        Cached::Fresh | Cached::StaleGraceOn => StatusCode::OK,
        Cached::Cold | Cached::StaleGraceOff => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn layer(emu: &Emulator, cached: Cached) -> ApiKeyAuth<Client> {
    let builder = ApiKeyAuth::builder(client(emu.base_url(), emu.secret()))
        .positive_ttl(if matches!(cached, Cached::Fresh) {
            Duration::from_secs(60)
        } else {
            TTL
        })
        .upstream_timeout(TIMEOUT)
        .circuit_breaker(CircuitBreaker::disabled());
    match cached {
        Cached::StaleGraceOn => builder.stale_if_error(Duration::from_secs(60)).build(),
        _ => builder.build(),
    }
}

/// Runs one cell; returns (status, Retry-After, stale count, calls during the fault).
async fn cell(failure: Failure, cached: Cached) -> (StatusCode, Option<String>, u64, Option<u64>) {
    let emu = emulator().await;
    let auth = layer(&emu, cached);
    let app = App::with_auth(auth.clone()).await;
    let (_, value) = org_key(&emu, &["posts:read"]);
    if cached != Cached::Cold {
        assert_eq!(
            app.get("/whoami", Some(&value)).await.status(),
            StatusCode::OK
        );
    }
    if matches!(cached, Cached::StaleGraceOn | Cached::StaleGraceOff) {
        // Let the fresh verdict expire: what is left is stale.
        tokio::time::sleep(TTL + Duration::from_millis(50)).await;
    }
    let before = validations(&emu);
    let emu = failure.inject(emu).await;
    let response = app.get("/whoami", Some(&value)).await;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let calls = emu.as_ref().map(|emu| validations(emu) - before);
    (status, retry_after, auth.stats().stale, calls)
}

async fn row(cached: Cached) {
    let mut lines = Vec::new();
    for failure in FAILURES {
        let (status, retry_after, stale, calls) = cell(failure, cached).await;
        lines.push(format!(
            "FIGURE fault matrix: {cached:?} × {failure:?} -> {status} (Retry-After {retry_after:?}, stale {stale}, calls {calls:?})"
        ));
        assert_eq!(status, expected(cached), "{cached:?} × {failure:?}");
        assert_ne!(status, StatusCode::UNAUTHORIZED);
        match cached {
            Cached::Fresh => assert!(calls.is_none_or(|n| n == 0), "a hit calls nothing"),
            Cached::StaleGraceOn => assert_eq!(stale, 1, "{failure:?}: served stale"),
            Cached::Cold | Cached::StaleGraceOff => {
                assert!(retry_after.is_some(), "503 carries Retry-After");
                if failure == Failure::Status429RetryAfter {
                    assert_eq!(
                        retry_after.as_deref(),
                        Some("7"),
                        "the service's Retry-After is passed on"
                    );
                }
            }
        }
    }
    println!("{}", lines.join("\n"));
    assert_no_key_logged();
}

#[tokio::test]
async fn fault_matrix_cold_key() {
    row(Cached::Cold).await;
}

#[tokio::test]
async fn fault_matrix_fresh_cached_key() {
    row(Cached::Fresh).await;
}

#[tokio::test]
async fn fault_matrix_stale_cached_key_grace_on() {
    row(Cached::StaleGraceOn).await;
}

#[tokio::test]
async fn fault_matrix_stale_cached_key_grace_off() {
    row(Cached::StaleGraceOff).await;
}

/// A key the service calls invalid is never served stale afterwards.
#[tokio::test]
async fn a_definite_invalid_ends_the_grace() {
    let emu = emulator().await;
    let auth = layer(&emu, Cached::StaleGraceOn);
    let app = App::with_auth(auth.clone()).await;
    let (key, value) = org_key(&emu, &["posts:read"]);
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(TTL + Duration::from_millis(50)).await;
    emu.delete_api_key(key.id.as_str()).unwrap();
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::UNAUTHORIZED,
        "the service says invalid"
    );
    auth.cache().invalidate_key(&value).await.unwrap(); // drop the negative verdict
    emu.inject_fault(Fault::new(VALIDATIONS.0, VALIDATIONS.1).status(500));
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "no stale verdict survives a definite invalid"
    );
    assert_eq!(auth.stats().stale, 0);
    assert_no_key_logged();
}

/// A stale verdict is never served past the key's `expires_at`.
#[tokio::test]
async fn grace_never_outlives_expires_at() {
    let emu = emulator().await;
    let auth = layer(&emu, Cached::StaleGraceOn);
    let app = App::with_auth(auth.clone()).await;
    let (key, value) = org_key(&emu, &["posts:read"]);
    // Far enough ahead that a busy machine still validates it before then.
    let expires_at =
        keygate_types::Timestamp::now().saturating_add(time::Duration::milliseconds(1_500));
    emu.expire_api_key(key.id.as_str(), keygate_types::Expiry::At(expires_at))
        .unwrap();
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );
    emu.inject_fault(Fault::new(VALIDATIONS.0, VALIDATIONS.1).status(500));
    tokio::time::sleep(TTL + Duration::from_millis(50)).await;
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK,
        "stale, before expiry"
    );
    let left = expires_at.since(keygate_types::Timestamp::now());
    tokio::time::sleep(Duration::try_from(left).unwrap_or_default() + Duration::from_millis(50))
        .await;
    let status = app.get("/whoami", Some(&value)).await.status();
    assert_ne!(status, StatusCode::OK, "never past expires_at");
    assert_no_key_logged();
}

/// A revocation (here by id, as the listener and the webhook do) ends the
/// grace at once, even while the key service is down.
#[tokio::test]
async fn a_revocation_ends_the_grace() {
    let emu = emulator().await;
    let auth = layer(&emu, Cached::StaleGraceOn);
    let app = App::with_auth(auth.clone()).await;
    let (key, value) = org_key(&emu, &["posts:read"]);
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );
    emu.inject_fault(Fault::new(VALIDATIONS.0, VALIDATIONS.1).status(500));
    tokio::time::sleep(TTL + Duration::from_millis(50)).await;
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK,
        "stale within the grace"
    );
    auth.invalidate_id(&key.id).await.unwrap();
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "no stale verdict after a revocation"
    );
    assert_eq!(auth.stats().stale, 1);
    assert_no_key_logged();
}

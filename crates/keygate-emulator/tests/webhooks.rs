//! Webhook endpoints: signed deliveries as WorkOS makes them (checked with
//! the official SDK's verifier), retries with backoff, filters, removal, and
//! the HTTP controls.

mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use keygate_emulator::{DeliveryState, Emulator, WebhookRetry};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wire::Caller;
use workos::WebhookVerifier;

const SECRET: &str = "whsec_test_secret";

struct Received {
    signature: String,
    body: String,
    at: Instant,
}

struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

/// A local endpoint that answers 500 to its first `failures` deliveries.
async fn receiver(failures: u32) -> Receiver {
    #[derive(Clone)]
    struct Hook {
        tx: mpsc::UnboundedSender<Received>,
        failures: Arc<AtomicU32>,
    }
    async fn hook(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let fail = hook
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let signature = headers
            .get("workos-signature")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let _ = hook.tx.send(Received {
            signature,
            body: String::from_utf8(body.to_vec()).unwrap(),
            at: Instant::now(),
        });
        if fail {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new().route("/hook", post(hook)).with_state(Hook {
        tx,
        failures: Arc::new(AtomicU32::new(failures)),
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, rx }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a delivery within 5 s")
        .expect("receiver open")
}

async fn settled(emu: &Emulator) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while emu
        .webhook_deliveries()
        .iter()
        .any(|d| d.state == DeliveryState::Pending)
    {
        assert!(Instant::now() < deadline, "deliveries still pending");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn events_arrive_signed_as_workos_signs_them() {
    let emu = Emulator::start().await.unwrap();
    let mut hook = receiver(0).await;
    let endpoint = emu.add_webhook_endpoint(&hook.url, SECRET).unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let key = emu.create_organization_key(&org.id, "k", &[]).unwrap();
    api.post(
        &format!("/api_keys/{}/expire", key.id),
        json!({"expires_at": "2099-01-01T00:00:00.000Z"}),
    )
    .await;
    api.delete(&format!("/api_keys/{}", key.id)).await;

    let verifier = WebhookVerifier::new(SECRET);
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let got = next(&mut hook.rx).await;
        assert!(got.signature.starts_with("t="), "{}", got.signature);
        let event = verifier
            .construct_event(&got.signature, &got.body)
            .expect("the official SDK accepts the signature");
        assert!(
            WebhookVerifier::new("whsec_other")
                .verify_payload(&got.signature, &got.body)
                .is_err()
        );
        assert_eq!(event.data["id"], key.id.as_str());
        assert!(!got.body.contains(key.value.expose_secret()));
        // The same JSON as GET /events serves.
        let listed = api.get("/events?limit=100").await.body;
        let same = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == event.id.as_str());
        assert_eq!(
            Some(&serde_json::from_str::<Value>(&got.body).unwrap()),
            same
        );
        kinds.push(event.event);
    }
    kinds.sort();
    assert_eq!(
        kinds,
        ["api_key.created", "api_key.revoked", "api_key.updated"]
    );
    settled(&emu).await;
    let deliveries = emu.webhook_deliveries();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d.endpoint_id == endpoint.id
        && d.state == DeliveryState::Delivered
        && d.attempts == 1
        && d.last_status == Some(200)));
}

#[tokio::test]
async fn failures_are_retried_with_backoff_then_given_up() {
    let retry = WebhookRetry {
        attempts: 3,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(40),
        timeout: Duration::from_secs(2),
    };
    let emu = Emulator::builder()
        .webhook_retry(retry)
        .start()
        .await
        .unwrap();
    let mut flaky = receiver(2).await;
    emu.add_webhook_endpoint(&flaky.url, SECRET).unwrap();
    // Nothing listens on this port.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/hook", gone.local_addr().unwrap());
    drop(gone);
    let dead = emu.add_webhook_endpoint(&dead_url, SECRET).unwrap();

    let org = emu.create_organization("Acme").unwrap();
    emu.create_organization_key(&org.id, "k", &[]).unwrap();
    let first = next(&mut flaky.rx).await;
    let second = next(&mut flaky.rx).await;
    let third = next(&mut flaky.rx).await;
    assert_eq!(first.body, third.body, "the same event, retried");
    assert!(second.at - first.at >= Duration::from_millis(20));
    assert!(
        third.at - second.at >= Duration::from_millis(40),
        "backoff doubles"
    );
    settled(&emu).await;
    for d in emu.webhook_deliveries() {
        if d.endpoint_id == dead.id {
            assert_eq!(
                (d.state, d.attempts, d.last_status),
                (DeliveryState::Failed, 3, None)
            );
            assert_eq!(d.last_error.as_deref(), Some("could not connect"));
        } else {
            assert_eq!(
                (d.state, d.attempts, d.last_status),
                (DeliveryState::Delivered, 3, Some(200))
            );
        }
    }
}

#[tokio::test]
async fn filters_removal_and_http_controls() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let mut revoked_only = receiver(0).await;
    let a = api
        .post(
            "/_emulator/webhooks",
            json!({"url": revoked_only.url, "secret": SECRET, "events": ["api_key.revoked"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{a:?}");
    assert!(
        a.body.get("secret").is_none(),
        "the secret is not shown back"
    );
    assert_eq!(
        api.get("/_emulator/webhooks").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for bad in [
        json!({"url": "not a url", "secret": "s"}),
        json!({"url": "https://example.com/hook", "secret": "s"}),
        json!({"url": "http://127.0.0.1:9/hook", "secret": ""}),
        json!({"url": "http://127.0.0.1:9/hook"}),
    ] {
        let r = api.post("/_emulator/webhooks", bad.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }

    let org = emu.create_organization("Acme").unwrap();
    let key = emu.create_organization_key(&org.id, "k", &[]).unwrap();
    emu.delete_api_key(key.id.as_str()).unwrap();
    let got = next(&mut revoked_only.rx).await;
    assert!(got.body.contains("api_key.revoked"));

    let id = a.body["id"].as_str().unwrap();
    assert_eq!(
        api.delete(&format!("/_emulator/webhooks/{id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.delete(&format!("/_emulator/webhooks/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let key = emu.create_organization_key(&org.id, "k2", &[]).unwrap();
    emu.delete_api_key(key.id.as_str()).unwrap();
    let deliveries = api.get("/_emulator/webhooks/deliveries").await.body;
    assert_eq!(
        deliveries["data"].as_array().unwrap().len(),
        1,
        "nothing after removal"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), revoked_only.rx.recv())
            .await
            .is_err(),
        "no delivery after removal"
    );

    emu.add_webhook_endpoint(&revoked_only.url, SECRET).unwrap();
    emu.reset();
    assert_eq!(
        emu.webhook_endpoints().len(),
        1,
        "endpoints survive a reset"
    );
    assert!(emu.webhook_deliveries().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_the_endpoint_quickly() {
    let emu = Emulator::start().await.unwrap();
    let api = Caller::new(&emu);
    let mut hook = receiver(0).await;
    emu.add_webhook_endpoint_for(&hook.url, SECRET, &["api_key.revoked"])
        .unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let mut delays = Vec::new();
    for _ in 0..20 {
        let key = emu.create_organization_key(&org.id, "k", &[]).unwrap();
        let started = Instant::now();
        assert_eq!(
            api.delete(&format!("/api_keys/{}", key.id)).await.status,
            StatusCode::NO_CONTENT
        );
        let got = next(&mut hook.rx).await;
        assert!(got.body.contains(key.id.as_str()));
        delays.push(got.at - started);
    }
    delays.sort();
    println!(
        "delete -> webhook received: p50 {:?}, max {:?} over 20",
        delays[10], delays[19]
    );
    assert!(delays[19] < Duration::from_millis(200));
}

#[tokio::test]
async fn membership_events_are_delivered_to_webhook_endpoints() {
    let emu = Emulator::start().await.unwrap();
    let mut hook = receiver(0).await;
    emu.add_webhook_endpoint_for(
        &hook.url,
        SECRET,
        &[
            "organization_membership.updated",
            "organization_membership.deleted",
        ],
    )
    .unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    let membership = emu.create_membership(&user.id, &org.id).unwrap();
    emu.deactivate_membership(membership.id.as_str()).unwrap();
    emu.delete_membership(membership.id.as_str()).unwrap();

    let verifier = WebhookVerifier::new(SECRET);
    let mut got = Vec::new();
    for _ in 0..2 {
        let delivery = next(&mut hook.rx).await;
        let event = verifier
            .construct_event(&delivery.signature, &delivery.body)
            .expect("the official SDK accepts the signature");
        assert_eq!(event.data["object"], "organization_membership");
        assert_eq!(event.data["id"], membership.id.as_str());
        assert_eq!(event.data["user_id"], user.id.as_str());
        assert_eq!(event.data["organization_id"], org.id.as_str());
        got.push((
            event.event,
            event.data["status"].as_str().unwrap().to_owned(),
        ));
    }
    got.sort();
    assert_eq!(
        got,
        [
            (
                "organization_membership.deleted".to_owned(),
                "inactive".to_owned()
            ),
            (
                "organization_membership.updated".to_owned(),
                "inactive".to_owned()
            ),
        ]
    );
}

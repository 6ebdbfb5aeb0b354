//! Secrets never leak: not into logs at any level, not through `Debug` or
//! `Display`.
//!
//! Three checks:
//! - a whole session at TRACE (emulator with a fixed environment secret, a
//!   seeded key with a fixed value and a webhook endpoint with a signing
//!   secret; every client call; the layer answering 200, 401, 403, 400 and
//!   503) whose log holds no secret, while it does hold the key ids: the
//!   capture is live and sees what it should;
//! - `Debug` and `Display` of every public type that holds a secret, in
//!   every crate, redact it;
//! - the leak check itself finds a planted secret, whole or in part, and a
//!   key-shaped value no one registered, and does not flag ids.
//!
//! Every other end-to-end binary in `tests/` installs the same capture and
//! checks it at the end of each test (see `support/trace_capture.rs`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use keygate::emulator::{Emulator, Fault, Seed};
use keygate::types::{
    CreateOrganizationApiKey, Expiry, ListParams, OrganizationId, Owner, SecretString,
    ValidateApiKey,
};
use keygate::validator::{InMemoryValidator, KeyValidator};
use keygate::{ApiKeyAuth, RequirePermission};
use support::app::{self, Server};
use support::raw_http::RawRequest;
use support::trace_capture::{self, LeakCheck};
use tokio::sync::Notify;

const ENV_SECRET: &str = "sk_test_reliability_environment_0123456789";
const SEEDED_VALUE: &str = "sk_seeded_reliability_value_0123456789abcd";
const WEBHOOK_SECRET: &str = "whsec_reliability_signing_0123456789abcd";

async fn emulator() -> Emulator {
    trace_capture::install();
    for secret in [ENV_SECRET, SEEDED_VALUE, WEBHOOK_SECRET] {
        trace_capture::secret(secret);
    }
    let seed = Seed::from_json(&format!(
        r#"{{"organizations": [{{"name": "Seeded"}}],
            "api_keys": [{{"name": "seeded", "organization": "Seeded",
                           "permissions": ["posts:read"], "value": "{SEEDED_VALUE}"}}]}}"#
    ))
    .expect("a seed");
    Emulator::builder()
        .secret(ENV_SECRET)
        .seed(seed)
        .start()
        .await
        .expect("the emulator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_session_at_trace_logs_no_secret() {
    let _leaks = LeakCheck::start();
    let emu = emulator().await;

    // A webhook receiver, so that signed deliveries happen (and are logged).
    let delivered = Arc::new(Notify::new());
    let notify = Arc::clone(&delivered);
    let hooks = Server::start(Router::new().route(
        "/hooks",
        post(move || {
            notify.notify_one();
            async { "ok" }
        }),
    ))
    .await;
    emu.add_webhook_endpoint(&hooks.url("/hooks"), WEBHOOK_SECRET)
        .expect("webhook endpoint");

    // Every client call.
    let client = app::client(emu.base_url(), emu.secret());
    let org = emu.create_organization("Acme").expect("org");
    let user = emu.create_user("ada@example.com").expect("user");
    emu.create_membership(&user.id, &org.id)
        .expect("membership");
    let key = client
        .create_organization_api_key(
            &org.id,
            CreateOrganizationApiKey {
                name: "ci".into(),
                permissions: vec!["posts:read".into()],
                expires_at: None,
            },
        )
        .await
        .expect("create");
    let value = trace_capture::secret(key.value.expose_secret());
    let user_key = emu
        .create_user_key(&user.id, &org.id, "laptop", &[])
        .expect("user key");
    let user_value = trace_capture::secret(user_key.value.expose_secret());
    let doomed = emu
        .create_organization_key(&org.id, "doomed", &[])
        .expect("key");
    let doomed_value = trace_capture::secret(doomed.value.expose_secret());
    assert!(
        client
            .validate_api_key(&value)
            .await
            .expect("validate")
            .is_some()
    );
    assert!(
        client
            .validate_api_key(SEEDED_VALUE)
            .await
            .expect("validate")
            .is_some()
    );
    client
        .list_organization_api_keys(&org.id, &ListParams::default())
        .await
        .expect("list");
    client
        .expire_api_key(&user_key.api_key.id, Expiry::Now)
        .await
        .expect("expire");
    client
        .delete_api_key(&doomed.api_key.id)
        .await
        .expect("delete");
    client
        .list_events(&keygate::types::EventsParams::default())
        .await
        .expect("events");
    // A failing call, whose error is logged by the client.
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .status(500)
            .times(1),
    );
    assert!(client.validate_api_key(&value).await.is_err());

    // The layer: 200, 403, 401 (unknown, expired, revoked), 400, 503.
    let auth = ApiKeyAuth::builder(client.clone())
        .positive_ttl(Duration::ZERO)
        .build();
    let server = Server::start(
        Router::new()
            .route("/read", get(|| async { "ok" }))
            .route(
                "/write",
                get(|| async { "ok" }).route_layer(RequirePermission("posts:write")),
            )
            .layer(auth),
    )
    .await;
    let unknown = trace_capture::secret("sk_never_issued_reliability_0123456789");
    for (path, credential, status) in [
        ("/read", format!("Bearer {value}"), 200),
        ("/read", format!("Bearer {SEEDED_VALUE}"), 200),
        ("/write", format!("Bearer {value}"), 403),
        ("/read", format!("Bearer {unknown}"), 401),
        ("/read", format!("Bearer {user_value}"), 401),
        ("/read", format!("Bearer {doomed_value}"), 401),
        ("/read", format!("Bearer {value} {value}"), 400),
        ("/read", format!("Basic {value}"), 401),
        ("/read", value.clone(), 401),
    ] {
        let response = RawRequest::new("GET", path)
            .header("Authorization", &credential)
            .send(server.addr)
            .await
            .expect("an answer");
        assert_eq!(response.status, status, "{path}");
    }
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .status(503)
            .times(1),
    );
    let fresh = emu
        .create_organization_key(&org.id, "fresh", &[])
        .expect("key");
    let fresh_value = trace_capture::secret(fresh.value.expose_secret());
    let response = RawRequest::new("GET", "/read")
        .header("Authorization", format!("Bearer {fresh_value}"))
        .send(server.addr)
        .await
        .expect("an answer");
    assert_eq!(response.status, 503);

    delivered.notified().await;
    // The capture is live and sees what it should: ids, never values.
    let log = String::from_utf8_lossy(&trace_capture::captured()).into_owned();
    assert!(log.contains("keygate_auth"), "the layer's span is captured");
    assert!(log.contains(key.api_key.id.as_str()), "key ids are logged");
    assert!(log.contains("TRACE") && log.contains("DEBUG"), "all levels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_and_display_redact_every_secret() {
    let _leaks = LeakCheck::start();
    let emu = emulator().await;
    emu.add_webhook_endpoint("http://127.0.0.1:9/hooks", WEBHOOK_SECRET)
        .expect("webhook endpoint");
    let org = emu.create_organization("Acme").expect("org");
    let created = emu
        .create_organization_key(&org.id, "ci", &["posts:read"])
        .expect("key");
    let value = trace_capture::secret(created.value.expose_secret());
    let secrets = [ENV_SECRET, SEEDED_VALUE, WEBHOOK_SECRET, value.as_str()];

    let client = app::client(emu.base_url(), emu.secret());
    let builder = keygate::Client::builder().secret(ENV_SECRET);
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .status(500)
            .times(2),
    );
    let client_error = client.validate_api_key(&value).await.expect_err("faulted");
    let validator_error = client.validate(&value).await.expect_err("faulted");
    let refused = keygate::Client::builder()
        .secret(ENV_SECRET)
        .base_url("http://127.0.0.1:9")
        .max_retries(0)
        .build()
        .expect("a client")
        .validate_api_key(&value)
        .await
        .expect_err("nothing listens on port 9");
    let in_memory = InMemoryValidator::new();
    let org_owner = Owner::Organization {
        id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
    };
    let (memory_value, _) = in_memory.issue("ci", org_owner, ["posts:read"]);
    trace_capture::secret(memory_value.expose_secret());
    let auth = ApiKeyAuth::new(client.clone());
    let seed = Seed::from_json(&format!(
        r#"{{"api_keys": [{{"name": "s", "organization": "Acme", "value": "{SEEDED_VALUE}"}}]}}"#
    ))
    .expect("a seed");
    let emulator_builder = Emulator::builder().secret(ENV_SECRET).seed(seed.clone());
    let validate_body = ValidateApiKey {
        value: SecretString::from(value.as_str()),
    };

    let shown: Vec<(&str, String)> = vec![
        ("SecretString Debug", format!("{:?}", created.value)),
        ("SecretString Display", format!("{}", created.value)),
        ("CreatedApiKey", format!("{created:?}")),
        ("ValidateApiKey", format!("{validate_body:?}")),
        ("Client", format!("{client:?}")),
        ("Client config", format!("{:?}", client.config())),
        ("ClientBuilder", format!("{builder:?}")),
        ("client Error Debug (500)", format!("{client_error:?}")),
        ("client Error Display (500)", format!("{client_error}")),
        ("client Error Debug (refused)", format!("{refused:?}")),
        ("client Error Display (refused)", format!("{refused}")),
        ("ValidatorError Debug", format!("{validator_error:?}")),
        ("ValidatorError Display", format!("{validator_error}")),
        ("ApiKeyAuth", format!("{auth:?}")),
        (
            "ApiKeyAuthBuilder",
            format!("{:?}", ApiKeyAuth::builder(client.clone())),
        ),
        ("VerdictCache", format!("{:?}", auth.cache())),
        ("InMemoryValidator", format!("{in_memory:?}")),
        ("Emulator", format!("{emu:?}")),
        ("EmulatorBuilder", format!("{emulator_builder:?}")),
        ("Seed", format!("{seed:?}")),
        ("WebhookEndpoint", format!("{:?}", emu.webhook_endpoints())),
    ];
    let mut leaks = Vec::new();
    for (what, text) in &shown {
        for secret in secrets.iter().chain([&memory_value.expose_secret()]) {
            // The secret part, without a prefix such as `sk_test_`.
            let tail = &secret[secret.len() - 16..];
            if text.contains(tail) {
                leaks.push(format!("{what} shows a secret"));
            }
        }
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
    assert_eq!(format!("{}", created.value), "[REDACTED]");
    // And the types really were shown (an empty Debug would pass trivially).
    assert!(shown.iter().all(|(_, text)| !text.is_empty()));
    assert!(format!("{created:?}").contains(created.api_key.id.as_str()));
}

#[test]
fn the_leak_check_finds_what_it_looks_for() {
    let secret = b"sk_test_planted_secret_value_0123456789";
    let fragments = trace_capture::fragments_of(&[&secret[..]]);
    let found = |log: &str| trace_capture::scan(log.as_bytes(), &fragments).len();
    assert_eq!(found("key_id=api_key_01HZY3K2J5QW8N7X6V4T3R2P1M ok"), 0);
    assert_eq!(found("obfuscated_value=\"sk_…6789\""), 0);
    assert!(found("value=sk_test_planted_secret_value_0123456789") > 0);
    assert_eq!(found("tail: \"secret_value_0123456789\""), 1, "a part");
    assert_eq!(
        found("a stranger: sk_Z3k9QmP2xW7vB4nL8rT6yH1cF5jD0sAe"),
        1,
        "unregistered but key-shaped"
    );
}

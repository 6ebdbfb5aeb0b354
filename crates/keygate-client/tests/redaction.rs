//! No `Debug` or `Display` of the client, its settings, a created key or any
//! error shows the environment secret or a key's value; nor do the logs.

mod fixture;

use std::time::Duration;

use fixture::org_key;
use keygate_client::{Client, Error};
use keygate_emulator::{Emulator, Fault};
use keygate_types::ListParams;
use serde_json::json;

const SECRET: &str = "sk_test_SENTINEL0SECRET0do0not0print";

fn assert_hidden(what: &str, shown: &str, hidden: &[&str]) {
    for h in hidden {
        assert!(!shown.contains(h), "{what} shows a secret: {shown}");
    }
}

fn shown(value: &(impl std::fmt::Debug + std::fmt::Display)) -> String {
    format!("{value:?}\n{value:#?}\n{value}")
}

#[tokio::test]
async fn nothing_shows_the_secret_or_a_value() {
    let emu = Emulator::builder().secret(SECRET).start().await.unwrap();
    let builder = Client::builder()
        .secret(SECRET)
        .base_url(emu.base_url())
        .max_retries(0)
        .timeout(Duration::from_millis(300));
    assert_hidden("builder", &format!("{builder:?}"), &[SECRET]);
    let client = builder.build().unwrap();
    assert_hidden("client", &shown(&client), &[SECRET]);
    assert_hidden("config", &shown(client.config()), &[SECRET]);

    let org = emu.create_organization("Acme").unwrap();
    let created = client
        .create_organization_api_key(&org.id, org_key("k", &[]))
        .await
        .unwrap();
    let value = created.value.expose_secret().to_owned();
    let hidden = [SECRET, value.as_str()];
    assert_hidden(
        "created key",
        &format!("{created:?}\n{created:#?}"),
        &hidden,
    );
    assert_hidden("created value", &shown(&created.value), &hidden);
    let create_call = client.create_organization_api_key(&org.id, org_key("k", &[]));
    assert_hidden("create call", &format!("{create_call:?}"), &hidden);

    let mut errors: Vec<Error> = Vec::new();
    // Api: a 401 for a wrong secret, a 404, and a fault that echoes the value.
    let wrong = Client::builder()
        .secret(format!("{SECRET}x"))
        .base_url(emu.base_url())
        .build()
        .unwrap();
    errors.push(wrong.validate_api_key(&value).await.unwrap_err());
    errors.push(
        client
            .list_organization_api_keys(
                &keygate_types::OrganizationId::new_unchecked("org_01HZZZZZZZZZZZZZZZZZZZZZZZ"),
                &ListParams::default(),
            )
            .await
            .unwrap_err(),
    );
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .status(500)
            .body(format!("echo: {value} {SECRET}"))
            .times(1),
    );
    errors.push(client.validate_api_key(&value).await.unwrap_err());
    // Decode: a 200 whose body holds the value where it does not belong.
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .status(200)
            .body(json!({"api_key": value, "secret": SECRET}))
            .times(1),
    );
    errors.push(client.validate_api_key(&value).await.unwrap_err());
    // Timeout.
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .delay(Duration::from_secs(2))
            .pass_through()
            .times(1),
    );
    errors.push(client.validate_api_key(&value).await.unwrap_err());
    // Transport.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Client::builder()
        .secret(SECRET)
        .base_url(format!("http://127.0.0.1:{port}"))
        .max_retries(0)
        .build()
        .unwrap();
    errors.push(nowhere.validate_api_key(&value).await.unwrap_err());
    // Config.
    errors.push(
        Client::builder()
            .secret(SECRET)
            .base_url("nope")
            .build()
            .unwrap_err(),
    );
    errors.push(Client::builder().secret("").build().unwrap_err());

    let kinds: Vec<&str> = errors
        .iter()
        .map(|e| match e {
            Error::Api(_) => "api",
            Error::Timeout { .. } => "timeout",
            Error::Transport { .. } => "transport",
            Error::Decode { .. } => "decode",
            Error::Config(_) => "config",
            _ => "other",
        })
        .collect();
    for kind in ["api", "timeout", "transport", "decode", "config"] {
        assert!(kinds.contains(&kind), "no {kind} error in {kinds:?}");
    }
    for err in &errors {
        assert_hidden("error", &shown(err), &hidden);
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            assert_hidden("error source", &format!("{s:?} {s}"), &hidden);
            source = s.source();
        }
    }
}

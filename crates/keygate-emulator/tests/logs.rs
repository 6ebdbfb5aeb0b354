//! No key value, nor the environment secret, appears in the emulator's logs,
//! even at TRACE level, whatever happens to the key.

mod wire;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use keygate_emulator::{Emulator, Fault};
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;
use wire::Caller;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_value_or_secret_in_trace_logs() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let emu = Emulator::builder()
        .secret("sk_test_environment_secret_123")
        .start()
        .await
        .unwrap();
    let api = Caller::new(&emu);
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    let m = emu.create_membership(&user.id, &org.id).unwrap();

    let mut values = Vec::new();
    let created = api
        .post(
            &format!("/organizations/{}/api_keys", org.id),
            json!({"name": "http"}),
        )
        .await;
    values.push(created.body["value"].as_str().unwrap().to_owned());
    let user_key = api
        .post(
            &format!("/user_management/users/{}/api_keys", user.id),
            json!({"name": "u", "organization_id": org.id.as_str()}),
        )
        .await;
    values.push(user_key.body["value"].as_str().unwrap().to_owned());
    let helper = emu.create_organization_key(&org.id, "helper", &[]).unwrap();
    values.push(helper.value.expose_secret().to_owned());

    for value in &values {
        let v = api
            .post("/api_keys/validations", json!({"value": value}))
            .await;
        assert!(v.body["api_key"].is_object());
    }
    // Failures that carry a value: a fault, bad JSON around a value, a wrong type.
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .status(500)
            .times(1),
    );
    api.post("/api_keys/validations", json!({"value": values[0]}))
        .await;
    api.post_raw(
        "/api_keys/validations",
        format!("{{\"value\": \"{}\"", values[1]),
    )
    .await;
    api.post("/api_keys/validations", json!({"value": [values[2]]}))
        .await;
    // Every change a key can go through.
    api.post(&format!("/api_keys/{}/expire", helper.id), json!({}))
        .await;
    api.delete(&format!(
        "/api_keys/{}",
        created.body["id"].as_str().unwrap()
    ))
    .await;
    api.delete(&format!(
        "/user_management/organization_memberships/{}",
        m.id
    ))
    .await;
    // A caller presenting a key value as the environment secret.
    let res = api
        .http
        .get(format!("{}/organizations", api.base))
        .bearer_auth(&values[2])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    emu.shutdown().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains(helper.id.as_str()),
        "logs carry key ids:\n{logs}"
    );
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "captured at TRACE"
    );
    for value in &values {
        assert!(
            !logs.contains(value.as_str()),
            "a key value leaked into the logs"
        );
        assert!(
            !logs.contains(&value[3..]),
            "a key value's secret part leaked"
        );
    }
    assert!(
        !logs.contains("environment_secret_123"),
        "the secret leaked"
    );
    println!(
        "{} log lines captured at TRACE, none holding a value",
        logs.lines().count()
    );
}

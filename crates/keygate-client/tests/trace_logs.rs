//! The client's TRACE logs carry the call (method, path, attempt, status,
//! request id) and never the environment secret or a key's value.
//!
//! In a binary of its own: a thread-local subscriber (`set_default`) races
//! with other tests' threads over tracing's per-callsite interest cache, and
//! alone it cannot lose.

mod fixture;

use std::io::Write;
use std::sync::{Arc, Mutex};

use fixture::org_key;
use keygate_client::Client;
use keygate_emulator::{Emulator, Fault};

const SECRET: &str = "sk_test_SENTINEL0SECRET0do0not0print";

fn assert_hidden(what: &str, shown: &str, hidden: &[&str]) {
    for h in hidden {
        assert!(!shown.contains(h), "{what} shows a secret: {shown}");
    }
}

/// A `Write` that appends to a shared buffer, for capturing logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn trace_logs_carry_the_call_never_a_secret() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let emu = Emulator::builder().secret(SECRET).start().await.unwrap();
    let client = Client::builder()
        .secret(SECRET)
        .base_url(emu.base_url())
        .build()
        .unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let created = client
        .create_organization_api_key(&org.id, org_key("k", &[]))
        .await
        .unwrap();
    let value = created.value.expose_secret().to_owned();
    emu.inject_fault(
        Fault::new("POST", "/api_keys/validations")
            .status(503)
            .times(1),
    );
    client.validate_api_key(&value).await.unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert_hidden("logs", &text, &[SECRET, &value]);
    assert!(text.contains("keygate_client.request"), "{text}");
    assert!(text.contains("path=\"/api_keys/validations\""), "{text}");
    assert!(text.contains("method=POST"), "{text}");
    assert!(text.contains("attempt=2"), "{text}");
    assert!(text.contains("status=503"), "{text}");
    assert!(text.contains("request_id="), "{text}");
}

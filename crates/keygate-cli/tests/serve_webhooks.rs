//! `keygate serve --webhook URL`, end to end against the built binary: a key
//! deleted through the API produces an `api_key.revoked` delivery at the
//! registered URL, signed as WorkOS signs, with the secret given by
//! `--webhook-secret` or the one printed at start.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use keygate_types::webhook_signature::{self, SignatureHeader};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const SECRET: &str = "sk_test_hooks";

/// Kills the server if the test fails while it runs.
struct Running {
    child: Child,
    // Held open, as a person's terminal would be.
    _stdout: BufReader<ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A webhook receiver on a free port: every POST to `/webhooks/workos`, with
/// its headers and body.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/webhooks/workos",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/webhooks/workos"), rx)
}

/// Starts `keygate serve --webhook url extra…` and reads its first `lines`
/// lines of output.
fn serve(url: &str, extra: &[&str], lines: usize) -> (Running, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--port", "0", "--secret", SECRET, "--webhook", url])
        .args(extra)
        .env_remove("KEYGATE_WEBHOOK_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keygate starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut read = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        read.push(line.trim_end().to_owned());
    }
    let running = Running {
        child,
        _stdout: stdout,
    };
    (running, read)
}

fn base_url(lines: &[String]) -> String {
    lines[0]
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {lines:?}"))
        .to_owned()
}

/// Creates an organization key through the API, deletes it, and returns its id.
async fn create_and_delete_a_key(base: &str) -> String {
    let http = reqwest::Client::new();
    let org: Value = http
        .post(format!("{base}/organizations"))
        .bearer_auth(SECRET)
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key: Value = http
        .post(format!(
            "{base}/organizations/{}/api_keys",
            org["id"].as_str().unwrap()
        ))
        .bearer_auth(SECRET)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = key["id"].as_str().expect("a key id").to_owned();
    let deleted = http
        .delete(format!("{base}/api_keys/{id}"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    id
}

/// Waits for the `api_key.revoked` delivery of `key_id`, and returns its
/// signature header and body.
async fn revoked(
    rx: &mut mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
    key_id: &str,
) -> (String, Bytes) {
    let wait = async {
        loop {
            let (headers, body) = rx.recv().await.expect("the receiver runs");
            let event: Value = serde_json::from_slice(&body).unwrap();
            if event["event"] == "api_key.revoked" && event["data"]["id"] == key_id {
                let signature = headers
                    .get(webhook_signature::HEADER)
                    .expect("a signature header")
                    .to_str()
                    .unwrap()
                    .to_owned();
                return (signature, body);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("api_key.revoked delivered within 10 s")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_key_is_delivered_signed_with_the_given_secret() {
    let (url, mut rx) = receiver().await;
    let (_server, lines) = serve(&url, &["--webhook-secret", "whsec_given"], 4);
    assert_eq!(lines[3], format!("webhook: {url}"), "{lines:?}");

    let key_id = create_and_delete_a_key(&base_url(&lines)).await;
    let (signature, body) = revoked(&mut rx, &key_id).await;
    let signature = SignatureHeader::parse(&signature).unwrap();
    assert!(signature.verify(b"whsec_given", &body));
    assert!(!signature.verify(b"whsec_other", &body));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_secret_one_is_made_printed_once_and_used() {
    let (url, mut rx) = receiver().await;
    let (_server, lines) = serve(&url, &[], 5);
    assert_eq!(lines[3], format!("webhook: {url}"), "{lines:?}");
    let secret = lines[4]
        .strip_prefix("webhook secret: ")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        secret.starts_with("whsec_") && secret.len() == 38,
        "{secret}"
    );

    let key_id = create_and_delete_a_key(&base_url(&lines)).await;
    let (signature, body) = revoked(&mut rx, &key_id).await;
    let signature = SignatureHeader::parse(&signature).unwrap();
    assert!(signature.verify(secret.as_bytes(), &body));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_on_the_same_state_file_replaces_the_endpoint_and_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let state = state.to_str().unwrap();
    let (url, mut rx) = receiver().await;
    let first = serve(
        &url,
        &["--state", state, "--webhook-secret", "whsec_first"],
        4,
    );
    drop(first);

    let (_server, lines) = serve(
        &url,
        &["--state", state, "--webhook-secret", "whsec_second"],
        4,
    );
    let base = base_url(&lines);
    let endpoints: Value = reqwest::Client::new()
        .get(format!("{base}/_emulator/webhooks"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        endpoints["data"].as_array().unwrap().len(),
        1,
        "{endpoints}"
    );

    let key_id = create_and_delete_a_key(&base).await;
    let (signature, body) = revoked(&mut rx, &key_id).await;
    let signature = SignatureHeader::parse(&signature).unwrap();
    assert!(signature.verify(b"whsec_second", &body));
}

#[test]
fn a_webhook_secret_in_the_environment_without_a_webhook_is_no_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--port", "0", "--secret", SECRET])
        .env("KEYGATE_WEBHOOK_SECRET", "whsec_exported")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keygate starts");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut server = Running {
        child,
        _stdout: stdout,
    };
    let mut first = String::new();
    server._stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("listening on http://"), "{first:?}");
}

#[test]
fn a_webhook_url_that_is_not_http_is_refused_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args([
            "serve",
            "--port",
            "0",
            "--webhook",
            "https://example.com/hooks",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--webhook https://example.com/hooks") && err.contains("http://"),
        "{err}"
    );
}

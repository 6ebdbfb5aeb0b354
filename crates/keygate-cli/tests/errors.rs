//! How the built `keygate` binary reports failures, against an in-process
//! emulator: the key service's message on one line and each field error on
//! its own, the service's error body unchanged with `--json`, exit code 1;
//! usage errors exit 2.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use keygate_emulator::Emulator;
use serde_json::{Value, json};

use support::{keygate, keygate_with, stderr, stdout};

/// The emulator's own answer to `POST path` with `body`, read over a plain
/// socket: what a `--json` run must pass on unchanged.
async fn service_answer(emu: &Emulator, path: &str, body: Value) -> (u16, Value) {
    let addr = emu.local_addr();
    let secret = emu.secret().expose_secret().to_owned();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let body = body.to_string();
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").expect("a complete answer");
        assert!(head.to_ascii_lowercase().contains("content-length"), "{head}");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
        (status.expect("a status line"), serde_json::from_str(body).unwrap())
    })
    .await
    .unwrap()
}

/// Standard error's lines, after checking the run failed with exit code 1 and
/// printed nothing on standard output.
fn failure_lines(out: &std::process::Output) -> Vec<String> {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert!(stdout(out).is_empty(), "{}", stdout(out));
    stderr(out).lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_the_message_on_one_line_then_one_line_per_field_error() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let org_id = org.id.as_str();

    let out = keygate(&emu, &["keys", "create", "--org", org_id, "--name", ""]).await;
    let lines = failure_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let context = lines[0]
        .strip_prefix("keygate: name must not be empty. [")
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("{lines:?}"));
    let request_id = context
        .strip_prefix(
            "422 invalid_request_parameters from POST /organizations/{id}/api_keys, request id ",
        )
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        !request_id.is_empty() && !request_id.contains(' '),
        "{lines:?}"
    );
    assert_eq!(lines[1], "  name: must not be empty");

    let out = keygate(
        &emu,
        &[
            "keys",
            "create",
            "--org",
            org_id,
            "--name",
            "ci",
            "--permission",
            "Posts Write",
        ],
    )
    .await;
    let lines = failure_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("keygate: permissions[0]: "),
        "{lines:?}"
    );
    assert_eq!(lines[1], "  permissions[0]: is not a valid permission slug");

    // A user key: the service answers 400 here, with the same field error.
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org.id).unwrap();
    let out = keygate(
        &emu,
        &[
            "keys",
            "create",
            "--user",
            user.id.as_str(),
            "--org",
            org_id,
            "--name",
            " ",
        ],
    )
    .await;
    let lines = failure_lines(&out);
    assert!(
        lines[0].contains(
            "[400 invalid_request_parameters from POST /user_management/users/{id}/api_keys, "
        ),
        "{lines:?}"
    );
    assert_eq!(lines[1..], ["  name: must not be empty"]);

    // No field errors: the message alone.
    let out = keygate(&emu, &["orgs", "delete", "org_01HZZZZZZZZZZZZZZZZZZZZZZZ"]).await;
    let lines = failure_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("[404 entity_not_found from DELETE "),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_prints_the_key_services_error_body_unchanged() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let org_id = org.id.as_str();
    let unknown = "org_01HZZZZZZZZZZZZZZZZZZZZZZZ";

    for (org, name) in [(org_id, ""), (unknown, "ci")] {
        let (status, body) = service_answer(
            &emu,
            &format!("/organizations/{org}/api_keys"),
            json!({"name": name, "permissions": []}),
        )
        .await;
        assert!(status == 422 || status == 404, "{status} {body}");
        let out = keygate(
            &emu,
            &["keys", "create", "--org", org, "--name", name, "--json"],
        )
        .await;
        failure_lines(&out);
        let printed: Value =
            serde_json::from_slice(&out.stderr).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
        assert_eq!(printed, body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_go_to_stderr_with_a_non_zero_exit() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let org_id = org.id.as_str();

    let out = keygate_with(&emu, None, &["keys", "list", "--org", org_id], "").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("WORKOS_API_KEY is not set"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    let out = keygate_with(
        &emu,
        Some("sk_test_wrong"),
        &["keys", "list", "--org", org_id],
        "",
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("sk_test_wrong"), "{}", stderr(&out));

    // Not the key service's answer: the same one line with --json.
    let out = keygate_with(&emu, None, &["orgs", "list", "--json"], "").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("keygate: ") && stderr(&out).lines().count() == 1,
        "{}",
        stderr(&out)
    );

    // Malformed input never reaches the service: clap's usage error, exit 2.
    let out = keygate(&emu, &["keys", "revoke", "not-an-id"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("api_key_"), "{}", stderr(&out));
    let out = keygate(&emu, &["keys", "list"]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = keygate(
        &emu,
        &[
            "keys",
            "create",
            "--org",
            org_id,
            "--name",
            "x",
            "--expires-at",
            "tomorrow",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
}

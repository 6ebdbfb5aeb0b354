//! The built `keygate` binary against an in-process emulator: the key,
//! organization, user and membership commands, their output and exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use keygate_emulator::Emulator;
use serde_json::Value;

/// Runs `keygate args…` against `emu`, feeding `stdin`.
async fn keygate_with(emu: &Emulator, secret: Option<&str>, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keygate"));
    command
        .args(args)
        .env_remove("WORKOS_API_KEY")
        .env("WORKOS_BASE_URL", emu.base_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(secret) = secret {
        command.env("WORKOS_API_KEY", secret);
    }
    let stdin = stdin.to_owned();
    // The emulator runs on this runtime's other threads while we wait.
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("keygate runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

async fn keygate(emu: &Emulator, args: &[&str]) -> Output {
    keygate_with(emu, Some(emu.secret().expose_secret()), args, "").await
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed with JSON output, and returns it.
async fn json(emu: &Emulator, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = keygate(emu, &all).await;
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)))
}

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("an id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_key_create_list_validate_expire_revoke() {
    let emu = Emulator::start().await.unwrap();
    let org = json(&emu, &["orgs", "create", "--name", "Acme"]).await;
    assert_eq!(org["name"], "Acme");
    let org_id = id(&org);

    // A person's view: a table with the value, shown once.
    let out = keygate(
        &emu,
        &[
            "keys",
            "create",
            "--org",
            org_id,
            "--name",
            "CI",
            "--permission",
            "posts:read,posts:write",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("posts:read,posts:write"), "{text}");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("value"))
        .map(str::trim)
        .expect("the value is shown")
        .to_owned();
    assert!(value.starts_with("sk_"), "{text}");
    assert!(text.contains("not shown again"), "{text}");

    let key = json(&emu, &["keys", "create", "--org", org_id, "--name", "ops"]).await;
    let key_id = id(&key).to_owned();
    let key_value = key["value"].as_str().unwrap().to_owned();

    let listed = json(&emu, &["keys", "list", "--org", org_id]).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("value").is_none())
    );
    let table = stdout(&keygate(&emu, &["keys", "list", "--org", org_id]).await);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains(&key_id) && !table.contains(&key_value),
        "{table}"
    );

    let out = keygate(&emu, &["keys", "validate", &value]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("valid\n"), "{}", stdout(&out));
    // `-` reads the value from standard input.
    let out = keygate_with(
        &emu,
        Some(emu.secret().expose_secret()),
        &["keys", "validate", "-", "--json"],
        &format!("{key_value}\n"),
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["api_key"]["id"], key_id.as_str());

    let later = "2099-01-01T00:00:00.000Z";
    let scheduled = json(&emu, &["keys", "expire", &key_id, "--at", later]).await;
    assert_eq!(scheduled["expires_at"], later);
    let cleared = json(&emu, &["keys", "expire", &key_id, "--clear"]).await;
    assert_eq!(cleared["expires_at"], Value::Null);
    let expired = json(&emu, &["keys", "expire", &key_id]).await;
    assert!(expired["expires_at"].is_string());
    let out = keygate(&emu, &["keys", "validate", &key_value]).await;
    assert_eq!(out.status.code(), Some(1));
    let out = keygate(&emu, &["keys", "expire", &key_id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("api_key_already_expired"),
        "{}",
        stderr(&out)
    );

    let created_id = text
        .lines()
        .find_map(|l| l.strip_prefix("id "))
        .map(str::trim)
        .expect("the id is shown")
        .to_owned();
    let out = keygate(&emu, &["keys", "revoke", &created_id]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("revoked {created_id}\n"));
    let out = keygate(&emu, &["keys", "validate", &value]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("not valid"), "{}", stderr(&out));
    let out = keygate(&emu, &["keys", "validate", &value, "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        serde_json::json!({"api_key": null})
    );

    // Revoking again: 404 on stderr, exit 1.
    let out = keygate(&emu, &["keys", "revoke", &created_id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("entity_not_found"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_key_setup_through_memberships() {
    let emu = Emulator::start().await.unwrap();
    let org = json(&emu, &["orgs", "create", "--name", "Acme"]).await;
    let user = json(
        &emu,
        &[
            "users",
            "create",
            "--email",
            "ada@example.com",
            "--first-name",
            "Ada",
        ],
    )
    .await;
    let (org_id, user_id) = (id(&org), id(&user));

    // No membership yet: the service's 422 is on stderr.
    let out = keygate(
        &emu,
        &[
            "keys", "create", "--user", user_id, "--org", org_id, "--name", "laptop",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("422"), "{}", stderr(&out));

    let membership = json(
        &emu,
        &["memberships", "create", "--user", user_id, "--org", org_id],
    )
    .await;
    assert_eq!(membership["status"], "active");
    let m_id = id(&membership);
    let key = json(
        &emu,
        &[
            "keys",
            "create",
            "--user",
            user_id,
            "--org",
            org_id,
            "--name",
            "laptop",
            "--permission",
            "posts:read",
        ],
    )
    .await;
    assert_eq!(key["owner"]["type"], "user");
    let value = key["value"].as_str().unwrap();

    let mine = json(&emu, &["keys", "list", "--user", user_id, "--org", org_id]).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let members = json(&emu, &["users", "list", "--org", org_id]).await;
    assert_eq!(members.as_array().unwrap().len(), 1);
    let table = stdout(&keygate(&emu, &["memberships", "list", "--org", org_id]).await);
    assert!(table.contains(m_id) && table.contains("active"), "{table}");

    let validates = |expected: i32| {
        let emu = &emu;
        async move {
            let out = keygate(emu, &["keys", "validate", value]).await;
            assert_eq!(out.status.code(), Some(expected), "{}", stderr(&out));
        }
    };
    validates(0).await;
    assert_eq!(
        json(&emu, &["memberships", "deactivate", m_id]).await["status"],
        "inactive"
    );
    validates(1).await;
    assert_eq!(
        json(&emu, &["memberships", "reactivate", m_id]).await["status"],
        "active"
    );
    validates(0).await;
    let out = keygate(&emu, &["memberships", "delete", m_id]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    validates(1).await;

    let orgs = json(&emu, &["orgs", "list"]).await;
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    let out = keygate(&emu, &["orgs", "delete", org_id]).await;
    assert_eq!(stdout(&out), format!("deleted {org_id}\n"));
    assert!(
        json(&emu, &["orgs", "list"])
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
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

    let out = keygate(&emu, &["keys", "create", "--org", org_id, "--name", ""]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("name"), "{}", stderr(&out));

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

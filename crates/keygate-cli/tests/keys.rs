//! The built `keygate` binary against an in-process emulator: the key,
//! organization, user and membership commands and their output (failures:
//! `tests/errors.rs`).

mod support;

use keygate_emulator::Emulator;

use serde_json::Value;

use support::{id, json, keygate, keygate_with, stderr, stdout};

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

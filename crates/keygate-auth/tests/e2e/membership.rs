//! Ended memberships through the webhook receiver, one event at a time:
//! `organization_membership.deleted` alone ends the member's cached keys in
//! that organization (the emulator also revokes each key, but those
//! deliveries are not sent here), and a reactivation ends nothing.

use std::time::Duration;

use keygate_auth::webhook_signature;
use keygate_emulator::Emulator;
use keygate_types::Event;
use reqwest::StatusCode;

use crate::revocation::{Channel, WEBHOOK_PATH, WEBHOOK_SECRET, app_with};
use crate::support::{App, user_key};

/// The last event named `name`, signed and posted as WorkOS would.
async fn deliver(emu: &Emulator, app: &App, name: &str) -> String {
    let event: Event = emu
        .events()
        .into_iter()
        .rev()
        .find(|e| e.payload.name() == name)
        .unwrap_or_else(|| panic!("no {name} event"));
    let body = serde_json::to_vec(&event).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let signature = webhook_signature(
        WEBHOOK_SECRET.as_bytes(),
        i64::try_from(now).unwrap(),
        &body,
    );
    let answer = app
        .http
        .post(app.url(WEBHOOK_PATH))
        .header("content-type", "application/json")
        .header("WorkOS-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.text().await.unwrap()
}

#[tokio::test]
async fn a_deleted_membership_delivered_by_webhook_ends_its_keys_there() {
    let emu = crate::support::emulator().await;
    let (app, auth) = app_with(&emu, Channel::TtlOnly(Duration::from_secs(60))).await;
    let (member, value) = user_key(&emu, None, &["posts:read"]);
    let (_, elsewhere) = user_key(&emu, Some(&member.user_id), &["posts:read"]);
    for key in [&value, &elsewhere] {
        assert_eq!(app.get("/whoami", Some(key)).await.status(), StatusCode::OK);
    }

    // Deactivated, then reactivated: the reactivation ends nothing.
    emu.deactivate_membership(member.id.as_str()).unwrap();
    emu.reactivate_membership(member.id.as_str()).unwrap();
    let answer = deliver(&emu, &app, "organization_membership.updated").await;
    assert_eq!(answer, r#"{"status":"ignored"}"#);
    assert_eq!(auth.stats().invalidations, 0);

    emu.delete_membership(member.id.as_str()).unwrap();
    let answer = deliver(&emu, &app, "organization_membership.deleted").await;
    assert_eq!(answer, r#"{"status":"invalidated"}"#);
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/whoami", Some(&elsewhere)).await.status(),
        StatusCode::OK,
        "the member's key in another organization is untouched"
    );
}

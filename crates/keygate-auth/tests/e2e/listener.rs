//! The revocation listener's start and its resilience, over real sockets:
//! it starts from now without replaying history, steps past an event it
//! cannot read, and says when it stops.

use std::time::Duration;

use keygate_emulator::Fault;
use reqwest::StatusCode;
use serde_json::json;

use crate::revocation::{Channel, app_with, wait_for};
use crate::support::{captured, emulator, org_key};

/// A listener starting "from now" reads no older event: it finds now by
/// time range, not by trusting `order` on `GET /events`.
#[tokio::test]
async fn the_listener_starts_from_now_without_replaying_history() {
    let emu = emulator().await;
    let org = emu.create_organization("Acme").unwrap();
    for n in 0..150 {
        let key = emu
            .create_organization_key(&org.id, &format!("old {n}"), &[])
            .unwrap();
        emu.delete_api_key(key.id.as_str()).unwrap();
    }
    let (_app, auth) = app_with(&emu, Channel::Listener(Duration::from_millis(50))).await;
    let listener = auth.revocation_listener().unwrap();
    wait_for(|| listener.stats().polls >= 3).await;
    let stats = listener.stats();
    println!(
        "FIGURE listener start over 150 old revocations: {stats:?}, {} GET /events",
        emu.request_count("GET", "/events")
    );
    assert_eq!(stats.events, 0, "old events replayed");
    assert_eq!(stats.failures, 0);
    let newest = emu.events().last().unwrap().id.clone();
    assert_eq!(stats.cursor, Some(newest), "starts at the newest event");
}

/// An event whose data cannot be read does not stall the listener: it is
/// logged with its id, every cached verdict is forgotten (which key it
/// ended cannot be known), and the cursor moves past it.
#[tokio::test]
async fn the_listener_steps_past_an_undecodable_event() {
    let emu = emulator().await;
    let interval = Duration::from_millis(300);
    let (app, auth) = app_with(&emu, Channel::Listener(interval)).await;
    let listener = auth.revocation_listener().unwrap();
    wait_for(|| listener.stats().polls >= 1).await;
    let (key, value) = org_key(&emu, &["posts:read"]);
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );

    // Right after a poll, the key is revoked and the next poll's page is
    // that event with its data broken.
    let polls = listener.stats().polls;
    wait_for(|| listener.stats().polls > polls).await;
    emu.delete_api_key(key.id.as_str()).unwrap();
    let revoked = emu.events().last().unwrap().clone();
    let mut broken = serde_json::to_value(&revoked).unwrap();
    broken["data"] = json!({"id": 42, "owner": "nobody"});
    emu.inject_fault(
        Fault::new("GET", "/events")
            .status(200)
            .body(json!({"object": "list", "data": [broken], "list_metadata": {"after": null}}))
            .times(1),
    );
    wait_for(|| emu.request_count("GET", "/events") > polls + 2).await;
    let stats = listener.stats();
    println!("FIGURE listener past an undecodable event: {stats:?}");
    assert_eq!(stats.failures, 0, "the page was not taken as a failure");
    assert_eq!(stats.cursor, Some(revoked.id.clone()), "moved past it");
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::UNAUTHORIZED,
        "its key's verdict was forgotten with the rest"
    );
    let log = captured();
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains(revoked.id.as_str())
            && l.contains("unreadable")),
        "the skipped event is logged with its id"
    );
}

/// Dropping the handle stops the listener, and says so in the log.
#[tokio::test]
async fn dropping_the_listener_handle_logs_that_it_stopped() {
    let emu = emulator().await;
    let (app, auth) = app_with(&emu, Channel::Listener(Duration::from_millis(20))).await;
    wait_for(|| emu.request_count("GET", "/events") >= 2).await;
    drop(app);
    drop(auth);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = captured();
    assert!(
        log.lines()
            .any(|l| l.contains("INFO") && l.contains("revocation listener stopped")),
        "no INFO line says the listener stopped"
    );
}

/// A revocation that happens while the listener is still finding "now"
/// (here: the Events API fails at first) is skipped with everything before
/// "now"; so, once it has found it, the listener forgets every verdict cached
/// meanwhile, and the revoked key is refused.
#[tokio::test]
async fn a_revocation_before_the_listener_found_now_is_not_lost() {
    let emu = emulator().await;
    emu.inject_fault(Fault::new("GET", "/events").status(500).times(2));
    let (app, auth) = app_with(&emu, Channel::Listener(Duration::from_millis(100))).await;
    let (key, value) = org_key(&emu, &["posts:read"]);
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );
    emu.delete_api_key(key.id.as_str()).unwrap();
    let listener = auth.revocation_listener().unwrap();
    wait_for(|| listener.stats().polls >= 1).await;
    assert!(
        listener.stats().failures >= 1,
        "the Events API failed first"
    );
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

//! The figures of issue 4, measured with the emulator's request counters.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use keygate_types::{Expiry, Timestamp};
use reqwest::StatusCode;

use keygate_emulator::Fault;

use crate::support::{
    App, VALIDATIONS, assert_no_key_logged, auth, captured, emulator, org_key, validations,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_with_a_new_key_make_one_validation() {
    let emu = emulator().await;
    let auth = auth(&emu).build();
    let app = App::with_auth(auth.clone()).await;
    let (_, value) = org_key(&emu, &["posts:read"]);
    // A slow key service (the one validation takes 500 ms), so that the
    // requests really are in flight together rather than one after another.
    emu.inject_fault(
        Fault::new(VALIDATIONS.0, VALIDATIONS.1)
            .delay(Duration::from_millis(500))
            .pass_through()
            .times(1),
    );
    let before = validations(&emu);
    let started = Instant::now();
    let responses = join_all((0..1000).map(|_| app.get("/whoami", Some(&value)))).await;
    let elapsed = started.elapsed();
    let ok = responses
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let calls = validations(&emu) - before;
    let stats = auth.stats();
    println!(
        "FIGURE 1000 concurrent requests, one never-seen key: {ok} x 200, {calls} validation call(s) \
         (cache: {} miss, {} coalesced, {} hits) in {elapsed:?}",
        stats.misses, stats.coalesced, stats.hits
    );
    assert_eq!(ok, 1000);
    assert_eq!(calls, 1);
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.misses + stats.coalesced + stats.hits, 1000);
    assert!(
        stats.coalesced > 0,
        "no request waited for the call in flight"
    );
    assert_no_key_logged();
}

#[tokio::test]
async fn a_thousand_requests_with_an_invalid_key_inside_the_negative_ttl_make_one() {
    let emu = emulator().await;
    let auth = auth(&emu).negative_ttl(Duration::from_secs(30)).build();
    let app = App::with_auth(auth.clone()).await;
    let value = "sk_this_key_was_never_issued_0123456789";
    let before = validations(&emu);
    let started = Instant::now();
    let mut unauthorized = 0;
    for _ in 0..1000 {
        if app.get("/whoami", Some(value)).await.status() == StatusCode::UNAUTHORIZED {
            unauthorized += 1;
        }
    }
    let calls = validations(&emu) - before;
    println!(
        "FIGURE 1000 sequential requests, one invalid key, inside the negative TTL: \
         {unauthorized} x 401, {calls} validation call(s) in {:?}",
        started.elapsed()
    );
    assert_eq!(unauthorized, 1000);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn a_key_expiring_before_the_ttl_is_refused_from_expires_at_on() {
    let emu = emulator().await;
    // The positive TTL (30 s) outlasts the key (1.5 s).
    let app = App::with_auth(auth(&emu).build()).await;
    let (key, value) = org_key(&emu, &["posts:read"]);
    let expires_at = Timestamp::now().saturating_add(time::Duration::milliseconds(1500));
    emu.expire_api_key(key.id.as_str(), Expiry::At(expires_at))
        .unwrap();
    let before = validations(&emu);

    // A request every 10 ms; note when each was sent and answered.
    let mut answers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let sent = Timestamp::now();
        let status = app.get("/whoami", Some(&value)).await.status();
        let answered = Timestamp::now();
        answers.push((sent, answered, status));
        if status == StatusCode::UNAUTHORIZED && sent > expires_at {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answered_ok_after = answers
        .iter()
        .filter(|(sent, _, status)| *status == StatusCode::OK && *sent >= expires_at)
        .count();
    let refused_before = answers
        .iter()
        .filter(|(_, answered, status)| *status != StatusCode::OK && *answered < expires_at)
        .count();
    let first_refusal = answers
        .iter()
        .find(|(_, _, status)| *status == StatusCode::UNAUTHORIZED)
        .map(|(sent, _, _)| sent.since(expires_at).whole_milliseconds());
    let calls = validations(&emu) - before;
    println!(
        "FIGURE key expiring 1.5 s into a 30 s TTL: {} requests, {answered_ok_after} accepted after \
         expires_at, {refused_before} refused before it; first refusal sent {} ms after \
         expires_at; {calls} validation call(s)",
        answers.len(),
        first_refusal.unwrap_or(-1)
    );
    assert_eq!(answered_ok_after, 0, "accepted after expires_at");
    assert_eq!(refused_before, 0, "refused before expires_at");
    assert!(first_refusal.is_some(), "never refused");
    // A request every 10 ms: the first one sent after expires_at is refused,
    // not one sent a TTL (30 s) later. (The bound leaves room for a loaded CI.)
    assert!(first_refusal.unwrap() < 500);
    assert_no_key_logged();
}

#[tokio::test]
async fn after_invalidate_id_the_next_request_revalidates() {
    let emu = emulator().await;
    let auth = auth(&emu).build();
    let app = App::with_auth(auth.clone()).await;
    let (key, value) = org_key(&emu, &["posts:read"]);
    let before = validations(&emu);
    for _ in 0..3 {
        assert_eq!(
            app.get("/whoami", Some(&value)).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(validations(&emu) - before, 1);
    // Revoked at the key service: the cache still answers, until told.
    emu.delete_api_key(key.id.as_str()).unwrap();
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );
    assert!(auth.invalidate_id(&key.id).await.unwrap());
    let response = app.get("/whoami", Some(&value)).await;
    let calls = validations(&emu) - before;
    println!(
        "FIGURE invalidate_id: next request answered {} after {calls} validation call(s) in all",
        response.status()
    );
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls, 2);
    assert_no_key_logged();
}

#[tokio::test]
async fn spans_carry_ids_and_cache_outcome_but_never_the_key() {
    let emu = emulator().await;
    let app = App::with_auth(auth(&emu).build()).await;
    let (key, value) = org_key(&emu, &["posts:read"]);
    app.get("/whoami", Some(&value)).await;
    app.get("/whoami", Some(&value)).await;
    // The capture sees TRACE events' fields, so a leaked value would show.
    tracing::trace!(probe = "canary-7f3a", "capture check");
    let log = captured();
    assert!(log.contains("canary-7f3a"));
    // The capture works: the span's fields are there...
    let fields = format!(
        "key_id=\"{}\" owner_id=\"{}\" organization_id=\"{}\"",
        key.id,
        key.owner.id(),
        key.owner.organization_id()
    );
    for outcome in ["miss", "hit"] {
        let span = format!("keygate_auth{{source=\"authorization\" cache=\"{outcome}\" {fields}}}");
        assert!(log.contains(&span), "no span {span}");
    }
    // ...and the key value is not.
    assert_no_key_logged();
}

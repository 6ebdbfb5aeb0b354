//! The webhook receiver under attack, over real sockets: forged, tampered,
//! stale and replayed deliveries are refused and invalidate nothing.

use std::time::Duration;

use reqwest::StatusCode;

use keygate_auth::{ApiKeyAuth, webhook_signature};
use keygate_client::Client;
use keygate_emulator::Emulator;

use crate::revocation::{Channel, WEBHOOK_PATH, WEBHOOK_SECRET, app_with};
use crate::support::{App, assert_no_key_logged, emulator, org_key, validations};

/// An app with the receiver (no listener) and a cached key, deleted in the
/// emulator: the key's value, the `api_key.revoked` event's body as WorkOS
/// would deliver it, and now in Unix milliseconds.
struct Revoked {
    app: App,
    auth: ApiKeyAuth<Client>,
    value: String,
    body: Vec<u8>,
    now: i64,
}

async fn cached_then_deleted(emu: &Emulator) -> Revoked {
    let (app, auth) = app_with(emu, Channel::TtlOnly(Duration::from_secs(60))).await;
    let (key, value) = org_key(emu, &["posts:read"]);
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );
    emu.delete_api_key(key.id.as_str()).unwrap();
    let body = serde_json::to_vec(&emu.events().into_iter().last().unwrap()).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    Revoked {
        app,
        auth,
        value,
        body,
        now: i64::try_from(now).unwrap(),
    }
}

/// Forged, stale-timestamp and replayed deliveries are refused and
/// invalidate nothing; over real sockets.
#[tokio::test]
async fn forged_stale_and_replayed_webhooks_are_refused() {
    let emu = emulator().await;
    // A genuine revocation event for a cached key, as WorkOS would send it.
    let Revoked {
        app,
        auth,
        value,
        body,
        now,
    } = cached_then_deleted(&emu).await;
    let calls = validations(&emu);

    let post = |signature: Option<String>, body: Vec<u8>| {
        let mut request = app
            .http
            .post(app.url(WEBHOOK_PATH))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("WorkOS-Signature", signature);
        }
        request.send()
    };
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let refused = [
        ("unsigned", None, body.clone(), 400),
        (
            "malformed",
            Some("t=now, v1=beef".to_owned()),
            body.clone(),
            400,
        ),
        (
            "forged (wrong secret)",
            Some(webhook_signature(b"whsec_attacker", now, &body)),
            body.clone(),
            401,
        ),
        (
            "tampered body",
            Some(webhook_signature(WEBHOOK_SECRET.as_bytes(), now, &body)),
            tampered,
            401,
        ),
        (
            "stale timestamp (10 min old)",
            Some(webhook_signature(
                WEBHOOK_SECRET.as_bytes(),
                now - 600_000,
                &body,
            )),
            body.clone(),
            401,
        ),
    ];
    for (case, signature, body, status) in refused {
        let response = post(signature, body).await.unwrap();
        println!("FIGURE webhook {case}: {}", response.status());
        assert_eq!(response.status().as_u16(), status, "{case}");
    }
    assert_eq!(auth.stats().invalidations, 0);
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK,
        "still served from the cache"
    );
    assert_eq!(validations(&emu), calls, "nothing was invalidated");

    // The genuine delivery works once; its replay is refused.
    let signature = webhook_signature(WEBHOOK_SECRET.as_bytes(), now, &body);
    let first = post(Some(signature.clone()), body.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(auth.stats().invalidations, 1);
    let replay = post(Some(signature), body.clone()).await.unwrap();
    println!("FIGURE webhook replayed: {}", replay.status());
    assert_eq!(replay.status(), StatusCode::CONFLICT);
    assert_eq!(
        auth.stats().invalidations,
        1,
        "the replay invalidated nothing"
    );
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_no_key_logged();
}

/// A header stuffed with `v1=` entries is refused before any HMAC is
/// compared (400, saying why), even when one entry is genuine; a few
/// entries, as during a secret rotation, still pass.
#[tokio::test]
async fn a_signature_header_with_too_many_entries_is_refused_400() {
    let emu = emulator().await;
    let Revoked {
        app,
        auth,
        value,
        body,
        now,
    } = cached_then_deleted(&emu).await;
    let genuine = webhook_signature(WEBHOOK_SECRET.as_bytes(), now, &body);
    let with_junk = |junk: usize| {
        let mut header = genuine.clone();
        for n in 0..junk {
            header.push_str(&format!(", v1={:064x}", n + 1));
        }
        header
    };
    let post = |signature: String| {
        app.http
            .post(app.url(WEBHOOK_PATH))
            .header("content-type", "application/json")
            .header("WorkOS-Signature", signature)
            .body(body.clone())
            .send()
    };

    let stuffed = post(with_junk(13)).await.unwrap();
    let status = stuffed.status();
    let answer: serde_json::Value = serde_json::from_str(&stuffed.text().await.unwrap()).unwrap();
    println!("FIGURE webhook with 14 v1 entries: {status} {answer}");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "too_many_signatures");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("v1="),
        "{answer}"
    );
    assert_eq!(auth.stats().invalidations, 0, "nothing was invalidated");

    let rotated = post(with_junk(2)).await.unwrap();
    assert_eq!(rotated.status(), StatusCode::OK, "three entries are fine");
    assert_eq!(auth.stats().invalidations, 1);
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_no_key_logged();
}

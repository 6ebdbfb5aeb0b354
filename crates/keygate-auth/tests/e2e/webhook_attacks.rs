//! The webhook receiver under attack, over real sockets: forged, tampered,
//! stale and replayed deliveries are refused and invalidate nothing.

use std::time::Duration;

use reqwest::StatusCode;

use keygate_auth::webhook_signature;

use crate::revocation::{Channel, WEBHOOK_PATH, WEBHOOK_SECRET, app_with};
use crate::support::{assert_no_key_logged, emulator, org_key, validations};

/// Forged, stale-timestamp and replayed deliveries are refused and
/// invalidate nothing; over real sockets.
#[tokio::test]
async fn forged_stale_and_replayed_webhooks_are_refused() {
    let emu = emulator().await;
    let (app, auth) = app_with(&emu, Channel::TtlOnly(Duration::from_secs(60))).await;
    let (key, value) = org_key(&emu, &["posts:read"]);
    assert_eq!(
        app.get("/whoami", Some(&value)).await.status(),
        StatusCode::OK
    );
    let calls = validations(&emu);

    // A genuine revocation event for the key, as WorkOS would send it.
    emu.delete_api_key(key.id.as_str()).unwrap();
    let event = emu.events().into_iter().last().unwrap();
    let body = serde_json::to_vec(&event).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let now = i64::try_from(now).unwrap();

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

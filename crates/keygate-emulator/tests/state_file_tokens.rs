//! What the state file keeps of tokens: M2M applications (their secrets
//! still work), sessions (a revoked one stays revoked), the environment's
//! client id and the signing keys (a token issued before a restart verifies
//! against the key set served after it, rotations included).
#![cfg(feature = "sqlite")]

mod wire;

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keygate_emulator::Emulator;
use keygate_types::{EventPayload, SESSION_REVOKED};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Value, json};
use wire::Caller;

const SECRET: &str = "sk_test_tokens_kept";

async fn start(file: &Path, bind: Option<SocketAddr>) -> Emulator {
    let mut builder = Emulator::builder().secret(SECRET).state_file(file);
    if let Some(addr) = bind {
        builder = builder.bind(addr);
    }
    builder.start().await.unwrap()
}

fn part(token: &str, i: usize) -> Value {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(i).unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Whether `token`'s RS256 signature verifies against the key of its `kid`
/// in `key_set`.
fn verifies(token: &str, key_set: &Value) -> bool {
    let kid = part(token, 0)["kid"].as_str().unwrap().to_owned();
    let Some(jwk) = key_set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
    else {
        return false;
    };
    let int = |field: &str| {
        BigUint::from_bytes_be(
            &URL_SAFE_NO_PAD
                .decode(jwk[field].as_str().unwrap())
                .unwrap(),
        )
    };
    let key = VerifyingKey::<Sha256>::new(RsaPublicKey::new(int("n"), int("e")).unwrap());
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let signature =
        Signature::try_from(URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice()).unwrap();
    key.verify(signed.as_bytes(), &signature).is_ok()
}

async fn key_set(emu: &Emulator) -> Value {
    reqwest::get(format!("{}/oauth2/jwks", emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn token(emu: &Emulator, client_id: &str, client_secret: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/token", emu.authkit_domain()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={client_secret}"
        ))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn an_m2m_application_and_its_secret_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let emu = start(&file, None).await;
    let org = emu.create_organization("Partner").unwrap();
    let api = Caller::new(&emu);
    let created = api
        .post(
            "/_emulator/m2m_applications",
            json!({"organization_id": org.id, "name": "billing sync", "scopes": ["posts:read"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let client_id = created.body["client_id"].as_str().unwrap().to_owned();
    let secret = created.body["client_secret"].as_str().unwrap().to_owned();
    emu.shutdown().await;

    let emu = start(&file, None).await;
    let (status, answer) = token(&emu, &client_id, &secret).await;
    assert_eq!(status, 200, "{answer}");
    let claims = part(answer["access_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], client_id.as_str());
    assert_eq!(claims["org_id"], org.id.as_str());
    assert_eq!(claims["scope"], "posts:read");
    let (status, answer) = token(&emu, &client_id, "not-the-secret").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let listed = Caller::new(&emu).get("/_emulator/m2m_applications").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let data = listed.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{listed:?}");
    assert_eq!(data[0]["client_id"], client_id.as_str());
    assert_eq!(data[0]["name"], "billing sync");
    assert!(data[0].get("client_secret").is_none(), "never listed");
    emu.shutdown().await;
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the file keeps the secret's digest, not the secret"
    );
}

#[tokio::test]
async fn a_revoked_session_stays_revoked_and_an_active_one_stays_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let emu = start(&file, None).await;
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org.id).unwrap();
    let revoked = emu.session_access_token(&user.id, &org.id, &[]).unwrap();
    let active = emu.session_access_token(&user.id, &org.id, &[]).unwrap();
    emu.revoke_session(&revoked.session_id).unwrap();
    emu.shutdown().await;

    let emu = start(&file, None).await;
    assert_eq!(emu.session(&revoked.session_id).unwrap().status, "inactive");
    assert_eq!(emu.session(&active.session_id).unwrap().status, "active");
    let api = Caller::new(&emu);
    let again = api
        .post(
            "/user_management/sessions/revoke",
            json!({"session_id": revoked.session_id}),
        )
        .await;
    assert_eq!(again.status, 400, "{again:?}");
    assert_eq!(again.body["code"], "session_already_revoked", "{again:?}");
    let now = api
        .post(
            "/user_management/sessions/revoke",
            json!({"session_id": active.session_id}),
        )
        .await;
    assert_eq!(now.status, 200, "{now:?}");
    let events = api.get(&format!("/events?events={SESSION_REVOKED}")).await;
    let revoked_ids: Vec<String> =
        serde_json::from_value::<Vec<keygate_types::Event>>(events.body["data"].clone())
            .unwrap()
            .into_iter()
            .map(|e| match e.payload {
                EventPayload::SessionRevoked(s) => s.id,
                other => panic!("{other:?}"),
            })
            .collect();
    assert_eq!(
        revoked_ids,
        vec![revoked.session_id.clone(), active.session_id.clone()],
        "one event per revocation, across the restart"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn tokens_signed_before_a_restart_verify_against_the_key_set_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let emu = start(&file, None).await;
    let addr = emu.local_addr();
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org.id).unwrap();
    let before = emu.m2m_access_token(&org.id, &["posts:read"]).unwrap();
    let session = emu.session_access_token(&user.id, &org.id, &[]).unwrap();
    let (client_id, issuer) = (emu.client_id().to_owned(), emu.authkit_domain().to_owned());
    let set_before = key_set(&emu).await;
    assert!(verifies(&before, &set_before));
    emu.shutdown().await;

    // The same address: the issuer is the base URL.
    let emu = start(&file, Some(addr)).await;
    assert_eq!(emu.client_id(), client_id, "the tokens' `aud` stays right");
    assert_eq!(emu.authkit_domain(), issuer);
    let set_after = key_set(&emu).await;
    assert_eq!(set_after, set_before);
    assert!(verifies(&before, &set_after));
    assert!(verifies(&session.access_token, &set_after));
    let sessions_set: Value = reqwest::get(format!("{}/sso/jwks/{client_id}", emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(verifies(&session.access_token, &sessions_set));
    let claims = part(&before, 1);
    assert_eq!(
        (claims["aud"].as_str(), claims["iss"].as_str()),
        (Some(client_id.as_str()), Some(issuer.as_str()))
    );

    // A rotation survives too: both keys published, the new one signing.
    let rotated = emu.rotate_signing_key();
    emu.shutdown().await;
    let emu = start(&file, Some(addr)).await;
    let set = key_set(&emu).await;
    let kids: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1], rotated);
    let after = emu.m2m_access_token(&org.id, &[]).unwrap();
    assert_eq!(
        part(&after, 0)["kid"],
        rotated.as_str(),
        "the rotated key signs"
    );
    assert!(verifies(&after, &set));
    assert!(verifies(&before, &set), "the first key still verifies");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_reset_forgets_applications_and_sessions_but_not_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let emu = start(&file, None).await;
    let org = emu.create_organization("Acme").unwrap();
    let app = emu.create_m2m_application(&org.id, &[]).unwrap();
    let before = emu.m2m_access_token(&org.id, &[]).unwrap();
    emu.reset();
    emu.shutdown().await;

    let emu = start(&file, None).await;
    let (status, _) = token(&emu, &app.client_id, &app.client_secret).await;
    assert_eq!(status, 401, "the application is gone");
    assert!(verifies(&before, &key_set(&emu).await), "the key is kept");
    emu.shutdown().await;
}

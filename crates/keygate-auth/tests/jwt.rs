//! The token verifier through its public interface, against the emulator's
//! M2M and session tokens and key sets.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keygate_auth::jwt::{JwtVerifier, M2mTokens, SessionTokens};
use keygate_auth::{AuthRejection, Clock, InvalidToken, PrincipalKind, TokenRefusal};
use keygate_emulator::{Emulator, Fault};
use keygate_types::{OrganizationId, Timestamp, UserId};

const JWKS: &str = "/oauth2/jwks";

struct World {
    emu: Emulator,
    org: OrganizationId,
    user: UserId,
}

async fn world() -> World {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap().id;
    let user = emu.create_user("ada@example.com").unwrap().id;
    emu.create_membership(&user, &org).unwrap();
    World { emu, org, user }
}

fn m2m(emu: &Emulator) -> M2mTokens {
    M2mTokens::new(emu.authkit_domain(), emu.client_id())
}

fn sessions(emu: &Emulator) -> SessionTokens {
    SessionTokens::new(emu.client_id()).api_base(emu.base_url())
}

async fn verifier(emu: &Emulator) -> JwtVerifier {
    let verifier = JwtVerifier::builder()
        .m2m(m2m(emu))
        .sessions(sessions(emu))
        .build()
        .unwrap();
    verifier.prefetch().await;
    verifier
}

fn refusal(result: Result<keygate_auth::Principal, AuthRejection>) -> TokenRefusal {
    match result {
        Err(AuthRejection::InvalidToken(InvalidToken::Token(refusal))) => refusal,
        other => panic!("expected a token refusal, got {other:?}"),
    }
}

/// A token with its header or payload rewritten (the signature kept).
fn rewrite(token: &str, part: usize, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[part]).unwrap()).unwrap();
    edit(&mut json);
    parts[part] = URL_SAFE_NO_PAD.encode(json.to_string());
    parts.join(".")
}

#[tokio::test]
async fn an_m2m_token_becomes_a_principal_with_its_scope_as_permissions() {
    let w = world().await;
    let token = w
        .emu
        .m2m_access_token(&w.org, &["posts:read", "posts:write"])
        .unwrap();
    let principal = verifier(&w.emu).await.verify(&token).await.unwrap();
    assert_eq!(principal.kind(), PrincipalKind::M2m);
    assert!(principal.id().starts_with("client_"));
    assert_eq!(principal.organization_id(), &w.org);
    assert_eq!(principal.session_id(), None);
    assert!(principal.has_permission("posts:read"));
    assert!(principal.has_permission("posts:write"));
    assert!(!principal.has_permission("posts:delete"));
}

#[tokio::test]
async fn a_session_token_becomes_a_principal_of_its_user_and_session() {
    let w = world().await;
    let session = w
        .emu
        .session_access_token(&w.user, &w.org, &["posts:read"])
        .unwrap();
    let principal = verifier(&w.emu)
        .await
        .verify(&session.access_token)
        .await
        .unwrap();
    assert_eq!(principal.kind(), PrincipalKind::Session);
    assert_eq!(principal.id(), w.user.as_str());
    assert_eq!(principal.user_id(), Some(&w.user));
    assert_eq!(principal.organization_id(), &w.org);
    assert_eq!(principal.session_id(), Some(session.session_id.as_str()));
    assert_eq!(principal.permissions(), ["posts:read"]);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let w = world().await;
    w.emu
        .set_time(Timestamp::now().saturating_add(-time::Duration::hours(2)));
    let token = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    let verifier = verifier(&w.emu).await;
    assert_eq!(
        refusal(verifier.verify(&token).await),
        TokenRefusal::Expired
    );
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_not_valid_yet() {
    let w = world().await;
    w.emu
        .set_time(Timestamp::now().saturating_add(time::Duration::minutes(10)));
    let session = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    let verifier = verifier(&w.emu).await;
    assert_eq!(
        refusal(verifier.verify(&session.access_token).await),
        TokenRefusal::NotYetValid
    );
    // Within the leeway (30 s) it passes.
    w.emu
        .set_time(Timestamp::now().saturating_add(time::Duration::seconds(20)));
    let session = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    assert!(verifier.verify(&session.access_token).await.is_ok());
}

#[tokio::test]
async fn a_token_of_another_issuer_is_refused() {
    let w = world().await;
    let other = world().await;
    let verifier = verifier(&w.emu).await;
    let token = other.emu.m2m_access_token(&other.org, &[]).unwrap();
    assert_eq!(refusal(verifier.verify(&token).await), TokenRefusal::Issuer);
    let session = other
        .emu
        .session_access_token(&other.user, &other.org, &[])
        .unwrap();
    assert_eq!(
        refusal(verifier.verify(&session.access_token).await),
        TokenRefusal::Issuer
    );
    // A session token is not an M2M token: the M2M issuer alone does not take it.
    let m2m_only = JwtVerifier::builder().m2m(m2m(&w.emu)).build().unwrap();
    let session = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    assert_eq!(
        refusal(m2m_only.verify(&session.access_token).await),
        TokenRefusal::Issuer
    );
}

#[tokio::test]
async fn an_m2m_token_for_another_audience_is_refused() {
    let w = world().await;
    let verifier = JwtVerifier::builder()
        .m2m(M2mTokens::new(
            w.emu.authkit_domain(),
            "client_someone_else",
        ))
        .build()
        .unwrap();
    let token = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    assert_eq!(
        refusal(verifier.verify(&token).await),
        TokenRefusal::Audience
    );
}

#[tokio::test]
async fn only_rs256_is_accepted_none_and_hs256_with_the_public_key_are_refused() {
    let w = world().await;
    let verifier = verifier(&w.emu).await;
    let token = w.emu.m2m_access_token(&w.org, &["posts:read"]).unwrap();
    // alg none, no signature.
    let none = rewrite(&token, 0, |h| h["alg"] = "none".into());
    let none = format!("{}.", none.rsplit_once('.').unwrap().0);
    assert_eq!(
        refusal(verifier.verify(&none).await),
        TokenRefusal::Algorithm
    );
    // HS256, keyed with the published key set (what the classic attack uses).
    let hs = rewrite(&token, 0, |h| h["alg"] = "HS256".into());
    let signed = hs.rsplit_once('.').unwrap().0.to_owned();
    let public = reqwest::get(format!("{}{JWKS}", w.emu.base_url()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mac = hmac_sha256(&public, signed.as_bytes());
    let hs = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac));
    assert_eq!(refusal(verifier.verify(&hs).await), TokenRefusal::Algorithm);
}

/// HMAC-SHA256 (RFC 2104), enough to forge an HS256 token.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<_>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[tokio::test]
async fn a_missing_or_unknown_kid_and_a_tampered_payload_are_refused() {
    let w = world().await;
    let verifier = verifier(&w.emu).await;
    let token = w.emu.m2m_access_token(&w.org, &["posts:read"]).unwrap();
    let no_kid = rewrite(&token, 0, |h| {
        h.as_object_mut().unwrap().remove("kid");
    });
    assert_eq!(
        refusal(verifier.verify(&no_kid).await),
        TokenRefusal::MissingKeyId
    );
    let unknown = rewrite(&token, 0, |h| h["kid"] = "sso_oidc_key_pair_forged".into());
    assert_eq!(
        refusal(verifier.verify(&unknown).await),
        TokenRefusal::UnknownKeyId
    );
    let tampered = rewrite(&token, 1, |c| c["scope"] = "posts:read admin".into());
    assert_eq!(
        refusal(verifier.verify(&tampered).await),
        TokenRefusal::Signature
    );
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn refusals_render_as_401_invalid_token_with_a_clear_description() {
    let rejection = AuthRejection::InvalidToken(InvalidToken::Token(TokenRefusal::Expired));
    assert_eq!(rejection.status(), 401);
    let header = rejection.www_authenticate(Some("api")).unwrap();
    assert_eq!(
        header.to_str().unwrap(),
        r#"Bearer realm="api", error="invalid_token", error_description="the access token has expired""#
    );
}

#[tokio::test]
async fn the_key_set_is_fetched_once_at_start_and_not_per_token() {
    let w = world().await;
    let verifier = verifier(&w.emu).await;
    assert_eq!(w.emu.request_count("GET", JWKS), 1);
    for _ in 0..20 {
        let token = w.emu.m2m_access_token(&w.org, &[]).unwrap();
        verifier.verify(&token).await.unwrap();
    }
    assert_eq!(w.emu.request_count("GET", JWKS), 1);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refresh() {
    let w = world().await;
    let verifier = JwtVerifier::builder()
        .m2m(m2m(&w.emu))
        .key_set_cooldown(Duration::from_millis(200))
        .build()
        .unwrap();
    verifier.prefetch().await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let old = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    let kid = w.emu.rotate_signing_key();
    let new = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    assert!(new.starts_with(&old[..10]), "both are JWTs");
    let principal = verifier.verify(&new).await.unwrap();
    assert_eq!(principal.kind(), PrincipalKind::M2m);
    assert_eq!(w.emu.request_count("GET", JWKS), 2, "one refresh for {kid}");
    // The old key is still published: its tokens still verify, without a fetch.
    verifier.verify(&old).await.unwrap();
    assert_eq!(w.emu.request_count("GET", JWKS), 2);
}

#[tokio::test]
async fn ten_thousand_forged_kids_cost_at_most_one_fetch_per_cooldown() {
    let w = world().await;
    let cooldown = Duration::from_millis(500);
    let verifier = JwtVerifier::builder()
        .m2m(m2m(&w.emu))
        .key_set_cooldown(cooldown)
        .build()
        .unwrap();
    verifier.prefetch().await;
    let token = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..10_000u32 {
        let forged = rewrite(&token, 0, |h| {
            h["kid"] = format!(
                "sso_oidc_key_pair_{:x}",
                rand::random::<u64>() ^ u64::from(i)
            )
            .into();
        });
        let verifier = verifier.clone();
        tasks.push(tokio::spawn(async move {
            refusal(verifier.verify(&forged).await)
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), TokenRefusal::UnknownKeyId);
    }
    let elapsed = started.elapsed();
    let fetches = w.emu.request_count("GET", JWKS) - 1;
    let allowed = 1 + (elapsed.as_millis() / cooldown.as_millis()) as u64;
    println!("10,000 forged kids in {elapsed:?}: {fetches} key-set fetches (allowed {allowed})");
    assert!(fetches <= allowed, "{fetches} fetches in {elapsed:?}");
    // The real key still works.
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn a_remembered_unknown_kid_causes_no_fetch_after_the_cooldown() {
    let w = world().await;
    let verifier = JwtVerifier::builder()
        .m2m(m2m(&w.emu))
        .key_set_cooldown(Duration::from_millis(100))
        .build()
        .unwrap();
    verifier.prefetch().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let token = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    let forged = rewrite(&token, 0, |h| h["kid"] = "sso_oidc_key_pair_forged".into());
    assert_eq!(
        refusal(verifier.verify(&forged).await),
        TokenRefusal::UnknownKeyId
    );
    assert_eq!(
        w.emu.request_count("GET", JWKS),
        2,
        "the first sighting fetches"
    );
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            refusal(verifier.verify(&forged).await),
            TokenRefusal::UnknownKeyId
        );
    }
    assert_eq!(
        w.emu.request_count("GET", JWKS),
        2,
        "remembered: no more fetches"
    );
}

#[tokio::test]
async fn the_last_good_key_set_is_served_while_the_endpoint_fails() {
    let w = world().await;
    let verifier = JwtVerifier::builder()
        .m2m(m2m(&w.emu))
        .key_set_cooldown(Duration::from_millis(100))
        .build()
        .unwrap();
    verifier.prefetch().await;
    let token = w.emu.m2m_access_token(&w.org, &["posts:read"]).unwrap();
    w.emu.inject_fault(Fault::new("GET", JWKS).status(503));
    tokio::time::sleep(Duration::from_millis(150)).await;
    // A forged kid makes a fetch, which fails: the held set stays.
    let forged = rewrite(&token, 0, |h| h["kid"] = "sso_oidc_key_pair_forged".into());
    assert_eq!(
        refusal(verifier.verify(&forged).await),
        TokenRefusal::UnknownKeyId
    );
    assert_eq!(w.emu.request_count("GET", JWKS), 2);
    assert!(verifier.keys_held() >= 1);
    let again = w.emu.m2m_access_token(&w.org, &["posts:read"]).unwrap();
    assert!(verifier.verify(&again).await.is_ok());
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn without_any_key_set_a_token_is_answered_503_not_401() {
    let w = world().await;
    w.emu.inject_fault(Fault::new("GET", JWKS).status(500));
    let verifier = JwtVerifier::builder().m2m(m2m(&w.emu)).build().unwrap();
    verifier.prefetch().await;
    let token = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    match verifier.verify(&token).await {
        Err(AuthRejection::Unavailable { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(1))
        }
        other => panic!("expected 503, got {other:?}"),
    }
}

#[tokio::test]
async fn a_revoked_session_is_refused_and_other_sessions_are_not() {
    let w = world().await;
    let verifier = verifier(&w.emu).await;
    let revoked = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    let kept = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    verifier.verify(&revoked.access_token).await.unwrap();
    verifier.revoke_session(&revoked.session_id);
    // Refused although its verdict was kept from the first request.
    assert_eq!(
        refusal(verifier.verify(&revoked.access_token).await),
        TokenRefusal::SessionRevoked
    );
    verifier.verify(&kept.access_token).await.unwrap();
}

/// A clock the test moves.
#[derive(Debug, Clone)]
struct TestClock(Arc<Mutex<Timestamp>>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn a_token_seen_before_expires_at_its_exp_all_the_same() {
    let w = world().await;
    let clock = TestClock(Arc::new(Mutex::new(Timestamp::now())));
    let verifier = JwtVerifier::builder()
        .sessions(sessions(&w.emu))
        .clock(clock.clone())
        .build()
        .unwrap();
    verifier.prefetch().await;
    let session = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    verifier.verify(&session.access_token).await.unwrap();
    // Past exp (300 s) and the leeway (30 s).
    let later = Timestamp::now().saturating_add(time::Duration::seconds(331));
    *clock.0.lock().unwrap() = later;
    assert_eq!(
        refusal(verifier.verify(&session.access_token).await),
        TokenRefusal::Expired
    );
}

#[tokio::test]
async fn a_session_token_valid_for_longer_than_the_maximum_is_refused() {
    let w = world().await;
    let verifier = JwtVerifier::builder()
        .sessions(sessions(&w.emu))
        .session_max_lifetime(Duration::from_secs(60))
        .build()
        .unwrap();
    let session = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    assert_eq!(
        refusal(verifier.verify(&session.access_token).await),
        TokenRefusal::Lifetime
    );
}

#[tokio::test]
async fn an_old_key_set_is_renewed_in_the_background_while_it_answers() {
    let w = world().await;
    let verifier = JwtVerifier::builder()
        .m2m(m2m(&w.emu))
        .key_set_cooldown(Duration::from_millis(50))
        .key_set_refresh(Duration::from_millis(200))
        .build()
        .unwrap();
    verifier.prefetch().await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    // Answered from the held set at once; the renewal runs behind it.
    let token = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    verifier.verify(&token).await.unwrap();
    for _ in 0..100 {
        if w.emu.request_count("GET", JWKS) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(w.emu.request_count("GET", JWKS), 2);
    // Fresh again: no further fetch.
    let token = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    verifier.verify(&token).await.unwrap();
    assert_eq!(w.emu.request_count("GET", JWKS), 2);
}

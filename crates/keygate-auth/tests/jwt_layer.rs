//! One layer, three credentials, end to end over real sockets: API keys,
//! M2M access tokens and AuthKit session tokens from the emulator, on the
//! same guarded routes; refusals as RFC 6750 answers; revoked sessions by
//! webhook and by the Events listener.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keygate_auth::jwt::{JwtVerifier, M2mTokens, SessionTokens};
use keygate_auth::{ApiKeyAuth, Principal, RequirePermission, WebhookReceiver};
use keygate_client::Client;
use keygate_emulator::Emulator;
use keygate_types::{OrganizationId, Timestamp, UserId};
use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;

const WEBHOOK_PATH: &str = "/webhooks/workos";
const WEBHOOK_SECRET: &str = "whsec_jwt_layer_test";

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

fn client(emu: &Emulator) -> Client {
    Client::builder()
        .secret(emu.secret().clone())
        .base_url(emu.base_url())
        .max_retries(0)
        .build()
        .unwrap()
}

async fn verifier(emu: &Emulator) -> JwtVerifier {
    let verifier = JwtVerifier::builder()
        .m2m(M2mTokens::new(emu.authkit_domain(), emu.client_id()))
        .sessions(SessionTokens::new(emu.client_id()).api_base(emu.base_url()))
        .build()
        .unwrap();
    verifier.prefetch().await;
    verifier
}

/// `GET /posts` for anyone authenticated, `GET /admin` with `posts:admin`;
/// both answer with who called.
fn routes() -> Router {
    let who = |principal: Principal| async move {
        format!(
            "{} {} {}",
            principal.kind(),
            principal.id(),
            principal.organization_id()
        )
    };
    Router::new()
        .route(
            "/admin",
            get(who).route_layer(RequirePermission("posts:admin")),
        )
        .route("/posts", get(who))
}

struct App {
    base: String,
    http: reqwest::Client,
}

impl App {
    async fn serve(router: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, credential: &str) -> (StatusCode, String, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, challenge, response.text().await.unwrap())
    }
}

#[tokio::test]
async fn each_credential_kind_gets_200_401_and_403_on_the_same_guarded_routes() {
    let w = world().await;
    let auth = ApiKeyAuth::builder(client(&w.emu))
        .access_tokens(verifier(&w.emu).await)
        .build();
    let app = App::serve(routes().route_layer(auth)).await;

    let key = w
        .emu
        .create_organization_key(&w.org, "ci", &["posts:read"])
        .unwrap();
    let key = key.value.expose_secret().to_owned();
    let m2m = w.emu.m2m_access_token(&w.org, &["posts:read"]).unwrap();
    let session = w
        .emu
        .session_access_token(&w.user, &w.org, &["posts:read"])
        .unwrap();
    let admin_m2m = w.emu.m2m_access_token(&w.org, &["posts:admin"]).unwrap();
    let admin_session = w
        .emu
        .session_access_token(&w.user, &w.org, &["posts:admin"])
        .unwrap();

    for (kind, credential, admin) in [
        ("api_key", key.as_str(), None),
        ("m2m", m2m.as_str(), Some(admin_m2m.as_str())),
        (
            "session",
            session.access_token.as_str(),
            Some(admin_session.access_token.as_str()),
        ),
    ] {
        let (status, _, body) = app.get("/posts", credential).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {body}");
        assert!(body.starts_with(kind), "{kind}: {body}");
        assert!(body.ends_with(w.org.as_str()), "{kind}: {body}");
        let (status, challenge, _) = app.get("/admin", credential).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{kind}");
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(challenge.contains(r#"scope="posts:admin""#), "{challenge}");
        if let Some(admin) = admin {
            let (status, _, body) = app.get("/admin", admin).await;
            assert_eq!(status, StatusCode::OK, "{kind} admin: {body}");
        }
        // A credential of the same kind that is not valid: 401.
        let broken = format!("{}x", &credential[..credential.len() - 2]);
        let (status, challenge, _) = app.get("/posts", &broken).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{kind}");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{kind}: {challenge}"
        );
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
async fn every_bad_token_is_a_401_with_a_clear_error_description() {
    let w = world().await;
    let other = world().await;
    let auth = ApiKeyAuth::builder(client(&w.emu))
        .access_tokens(
            JwtVerifier::builder()
                .m2m(M2mTokens::new(w.emu.authkit_domain(), w.emu.client_id()))
                .sessions(SessionTokens::new(w.emu.client_id()).api_base(w.emu.base_url()))
                .build()
                .unwrap(),
        )
        .build();
    let app = App::serve(routes().route_layer(auth)).await;
    let good = w.emu.m2m_access_token(&w.org, &["posts:read"]).unwrap();

    w.emu
        .set_time(Timestamp::now().saturating_add(-time::Duration::hours(2)));
    let expired = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    w.emu
        .set_time(Timestamp::now().saturating_add(time::Duration::hours(1)));
    let future = w
        .emu
        .session_access_token(&w.user, &w.org, &[])
        .unwrap()
        .access_token;
    w.emu.set_time(Timestamp::now());
    let foreign = other.emu.m2m_access_token(&other.org, &[]).unwrap();
    let wrong_audience = rewrite(&good, 1, |c| c["aud"] = "client_someone_else".into());
    let none = format!(
        "{}.",
        rewrite(&good, 0, |h| h["alg"] = "none".into())
            .rsplit_once('.')
            .unwrap()
            .0
    );
    let hs256 = rewrite(&good, 0, |h| h["alg"] = "HS256".into());
    let unknown_kid = rewrite(&good, 0, |h| h["kid"] = "sso_oidc_key_pair_forged".into());
    let tampered = rewrite(&good, 1, |c| c["scope"] = "posts:read posts:admin".into());

    for (case, token, description) in [
        ("expired", expired, "the access token has expired"),
        ("not yet valid", future, "the access token is not valid yet"),
        (
            "wrong issuer",
            foreign,
            "the access token's issuer is not trusted here",
        ),
        // The audience is in the signed payload: changing it breaks the signature.
        (
            "wrong audience",
            wrong_audience,
            "the access token's signature does not verify",
        ),
        (
            "alg none",
            none,
            "the access token's algorithm is not accepted (only RS256 is)",
        ),
        (
            "HS256",
            hs256,
            "the access token's algorithm is not accepted (only RS256 is)",
        ),
        (
            "unknown kid",
            unknown_kid,
            "the access token is signed with a key its issuer does not publish (unknown `kid`)",
        ),
        (
            "tampered",
            tampered,
            "the access token's signature does not verify",
        ),
    ] {
        let (status, challenge, body) = app.get("/posts", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{case}: {challenge}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "invalid_token", "{case}");
        assert_eq!(body["error_description"], description, "{case}");
        println!("{case:>15}: 401 {description}");
    }
    let (status, _, _) = app.get("/posts", &good).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_audience_check_refuses_a_genuine_token_for_another_client() {
    let w = world().await;
    let auth = ApiKeyAuth::builder(client(&w.emu))
        .access_tokens(
            JwtVerifier::builder()
                .m2m(M2mTokens::new(
                    w.emu.authkit_domain(),
                    "client_someone_else",
                ))
                .build()
                .unwrap(),
        )
        .build();
    let app = App::serve(routes().route_layer(auth)).await;
    let token = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    let (status, _, body) = app.get("/posts", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body.contains("the access token is meant for another audience"),
        "{body}"
    );
}

#[tokio::test]
async fn without_access_tokens_a_jwt_is_refused_as_before() {
    let w = world().await;
    let auth = ApiKeyAuth::builder(client(&w.emu)).build();
    let app = App::serve(routes().route_layer(auth)).await;
    let token = w.emu.m2m_access_token(&w.org, &["posts:read"]).unwrap();
    let (status, challenge, _) = app.get("/posts", &token).await;
    // Longer than the key cap (256 bytes): refused before the key service.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{challenge}");
    assert_eq!(w.emu.request_count("POST", "/api_keys/validations"), 0);
    assert_eq!(w.emu.request_count("GET", "/oauth2/jwks"), 0);
}

#[tokio::test]
async fn keys_still_go_to_the_key_service_and_tokens_never_do() {
    let w = world().await;
    let auth = ApiKeyAuth::builder(client(&w.emu))
        .required_prefix("sk_")
        .access_tokens(verifier(&w.emu).await)
        .build();
    let app = App::serve(routes().route_layer(auth)).await;
    let m2m = w.emu.m2m_access_token(&w.org, &[]).unwrap();
    for _ in 0..3 {
        assert_eq!(app.get("/posts", &m2m).await.0, StatusCode::OK);
    }
    assert_eq!(w.emu.request_count("POST", "/api_keys/validations"), 0);
    let key = w.emu.create_organization_key(&w.org, "ci", &[]).unwrap();
    assert_eq!(
        app.get("/posts", key.value.expose_secret()).await.0,
        StatusCode::OK
    );
    assert_eq!(w.emu.request_count("POST", "/api_keys/validations"), 1);
    // A long key-shaped credential is still capped at the key length.
    let long = format!("sk_{}", "a".repeat(400));
    assert_eq!(app.get("/posts", &long).await.0, StatusCode::BAD_REQUEST);
}

/// Sends requests every 5 ms until the session's token is refused.
async fn refused_within(app: &App, token: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, _, body) = app.get("/posts", token).await;
        if status == StatusCode::UNAUTHORIZED {
            assert!(
                body.contains("the session of this access token was revoked"),
                "{body}"
            );
            return started.elapsed();
        }
        assert_eq!(status, StatusCode::OK);
        assert!(started.elapsed() < limit, "still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_revoked_session_is_refused_within_200_ms_by_webhook() {
    let w = world().await;
    let tokens = verifier(&w.emu).await;
    let auth = ApiKeyAuth::builder(client(&w.emu))
        .access_tokens(tokens.clone())
        .build();
    let receiver = WebhookReceiver::new(WEBHOOK_SECRET, auth.cache().clone()).sessions(&tokens);
    let app = App::serve(
        routes()
            .route_layer(auth)
            .merge(receiver.router(WEBHOOK_PATH)),
    )
    .await;
    w.emu
        .add_webhook_endpoint(&format!("{}{WEBHOOK_PATH}", app.base), WEBHOOK_SECRET)
        .unwrap();
    let revoked = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    let kept = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    assert_eq!(
        app.get("/posts", &revoked.access_token).await.0,
        StatusCode::OK
    );

    // Through the WorkOS route, as an app's sign-out would.
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/user_management/sessions/revoke",
            w.emu.base_url()
        ))
        .bearer_auth(w.emu.secret().expose_secret())
        .header("content-type", "application/json")
        .body(serde_json::json!({"session_id": revoked.session_id}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let took = refused_within(&app, &revoked.access_token, Duration::from_millis(200)).await;
    println!("revoked session refused {took:?} after the revocation (webhook)");
    assert_eq!(
        app.get("/posts", &kept.access_token).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_revoked_session_is_refused_within_the_listener_bound_by_polling() {
    let w = world().await;
    let interval = Duration::from_millis(250);
    let auth = ApiKeyAuth::builder(client(&w.emu))
        .access_tokens(verifier(&w.emu).await)
        .revocation_listener(client(&w.emu), interval)
        .build();
    let app = App::serve(routes().route_layer(auth)).await;
    let revoked = w.emu.session_access_token(&w.user, &w.org, &[]).unwrap();
    assert_eq!(
        app.get("/posts", &revoked.access_token).await.0,
        StatusCode::OK
    );
    // Let the listener take its starting position.
    tokio::time::sleep(interval * 2).await;
    w.emu.revoke_session(&revoked.session_id).unwrap();
    let bound = interval * 2 + Duration::from_millis(200);
    let took = refused_within(&app, &revoked.access_token, bound).await;
    println!("revoked session refused {took:?} after the revocation (listener every {interval:?})");
}

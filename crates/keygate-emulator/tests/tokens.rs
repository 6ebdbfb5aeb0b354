//! M2M applications, `POST /oauth2/token`, the key sets, session tokens,
//! key rotation and `POST /user_management/sessions/revoke`, over HTTP.

use keygate_emulator::Emulator;
use keygate_types::{Event, EventListMetadata, EventPayload, List, SESSION_REVOKED};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post_form(url: String, form: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_json(emu: &Emulator, path: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", emu.base_url()))
        .bearer_auth(emu.secret().expose_secret())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn client_credentials_give_an_m2m_token_with_the_documented_claims() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Partner").unwrap();
    let (status, app) = post_json(
        &emu,
        "/_emulator/m2m_applications",
        json!({"organization_id": org.id, "scopes": ["posts:read", "posts:write"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (id, secret) = (
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    );
    let url = format!("{}/oauth2/token", emu.authkit_domain());
    let (status, answer) = post_form(
        url.clone(),
        &format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=posts%3Aread"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["expires_in"], 3600);
    let token = answer["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["iss"], emu.authkit_domain());
    assert_eq!(c["aud"], emu.client_id());
    assert_eq!(c["sub"], id);
    assert_eq!(c["client_id"], id);
    assert_eq!(c["org_id"], org.id.as_str());
    assert_eq!(c["scope"], "posts:read");
    assert!(c.get("sid").is_none());
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );

    // HTTP Basic works too, and without `scope` every scope is granted.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let answer: Value = reqwest::Client::new()
        .post(&url)
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims(answer["access_token"].as_str().unwrap())["scope"],
        "posts:read posts:write"
    );

    for (form, status, error) in [
        (
            format!("grant_type=client_credentials&client_id={id}&client_secret=wrong"),
            401,
            "invalid_client",
        ),
        (
            format!("grant_type=client_credentials&client_id=client_x&client_secret={secret}"),
            401,
            "invalid_client",
        ),
        (
            format!("grant_type=password&client_id={id}&client_secret={secret}"),
            400,
            "unsupported_grant_type",
        ),
        (
            format!("client_id={id}&client_secret={secret}"),
            400,
            "invalid_request",
        ),
        (
            format!(
                "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=admin"
            ),
            400,
            "invalid_scope",
        ),
    ] {
        let (got, body) = post_form(url.clone(), &form).await;
        assert_eq!(got.as_u16(), status, "{form}: {body}");
        assert_eq!(body["error"], error, "{form}");
    }
}

#[tokio::test]
async fn the_key_sets_are_public_and_rotation_adds_a_key() {
    let emu = Emulator::start().await.unwrap();
    let jwks = |path: String| async move {
        let response = reqwest::get(path).await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    let (status, m2m) = jwks(format!("{}/oauth2/jwks", emu.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    let keys = m2m["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["use"], "sig");
    assert!(
        keys[0]["kid"]
            .as_str()
            .unwrap()
            .starts_with("sso_oidc_key_pair_")
    );
    let (status, sessions) = jwks(format!("{}/sso/jwks/{}", emu.base_url(), emu.client_id())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sessions, m2m);
    let (status, _) = jwks(format!("{}/sso/jwks/client_unknown", emu.base_url())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, rotated) = post_json(&emu, "/_emulator/signing_keys/rotate", json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, after) = jwks(format!("{}/oauth2/jwks", emu.base_url())).await;
    let kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1], rotated["kid"]);
    let org = emu.create_organization("Acme").unwrap();
    let token = emu.m2m_access_token(&org.id, &[]).unwrap();
    let header = token.split('.').next().unwrap();
    use base64::Engine as _;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["kid"], rotated["kid"],
        "new tokens are signed with the new key"
    );
    assert_eq!(emu.request_count("GET", "/oauth2/jwks"), 2);
}

#[tokio::test]
async fn a_session_token_for_a_member_and_its_revocation_event() {
    let emu = Emulator::start().await.unwrap();
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    let (status, refused) = post_json(
        &emu,
        "/_emulator/sessions",
        json!({"user_id": user.id, "organization_id": org.id}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no membership yet: {refused}"
    );
    emu.create_membership(&user.id, &org.id).unwrap();
    let (status, session) = post_json(
        &emu,
        "/_emulator/sessions",
        json!({"user_id": user.id, "organization_id": org.id, "permissions": ["posts:read"], "role": "admin"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let c = claims(session["access_token"].as_str().unwrap());
    assert_eq!(c["iss"], emu.session_issuer());
    assert_eq!(c["sub"], user.id.as_str());
    assert_eq!(c["sid"], session["session_id"]);
    assert_eq!(c["org_id"], org.id.as_str());
    assert_eq!(c["role"], "admin");
    assert_eq!(c["permissions"], json!(["posts:read"]));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);

    let sid = session["session_id"].as_str().unwrap();
    let (status, _) = post_json(
        &emu,
        "/user_management/sessions/revoke",
        json!({"session_id": sid}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = post_json(
        &emu,
        "/user_management/sessions/revoke",
        json!({"session_id": sid}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");
    assert_eq!(again["code"], "session_already_revoked", "{again}");
    let (status, unknown) = post_json(
        &emu,
        "/user_management/sessions/revoke",
        json!({"session_id": "session_01HZZZZZZZZZZZZZZZZZZZZZZZ"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{unknown}");
    assert_eq!(unknown["code"], "session_not_found", "{unknown}");

    let events: List<Event, EventListMetadata> = reqwest::Client::new()
        .get(format!(
            "{}/events?events={SESSION_REVOKED}",
            emu.base_url()
        ))
        .bearer_auth(emu.secret().expose_secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events.data.len(), 1);
    match &events.data[0].payload {
        EventPayload::SessionRevoked(session) => {
            assert_eq!(session.id, sid);
            assert_eq!(session.user_id, user.id);
            assert_eq!(session.status, "inactive");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_token_controls_need_the_environment_secret() {
    let emu = Emulator::start().await.unwrap();
    for path in [
        "/_emulator/m2m_applications",
        "/_emulator/sessions",
        "/_emulator/signing_keys/rotate",
        "/user_management/sessions/revoke",
    ] {
        let status = reqwest::Client::new()
            .post(format!("{}{path}", emu.base_url()))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn applications_are_listed_without_secrets_and_bad_input_is_refused() {
    let emu = Emulator::start().await.unwrap();
    let acme = emu.create_organization("Acme").unwrap();
    let other = emu.create_organization("Other").unwrap();
    let (status, created) = post_json(
        &emu,
        "/_emulator/m2m_applications",
        json!({"organization_id": acme.id, "name": "sync", "scopes": ["posts:read"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "sync");
    emu.create_m2m_application(&other.id, &[]).unwrap();

    let list = |query: String| {
        let emu = &emu;
        async move {
            let response = reqwest::Client::new()
                .get(format!(
                    "{}/_emulator/m2m_applications{query}",
                    emu.base_url()
                ))
                .bearer_auth(emu.secret().expose_secret())
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, all) = list(String::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "{all}");
    let (_, mine) = list(format!("?organization_id={}", acme.id)).await;
    let mine = mine["data"].as_array().unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["client_id"], created["client_id"]);
    assert_eq!(mine[0]["scopes"], json!(["posts:read"]));
    assert!(mine[0].get("client_secret").is_none());
    let (status, _) = list("?organization_id=org_01HZZZZZZZZZZZZZZZZZZZZZZZ".to_owned()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for (body, status, field) in [
        (
            json!({"organization_id": "org_01HZZZZZZZZZZZZZZZZZZZZZZZ"}),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            json!({"organization_id": acme.id, "scopes": ["posts:read", "two words"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("scopes[1]"),
        ),
        (
            json!({"organization_id": acme.id, "name": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
    ] {
        let (got, answer) = post_json(&emu, "/_emulator/m2m_applications", body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        if let Some(field) = field {
            assert_eq!(answer["errors"][0]["field"], field, "{answer}");
        }
    }
    assert!(emu.create_m2m_application(&acme.id, &["a\\b"]).is_err());
}

#[tokio::test]
async fn tokens_name_the_authkit_domain_set_on_the_builder() {
    let emu = Emulator::builder()
        .authkit_domain("http://auth.example.test/")
        .start()
        .await
        .unwrap();
    assert_eq!(emu.authkit_domain(), "http://auth.example.test");
    assert_eq!(
        emu.session_issuer(),
        format!(
            "http://auth.example.test/user_management/{}",
            emu.client_id()
        )
    );
    let org = emu.create_organization("Acme").unwrap();
    let token = emu.m2m_access_token(&org.id, &[]).unwrap();
    assert_eq!(claims(&token)["iss"], "http://auth.example.test");
}

//! Every row of the response table, the extractors, and routing pitfalls.

use axum::Router;
use axum::routing::get;
use keygate_auth::{ApiKeyPrincipal, RequirePermission};
use keygate_types::Expiry;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::support::{self, App, assert_no_key_logged, auth, emulator, org_key};

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn body(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn every_row_of_the_response_table() {
    let emu = emulator().await;
    let app = App::with_auth(auth(&emu).realm("posts").build()).await;
    let (reader, reader_value) = org_key(&emu, &["posts:read"]);

    // 200: a valid key.
    let response = app.get("/whoami", Some(&reader_value)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["id"], reader.id.as_str());

    // 401: no credential.
    let response = app.get("/whoami", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&response), r#"Bearer realm="posts""#);
    assert_eq!(body(response).await["error"], "unauthorized");

    // 401 without an error code: another scheme.
    let response = app
        .http
        .get(app.url("/whoami"))
        .header(AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&response), r#"Bearer realm="posts""#);

    // 400: malformed, and several Authorization headers.
    for bad in [
        vec!["Bearer not a token68"],
        vec!["Bearer"],
        vec!["Bearer a", "Bearer b"],
    ] {
        let mut request = app.http.get(app.url("/whoami"));
        for value in &bad {
            request = request.header(AUTHORIZATION, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let c = challenge(&response);
        assert!(
            c.starts_with(r#"Bearer realm="posts", error="invalid_request", error_description=""#),
            "{c}"
        );
        assert_eq!(body(response).await["error"], "invalid_request");
    }
    let long = format!("sk_{}", "a".repeat(300));
    let response = app.get("/whoami", Some(&long)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // 401 invalid_token: unknown, revoked, expired.
    let (revoked, revoked_value) = org_key(&emu, &["posts:read"]);
    let (expired, expired_value) = org_key(&emu, &["posts:read"]);
    emu.delete_api_key(revoked.id.as_str()).unwrap();
    emu.expire_api_key(expired.id.as_str(), Expiry::Now)
        .unwrap();
    for value in ["sk_never_issued_0123456789", &revoked_value, &expired_value] {
        let response = app.get("/whoami", Some(value)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let c = challenge(&response);
        assert!(
            c.starts_with(r#"Bearer realm="posts", error="invalid_token", error_description=""#),
            "{c}"
        );
        assert_eq!(body(response).await["error"], "invalid_token");
    }

    // 403: permission missing, with the scope.
    let response = app.post("/posts/new", Some(&reader_value)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let c = challenge(&response);
    assert!(
        c.starts_with(r#"Bearer realm="posts", error="insufficient_scope""#),
        "{c}"
    );
    assert!(c.ends_with(r#"scope="posts:write""#), "{c}");
    assert_eq!(body(response).await["error"], "insufficient_scope");

    // (503 is in `outage`; 500 below.)
    assert_no_key_logged();
}

#[tokio::test]
async fn guards_in_every_form() {
    let emu = emulator().await;
    let app = App::with_auth(auth(&emu).build()).await;
    let (_, reader) = org_key(&emu, &["posts:read"]);
    let (_, writer) = org_key(&emu, &["posts:read", "posts:write"]);
    let (_, admin) = org_key(&emu, &["posts:admin"]);

    for (path, key, status) in [
        ("/posts/all", &writer, StatusCode::OK),
        ("/posts/all", &reader, StatusCode::FORBIDDEN),
        ("/posts/any", &admin, StatusCode::OK),
        ("/posts/any", &writer, StatusCode::OK),
        ("/posts/any", &reader, StatusCode::FORBIDDEN),
    ] {
        assert_eq!(app.get(path, Some(key)).await.status(), status, "{path}");
    }
    let response = app.get("/posts/all", Some(&reader)).await;
    assert!(challenge(&response).ends_with(r#"scope="posts:read posts:write""#));

    // The typed extractor form.
    let response = app.post("/typed", Some(&writer)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .starts_with("published by api_key_")
    );
    let response = app.post("/typed", Some(&reader)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(challenge(&response).ends_with(r#"scope="posts:write""#));
    assert_no_key_logged();
}

/// A key WorkOS issued to an AI agent says so on the principal, from the
/// key service and from the cache alike; a customer's key does not.
#[tokio::test]
async fn an_agent_key_names_its_agent_registration_on_the_principal() {
    let emu = emulator().await;
    let app = App::with_auth(auth(&emu).build()).await;
    let org = emu.create_organization("Agents").unwrap();
    let agent = emu
        .create_agent_key(
            &org.id,
            "agent",
            &["posts:read"],
            "agent_reg_01EHZNVPK3SFK441A1RGBFSHRT",
        )
        .unwrap();
    let (_, customer) = org_key(&emu, &["posts:read"]);
    for _ in 0..2 {
        let response = app.get("/whoami", Some(agent.value.expose_secret())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            body(response).await["agent_registration_id"],
            "agent_reg_01EHZNVPK3SFK441A1RGBFSHRT"
        );
    }
    let response = app.get("/whoami", Some(&customer)).await;
    assert_eq!(body(response).await["agent_registration_id"], Value::Null);
}

#[tokio::test]
async fn a_user_key_takes_its_organization_from_the_owner() {
    let emu = emulator().await;
    let app = App::with_auth(auth(&emu).build()).await;
    let org = emu.create_organization("Acme").unwrap();
    let user = emu.create_user("ada@example.com").unwrap();
    emu.create_membership(&user.id, &org.id).unwrap();
    let key = emu
        .create_user_key(&user.id, &org.id, "ada's key", &["posts:read"])
        .unwrap();
    let value = support::secret(&key.value);

    let who = body(app.get("/whoami", Some(&value)).await).await;
    assert_eq!(who["owner_type"], "user");
    assert_eq!(who["owner_id"], user.id.as_str());
    assert_eq!(who["user_id"], user.id.as_str());
    assert_eq!(who["organization_id"], org.id.as_str());
    assert_eq!(who["permissions"], serde_json::json!(["posts:read"]));
    assert_no_key_logged();
}

#[tokio::test]
async fn optional_principal_in_all_three_cases() {
    let emu = emulator().await;
    let app = App::with_auth(auth(&emu).optional().build()).await;
    let (key, value) = org_key(&emu, &["posts:read"]);

    // No credential: None.
    let response = app.get("/maybe", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "anonymous");
    // A valid key: Some.
    let response = app.get("/maybe", Some(&value)).await;
    assert_eq!(response.text().await.unwrap(), key.id.as_str());
    // An invalid key: refused, never None.
    let response = app.get("/maybe", Some("sk_not_a_key_0123456789")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A handler that requires a principal still refuses the anonymous request.
    assert_eq!(
        app.get("/whoami", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/posts/new", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_no_key_logged();
}

#[tokio::test]
async fn guard_or_extractor_without_the_layer_is_500() {
    async fn whoami(principal: ApiKeyPrincipal) -> String {
        principal.id().to_string()
    }
    async fn maybe(principal: Option<ApiKeyPrincipal>) -> String {
        format!("{principal:?}")
    }
    let app = App::serve(
        Router::new()
            .route(
                "/guarded",
                get(|| async { "ok" }).route_layer(RequirePermission("posts:read")),
            )
            .route("/extractor", get(whoami))
            .route("/optional", get(maybe)),
    )
    .await;
    for path in ["/guarded", "/extractor", "/optional"] {
        let response = app.get(path, Some("sk_whatever_0123456789")).await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
        if path == "/guarded" {
            // A guard builds bodies of any `Default` type (tonic's too), so
            // alone it answers with an empty one; the log says why.
            assert!(response.bytes().await.unwrap().is_empty());
        } else {
            assert_eq!(body(response).await["error"], "server_error");
        }
    }
    assert!(support::captured().contains("keygate misconfiguration"));
}

#[tokio::test]
async fn unknown_routes_stay_404() {
    let emu = emulator().await;
    let app = App::with_auth(auth(&emu).build()).await;
    let (_, value) = org_key(&emu, &["posts:read"]);
    assert_eq!(
        app.get("/nowhere", None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/nowhere", Some(&value)).await.status(),
        StatusCode::NOT_FOUND
    );
    // With `.layer` instead of `.route_layer`, the fallback is behind the layer
    // too: an unknown path without a key is 401, as the docs warn.
    let layered = App::serve(support::routes().layer(auth(&emu).build())).await;
    assert_eq!(
        layered.get("/nowhere", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        layered.get("/nowhere", Some(&value)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_no_key_logged();
}

/// Issue 12: the realm set on the layer reaches every challenge, whoever
/// refused: the layer, a guard layer or the `Authorized<P>` extractor.
#[tokio::test]
async fn the_layers_realm_is_in_every_challenge_401_and_403_alike() {
    let emu = emulator().await;
    let app = App::serve(support::routes().layer(auth(&emu).realm("billing").build())).await;
    let (_, reader) = org_key(&emu, &["posts:read"]);
    let cases: [(&str, &str, Option<&str>, StatusCode); 6] = [
        ("GET", "/whoami", None, StatusCode::UNAUTHORIZED),
        (
            "GET",
            "/whoami",
            Some("sk_unknown_key_000000000000"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "GET",
            "/whoami",
            Some("not token68 !"),
            StatusCode::BAD_REQUEST,
        ),
        ("POST", "/posts/new", Some(&reader), StatusCode::FORBIDDEN),
        ("GET", "/posts/all", Some(&reader), StatusCode::FORBIDDEN),
        ("POST", "/typed", Some(&reader), StatusCode::FORBIDDEN),
    ];
    for (method, path, key, status) in cases {
        let response = match method {
            "GET" => app.get(path, key).await,
            _ => app.post(path, key).await,
        };
        assert_eq!(response.status(), status, "{method} {path}");
        let c = challenge(&response);
        assert!(
            c.starts_with(r#"Bearer realm="billing""#),
            "{method} {path}: {c}"
        );
    }
    assert_no_key_logged();
}
